"""The pure helpers of agent.wordpress.rest and .discovery (CONTRACT §4), plus API-root
discovery fallback."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import tenacity

from agent.config import SiteConfig, WordPressConfig
from agent.errors import (
    CredentialsIgnored,
    CredentialsRejected,
    RestAccessDenied,
    WordPressError,
)
from agent.http import HttpResponse
from agent.retry import RetryPolicy
from agent.secret import Secret
from agent.wordpress.discovery import api_roots_from_page
from agent.wordpress.reader import read_structure
from agent.wordpress.rest import (
    BY_FLAG,
    BY_INTERNAL_LIST,
    BY_VIEWABLE,
    Listed,
    access_error,
    listed_post_types,
    listed_taxonomies,
    rest_url,
)
from tests.support.tiny_wordpress import tiny_wordpress

API = "https://api.w.org/"
PASSWORD = "abcd EFGH ijkl MNOP qrst UVWX"


def page(
    body: bytes = b"",
    link: str | None = None,
    status: int = 200,
    content_type: str = "text/html; charset=UTF-8",
) -> HttpResponse:
    headers = {"content-type": content_type}
    if link is not None:
        headers["link"] = link
    return HttpResponse(status=status, headers=headers, body=body, url="https://blog.example.com/")


def site(credentials: bool = True) -> SiteConfig:
    return SiteConfig(
        key_path="sites[3]",
        name="blog",
        site_id=5,
        api_key=Secret("api-key"),
        wordpress=WordPressConfig(
            url="https://blog.example.com",
            username="igny8-agent" if credentials else None,
            app_password=Secret(PASSWORD) if credentials else None,
        ),
    )


# --- api_roots_from_page ---------------------------------------------------------------------


def test_link_header_with_several_links() -> None:
    link = (
        '<https://blog.example.com/wp-json/wp/v2/pages/2>; rel="alternate"; '
        'type="application/json", '
        f'<https://blog.example.com/wp-json/>; rel="{API}", '
        "<https://blog.example.com/?p=2>; rel=shortlink"
    )
    assert api_roots_from_page(page(b"<html></html>", link)) == [
        "https://blog.example.com/wp-json/"
    ]


def test_link_header_of_plain_permalink_site() -> None:
    link = f'<https://blog.example.com/index.php?rest_route=/>; rel="{API}"'
    assert api_roots_from_page(page(link=link)) == [
        "https://blog.example.com/index.php?rest_route=/"
    ]


def test_link_tag_in_html() -> None:
    html = (
        b"<!DOCTYPE html><html><head>\n"
        b"<link rel='stylesheet' href='https://blog.example.com/style.css' />\n"
        b"<link rel='https://api.w.org/' href='https://blog.example.com/sub/wp-json/' />\n"
        b'<link rel="alternate" type="application/json" href="https://blog.example.com/x" />\n'
        b"</head><body>Hi</body></html>"
    )
    assert api_roots_from_page(page(html)) == ["https://blog.example.com/sub/wp-json/"]


def test_link_tag_with_double_quotes_other_order_and_entities() -> None:
    html = (
        b'<head><LINK href="https://blog.example.com/?rest_route=/&amp;lang=de" '
        b'REL="https://api.w.org/"></head>'
    )
    assert api_roots_from_page(page(html)) == ["https://blog.example.com/?rest_route=/&lang=de"]


def test_no_announced_root() -> None:
    html = b"<html><head><link rel='alternate' href='https://blog.example.com/feed/'></head></html>"
    link = "<https://blog.example.com/?p=2>; rel=shortlink"
    assert api_roots_from_page(page(html, link)) == []
    assert api_roots_from_page(page(b"")) == []


def test_header_comes_before_tag() -> None:
    html = b"<link rel='https://api.w.org/' href='https://blog.example.com/from-tag/' />"
    link = f'<https://blog.example.com/from-header/>; rel="{API}"'
    roots = api_roots_from_page(page(html, link))
    assert roots[0] == "https://blog.example.com/from-header/"
    assert "https://blog.example.com/from-tag/" in roots


# --- rest_url --------------------------------------------------------------------------------


def full_url(base: str, query: dict[str, str]) -> str:
    return requests.Request("GET", base, params=query).prepare().url or ""


def test_rest_url_pretty_root() -> None:
    base, query = rest_url("https://blog.example.com/wp-json/", "wp/v2/types", {})
    assert base == "https://blog.example.com/wp-json/wp/v2/types"
    assert query == {}


def test_rest_url_pretty_root_in_sub_folder_with_params() -> None:
    base, query = rest_url(
        "https://example.com/blog/wp-json/", "/wc/v3/products/", {"per_page": "1", "_fields": "id"}
    )
    assert base == "https://example.com/blog/wp-json/wc/v3/products"
    assert query == {"per_page": "1", "_fields": "id"}


def test_rest_url_pretty_root_without_trailing_slash() -> None:
    base, _ = rest_url("https://blog.example.com/wp-json", "wp/v2/taxonomies", {})
    assert base == "https://blog.example.com/wp-json/wp/v2/taxonomies"


def test_rest_url_plain_root() -> None:
    base, query = rest_url(
        "https://blog.example.com/?rest_route=/", "wp/v2/posts", {"per_page": "1"}
    )
    assert base.rstrip("/") == "https://blog.example.com"
    assert query == {"rest_route": "/wp/v2/posts", "per_page": "1"}
    assert full_url(base, query) in (
        "https://blog.example.com/?rest_route=%2Fwp%2Fv2%2Fposts&per_page=1",
        "https://blog.example.com/?per_page=1&rest_route=%2Fwp%2Fv2%2Fposts",
    )


def test_rest_url_plain_root_with_index_php_in_sub_folder() -> None:
    base, query = rest_url(
        "http://example.com/blog/index.php?rest_route=/", "wp/v2/types", {"context": "edit"}
    )
    assert base == "http://example.com/blog/index.php"
    assert query == {"rest_route": "/wp/v2/types", "context": "edit"}


def test_rest_url_plain_root_keeps_other_query_parameters() -> None:
    base, query = rest_url("https://blog.example.com/?rest_route=/&lang=de", "wp/v2/types", {})
    assert query["rest_route"] == "/wp/v2/types"
    assert query["lang"] == "de"


# --- public post types and taxonomies --------------------------------------------------------


def types_view() -> dict[str, Any]:
    def item(slug: str, name: str, base: str, namespace: str | None = "wp/v2") -> dict[str, Any]:
        entry: dict[str, Any] = {"slug": slug, "name": name, "rest_base": base}
        if namespace is not None:
            entry["rest_namespace"] = namespace
        return entry

    return {
        "post": item("post", "Posts", "posts"),
        "page": item("page", "Pages", "pages"),
        "attachment": item("attachment", "Media", "media"),
        "nav_menu_item": item("nav_menu_item", "Navigation Menu Items", "menu-items"),
        "wp_block": item("wp_block", "Patterns", "blocks"),
        "wp_template": item("wp_template", "Templates", "templates"),
        "wp_template_part": item("wp_template_part", "Template Parts", "template-parts"),
        "wp_navigation": item("wp_navigation", "Navigation Menus", "navigation"),
        "wp_global_styles": item("wp_global_styles", "Global Styles", "global-styles"),
        "product": item("product", "Produkte", "products", "wc/store/v1"),
        "book": item("book", "Bücher", "books", None),
        "internal_log": item("internal_log", "Logs", "logs"),
    }


def slugs(collections: list[Any]) -> list[str]:
    return [c.slug for c in collections]


def public_post_types(view: dict[str, Any], edit: dict[str, Any] | None) -> list[Listed]:
    return [t for t in listed_post_types(view, edit or {}) if t.public]


def public_taxonomies(view: dict[str, Any], edit: dict[str, Any] | None) -> list[Listed]:
    return [t for t in listed_taxonomies(view, edit or {}) if t.public]


def test_post_types_from_edit_context_viewable() -> None:
    edit = {slug: {**entry, "viewable": True} for slug, entry in types_view().items()}
    for hidden in (
        "nav_menu_item",
        "wp_block",
        "wp_template",
        "wp_template_part",
        "wp_navigation",
        "wp_global_styles",
        "internal_log",
    ):
        edit[hidden]["viewable"] = False
    assert slugs(public_post_types(types_view(), edit)) == [
        "post",
        "page",
        "attachment",
        "product",
        "book",
    ]


def test_post_types_without_edit_context_drop_the_internal_ones() -> None:
    kept = slugs(public_post_types(types_view(), None))
    for internal in (
        "nav_menu_item",
        "wp_block",
        "wp_template",
        "wp_template_part",
        "wp_navigation",
        "wp_global_styles",
    ):
        assert internal not in kept
    assert kept == ["post", "page", "attachment", "product", "book", "internal_log"]


def test_how_each_type_was_judged_is_kept() -> None:
    edit = {"post": {"viewable": True}, "page": {"viewable": "yes"}}
    judged = {t.slug: t.judged_by for t in listed_post_types(types_view(), edit)}
    assert judged["post"] == BY_VIEWABLE
    assert judged["page"] == BY_INTERNAL_LIST  # not a boolean: REST did not tell
    assert judged["book"] == BY_INTERNAL_LIST
    taxonomies = listed_taxonomies(
        taxonomies_view(), {"category": {"visibility": {"public": True}}}
    )
    assert {t.slug: t.judged_by for t in taxonomies}["category"] == BY_FLAG


def test_plural_label_from_edit_context_wins_over_the_registered_one() -> None:
    """The "Posts → News" snippet changes labels->name only; REST's `name` stays "Posts"."""
    edit = {
        "post": {"viewable": True, "labels": {"name": "News", "singular_name": "News"}},
        "page": {"viewable": True, "labels": {"name": 7}},
    }
    found = {t.slug: t for t in listed_post_types(types_view(), edit)}
    assert found["post"].label == "News"
    assert found["page"].label == "Pages"  # an odd labels.name is ignored
    taxonomies = {
        t.slug: t
        for t in listed_taxonomies(
            taxonomies_view(), {"post_tag": {"labels": {"name": "Keywords"}}}
        )
    }
    assert taxonomies["post_tag"].label == "Keywords"


def test_type_missing_from_edit_context_falls_back_to_the_internal_list() -> None:
    edit = {"post": {"viewable": True}, "page": {"viewable": False}}
    kept = slugs(public_post_types(types_view(), edit))
    assert "post" in kept and "page" not in kept
    assert "book" in kept and "wp_block" not in kept


def test_collection_labels_and_routes() -> None:
    found = {c.slug: c for c in public_post_types(types_view(), None)}
    assert found["post"].label == "Posts"
    assert found["post"].route == "wp/v2/posts"
    assert found["product"].label == "Produkte"
    assert found["product"].route == "wc/store/v1/products"  # not every collection is wp/v2
    assert found["book"].label == "Bücher"
    assert found["book"].route == "wp/v2/books"


def taxonomies_view() -> dict[str, Any]:
    def item(slug: str, name: str, base: str) -> dict[str, Any]:
        return {"slug": slug, "name": name, "rest_base": base, "rest_namespace": "wp/v2"}

    return {
        "category": item("category", "Categories", "categories"),
        "post_tag": item("post_tag", "Tags", "tags"),
        "post_format": item("post_format", "Formats", "post_format"),
        "nav_menu": item("nav_menu", "Navigation Menus", "menus"),
        "wp_theme": item("wp_theme", "Themes", "wp_theme"),
        "wp_template_part_area": item(
            "wp_template_part_area", "Template Part Areas", "wp_template_part_area"
        ),
        "wp_pattern_category": item(
            "wp_pattern_category", "Pattern Categories", "wp_pattern_category"
        ),
        "product_cat": item("product_cat", "Produktkategorien", "product_cat"),
        "product_visibility": item(
            "product_visibility", "Product visibility", "product_visibility"
        ),
    }


def test_taxonomies_from_edit_context_visibility_public() -> None:
    edit = {slug: {"visibility": {"public": True, "show_ui": True}} for slug in taxonomies_view()}
    for hidden in (
        "nav_menu",
        "wp_theme",
        "wp_template_part_area",
        "wp_pattern_category",
        "product_visibility",
    ):
        edit[hidden]["visibility"]["public"] = False
    assert slugs(public_taxonomies(taxonomies_view(), edit)) == [
        "category",
        "post_tag",
        "post_format",
        "product_cat",
    ]


def test_taxonomies_without_edit_context_drop_the_internal_ones() -> None:
    kept = slugs(public_taxonomies(taxonomies_view(), None))
    for internal in ("nav_menu", "wp_theme", "wp_template_part_area"):
        assert internal not in kept
    assert {"category", "post_tag", "product_cat"} <= set(kept)


def test_taxonomy_label_and_route() -> None:
    found = {c.slug: c for c in public_taxonomies(taxonomies_view(), None)}
    assert found["post_tag"].label == "Tags"
    assert found["post_tag"].route == "wp/v2/tags"  # the key is the slug, not the rest_base


def test_empty_lists() -> None:
    assert listed_post_types({}, {}) == []
    assert listed_taxonomies({}, {}) == []


# --- access_error ----------------------------------------------------------------------------


def refused(status: int, code: str | None, message: str = "Sorry.") -> HttpResponse:
    if code is None:
        return HttpResponse(
            status,
            {"content-type": "text/html"},
            b"<html><body><h1>Access denied</h1>Wordfence</body></html>",
            "https://blog.example.com/wp-json/wp/v2/types",
        )
    body = json.dumps({"code": code, "message": message, "data": {"status": status}}).encode()
    return HttpResponse(
        status,
        {"content-type": "application/json"},
        body,
        "https://blog.example.com/wp-json/wp/v2/types",
    )


URL = "https://blog.example.com/wp-json/wp/v2/types?context=edit"


def assert_no_secret(error: Exception) -> None:
    text = str(error)
    assert PASSWORD not in text
    assert PASSWORD.replace(" ", "") not in text


@pytest.mark.parametrize(
    "code",
    [
        "incorrect_password",
        "invalid_username",
        "invalid_email",
        "application_passwords_disabled",
        "application_passwords_disabled_for_user",
    ],
)
def test_rejected_credentials(code: str) -> None:
    error = access_error(refused(401, code), URL, site(), credentials_sent=True)
    assert isinstance(error, CredentialsRejected)
    assert "sites[3].wordpress" in str(error)
    assert_no_secret(error)


def test_credentials_ignored_is_a_401_with_credentials_sent() -> None:
    error = access_error(refused(401, "rest_forbidden_context"), URL, site(), credentials_sent=True)
    assert isinstance(error, CredentialsIgnored)
    assert "https" in str(error).lower()
    assert "sites[3].wordpress" in str(error)
    assert_no_secret(error)


def test_401_with_credentials_where_application_passwords_exist_is_rejected() -> None:
    error = access_error(
        refused(401, "rest_forbidden_context"),
        URL,
        site(),
        credentials_sent=True,
        application_passwords_available=True,
    )
    assert isinstance(error, CredentialsRejected)
    assert_no_secret(error)


def test_403_with_credentials_is_about_user_rights() -> None:
    error = access_error(refused(403, "rest_forbidden_context"), URL, site(), credentials_sent=True)
    assert isinstance(error, RestAccessDenied)
    assert not isinstance(error, (CredentialsRejected, CredentialsIgnored))
    assert error.status == 403
    assert error.code == "rest_forbidden_context"
    assert "igny8-agent" in str(error)  # names the user
    assert "administrator" in str(error)
    assert "context=edit" not in str(error)  # the URL without its query
    assert_no_secret(error)


@pytest.mark.parametrize("credentials", [True, False])
@pytest.mark.parametrize("status", [401, 403])
def test_html_block_page(credentials: bool, status: int) -> None:
    error = access_error(
        refused(status, None), URL, site(credentials), credentials_sent=credentials
    )
    assert isinstance(error, RestAccessDenied)
    assert not isinstance(error, (CredentialsRejected, CredentialsIgnored))
    assert error.code is None
    assert error.status == status
    assert "blocked" in str(error)
    assert_no_secret(error)


@pytest.mark.parametrize(
    "status,code",
    [(401, "rest_not_logged_in"), (401, "rest_cannot_access"), (403, "rest_forbidden")],
)
def test_anonymous_refused_asks_for_credentials(status: int, code: str) -> None:
    error = access_error(
        refused(status, code), URL, site(credentials=False), credentials_sent=False
    )
    assert isinstance(error, RestAccessDenied)
    assert error.code == code
    assert "sites[3].wordpress.username" in str(error)
    assert "sites[3].wordpress.app_password" in str(error)


def test_every_access_error_is_a_wordpress_error() -> None:
    for response, sent in (
        (refused(401, "incorrect_password"), True),
        (refused(401, "rest_forbidden"), True),
        (refused(403, "rest_forbidden"), True),
        (refused(403, None), False),
        (refused(401, "rest_forbidden"), False),
    ):
        assert isinstance(
            access_error(response, URL, site(sent), credentials_sent=sent), WordPressError
        )


# --- discovery falls back when the home page is unreadable -----------------------------------


@pytest.fixture
def healthy_home() -> Iterator[str]:
    with tiny_wordpress(200) as url:
        yield url


@pytest.fixture
def broken_home() -> Iterator[str]:
    with tiny_wordpress(500) as url:
        yield url


def read_site(url: str) -> tuple[dict[str, int], dict[str, int]]:
    the_site = SiteConfig(
        key_path="sites[0]",
        name="blog",
        site_id=5,
        api_key=None,
        wordpress=WordPressConfig(url=url, timeout=5),
    )
    policy = RetryPolicy(2, 60, tenacity.wait_fixed(0), lambda seconds: None)
    log = logging.LoggerAdapter(logging.getLogger("tests.wordpress"), {"site": "blog"})
    structure = read_structure(the_site, policy, log)
    return (
        {t.slug: t.count for t in structure.post_types},
        {t.slug: t.count for t in structure.taxonomies},
    )


def test_discovery_falls_back_to_wp_json(healthy_home: str) -> None:
    assert read_site(healthy_home) == ({"post": 3}, {"category": 2})


def test_discovery_falls_back_when_the_home_page_fails(broken_home: str) -> None:
    assert read_site(broken_home) == ({"post": 3}, {"category": 2})
