<?php
/**
 * Plugin Name: igny8 private REST
 * Description: The REST API refuses anonymous requests (like "Disable REST API" plugins).
 */

add_filter( 'rest_authentication_errors', 'igny8_require_rest_login' );

/**
 * Refuse the REST request unless a user is logged in.
 *
 * @param WP_Error|null|true $result Result of earlier authentication checks.
 * @return WP_Error|null|true
 */
function igny8_require_rest_login( $result ) {
	if ( ! empty( $result ) || is_user_logged_in() ) {
		return $result;
	}
	return new WP_Error( 'rest_not_logged_in', 'You are not currently logged in.', array( 'status' => 401 ) );
}
