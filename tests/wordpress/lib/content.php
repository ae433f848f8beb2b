<?php
/**
 * Fixture content of the igny8 test sites. Included by install.php.
 *
 * WordPress's installer already made: the "Hello world!" post, the published
 * "Sample Page", the draft "Privacy Policy" page and the "Uncategorized" category.
 */

/**
 * Create the content set named by $kind.
 *
 * @param string $kind    "fixtures", "plugins" (fixtures plus the plugin-like types), "bench" or "none".
 * @param int    $user_id Author of the posts.
 */
function igny8_create_content( string $kind, int $user_id ): void {
	wp_defer_term_counting( true );
	if ( 'fixtures' === $kind ) {
		igny8_create_fixture_content( $user_id );
	} elseif ( 'plugins' === $kind ) {
		igny8_create_fixture_content( $user_id );
		igny8_create_plugin_content( $user_id );
	} elseif ( 'bench' === $kind ) {
		igny8_create_bench_content( $user_id );
	}
	wp_defer_term_counting( false );
}

/**
 * Insert one post of any type and status; "trash" posts are trashed properly.
 *
 * @param string               $type   Post type.
 * @param string               $title  Title.
 * @param string               $status publish, draft, pending, private, future or trash.
 * @param array<string, mixed> $extra  More wp_insert_post() fields, plus 'terms' => [taxonomy => [names]].
 * @return int The post id.
 */
function igny8_insert( string $type, string $title, string $status = 'publish', array $extra = array() ): int {
	$terms = $extra['terms'] ?? array();
	unset( $extra['terms'] );
	$post = array_merge(
		array(
			'post_type'    => $type,
			'post_title'   => $title,
			'post_content' => "Content of {$title}.",
			'post_status'  => 'trash' === $status ? 'publish' : $status,
		),
		$extra
	);
	if ( 'future' === $status ) {
		$post['post_date'] = gmdate( 'Y-m-d H:i:s', time() + 30 * DAY_IN_SECONDS );
	}
	$id = wp_insert_post( wp_slash( $post ), true );
	if ( is_wp_error( $id ) ) {
		fwrite( STDERR, "insert {$type} '{$title}': " . $id->get_error_message() . "\n" );
		exit( 1 );
	}
	foreach ( $terms as $taxonomy => $names ) {
		wp_set_object_terms( $id, $names, $taxonomy );
	}
	if ( 'trash' === $status ) {
		wp_trash_post( $id );
	}
	return $id;
}

/**
 * Insert terms that no post uses.
 *
 * @param string   $taxonomy Taxonomy slug.
 * @param string[] $names    Term names.
 */
function igny8_insert_empty_terms( string $taxonomy, array $names ): void {
	foreach ( $names as $name ) {
		$term = wp_insert_term( $name, $taxonomy );
		if ( is_wp_error( $term ) ) {
			fwrite( STDERR, "term {$taxonomy} '{$name}': " . $term->get_error_message() . "\n" );
			exit( 1 );
		}
	}
}

/**
 * Content for the fixture post types (see mu-plugins/igny8-fixtures.php).
 *
 * @param int $user_id Author of the posts.
 */
function igny8_create_fixture_content( int $user_id ): void {
	$author = array( 'post_author' => $user_id );
	igny8_create_posts( $author );
	igny8_create_pages( $author );
	igny8_create_books( $author );
	igny8_create_events( $author );
	igny8_create_internal( $author );
	igny8_create_recipes( $author );
}

/**
 * Posts: 7 published (with "Hello world!"), 2 drafts, 1 pending, 1 private, 1 future, 1 trashed.
 *
 * @param array<string, mixed> $author Author field.
 */
function igny8_create_posts( array $author ): void {
	for ( $i = 1; $i <= 6; $i++ ) {
		$terms = array(
			'category' => array( 0 === $i % 2 ? 'News' : 'Reviews' ),
			'post_tag' => array_slice( array( 'alpha', 'beta', 'gamma' ), 0, 1 + $i % 3 ),
		);
		igny8_insert( 'post', "Published post {$i}", 'publish', $author + array( 'terms' => $terms ) );
	}
	igny8_insert( 'post', 'Draft post 1', 'draft', $author );
	igny8_insert( 'post', 'Draft post 2', 'draft', $author );
	igny8_insert( 'post', 'Pending post', 'pending', $author );
	igny8_insert( 'post', 'Private post', 'private', $author );
	igny8_insert( 'post', 'Future post', 'future', $author );
	igny8_insert( 'post', 'Trashed post', 'trash', $author );
	igny8_insert_empty_terms( 'category', array( 'Empty Category', 'Another Empty Category' ) );
	igny8_insert_empty_terms( 'post_tag', array( 'unused-tag' ) );
}

/**
 * Pages: 4 published (with "Sample Page", one password-protected),
 * 2 drafts (with "Privacy Policy"), 1 trashed.
 *
 * @param array<string, mixed> $author Author field.
 */
function igny8_create_pages( array $author ): void {
	igny8_insert( 'page', 'About', 'publish', $author );
	igny8_insert( 'page', 'Contact', 'publish', $author );
	igny8_insert( 'page', 'Members only', 'publish', $author + array( 'post_password' => 'secret' ) );
	igny8_insert( 'page', 'Draft page', 'draft', $author );
	igny8_insert( 'page', 'Trashed page', 'trash', $author );
}

/**
 * Books: 3 published, 2 drafts, 1 pending; genres with an empty one.
 *
 * @param array<string, mixed> $author Author field.
 */
function igny8_create_books( array $author ): void {
	$genres = array( array( 'Fantasy' ), array( 'Science Fiction' ), array( 'Poetry — 诗', 'Fantasy' ) );
	foreach ( $genres as $i => $names ) {
		$number = $i + 1;
		igny8_insert( 'book', "Buch {$number} — 本", 'publish', $author + array( 'terms' => array( 'genre' => $names ) ) );
	}
	igny8_insert( 'book', 'Draft book 1', 'draft', $author );
	igny8_insert( 'book', 'Draft book 2', 'draft', $author );
	igny8_insert( 'book', 'Pending book', 'pending', $author );
	igny8_insert_empty_terms( 'genre', array( 'Empty Genre' ) );
}

/**
 * Events: 2 published, 1 future; venues with an empty one.
 *
 * @param array<string, mixed> $author Author field.
 */
function igny8_create_events( array $author ): void {
	igny8_insert( 'event', 'Launch party', 'publish', $author + array( 'terms' => array( 'venue' => array( 'Main Hall' ) ) ) );
	igny8_insert( 'event', 'Garden talk', 'publish', $author + array( 'terms' => array( 'venue' => array( 'Garden' ) ) ) );
	igny8_insert( 'event', 'Next year', 'future', $author );
	igny8_insert_empty_terms( 'venue', array( 'Online' ) );
}

/**
 * Internal (non-public) items: the agent must not list or count them.
 *
 * @param array<string, mixed> $author Author field.
 */
function igny8_create_internal( array $author ): void {
	$terms = array( 'terms' => array( 'internal_flag' => array( 'flagged' ) ) );
	igny8_insert( 'internal_log', 'Log entry 1', 'publish', $author + $terms );
	igny8_insert( 'internal_log', 'Log entry 2', 'publish', $author );
	igny8_insert_empty_terms( 'internal_flag', array( 'reviewed' ) );
}

/**
 * Recipes (public, REST-hidden): 4 published, 1 draft; cuisines with an empty one.
 *
 * @param array<string, mixed> $author Author field.
 */
function igny8_create_recipes( array $author ): void {
	$cuisines = array( 'Italian', 'Japanese', 'Italian', 'Japanese' );
	foreach ( $cuisines as $i => $cuisine ) {
		$number = $i + 1;
		igny8_insert( 'recipe', "Recipe {$number}", 'publish', $author + array( 'terms' => array( 'cuisine' => array( $cuisine ) ) ) );
	}
	igny8_insert( 'recipe', 'Draft recipe', 'draft', $author );
	igny8_insert_empty_terms( 'cuisine', array( 'Empty Cuisine' ) );
}

/**
 * Content for the plugin-like types (see mu-plugins/igny8-plugin-types.php).
 * Published counts: lead 5, faq 6, product 8, store 1, portfolio 9; term counts
 * (empty ones included): lead_source 3, product_cat 7, product_tag 6,
 * store_region 2, portfolio_type 1.
 *
 * @param int $user_id Author of the posts.
 */
function igny8_create_plugin_content( int $user_id ): void {
	$author = array( 'post_author' => $user_id );
	igny8_create_many( 'lead', 'Lead', 5, array( 'draft', 'private', 'trash' ), $author, 'lead_source', array( 'Web form', 'Newsletter' ) );
	igny8_insert_empty_terms( 'lead_source', array( 'Trade show' ) );
	igny8_create_many( 'faq', 'Question', 6, array( 'draft', 'trash' ), $author );
	$categories = array( 'Clothing', 'Shirts', 'Hats', 'Shoes', 'Bags' );
	$tags       = array( 'cotton', 'wool', 'summer', 'winter', 'sale' );
	for ( $i = 0; $i < 8; $i++ ) {
		$terms = array(
			'product_cat' => array( $categories[ $i % 5 ] ),
			'product_tag' => array_slice( $tags, $i % 4, 2 ),
		);
		igny8_insert( 'product', 'Product ' . ( $i + 1 ), 'publish', $author + array( 'terms' => $terms ) );
	}
	igny8_create_many( 'product', 'Product', 0, array( 'draft', 'draft', 'pending', 'private', 'trash' ), $author );
	igny8_insert_empty_terms( 'product_cat', array( 'Accessories', 'Uncategorized' ) );
	igny8_insert_empty_terms( 'product_tag', array( 'clearance' ) );
	igny8_create_many( 'store', 'Store', 1, array( 'draft' ), $author, 'store_region', array( 'North' ) );
	igny8_insert_empty_terms( 'store_region', array( 'South' ) );
	igny8_create_many( 'portfolio', 'Portfolio item', 9, array( 'draft', 'trash' ), $author, 'portfolio_type', array( 'Web' ) );
}

/**
 * Insert $published published items (terms given round-robin), then one item per other status.
 *
 * @param string               $type      Post type.
 * @param string               $title     Title prefix.
 * @param int                  $published How many published items.
 * @param string[]             $others    Statuses of the other items.
 * @param array<string, mixed> $author    Author field.
 * @param string               $taxonomy  Taxonomy of the terms ('' for none).
 * @param string[]             $terms     Term names, one per published item in turn.
 */
function igny8_create_many( string $type, string $title, int $published, array $others, array $author, string $taxonomy = '', array $terms = array() ): void {
	for ( $i = 1; $i <= $published; $i++ ) {
		$extra = $author;
		if ( $taxonomy && $terms ) {
			$extra['terms'] = array( $taxonomy => array( $terms[ ( $i - 1 ) % count( $terms ) ] ) );
		}
		igny8_insert( $type, "{$title} {$i}", 'publish', $extra );
	}
	foreach ( $others as $i => $status ) {
		igny8_insert( $type, "{$title} ({$status} " . ( $i + 1 ) . ')', $status, $author );
	}
}

/**
 * Bench content: 3 published items per bench type, 3 terms per bench taxonomy (one used).
 *
 * @param int $user_id Author of the posts.
 */
function igny8_create_bench_content( int $user_id ): void {
	foreach ( igny8_bench_slugs() as $type => $taxonomy ) {
		for ( $i = 1; $i <= 3; $i++ ) {
			$terms = 1 === $i ? array( 'terms' => array( $taxonomy => array( "{$taxonomy} term 1" ) ) ) : array();
			igny8_insert( $type, "{$type} item {$i}", 'publish', array( 'post_author' => $user_id ) + $terms );
		}
		igny8_insert_empty_terms( $taxonomy, array( "{$taxonomy} term 2", "{$taxonomy} term 3" ) );
	}
}
