<?php
/**
 * Load WordPress from the site root given as the first CLI argument.
 *
 * Include this at file scope (WordPress needs its globals there).
 */

if ( PHP_SAPI !== 'cli' ) {
	http_response_code( 403 );
	exit( 1 );
}
if ( empty( $argv[1] ) || ! is_file( $argv[1] . '/wp-load.php' ) ) {
	fwrite( STDERR, "usage: php {$argv[0]} WORDPRESS_ROOT\n" );
	exit( 2 );
}

$_SERVER['HTTP_HOST']   = $_SERVER['HTTP_HOST'] ?? 'localhost';
$_SERVER['SERVER_NAME'] = $_SERVER['SERVER_NAME'] ?? 'localhost';
$_SERVER['REQUEST_URI'] = $_SERVER['REQUEST_URI'] ?? '/';

require rtrim( $argv[1], '/' ) . '/wp-load.php';
