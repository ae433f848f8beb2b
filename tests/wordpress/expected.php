<?php
/**
 * Print the truth about a test site's structure, straight from WordPress, as JSON.
 *
 * Usage: php expected.php WORDPRESS_ROOT
 * post_types: every viewable post type (attachment included);
 * taxonomies: every public taxonomy (post_format included).
 */

require __DIR__ . '/lib/load-wordpress.php';

/**
 * The viewable post types with label, published count and REST location.
 *
 * @return array<string, array<string, mixed>>
 */
function igny8_expected_post_types(): array {
	$types = array();
	foreach ( get_post_types( array(), 'objects' ) as $slug => $type ) {
		if ( ! is_post_type_viewable( $type ) ) {
			continue;
		}
		$counts         = wp_count_posts( $slug );
		$types[ $slug ] = array(
			'label'          => $type->labels->name,
			'count'          => (int) ( $counts->publish ?? 0 ),
			'show_in_rest'   => (bool) $type->show_in_rest,
			'rest_base'      => $type->rest_base ? $type->rest_base : $slug,
			'rest_namespace' => $type->rest_namespace ? $type->rest_namespace : 'wp/v2',
			'viewable'       => true,
			'public'         => (bool) $type->public,
		);
	}
	return $types;
}

/**
 * The public taxonomies with label, term count (empty terms included) and REST location.
 *
 * @return array<string, array<string, mixed>>
 */
function igny8_expected_taxonomies(): array {
	$taxonomies = array();
	foreach ( get_taxonomies( array( 'public' => true ), 'objects' ) as $slug => $taxonomy ) {
		$count               = wp_count_terms(
			array(
				'taxonomy'   => $slug,
				'hide_empty' => false,
			)
		);
		$taxonomies[ $slug ] = array(
			'label'          => $taxonomy->labels->name,
			'count'          => is_wp_error( $count ) ? 0 : (int) $count,
			'show_in_rest'   => (bool) $taxonomy->show_in_rest,
			'rest_base'      => $taxonomy->rest_base ? $taxonomy->rest_base : $slug,
			'rest_namespace' => $taxonomy->rest_namespace ? $taxonomy->rest_namespace : 'wp/v2',
			'public'         => true,
		);
	}
	return $taxonomies;
}

echo wp_json_encode(
	array(
		'post_types' => igny8_expected_post_types(),
		'taxonomies' => igny8_expected_taxonomies(),
	),
	JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT
), "\n";
