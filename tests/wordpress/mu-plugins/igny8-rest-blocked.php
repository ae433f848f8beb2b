<?php
/**
 * Plugin Name: igny8 REST blocked
 * Description: Answers every REST request with an HTML 403 page, as a firewall plugin would.
 */

if ( igny8_is_rest_request_uri() ) {
	status_header( 403 );
	header( 'Content-Type: text/html; charset=UTF-8' );
	echo "<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head>";
	echo '<body><h1>Forbidden</h1><p>Blocked by the site firewall.</p></body></html>';
	exit;
}

/**
 * Whether the current HTTP request is aimed at the REST API.
 */
function igny8_is_rest_request_uri(): bool {
	if ( PHP_SAPI === 'cli' || ! isset( $_SERVER['REQUEST_URI'] ) ) {
		return false;
	}
	$path = (string) parse_url( $_SERVER['REQUEST_URI'], PHP_URL_PATH );
	return str_contains( $path, '/wp-json' ) || isset( $_REQUEST['rest_route'] );
}
