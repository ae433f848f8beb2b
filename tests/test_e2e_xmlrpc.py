"""End to end: XML-RPC completes REST, replaces it when REST is blocked, or stays away."""

from __future__ import annotations

import pytest

from tests.conftest import (
    INTEGRATION_ID,
    REST_EDIT,
    expected_payload_part,
    label_and_count,
    site_config,
)
from tests.support.proxy import ReverseProxy

pytestmark = pytest.mark.e2e


def pushed(backend):
    return backend.stored[INTEGRATION_ID]


def sync_behind_proxy(site, backend, agent, **site_extra):
    """`igny8-agent sync` through a proxy that records the paths WordPress was asked for."""
    with ReverseProxy(site.url) as proxy:
        config = site_config(site, backend.url, **site_extra)
        config["sites"][0]["wordpress"]["url"] = proxy.url
        agent.write_config(config)
        run = agent.run("sync")
        return run, proxy.paths()


def test_rest_hidden_types_are_added_with_php_counts(wordpress, backend, agent):
    site = wordpress("main")
    truth = site.php_expected()
    assert truth["post_types"]["recipe"]["show_in_rest"] is False  # the fixture's point
    assert truth["taxonomies"]["cuisine"]["show_in_rest"] is False
    agent.write_config(site_config(site, backend.url))

    run = agent.run("sync")

    assert run.returncode == 0, run.stderr
    assert label_and_count(pushed(backend)) == expected_payload_part(site)
    assert "adds what REST does not list" in run.stderr
    assert "recipe" in run.stderr and "cuisine" in run.stderr


def test_rest_types_keep_their_rest_counts(wordpress, backend, agent):
    run, paths = sync_behind_proxy(wordpress("main"), backend, agent)
    assert run.returncode == 0, run.stderr
    assert any("/wp-json/wp/v2/books" in p for p in paths)
    xmlrpc_calls = [p for p in paths if p.startswith("/xmlrpc.php")]
    # supportedMethods, getPostTypes, getTaxonomies, one page each of recipe and cuisine:
    # nothing is counted again over XML-RPC that REST already counted.
    assert len(xmlrpc_calls) == 5, paths


def test_site_with_rest_blocked_is_read_over_xmlrpc(wordpress, backend, agent):
    site = wordpress("rest-blocked")
    agent.write_config(site_config(site, backend.url))

    run = agent.run("sync")

    assert run.returncode == 0, run.stderr
    assert label_and_count(pushed(backend)) == expected_payload_part(site)
    assert "over XML-RPC" in run.stderr and "because REST failed" in run.stderr
    assert "403" in run.stderr


REST_REFUSED_TO_EVERYONE = """<?php
// As plugins that close the REST API to everyone do: after WordPress has
// authenticated the request (application passwords included), refuse it.
add_filter( 'rest_authentication_errors', function () {
	return new WP_Error( 'rest_cannot_access', 'The REST API is closed.',
		array( 'status' => 401 ) );
}, 1000 );
"""


def test_rest_refusing_credentials_that_xmlrpc_accepts_is_read_over_xmlrpc(
    wordpress, backend, agent
):
    """CONTRACT §4: REST blocked (401/403/404, HTML) → XML-RPC serves the whole read;
    a 401 with credentials sent is not a wrong password when XML-RPC takes them."""
    site = wordpress("fresh")
    plugin = site.root_dir / "wp-content" / "mu-plugins" / "rest-closed.php"
    plugin.write_text(REST_REFUSED_TO_EVERYONE)
    try:
        agent.write_config(site_config(site, backend.url))
        run = agent.run("sync")
    finally:
        plugin.unlink()

    assert run.returncode == 0, run.stderr
    assert label_and_count(pushed(backend)) == expected_payload_part(site)
    assert "over XML-RPC" in run.stderr
    assert "REST refused the credentials that XML-RPC accepts" in run.stderr


def test_xmlrpc_disabled_still_syncs_over_rest_and_says_what_it_misses(wordpress, backend, agent):
    site = wordpress("xmlrpc-disabled")
    agent.write_config(site_config(site, backend.url))

    run = agent.run("sync")

    assert run.returncode == 0, run.stderr
    assert label_and_count(pushed(backend)) == expected_payload_part(site, read=REST_EDIT)
    assert "XML-RPC could not be used" in run.stderr
    assert "cannot be seen" in run.stderr


@pytest.mark.parametrize("mode", ["auto", "always"])
def test_wrong_credentials_give_one_clear_error(wordpress, backend, agent, mode):
    site = wordpress("main")
    config = site_config(site, backend.url, wordpress={"xmlrpc": mode})
    config["sites"][0]["wordpress"]["app_password"] = "wrong wrong wrong wrong"
    agent.write_config(config)

    run = agent.run("sync")

    assert run.returncode == 1
    site_errors = [line for line in run.stderr.splitlines() if "ERROR [blog]" in line]
    assert len(site_errors) == 1, run.stderr
    assert "sites[0].wordpress" in site_errors[0]
    assert "wrong wrong" not in run.stderr
    assert backend.posts() == []


def test_never_does_not_touch_xmlrpc(wordpress, backend, agent):
    site = wordpress("main")
    run, paths = sync_behind_proxy(site, backend, agent, wordpress={"xmlrpc": "never"})
    assert run.returncode == 0, run.stderr
    assert not [p for p in paths if "xmlrpc" in p]
    assert label_and_count(pushed(backend)) == expected_payload_part(site, read=REST_EDIT)


def test_always_uses_xmlrpc_alone(wordpress, backend, agent):
    site = wordpress("main")
    run, paths = sync_behind_proxy(site, backend, agent, wordpress={"xmlrpc": "always"})
    assert run.returncode == 0, run.stderr
    assert not [p for p in paths if "wp-json" in p or "rest_route" in p]
    assert label_and_count(pushed(backend)) == expected_payload_part(site)


def test_without_credentials_auto_stays_on_rest_and_says_so(wordpress, backend, agent):
    run, paths = sync_behind_proxy(wordpress("main"), backend, agent, credentials=False)
    assert run.returncode == 0, run.stderr
    assert not [p for p in paths if "xmlrpc" in p]
    assert run.stderr.count("registered without REST cannot be seen") == 1


def test_always_without_credentials_is_a_config_error(wordpress, agent):
    config = site_config(wordpress("main"), None, credentials=False, wordpress={"xmlrpc": "always"})
    agent.write_config(config)
    run = agent.run("check-config")
    assert run.returncode == 2
    assert "sites[0].wordpress.xmlrpc" in run.stderr
