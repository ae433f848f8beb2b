<?php
/**
 * Print the truth about a test site's structure, straight from WordPress, as JSON.
 *
 * Usage: php expected.php WORDPRESS_ROOT
 * post_types: every post type that is public or viewable (is_post_type_viewable),
 *             attachment included;
 * taxonomies: every taxonomy that is public or publicly queryable, post_format included.
 * `public` is WordPress's own flag: an item with `public` false is not part of the
 * site's public structure, whatever REST's `viewable` says.
 * `label` is labels->name (what WordPress's admin shows, renamed or not);
 * `registered_label` is the object's `label` property (set at registration, what
 * REST's `name` and XML-RPC's `label` give).
 */

require __DIR__ . '/lib/load-wordpress.php';

/**
 * The public or viewable post types with labels, published count and REST location.
 *
 * @return array<string, array<string, mixed>>
 */
function igny8_expected_post_types(): array {
	$types = array();
	foreach ( get_post_types( array(), 'objects' ) as $slug => $type ) {
		$viewable = is_post_type_viewable( $type );
		if ( ! $type->public && ! $viewable ) {
			continue;
		}
		$counts         = wp_count_posts( $slug );
		$types[ $slug ] = array(
			'label'            => $type->labels->name,
			'registered_label' => $type->label,
			'count'            => (int) ( $counts->publish ?? 0 ),
			'show_in_rest'     => (bool) $type->show_in_rest,
			'rest_base'        => $type->rest_base ? $type->rest_base : $slug,
			'rest_namespace'   => $type->rest_namespace ? $type->rest_namespace : 'wp/v2',
			'viewable'         => $viewable,
			'public'           => (bool) $type->public,
		);
	}
	return $types;
}

/**
 * The public or publicly queryable taxonomies with labels, term count (empty
 * terms included) and REST location.
 *
 * @return array<string, array<string, mixed>>
 */
function igny8_expected_taxonomies(): array {
	$taxonomies = array();
	foreach ( get_taxonomies( array(), 'objects' ) as $slug => $taxonomy ) {
		if ( ! $taxonomy->public && ! $taxonomy->publicly_queryable ) {
			continue;
		}
		$count               = wp_count_terms(
			array(
				'taxonomy'   => $slug,
				'hide_empty' => false,
			)
		);
		$taxonomies[ $slug ] = array(
			'label'            => $taxonomy->labels->name,
			'registered_label' => $taxonomy->label,
			'count'            => is_wp_error( $count ) ? 0 : (int) $count,
			'show_in_rest'     => (bool) $taxonomy->show_in_rest,
			'rest_base'        => $taxonomy->rest_base ? $taxonomy->rest_base : $slug,
			'rest_namespace'   => $taxonomy->rest_namespace ? $taxonomy->rest_namespace : 'wp/v2',
			'viewable'         => is_taxonomy_viewable( $taxonomy ),
			'public'           => (bool) $taxonomy->public,
		);
	}
	return $taxonomies;
}

echo wp_json_encode(
	array(
		'wp_version' => $GLOBALS['wp_version'],
		'post_types' => igny8_expected_post_types(),
		'taxonomies' => igny8_expected_taxonomies(),
	),
	JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT
), "\n";
