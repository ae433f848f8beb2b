<?php
/**
 * Router for `php -S 127.0.0.1:PORT -t DOCROOT router.php`.
 *
 * Existing files (static assets and real PHP files such as xmlrpc.php or
 * wp-login.php) are served as they are; every other path below the WordPress
 * prefix goes to WordPress's index.php, like Apache's rewrite rules do for
 * pretty permalinks. IGNY8_WP_PREFIX is the sub-folder WordPress lives in
 * ('' or e.g. '/blog').
 */

$igny8_prefix = rtrim( (string) getenv( 'IGNY8_WP_PREFIX' ), '/' );
$igny8_path   = rawurldecode( (string) parse_url( $_SERVER['REQUEST_URI'], PHP_URL_PATH ) );
$igny8_file   = $_SERVER['DOCUMENT_ROOT'] . $igny8_path;

if ( is_file( $igny8_file ) || is_file( rtrim( $igny8_file, '/' ) . '/index.php' ) ) {
	return false;
}

$igny8_inside = $igny8_path === $igny8_prefix || str_starts_with( $igny8_path, $igny8_prefix . '/' );
if ( ! $igny8_inside ) {
	http_response_code( 404 );
	header( 'Content-Type: text/plain' );
	echo "Not Found\n";
	return true;
}

$igny8_index = $_SERVER['DOCUMENT_ROOT'] . $igny8_prefix . '/index.php';
$_SERVER['SCRIPT_NAME']     = $igny8_prefix . '/index.php';
$_SERVER['PHP_SELF']        = $igny8_prefix . '/index.php';
$_SERVER['SCRIPT_FILENAME'] = $igny8_index;
chdir( dirname( $igny8_index ) );
require $igny8_index;
