<?php
/**
 * Plugin Name: igny8 plugin-like types
 * Description: Post types and taxonomies registered the way real plugins do,
 * with the flag combinations that make REST's view differ from WordPress's own
 * `public` flag, plus the classic "Posts → News" relabelling done after registration.
 *
 * | slug           | public | publicly_queryable | show_in_rest | what it is like              |
 * |----------------|--------|--------------------|--------------|------------------------------|
 * | lead           | no     | yes                | yes          | CRM / form plugins           |
 * | lead_source    | no     | yes                | yes          | (taxonomy of lead)           |
 * | faq            | yes    | no                 | yes          | FAQ / accordion plugins      |
 * | product        | yes    | yes                | yes          | WooCommerce (rest_base products) |
 * | product_cat    | yes    | yes                | yes          | WooCommerce                  |
 * | product_tag    | yes    | yes                | yes          | WooCommerce                  |
 * | store          | yes    | yes                | shop/v1      | own REST namespace           |
 * | store_region   | yes    | yes                | shop/v1      | own REST namespace           |
 * | portfolio      | yes    | yes                | no           | older plugins (XML-RPC only) |
 * | portfolio_type | yes    | yes                | no           | older plugins (XML-RPC only) |
 *
 * After registration (init, priority 999): post's labels->name becomes "News"
 * (its `label` stays "Posts") and category's labels->name becomes "Topics"
 * (its `label` stays "Categories").
 */

add_action( 'init', 'igny8_register_plugin_types' );
add_action( 'init', 'igny8_relabel_after_registration', 999 );

/**
 * Register every plugin-like type and taxonomy.
 */
function igny8_register_plugin_types(): void {
	igny8_register_lead();
	igny8_register_faq();
	igny8_register_product();
	igny8_register_store();
	igny8_register_portfolio();
}

/**
 * Labels for a type or taxonomy.
 *
 * @param string $plural   Plural name.
 * @param string $singular Singular name.
 * @return array<string, string>
 */
function igny8_plugin_labels( string $plural, string $singular ): array {
	return array(
		'name'          => $plural,
		'singular_name' => $singular,
		'menu_name'     => $plural,
	);
}

/**
 * Not public, but publicly queryable and in REST: REST says `viewable: true`.
 * Must not be in the payload. Its taxonomy likewise.
 */
function igny8_register_lead(): void {
	register_post_type(
		'lead',
		array(
			'labels'             => igny8_plugin_labels( 'Leads', 'Lead' ),
			'public'             => false,
			'publicly_queryable' => true,
			'show_ui'            => true,
			'show_in_rest'       => true,
			'rest_base'          => 'leads',
			'supports'           => array( 'title', 'editor' ),
		)
	);
	register_taxonomy(
		'lead_source',
		'lead',
		array(
			'labels'             => igny8_plugin_labels( 'Lead Sources', 'Lead Source' ),
			'public'             => false,
			'publicly_queryable' => true,
			'show_ui'            => true,
			'show_in_rest'       => true,
		)
	);
}

/**
 * Public, but not publicly queryable: REST says `viewable: false`. Is public.
 */
function igny8_register_faq(): void {
	register_post_type(
		'faq',
		array(
			'labels'             => igny8_plugin_labels( 'FAQs', 'FAQ' ),
			'public'             => true,
			'publicly_queryable' => false,
			'show_in_rest'       => true,
			'rest_base'          => 'faqs',
			'supports'           => array( 'title', 'editor' ),
		)
	);
}

/**
 * WooCommerce-like: product (rest_base products) with product_cat and product_tag.
 */
function igny8_register_product(): void {
	register_taxonomy(
		'product_cat',
		'product',
		array(
			'labels'       => igny8_plugin_labels( 'Product categories', 'Category' ),
			'hierarchical' => true,
			'public'       => true,
			'show_in_rest' => true,
			'rewrite'      => array( 'slug' => 'product-category' ),
		)
	);
	register_taxonomy(
		'product_tag',
		'product',
		array(
			'labels'       => igny8_plugin_labels( 'Product tags', 'Tag' ),
			'hierarchical' => false,
			'public'       => true,
			'show_in_rest' => true,
			'rewrite'      => array( 'slug' => 'product-tag' ),
		)
	);
	register_post_type(
		'product',
		array(
			'labels'       => igny8_plugin_labels( 'Products', 'Product' ),
			'public'       => true,
			'show_in_rest' => true,
			'rest_base'    => 'products',
			'has_archive'  => 'shop',
			'taxonomies'   => array( 'product_cat', 'product_tag' ),
			'supports'     => array( 'title', 'editor', 'excerpt', 'thumbnail' ),
		)
	);
}

/**
 * A type and a taxonomy in their plugin's own REST namespace.
 */
function igny8_register_store(): void {
	register_post_type(
		'store',
		array(
			'labels'         => igny8_plugin_labels( 'Stores', 'Store' ),
			'public'         => true,
			'show_in_rest'   => true,
			'rest_base'      => 'stores',
			'rest_namespace' => 'shop/v1',
		)
	);
	register_taxonomy(
		'store_region',
		'store',
		array(
			'labels'         => igny8_plugin_labels( 'Store Regions', 'Store Region' ),
			'public'         => true,
			'show_in_rest'   => true,
			'rest_base'      => 'regions',
			'rest_namespace' => 'shop/v1',
		)
	);
}

/**
 * Public but not in REST (only XML-RPC sees them).
 */
function igny8_register_portfolio(): void {
	register_post_type(
		'portfolio',
		array(
			'labels'       => igny8_plugin_labels( 'Portfolio Items', 'Portfolio Item' ),
			'public'       => true,
			'show_in_rest' => false,
		)
	);
	register_taxonomy(
		'portfolio_type',
		'portfolio',
		array(
			'labels'       => igny8_plugin_labels( 'Portfolio Types', 'Portfolio Type' ),
			'public'       => true,
			'show_in_rest' => false,
		)
	);
}

/**
 * The classic snippet: rename Posts to News and Categories to Topics after
 * registration, changing the labels object only (not `label`).
 */
function igny8_relabel_after_registration(): void {
	global $wp_post_types, $wp_taxonomies;
	$labels                     = $wp_post_types['post']->labels;
	$labels->name               = 'News';
	$labels->singular_name      = 'News';
	$labels->add_new            = 'Add News';
	$labels->add_new_item       = 'Add News';
	$labels->edit_item          = 'Edit News';
	$labels->new_item           = 'News';
	$labels->view_item          = 'View News';
	$labels->search_items       = 'Search News';
	$labels->not_found          = 'No News found';
	$labels->not_found_in_trash = 'No News found in Trash';
	$labels->all_items          = 'All News';
	$labels->menu_name          = 'News';
	$labels->name_admin_bar     = 'News';

	$labels                = $wp_taxonomies['category']->labels;
	$labels->name          = 'Topics';
	$labels->singular_name = 'Topic';
	$labels->menu_name     = 'Topics';
	$labels->all_items     = 'All Topics';
	$labels->search_items  = 'Search Topics';
}
