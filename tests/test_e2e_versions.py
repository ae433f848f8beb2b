"""End to end on WordPress 6.1 (Debian) and 6.5-6.7 (npm builds), each with plugin-like
types whose REST view differs from WordPress's own: a `public => false` type REST calls
viewable (`lead`), a public type REST calls not viewable (`faq`), "Posts" renamed "News"
after registration, a WooCommerce-like `product`, a type in its own namespace, a type
and a taxonomy hidden from REST.

Expected structures come from PHP inside each WordPress (expected.php).
"""

from __future__ import annotations

import pytest

from tests.conftest import (
    INTEGRATION_ID,
    REST_ANONYMOUS,
    REST_EDIT,
    expected_payload_part,
    label_and_count,
    site_config,
)
from tests.support.proxy import ReverseProxy

pytestmark = pytest.mark.e2e

VERSIONS = {"plugins61": "6.1", "wp65": "6.5", "wp66": "6.6", "wp67": "6.7"}


def synced(site, backend, agent, **site_extra):
    """`igny8-agent sync` through a proxy; (run, payload, paths WordPress was asked for)."""
    with ReverseProxy(site.url) as proxy:
        config = site_config(site, backend.url, **site_extra)
        config["sites"][0]["wordpress"]["url"] = proxy.url
        agent.write_config(config)
        run = agent.run("sync")
        paths = proxy.paths()
    assert run.returncode == 0, run.stderr
    return run, backend.stored[INTEGRATION_ID], paths


@pytest.mark.parametrize("variant", list(VERSIONS))
def test_with_credentials_the_payload_is_what_wordpress_says(wordpress, backend, agent, variant):
    site = wordpress(variant)
    assert site.wp_version.startswith(VERSIONS[variant])
    truth = site.php_expected()
    assert truth["post_types"]["lead"] == {
        **truth["post_types"]["lead"],
        "public": False,
        "viewable": True,
    }  # the fixture's point
    assert truth["post_types"]["faq"]["viewable"] is False
    run, payload, paths = synced(site, backend, agent)

    assert label_and_count(payload) == expected_payload_part(site)
    assert payload["post_types"]["post"]["label"] == truth["post_types"]["post"]["label"] == "News"
    assert "lead" not in payload["post_types"] and "lead_source" not in payload["taxonomies"]
    assert "faq" in payload["post_types"] and "portfolio" in payload["post_types"]
    assert "overrules REST's `viewable`" in run.stderr
    # What will not be in the payload is not counted (but what will be, is).
    assert [p for p in paths if "/wp/v2/products" in p]
    for rest_base in ("leads", "lead_source", "media"):
        assert not [p for p in paths if f"/wp/v2/{rest_base}" in p], paths


def test_without_xmlrpc_rest_viewable_decides_and_the_log_says_so(wordpress, backend, agent):
    site = wordpress("wp67")
    run, payload, paths = synced(site, backend, agent, wordpress={"xmlrpc": "never"})
    assert label_and_count(payload) == expected_payload_part(site, read=REST_EDIT)
    assert "lead" in payload["post_types"]  # viewable, though not public: the fallback's cost
    assert "judged by REST's `viewable`" in run.stderr
    assert payload["post_types"]["post"]["label"] == "News"  # labels.name, edit context


@pytest.mark.parametrize("variant", ["plugins61", "wp67"])
def test_without_credentials_every_public_rest_type_arrives(wordpress, backend, agent, variant):
    site = wordpress(variant)
    run, payload, paths = synced(site, backend, agent, credentials=False)
    got = label_and_count(payload)
    for kind, entries in expected_payload_part(site, read=REST_ANONYMOUS).items():
        for slug, entry in entries.items():
            assert got[kind][slug] == entry
    assert payload["post_types"]["post"]["label"] == "Posts"  # anonymous REST: the registered
    for internal in ("wp_block", "wp_template", "wp_navigation", "nav_menu_item"):
        assert internal not in payload["post_types"]
    assert "judged by WordPress's list of internal types" in run.stderr
