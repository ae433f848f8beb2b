"""Tests of the Django REST Framework backend itself (tests/support/drf_backend/).

What they pin down is what a real DRF answers, which the agent's end-to-end
tests rely on: pagination, django-filter's 400 for an unknown site, 401/403/404,
the structure push and its field errors (DRF's and IGNY8's wrapped format), the
throttle's 429, Django's production https redirect and HTML 404.
"""

from __future__ import annotations

import importlib.util
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import unavailable
from tests.support.drf_backend import AccessLogEntry, DrfBackend
from tests.support.drf_backend.launcher import live_group_members

KEY5 = "drf-key-five"
KEY6 = "drf-key-six"
KEY7_INACTIVE = "drf-key-seven"
INVALID_SITE = ["Select a valid choice. That choice is not one of the available choices."]
DJANGO_404_HTML = """
<!doctype html>
<html lang="en">
<head>
  <title>Not Found</title>
</head>
<body>
  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>
</body>
</html>
"""


def auth(key: str = KEY5) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Accept": "application/json"}


def valid_payload() -> dict[str, Any]:
    return {
        "post_types": {
            "post": {"label": "Posts", "count": 123, "enabled": True, "fetch_limit": 100},
            "product": {"label": "Produkte ä", "count": 0, "enabled": False, "fetch_limit": 50},
        },
        "taxonomies": {
            "category": {"label": "Categories", "count": 25, "enabled": True, "fetch_limit": 1},
        },
        "plugin_connection_enabled": True,
        "two_way_sync_enabled": False,
        "timestamp": "2025-11-22T10:00:00Z",
    }


@dataclass
class Seeded:
    backend: DrfBackend
    inactive_wordpress: int  # site 5, page 1
    shopify: int  # site 5, page 1
    wordpress: int  # site 5, page 2 (page size 2)
    other_site: int  # site 6's


def start(workdir: Path, **options: Any) -> DrfBackend:
    missing = [
        name
        for name in ("django", "rest_framework", "gunicorn")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        unavailable(f"{', '.join(missing)} not installed: pip install '.[test]'")
    backend = DrfBackend(workdir, **options)
    backend.start()  # a failure to start is a failure, never a skip
    return backend


def seed(backend: DrfBackend) -> Seeded:
    backend.add_site(5, KEY5)
    backend.add_site(6, KEY6)
    backend.add_site(7, KEY7_INACTIVE, active=False)
    return Seeded(
        backend=backend,
        inactive_wordpress=backend.add_integration(5, is_active=False),
        shopify=backend.add_integration(5, platform="shopify"),
        wordpress=backend.add_integration(5),
        other_site=backend.add_integration(6),
    )


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """DRF's default error bodies, two integrations a page."""
    backend = start(tmp_path_factory.mktemp("drf-plain"), page_size=2)
    try:
        yield seed(backend)
    finally:
        backend.close()


@pytest.fixture(scope="module")
def wrapped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """IGNY8-style wrapped error bodies."""
    backend = start(tmp_path_factory.mktemp("drf-wrapped"), page_size=2, wrapped_errors=True)
    try:
        yield seed(backend)
    finally:
        backend.close()


# ------------------------------------------------------------------- listing


def test_list_is_paginated_and_next_leads_to_the_last_page(plain: Seeded) -> None:
    backend = plain.backend
    first = requests.get(backend.integrations_url(), params={"site": 5}, headers=auth(), timeout=10)
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "application/json"
    body = first.json()
    assert list(body) == ["count", "next", "previous", "results"]
    assert body["count"] == 3
    assert body["previous"] is None
    assert body["next"] == f"{backend.integrations_url()}?page=2&site=5"
    assert [item["id"] for item in body["results"]] == [plain.inactive_wordpress, plain.shopify]
    item = body["results"][0]
    assert set(item) == {
        "id",
        "site",
        "platform",
        "is_active",
        "last_structure_fetch",
        "created_at",
        "updated_at",
    }
    assert (item["site"], item["platform"], item["is_active"]) == (5, "wordpress", False)

    second = requests.get(body["next"], headers=auth(), timeout=10).json()
    assert second["next"] is None
    assert second["previous"] == f"{backend.integrations_url()}?site=5"
    assert [(i["id"], i["platform"], i["is_active"]) for i in second["results"]] == [
        (plain.wordpress, "wordpress", True)
    ]


def test_list_without_filter_holds_only_the_sites_own_integrations(plain: Seeded) -> None:
    body = requests.get(plain.backend.integrations_url(), headers=auth(KEY6), timeout=10).json()
    assert body == {"count": 1, "next": None, "previous": None, "results": [body["results"][0]]}
    assert body["results"][0]["id"] == plain.other_site


def test_a_page_past_the_end_is_a_404(plain: Seeded) -> None:
    answer = requests.get(
        plain.backend.integrations_url(), params={"page": 9}, headers=auth(), timeout=10
    )
    assert (answer.status_code, answer.json()) == (404, {"detail": "Invalid page."})


@pytest.mark.parametrize("site", ["999", "abc", "5.0", "-1"])
def test_unknown_site_filter_is_a_400_as_django_filter_gives(plain: Seeded, site: str) -> None:
    answer = requests.get(
        plain.backend.integrations_url(), params={"site": site}, headers=auth(), timeout=10
    )
    assert answer.status_code == 400
    assert answer.json() == {"site": INVALID_SITE}


def test_unknown_site_filter_wrapped(wrapped: Seeded) -> None:
    answer = requests.get(
        wrapped.backend.integrations_url(), params={"site": "999"}, headers=auth(), timeout=10
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "success": False,
        "error": INVALID_SITE[0],
        "errors": {"site": INVALID_SITE},
    }


def test_another_existing_site_filters_to_an_empty_list(plain: Seeded) -> None:
    """django-filter's choice is any site; the queryset holds only the caller's."""
    answer = requests.get(
        plain.backend.integrations_url(), params={"site": 6}, headers=auth(), timeout=10
    )
    assert answer.status_code == 200
    assert answer.json() == {"count": 0, "next": None, "previous": None, "results": []}


# ------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Authentication credentials were not provided."),
        ({"Authorization": f"Token {KEY5}"}, "Authentication credentials were not provided."),
        ({"Authorization": "Bearer not-a-key"}, "Invalid API key."),
        ({"Authorization": "Bearer"}, "Invalid API key header. No key provided."),
    ],
)
def test_no_or_unknown_key_is_a_401_with_www_authenticate(
    plain: Seeded,
    headers: dict[str, str],
    detail: str,
) -> None:
    answer = requests.get(plain.backend.integrations_url(), headers=headers, timeout=10)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.json() == {"detail": detail}


def test_inactive_site_is_a_403(plain: Seeded) -> None:
    answer = requests.get(plain.backend.integrations_url(), headers=auth(KEY7_INACTIVE), timeout=10)
    assert answer.status_code == 403
    assert "WWW-Authenticate" not in answer.headers
    assert answer.json() == {"detail": "This site is inactive."}


def test_a_site_made_inactive_is_refused_from_then_on(plain: Seeded) -> None:
    backend = plain.backend
    backend.add_site(8, "drf-key-eight")
    url = backend.integrations_url()
    assert requests.get(url, headers=auth("drf-key-eight"), timeout=10).status_code == 200
    backend.set_site_active(8, False)
    assert requests.get(url, headers=auth("drf-key-eight"), timeout=10).status_code == 403


def test_auth_errors_wrapped(wrapped: Seeded) -> None:
    url = wrapped.backend.integrations_url()
    unknown = requests.get(url, headers=auth("not-a-key"), timeout=10)
    assert unknown.status_code == 401
    assert unknown.headers["WWW-Authenticate"] == "Bearer"
    assert unknown.json() == {"success": False, "error": "Invalid API key."}
    inactive = requests.get(url, headers=auth(KEY7_INACTIVE), timeout=10)
    assert inactive.status_code == 403
    assert inactive.json() == {"success": False, "error": "This site is inactive."}
    other = requests.post(
        wrapped.backend.update_structure_url(wrapped.other_site),
        json=valid_payload(),
        headers=auth(),
        timeout=10,
    )
    assert other.status_code == 404
    assert other.json() == {
        "success": False,
        "error": "No SiteIntegration matches the given query.",
    }


def test_another_sites_integration_is_a_404(plain: Seeded) -> None:
    backend = plain.backend
    detail = requests.get(
        f"{backend.integrations_url()}{plain.other_site}/", headers=auth(), timeout=10
    )
    assert detail.status_code == 404
    assert detail.json() == {"detail": "No SiteIntegration matches the given query."}
    push = requests.post(
        backend.update_structure_url(plain.other_site),
        json=valid_payload(),
        headers=auth(),
        timeout=10,
    )
    assert push.status_code == 404
    assert push.json() == {"detail": "No SiteIntegration matches the given query."}
    assert backend.stored_structure(plain.other_site) is None


def test_a_deleted_integration_is_a_404(plain: Seeded) -> None:
    backend = plain.backend
    gone = backend.add_integration(5, integration_id=4321)
    assert gone == 4321
    backend.delete_integration(gone)
    push = requests.post(
        backend.update_structure_url(gone), json=valid_payload(), headers=auth(), timeout=10
    )
    assert push.status_code == 404


# ------------------------------------------------------------------ the push


def test_a_valid_push_is_stored_and_answered_as_igny8_does(plain: Seeded) -> None:
    backend = plain.backend
    payload = valid_payload()
    answer = requests.post(
        backend.update_structure_url(plain.wordpress), json=payload, headers=auth(), timeout=10
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {"message", "post_types_count", "taxonomies_count", "last_structure_fetch"}
    assert (data["post_types_count"], data["taxonomies_count"]) == (2, 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", data["last_structure_fetch"])
    assert backend.stored_structure(plain.wordpress) == payload

    listed = requests.get(
        f"{backend.integrations_url()}{plain.wordpress}/", headers=auth(), timeout=10
    ).json()
    assert listed["last_structure_fetch"] == data["last_structure_fetch"]

    # The push is idempotent: a second one overwrites.
    payload["post_types"].pop("product")
    payload["taxonomies"] = {}
    again = requests.post(
        backend.update_structure_url(plain.wordpress), json=payload, headers=auth(), timeout=10
    )
    assert again.json()["data"]["post_types_count"] == 1
    assert backend.stored_structure(plain.wordpress) == payload


def _mutate(change: str) -> Any:
    payload = valid_payload()
    post = payload["post_types"]["post"]
    if change == "extra top-level key":
        payload["extra"] = 1
    elif change == "no timestamp":
        del payload["timestamp"]
    elif change == "count as string":
        post["count"] = "123"
    elif change == "negative count":
        post["count"] = -1
    elif change == "count as bool":
        post["count"] = True
    elif change == "count as float":
        post["count"] = 1.0
    elif change == "enabled as 1":
        post["enabled"] = 1
    elif change == "zero fetch_limit":
        post["fetch_limit"] = 0
    elif change == "blank label":
        post["label"] = "  "
    elif change == "label as number":
        post["label"] = 5
    elif change == "null label":
        post["label"] = None
    elif change == "extra entry key":
        post["rest_base"] = "posts"
    elif change == "entry not an object":
        payload["post_types"]["post"] = "Posts"
    elif change == "post_types a list":
        payload["post_types"] = []
    elif change == "timestamp with offset":
        payload["timestamp"] = "2025-11-22T10:00:00+00:00"
    elif change == "timestamp with fraction":
        payload["timestamp"] = "2025-11-22T10:00:00.5Z"
    elif change == "impossible date":
        payload["timestamp"] = "2025-02-30T10:00:00Z"
    elif change == "flag as string":
        payload["two_way_sync_enabled"] = "true"
    elif change == "a list":
        return [payload]
    else:
        raise AssertionError(change)
    return payload


INVALID_PAYLOADS = {
    # change: the errors DRF answers
    "extra top-level key": {"extra": ["Unexpected field."]},
    "no timestamp": {"timestamp": ["This field is required."]},
    "count as string": {"post_types": {"post": {"count": ["A valid integer is required."]}}},
    "negative count": {
        "post_types": {"post": {"count": ["Ensure this value is greater than or equal to 0."]}}
    },
    "count as bool": {"post_types": {"post": {"count": ["A valid integer is required."]}}},
    "count as float": {"post_types": {"post": {"count": ["A valid integer is required."]}}},
    "enabled as 1": {"post_types": {"post": {"enabled": ["Must be a valid boolean."]}}},
    "zero fetch_limit": {
        "post_types": {
            "post": {"fetch_limit": ["Ensure this value is greater than or equal to 1."]}
        }
    },
    "blank label": {"post_types": {"post": {"label": ["This field may not be blank."]}}},
    "label as number": {"post_types": {"post": {"label": ["Not a valid string."]}}},
    "null label": {"post_types": {"post": {"label": ["This field may not be null."]}}},
    "extra entry key": {"post_types": {"post": {"rest_base": ["Unexpected field."]}}},
    "entry not an object": {
        "post_types": {
            "post": {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}
        }
    },
    "post_types a list": {"post_types": ['Expected a dictionary of items but got type "list".']},
    "timestamp with offset": {
        "timestamp": [
            "Must be an ISO 8601 UTC timestamp with seconds, ending in Z "
            "(like 2025-11-22T10:00:00Z)."
        ]
    },
    "timestamp with fraction": {
        "timestamp": [
            "Must be an ISO 8601 UTC timestamp with seconds, ending in Z "
            "(like 2025-11-22T10:00:00Z)."
        ]
    },
    "impossible date": {
        "timestamp": [
            "Must be an ISO 8601 UTC timestamp with seconds, ending in Z "
            "(like 2025-11-22T10:00:00Z)."
        ]
    },
    "flag as string": {"two_way_sync_enabled": ["Must be a valid boolean."]},
    "a list": {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]},
}


def _first_message(errors: Any) -> str:
    while not isinstance(errors, str):
        errors = next(iter(errors.values())) if isinstance(errors, dict) else errors[0]
    return errors


@pytest.mark.parametrize("change", list(INVALID_PAYLOADS))
def test_an_invalid_payload_is_a_400_with_field_errors(plain: Seeded, change: str) -> None:
    backend = plain.backend
    integration = backend.add_integration(5)
    answer = requests.post(
        backend.update_structure_url(integration), json=_mutate(change), headers=auth(), timeout=10
    )
    assert answer.status_code == 400
    assert answer.json() == INVALID_PAYLOADS[change]
    assert backend.stored_structure(integration) is None


@pytest.mark.parametrize("change", ["count as string", "extra top-level key", "a list"])
def test_an_invalid_payload_wrapped(wrapped: Seeded, change: str) -> None:
    backend = wrapped.backend
    answer = requests.post(
        backend.update_structure_url(wrapped.wordpress),
        json=_mutate(change),
        headers=auth(),
        timeout=10,
    )
    assert answer.status_code == 400
    errors = INVALID_PAYLOADS[change]
    assert answer.json() == {"success": False, "error": _first_message(errors), "errors": errors}


def test_several_errors_at_once_all_named(plain: Seeded) -> None:
    payload = valid_payload()
    payload["post_types"]["post"]["count"] = -5
    payload["taxonomies"]["category"]["label"] = ""
    del payload["plugin_connection_enabled"]
    payload["unknown"] = True
    answer = requests.post(
        plain.backend.update_structure_url(plain.wordpress),
        json=payload,
        headers=auth(),
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "post_types": {"post": {"count": ["Ensure this value is greater than or equal to 0."]}},
        "taxonomies": {"category": {"label": ["This field may not be blank."]}},
        "plugin_connection_enabled": ["This field is required."],
        "unknown": ["Unexpected field."],
    }


def test_malformed_json_and_wrong_content_type(plain: Seeded) -> None:
    url = plain.backend.update_structure_url(plain.wordpress)
    broken = requests.post(
        url,
        data=b'{"post_types": ',
        timeout=10,
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json()["detail"].startswith("JSON parse error - ")
    form = requests.post(url, data={"a": "b"}, headers=auth(), timeout=10)
    assert form.status_code == 415
    assert form.json() == {
        "detail": 'Unsupported media type "application/x-www-form-urlencoded" in request.'
    }


def test_get_on_update_structure_is_a_405(plain: Seeded) -> None:
    answer = requests.get(
        plain.backend.update_structure_url(plain.wordpress), headers=auth(), timeout=10
    )
    assert answer.status_code == 405
    assert answer.json() == {"detail": 'Method "GET" not allowed.'}
    assert answer.headers["Allow"] == "POST, OPTIONS"


# -------------------------------------------------- throttle, https, HTML 404


def test_throttle_answers_429_with_retry_after(tmp_path: Path) -> None:
    backend = start(tmp_path, throttle_rate="2/min")
    try:
        backend.add_site(5, KEY5)
        backend.add_site(6, KEY6)
        integration = backend.add_integration(5)
        url = backend.update_structure_url(integration)
        statuses = [
            requests.post(url, json=valid_payload(), headers=auth(), timeout=10) for _ in range(3)
        ]
        assert [a.status_code for a in statuses] == [200, 200, 429]
        throttled = statuses[2]
        retry_after = int(throttled.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        assert throttled.json() == {
            "detail": f"Request was throttled. Expected available in {retry_after} seconds."
        }
        # Keyed on the site: another site still gets in.
        other = requests.get(backend.integrations_url(), headers=auth(KEY6), timeout=10)
        assert other.status_code == 200
        # The list is throttled as well, for the site over its rate.
        assert (
            requests.get(backend.integrations_url(), headers=auth(), timeout=10).status_code == 429
        )
    finally:
        backend.close()


def test_throttle_wrapped_keeps_retry_after(tmp_path: Path) -> None:
    backend = start(tmp_path, throttle_rate="1/hour", wrapped_errors=True)
    try:
        backend.add_site(5, KEY5)
        url = backend.integrations_url()
        assert requests.get(url, headers=auth(), timeout=10).status_code == 200
        throttled = requests.get(url, headers=auth(), timeout=10)
        assert throttled.status_code == 429
        retry_after = int(throttled.headers["Retry-After"])
        assert 3500 <= retry_after <= 3600
        assert throttled.json() == {
            "success": False,
            "error": f"Request was throttled. Expected available in {retry_after} seconds.",
        }
    finally:
        backend.close()


def test_secure_ssl_redirect_answers_301_to_https(tmp_path: Path) -> None:
    backend = start(tmp_path, secure_ssl_redirect=True)
    try:
        backend.add_site(5, KEY5)
        integration = backend.add_integration(5)
        push = requests.post(
            backend.update_structure_url(integration),
            json=valid_payload(),
            headers=auth(),
            allow_redirects=False,
            timeout=10,
        )
        assert push.status_code == 301
        assert push.headers["Location"] == (
            f"https://127.0.0.1:{backend.port}/api/v1/integration/integrations/"
            f"{integration}/update-structure/"
        )
        assert push.content == b""
        listing = requests.get(
            backend.integrations_url(), params={"site": 5}, allow_redirects=False, timeout=10
        )  # before authentication
        assert listing.status_code == 301
        assert listing.headers["Location"] == (
            f"https://127.0.0.1:{backend.port}/api/v1/integration/integrations/?site=5"
        )
        assert backend.stored_structure(integration) is None
    finally:
        backend.close()


@pytest.mark.parametrize("path", ["/api/v1/integration/nope/", "/api", "/api/v2/"])
def test_unknown_url_is_djangos_production_html_404(plain: Seeded, path: str) -> None:
    answer = requests.get(plain.backend.origin + path, headers=auth(), timeout=10)
    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert answer.text == DJANGO_404_HTML


def test_missing_trailing_slash_on_a_post_is_a_301_to_the_slash_url(plain: Seeded) -> None:
    url = plain.backend.update_structure_url(plain.wordpress).rstrip("/")
    answer = requests.post(
        url, json=valid_payload(), headers=auth(), allow_redirects=False, timeout=10
    )
    assert answer.status_code == 301
    assert answer.headers["Location"] == url.removeprefix(plain.backend.origin) + "/"


# ------------------------------------------------------------ the launcher


def test_access_log_names_each_request(tmp_path: Path) -> None:
    backend = start(tmp_path)
    try:
        backend.add_site(5, KEY5)
        integration = backend.add_integration(5)
        requests.get(backend.integrations_url(), params={"site": 5}, headers=auth(), timeout=10)
        requests.post(
            backend.update_structure_url(integration),
            json=valid_payload(),
            headers=auth(),
            timeout=10,
        )
        requests.get(backend.origin + "/nope", timeout=10)
        log = backend.access_log(min_entries=3)
        assert log == [
            AccessLogEntry("GET", "/api/v1/integration/integrations/", "site=5", 200),
            AccessLogEntry(
                "POST", f"/api/v1/integration/integrations/{integration}/update-structure/", "", 200
            ),
            AccessLogEntry("GET", "/nope", "", 404),
        ]
        assert 0 < log[0].at < log[1].at < log[2].at <= time.time()
        assert "Traceback" not in backend.error_log()
    finally:
        backend.close()


def test_requests_in_parallel(plain: Seeded) -> None:
    def get(_: int) -> int:
        return requests.get(
            plain.backend.integrations_url(), headers=auth(), timeout=20
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(get, range(24))) == [200] * 24


def test_seeding_is_fast(plain: Seeded) -> None:
    started = time.monotonic()
    for _ in range(10):
        plain.backend.add_integration(6, platform="custom")
    assert (time.monotonic() - started) / 10 < 0.5


def test_close_stops_gunicorn_and_its_workers(tmp_path: Path) -> None:
    backend = start(tmp_path)
    process = backend._process
    assert process is not None
    assert len(live_group_members(process.pid)) == 3  # master and two workers
    port = backend.port
    started = time.monotonic()
    backend.close()
    assert time.monotonic() - started < 5
    assert process.returncode is not None
    assert live_group_members(process.pid) == []
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    backend.close()  # twice is harmless
