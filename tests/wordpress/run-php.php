<?php
/**
 * Run PHP code read from stdin with WordPress loaded.
 *
 * Usage: php run-php.php WORDPRESS_ROOT < code.php
 * The code may start with "<?php"; it runs at global scope.
 */

$igny8_code = (string) stream_get_contents( STDIN );

require __DIR__ . '/lib/load-wordpress.php';

$igny8_code = preg_replace( '/^\s*<\?php\b/', '', $igny8_code );
eval( $igny8_code );
