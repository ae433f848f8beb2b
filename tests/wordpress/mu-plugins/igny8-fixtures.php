<?php
/**
 * Plugin Name: igny8 fixtures
 * Description: Post types and taxonomies the igny8-agent tests read.
 */

add_action( 'init', 'igny8_register_fixture_types' );

/**
 * Register the fixture post types and taxonomies.
 */
function igny8_register_fixture_types(): void {
	igny8_register_book();
	igny8_register_event();
	igny8_register_internal();
	igny8_register_recipe();
}

/**
 * Public, REST-visible, unicode labels, REST base differs from the slug.
 */
function igny8_register_book(): void {
	register_post_type(
		'book',
		array(
			'labels'       => array(
				'name'          => 'Bücher — 本',
				'singular_name' => 'Buch',
			),
			'public'       => true,
			'show_in_rest' => true,
			'rest_base'    => 'books',
			'supports'     => array( 'title', 'editor' ),
		)
	);
	register_taxonomy(
		'genre',
		'book',
		array(
			'labels'       => array(
				'name'          => 'Genres — 类型',
				'singular_name' => 'Genre',
			),
			'public'       => true,
			'show_in_rest' => true,
			'rest_base'    => 'genres',
		)
	);
}

/**
 * Public and REST-visible, but in its own REST namespace.
 */
function igny8_register_event(): void {
	register_post_type(
		'event',
		array(
			'labels'         => array(
				'name'          => 'Events',
				'singular_name' => 'Event',
			),
			'public'         => true,
			'show_in_rest'   => true,
			'rest_namespace' => 'igny8-test/v1',
		)
	);
	register_taxonomy(
		'venue',
		'event',
		array(
			'labels'         => array(
				'name'          => 'Venues',
				'singular_name' => 'Venue',
			),
			'public'         => true,
			'show_in_rest'   => true,
			'rest_namespace' => 'igny8-test/v1',
		)
	);
}

/**
 * Visible in REST but not public: the agent must not list these.
 */
function igny8_register_internal(): void {
	register_post_type(
		'internal_log',
		array(
			'labels'       => array(
				'name'          => 'Internal Logs',
				'singular_name' => 'Internal Log',
			),
			'public'       => false,
			'show_ui'      => true,
			'show_in_rest' => true,
		)
	);
	register_taxonomy(
		'internal_flag',
		'internal_log',
		array(
			'labels'       => array(
				'name'          => 'Internal Flags',
				'singular_name' => 'Internal Flag',
			),
			'public'       => false,
			'show_ui'      => true,
			'show_in_rest' => true,
		)
	);
}

/**
 * Public but hidden from REST (only XML-RPC sees these).
 */
function igny8_register_recipe(): void {
	register_post_type(
		'recipe',
		array(
			'labels'       => array(
				'name'          => 'Recipes',
				'singular_name' => 'Recipe',
			),
			'public'       => true,
			'show_in_rest' => false,
		)
	);
	register_taxonomy(
		'cuisine',
		'recipe',
		array(
			'labels'       => array(
				'name'          => 'Cuisines',
				'singular_name' => 'Cuisine',
			),
			'public'       => true,
			'show_in_rest' => false,
		)
	);
}
