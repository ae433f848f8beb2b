<?php
/**
 * Plugin Name: igny8 bench
 * Description: 20 public post types and 20 public taxonomies, all in REST.
 */

add_action( 'init', 'igny8_register_bench_types' );

/**
 * The slugs of the bench post types and taxonomies, pairwise.
 *
 * @return array<string, string> post type slug => taxonomy slug
 */
function igny8_bench_slugs(): array {
	$slugs = array();
	for ( $i = 1; $i <= 20; $i++ ) {
		$n = sprintf( '%02d', $i );
		$slugs[ 'bench_type_' . $n ] = 'bench_tax_' . $n;
	}
	return $slugs;
}

/**
 * Register each bench post type with its taxonomy.
 */
function igny8_register_bench_types(): void {
	foreach ( igny8_bench_slugs() as $type => $taxonomy ) {
		$n = substr( $type, -2 );
		register_post_type(
			$type,
			array(
				'label'        => 'Bench Types ' . $n,
				'public'       => true,
				'show_in_rest' => true,
			)
		);
		register_taxonomy(
			$taxonomy,
			$type,
			array(
				'label'        => 'Bench Taxonomies ' . $n,
				'public'       => true,
				'show_in_rest' => true,
			)
		);
	}
}
