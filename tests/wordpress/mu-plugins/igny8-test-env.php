<?php
/**
 * Plugin Name: igny8 test environment
 * Description: Keeps the test sites quiet and fast (no mail, no outgoing HTTP).
 */

add_filter( 'pre_wp_mail', '__return_false' );
add_filter( 'got_url_rewrite', '__return_false' );
add_filter( 'pre_http_request', 'igny8_block_outgoing_http', 10, 3 );

/**
 * Refuse every outgoing HTTP request made by WordPress itself.
 *
 * @param false|array|WP_Error $response Short-circuit value.
 * @param array                $args     Request arguments.
 * @param string               $url      Request URL.
 * @return false|array|WP_Error
 */
function igny8_block_outgoing_http( $response, $args, $url ) {
	return new WP_Error( 'igny8_offline', 'Outgoing HTTP is disabled on igny8 test sites: ' . $url );
}
