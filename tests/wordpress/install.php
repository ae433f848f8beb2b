<?php
/**
 * Install one igny8 test site: tables, admin user, permalinks, content and an
 * application password. No wp-cli needed.
 *
 * Usage: php install.php WORDPRESS_ROOT CONFIG_JSON
 * CONFIG_JSON: {"title", "username", "password", "email",
 *               "permalink_structure", "content": "fixtures"|"bench"|"none"}
 * Prints {"user_id", "username", "app_password", "wp_version"} as JSON.
 */

define( 'WP_INSTALLING', true );

$igny8_config = json_decode( $argv[2] ?? '', true );
if ( ! is_array( $igny8_config ) ) {
	fwrite( STDERR, "usage: php install.php WORDPRESS_ROOT CONFIG_JSON\n" );
	exit( 2 );
}

/**
 * No "your new site" mail (the installer would call this).
 */
function wp_new_blog_notification(): void {
}

require __DIR__ . '/lib/load-wordpress.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require __DIR__ . '/lib/content.php';

/**
 * Create the tables and the administrator, then set up permalinks.
 *
 * @param array<string, string> $config Installer configuration.
 * @return int The administrator's user id.
 */
function igny8_install_site( array $config ): int {
	if ( is_blog_installed() ) {
		fwrite( STDERR, "WordPress is already installed in this database\n" );
		exit( 1 );
	}
	$result = wp_install( $config['title'], $config['username'], $config['email'], true, '', wp_slash( $config['password'] ) );
	$user_id = (int) $result['user_id'];
	wp_set_current_user( $user_id );

	// Post types registered their rewrite rules on init, before permalinks
	// were set: leave the rules to be rebuilt by the next process.
	update_option( 'permalink_structure', $config['permalink_structure'] );
	delete_option( 'rewrite_rules' );
	return $user_id;
}

/**
 * Create the application password the tests authenticate with.
 *
 * @param int $user_id The administrator.
 * @return string The password in clear.
 */
function igny8_create_app_password( int $user_id ): string {
	$created = WP_Application_Passwords::create_new_application_password( $user_id, array( 'name' => 'igny8-agent tests' ) );
	if ( is_wp_error( $created ) ) {
		fwrite( STDERR, 'application password: ' . $created->get_error_message() . "\n" );
		exit( 1 );
	}
	return $created[0];
}

$igny8_user_id = igny8_install_site( $igny8_config );
igny8_create_content( $igny8_config['content'], $igny8_user_id );

echo wp_json_encode(
	array(
		'user_id'      => $igny8_user_id,
		'username'     => $igny8_config['username'],
		'app_password' => igny8_create_app_password( $igny8_user_id ),
		'wp_version'   => $GLOBALS['wp_version'],
	)
), "\n";
