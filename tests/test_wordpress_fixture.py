"""Self-test of the WordPress test sites (tests/support/wordpress.py)."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.support.wordpress import VARIANTS, WordPressServers, WordPressSite, WordPressUnavailable

API_LINK = re.compile(r'<([^>]+)>;\s*rel="https://api\.w\.org/"')
FIXTURE_TYPES = {"post", "page", "attachment", "book", "event", "recipe"}
FIXTURE_TAXONOMIES = {"category", "post_tag", "post_format", "genre", "venue", "cuisine"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPressServers]:
    with WordPressServers(tmp_path_factory.mktemp("wordpress")) as wordpress:
        try:
            wordpress.site("main")
        except WordPressUnavailable as error:
            unavailable(f"WordPress test servers unavailable: {error}")
        yield wordpress


def fetch(
    url: str, site: WordPressSite | None = None, method: str = "GET"
) -> tuple[int, dict, bytes]:
    """(status, headers, body) of a request, with the site's application password if given."""
    request = urllib.request.Request(url, method=method)
    if site is not None:
        token = base64.b64encode(f"{site.username}:{site.app_password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def rest_url(site: WordPressSite, route: str) -> str:
    if site.variant == "plain":
        return f"{site.url}/?rest_route=/{route}&context=edit"
    return f"{site.url}/wp-json/{route}?context=edit"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_home_page_links_the_rest_api(servers: WordPressServers, variant: str) -> None:
    site = servers.site(variant)
    for method in ("GET", "HEAD"):
        status, headers, _ = fetch(site.url + "/", method=method)
        assert status == 200
        match = API_LINK.search(headers.get("Link", ""))
        assert match, headers
        assert match.group(1).startswith(site.url + "/")


@pytest.mark.parametrize("variant", ["main", "plain", "subfolder", "private", "bench20"])
def test_rest_answers_with_application_password(servers: WordPressServers, variant: str) -> None:
    site = servers.site(variant)
    status, _, body = fetch(rest_url(site, "wp/v2/types"), site)
    assert status == 200
    types = json.loads(body)
    assert types["post"]["viewable"] is True
    expected = site.php_expected()
    rest_types = {slug for slug, info in expected["post_types"].items() if info["show_in_rest"]}
    assert rest_types <= set(types)


def test_private_refuses_anonymous_rest(servers: WordPressServers) -> None:
    status, _, body = fetch(servers.site("private").url + "/wp-json/wp/v2/types")
    assert status == 401
    assert json.loads(body)["code"] == "rest_not_logged_in"


def test_plain_permalinks_have_no_wp_json(servers: WordPressServers) -> None:
    status, headers, _ = fetch(servers.site("plain").url + "/wp-json/wp/v2/types")
    assert not (status == 200 and "json" in headers.get("Content-Type", ""))


def test_production_ignores_application_passwords_over_http(servers: WordPressServers) -> None:
    site = servers.site("production-http")
    status, _, _ = fetch(rest_url(site, "wp/v2/types"), site)
    assert status == 401


def test_rest_blocked_answers_html_403(servers: WordPressServers) -> None:
    site = servers.site("rest-blocked")
    for url in (f"{site.url}/wp-json/", f"{site.url}/?rest_route=/"):
        status, headers, _ = fetch(url, site)
        assert status == 403
        assert headers["Content-Type"].startswith("text/html")


def test_xmlrpc_disabled(servers: WordPressServers) -> None:
    assert "disabled" in servers.site("xmlrpc-disabled").php(
        "echo apply_filters('xmlrpc_enabled', true) ? 'enabled' : 'disabled';"
    )


def test_expected_has_the_fixtures(servers: WordPressServers) -> None:
    expected = servers.site("main").php_expected()
    assert set(expected["post_types"]) == FIXTURE_TYPES
    assert set(expected["taxonomies"]) == FIXTURE_TAXONOMIES
    book = expected["post_types"]["book"]
    assert book == {
        "label": "Bücher — 本",
        "registered_label": "Bücher — 本",
        "count": 3,
        "show_in_rest": True,
        "rest_base": "books",
        "rest_namespace": "wp/v2",
        "viewable": True,
        "public": True,
    }
    assert expected["post_types"]["post"]["count"] == 7
    assert expected["post_types"]["event"]["rest_namespace"] == "igny8-test/v1"
    assert expected["post_types"]["recipe"]["show_in_rest"] is False
    assert expected["taxonomies"]["genre"]["label"] == "Genres — 类型"
    assert expected["taxonomies"]["venue"]["rest_namespace"] == "igny8-test/v1"


def test_bench20_has_twenty_extra_types(servers: WordPressServers) -> None:
    expected = servers.site("bench20").php_expected()
    bench_types = [slug for slug in expected["post_types"] if slug.startswith("bench_type_")]
    bench_taxonomies = [slug for slug in expected["taxonomies"] if slug.startswith("bench_tax_")]
    assert len(bench_types) == len(bench_taxonomies) == 20
    assert expected["post_types"]["bench_type_07"]["count"] == 3
    assert expected["taxonomies"]["bench_tax_07"]["count"] == 3


def test_same_variant_same_site(servers: WordPressServers) -> None:
    assert servers.site("main") is servers.site("main")


def test_php_errors_raise(servers: WordPressServers) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        servers.site("main").php("fwrite(STDERR, 'boom'); exit(3);")


def test_close_stops_everything(tmp_path: Path) -> None:
    wordpress = WordPressServers(tmp_path)
    try:
        site = wordpress.site("main")
    except WordPressUnavailable as error:
        unavailable(f"WordPress test servers unavailable: {error}")
    wordpress.close()
    wordpress.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(site.url + "/", timeout=5)
