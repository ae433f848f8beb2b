"""The plugin-rich test sites on every WordPress core the fixture runs.

`plugins61` runs Debian's WordPress 6.1; `wp65`, `wp66` and `wp67` run WordPress
Playground's builds (tests/wordpress/install-wordpress-builds.py), all on php-cli and
MariaDB with the same plugin-like types (tests/wordpress/mu-plugins/igny8-plugin-types.php).
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
import xmlrpc.client
from pathlib import Path

import pytest

from tests.support import wordpress as wordpress_support
from tests.support.wordpress import VARIANTS, WordPressSite, WordPressUnavailable

VERSIONS = {"plugins61": "6.1", "wp65": "6.5", "wp66": "6.6", "wp67": "6.7"}
PLUGIN_COUNTS = {
    "post_types": {"lead": 5, "faq": 6, "product": 8, "store": 1, "portfolio": 9},
    "taxonomies": {
        "lead_source": 3,
        "product_cat": 7,
        "product_tag": 6,
        "store_region": 2,
        "portfolio_type": 1,
    },
}


def basic_auth(site: WordPressSite) -> str:
    return "Basic " + base64.b64encode(f"{site.username}:{site.app_password}".encode()).decode()


def get_json(url: str, site: WordPressSite | None = None) -> tuple[int, object]:
    request = urllib.request.Request(url)
    if site is not None:
        request.add_header("Authorization", basic_auth(site))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(params=sorted(VERSIONS))
def site(request: pytest.FixtureRequest, wordpress) -> WordPressSite:
    return wordpress(request.param)


def test_variants_have_their_core() -> None:
    assert {name: VARIANTS[name].core for name in VERSIONS} == {
        "plugins61": "debian",
        "wp65": "6.5",
        "wp66": "6.6",
        "wp67": "6.7",
    }


def test_wp_version(site: WordPressSite) -> None:
    expected = VERSIONS[site.variant]
    assert re.match(re.escape(expected) + r"($|[.-])", site.wp_version), site.wp_version
    assert site.php_expected()["wp_version"] == site.wp_version


def test_runs_on_mariadb(site: WordPressSite) -> None:
    out = site.php(
        "global $wpdb; echo get_class( $wpdb ), ' ', "
        "$wpdb->dbh instanceof mysqli ? 'mysqli' : 'other', ' ', $wpdb->db_server_info();"
    )
    assert out.startswith("wpdb mysqli "), out
    assert "MariaDB" in out
    content = site.root_dir / "wp-content"
    assert not (content / "db.php").exists()
    assert not (content / "database").exists()  # the builds' SQLite database stays out


def test_core_parts_present(site: WordPressSite) -> None:
    root = site.root_dir
    for part in (
        "wp-includes/class-wp-application-passwords.php",
        "wp-includes/rest-api/endpoints/class-wp-rest-post-types-controller.php",
        "wp-includes/class-wp-xmlrpc-server.php",
        "wp-admin/includes/upgrade.php",
        "xmlrpc.php",
        "wp-login.php",
        # static files a Playground build keeps apart (the install script puts
        # them back); PHP reads the first one for classic themes
        "wp-includes/css/classic-themes.min.css",
        "wp-includes/css/dashicons.min.css",
    ):
        assert (root / part).is_file(), part
    assert site.php("echo wp_is_application_passwords_available() ? 'yes' : 'no';") == "yes"


def test_rest_types_with_application_password(site: WordPressSite) -> None:
    url = f"{site.url}/wp-json/wp/v2/types?context=edit"
    status, _ = get_json(url)
    assert status == 401  # edit context needs the login: the password is what lets us in
    status, types = get_json(url, site)
    assert status == 200, types
    assert isinstance(types, dict)
    assert types["lead"]["viewable"] is True  # ... yet WordPress says lead is not public
    assert types["faq"]["viewable"] is False  # ... yet faq is public
    assert types["post"]["name"] == "Posts"
    assert types["post"]["labels"]["name"] == "News"
    assert types["product"]["rest_base"] == "products"
    assert types["store"]["rest_namespace"] == "shop/v1"
    assert "portfolio" not in types


def test_rest_taxonomies_with_application_password(site: WordPressSite) -> None:
    status, taxonomies = get_json(f"{site.url}/wp-json/wp/v2/taxonomies?context=edit", site)
    assert status == 200, taxonomies
    assert isinstance(taxonomies, dict)
    assert taxonomies["lead_source"]["visibility"]["public"] is False
    assert taxonomies["lead_source"]["visibility"]["publicly_queryable"] is True
    assert taxonomies["category"]["name"] == "Categories"
    assert taxonomies["category"]["labels"]["name"] == "Topics"
    assert taxonomies["store_region"]["rest_namespace"] == "shop/v1"
    assert "portfolio_type" not in taxonomies


def test_xmlrpc_get_post_types(site: WordPressSite) -> None:
    proxy = xmlrpc.client.ServerProxy(f"{site.url}/xmlrpc.php")
    types = proxy.wp.getPostTypes(1, site.username, site.app_password)
    assert isinstance(types, dict)
    assert {"post", "page", "faq", "product", "store", "portfolio"} <= set(types)
    assert "lead" not in types  # XML-RPC lists public types only
    assert types["post"]["label"] == "Posts"
    assert types["post"]["labels"]["name"] == "News"
    taxonomies = proxy.wp.getTaxonomies(1, site.username, site.app_password)
    names = {taxonomy["name"] for taxonomy in taxonomies}
    assert {"category", "product_cat", "product_tag", "store_region", "portfolio_type"} <= names
    assert "lead_source" not in names
    with pytest.raises(xmlrpc.client.Fault) as refused:
        proxy.wp.getPostTypes(1, site.username, "not-the-password")
    assert refused.value.faultCode == 403


def test_expected_is_wordpress_truth(site: WordPressSite) -> None:
    expected = site.php_expected()
    types, taxonomies = expected["post_types"], expected["taxonomies"]
    assert types["lead"]["public"] is False and types["lead"]["viewable"] is True
    assert types["faq"]["public"] is True and types["faq"]["viewable"] is False
    assert types["post"]["label"] == "News"
    assert types["post"]["registered_label"] == "Posts"
    assert taxonomies["category"]["label"] == "Topics"
    assert taxonomies["category"]["registered_label"] == "Categories"
    assert taxonomies["lead_source"]["public"] is False
    assert types["product"]["rest_base"] == "products"
    assert types["store"]["rest_namespace"] == "shop/v1"
    assert taxonomies["store_region"]["rest_namespace"] == "shop/v1"
    assert types["portfolio"]["show_in_rest"] is False and types["portfolio"]["public"] is True
    assert taxonomies["portfolio_type"]["show_in_rest"] is False
    assert {"internal_log", "internal_flag"}.isdisjoint(set(types) | set(taxonomies))
    for kind, counts in PLUGIN_COUNTS.items():
        assert {slug: expected[kind][slug]["count"] for slug in counts} == counts
    assert types["post"]["count"] == 7  # publish only: drafts, private and trash not counted
    for entry in (*types.values(), *taxonomies.values()):
        assert entry["public"] or entry["viewable"]


def test_missing_build_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(wordpress_support, "BUILDS_DIR", tmp_path)
    with pytest.raises(WordPressUnavailable, match="install-wordpress-builds.py"):
        wordpress_support.core_source("6.7")


def test_pages_without_php_warnings(site: WordPressSite) -> None:
    for path in ("/", "/product/product-1/", "/wp-login.php", "/?feed=rss2"):
        with urllib.request.urlopen(site.url + path, timeout=30) as response:
            assert response.status == 200, path
    log = (site.root_dir.parent / "php-server.log").read_text(errors="replace")
    problems = [
        line
        for line in log.splitlines()
        if re.search(r"PHP (Warning|Fatal error|Parse error|Notice)", line)
    ]
    assert problems == []
