<?php
/**
 * Plugin Name: igny8 XML-RPC disabled
 * Description: Turns XML-RPC off, as many security plugins do.
 */

add_filter( 'xmlrpc_enabled', '__return_false' );
