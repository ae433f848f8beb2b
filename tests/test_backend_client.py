"""The backend client (agent.backend) against the IGNY8 stand-in, a real HTTP server."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import requests
import tenacity

from agent.backend import BackendClient
from agent.config import BackendConfig, SiteConfig, WordPressConfig
from agent.errors import (
    BackendAuthError,
    BackendError,
    IntegrationGone,
    IntegrationNotFound,
    PayloadRejected,
    SiteError,
)
from agent.http import new_session
from agent.retry import RetryPolicy
from agent.secret import Secret
from tests.support.backend_standin import LIST_SHAPES, BackendStandin, Fault, Integration

KEY5 = "site-five-api-key-123"
KEY6 = "site-six-api-key-456"
LOG = logging.LoggerAdapter(logging.getLogger("tests.backend"), {"site": "main-blog"})
LIST_SUFFIX = "/integrations/"
POST_SUFFIX = "/update-structure/"


def valid_payload() -> dict[str, Any]:
    return {
        "post_types": {
            "post": {"label": "Posts", "count": 123, "enabled": True, "fetch_limit": 100},
            "product": {"label": "Produkte", "count": 456, "enabled": False, "fetch_limit": 50},
        },
        "taxonomies": {
            "category": {"label": "Kategorien", "count": 25, "enabled": True, "fetch_limit": 100},
        },
        "plugin_connection_enabled": True,
        "two_way_sync_enabled": True,
        "timestamp": "2025-11-22T10:00:00Z",
    }


def make_site(site_id: int = 5, api_key: str = KEY5, name: str = "main-blog") -> SiteConfig:
    return SiteConfig(
        key_path="sites[0]",
        name=name,
        site_id=site_id,
        api_key=Secret(api_key),
        wordpress=WordPressConfig(url="https://blog.example.com"),
    )


class Waits:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def waits() -> Waits:
    return Waits()


NOT_TRANSIENT = (PayloadRejected, BackendAuthError, IntegrationGone, IntegrationNotFound)


def assert_gave_up(error: BaseException) -> None:
    """After the retries, a site error that is none of the non-transient ones."""
    assert isinstance(error, SiteError)
    assert not isinstance(error, NOT_TRANSIENT)


def client_for(
    standin: BackendStandin, waits: Waits, *, url: str | None = None, max_attempts: int = 5
) -> BackendClient:
    config = BackendConfig(url=url or standin.url, timeout=5, max_attempts=max_attempts)
    policy = RetryPolicy(max_attempts, 300, tenacity.wait_fixed(1.5), waits)
    return BackendClient(config, SESSIONS[-1], policy)


SESSIONS: list[requests.Session] = []


@pytest.fixture(autouse=True)
def session() -> Iterator[requests.Session]:
    with new_session() as s:
        SESSIONS.append(s)
        yield s
        SESSIONS.remove(s)


def standin_with(integrations: list[Integration], list_shape: str = "bare") -> BackendStandin:
    return BackendStandin(
        api_keys={5: KEY5, 6: KEY6}, integrations=integrations, list_shape=list_shape
    )


@pytest.fixture
def standin() -> Iterator[BackendStandin]:
    with standin_with(
        [
            Integration(id=123, site_id=5),
            Integration(id=124, site_id=5, platform="shopify"),
            Integration(id=200, site_id=6, is_active=False),
        ]
    ) as backend:
        yield backend


# --- finding the integration ---------------------------------------------------------------


@pytest.mark.parametrize("shape", LIST_SHAPES)
def test_every_list_shape_is_understood(shape: str, waits: Waits) -> None:
    integrations = [
        Integration(id=77, site_id=5, platform="shopify"),
        Integration(id=78, site_id=5),
    ]
    with standin_with(integrations, shape) as backend:
        assert client_for(backend, waits).find_integration_id(make_site(), LOG) == 78
        (request,) = backend.requests
        assert request.method == "GET"
        assert request.path == "/api/v1/integration/integrations/"
        assert request.query == {"site": ["5"]}


def test_only_wordpress_integrations_are_picked(waits: Waits) -> None:
    integrations = [
        Integration(id=1, site_id=5, platform="shopify"),
        Integration(id=2, site_id=5, platform="woocommerce-api"),
        Integration(id=3, site_id=6),
    ]
    with standin_with(integrations) as backend, pytest.raises(IntegrationNotFound):
        client_for(backend, waits).find_integration_id(make_site(), LOG)


def test_active_wordpress_integration_is_preferred(waits: Waits) -> None:
    integrations = [
        Integration(id=10, site_id=5, is_active=False),
        Integration(id=11, site_id=5, platform="shopify"),
        Integration(id=12, site_id=5, is_active=True),
        Integration(id=13, site_id=5, is_active=True),
    ]
    with standin_with(integrations, "results") as backend:
        assert client_for(backend, waits).find_integration_id(make_site(), LOG) == 12


def test_first_wordpress_integration_when_none_is_active(waits: Waits) -> None:
    integrations = [
        Integration(id=31, site_id=5, platform="shopify", is_active=True),
        Integration(id=32, site_id=5, is_active=False),
        Integration(id=33, site_id=5, is_active=False),
    ]
    with standin_with(integrations, "data") as backend:
        assert client_for(backend, waits).find_integration_id(make_site(), LOG) == 32


def test_no_wordpress_integration_tells_to_create_it(waits: Waits) -> None:
    with (
        standin_with([Integration(id=9, site_id=5, platform="shopify")], "success_data") as backend,
        pytest.raises(IntegrationNotFound) as caught,
    ):
        client_for(backend, waits).find_integration_id(make_site(), LOG)
    message = str(caught.value)
    assert message.startswith(
        "IGNY8 has no WordPress integration for site_id 5: create the "
        "WordPress integration for this site in IGNY8"
    )
    assert message.endswith("then run `igny8-agent connect --site main-blog`")
    assert KEY5 not in message


def test_empty_list_is_integration_not_found(waits: Waits) -> None:
    with standin_with([]) as backend, pytest.raises(IntegrationNotFound):
        client_for(backend, waits).find_integration_id(make_site(), LOG)


def test_lookup_with_bad_key_is_an_auth_error(standin: BackendStandin, waits: Waits) -> None:
    with pytest.raises(BackendAuthError) as caught:
        client_for(standin, waits).find_integration_id(make_site(api_key="wrong-key-xyz"), LOG)
    assert "API key" in str(caught.value)
    assert "wrong-key-xyz" not in str(caught.value)
    assert len(standin.requests) == 1


def test_lookup_is_retried_on_503(standin: BackendStandin, waits: Waits) -> None:
    standin.script("GET", LIST_SUFFIX, [Fault(503), Fault(reset=True)])
    assert client_for(standin, waits).find_integration_id(make_site(), LOG) == 123
    assert len(standin.requests) == 3
    assert waits.waits == [1.5, 1.5]


# --- pushing the structure -------------------------------------------------------------------


def test_post_success_stores_the_payload(standin: BackendStandin, waits: Waits) -> None:
    receipt = client_for(standin, waits).push_structure(make_site(), 123, valid_payload(), LOG)
    assert standin.stored[123] == valid_payload()
    assert receipt.post_types_count == 2
    assert receipt.taxonomies_count == 1
    (request,) = standin.posts()
    assert request.path == "/api/v1/integration/integrations/123/update-structure/"
    assert request.headers["Content-Type"].split(";")[0] == "application/json"
    assert request.json == valid_payload()


def test_headers_are_sent_on_every_request(standin: BackendStandin, waits: Waits) -> None:
    client = client_for(standin, waits)
    client.find_integration_id(make_site(), LOG)
    client.push_structure(make_site(), 123, valid_payload(), LOG)
    assert len(standin.requests) == 2
    for request in standin.requests:
        assert request.headers["Authorization"] == f"Bearer {KEY5}"
        accepted = [part.split(";")[0].strip() for part in request.headers["Accept"].split(",")]
        assert "application/json" in accepted


def test_trailing_slash_on_backend_url_is_tolerated(standin: BackendStandin, waits: Waits) -> None:
    client = client_for(standin, waits, url=standin.url + "/")
    assert client.find_integration_id(make_site(), LOG) == 123
    client.push_structure(make_site(), 123, valid_payload(), LOG)
    # (RecordedRequest.status is set after the answer is written: racy, so not used here)
    assert standin.stored[123] == valid_payload()
    assert len(standin.requests) == 2
    assert all("//" not in r.path for r in standin.requests)


def test_success_without_success_key_counts(standin: BackendStandin, waits: Waits) -> None:
    standin.script("POST", POST_SUFFIX, [Fault(status=200, body={"data": {"message": "ok"}})])
    client_for(standin, waits).push_structure(make_site(), 123, valid_payload(), LOG)
    assert len(standin.posts()) == 1


def test_success_false_is_not_success(standin: BackendStandin, waits: Waits) -> None:
    standin.script(
        "POST", POST_SUFFIX, [Fault(status=200, body={"success": False, "error": "not stored"})]
    )
    with pytest.raises(BackendError) as caught:
        client_for(standin, waits).push_structure(make_site(), 123, valid_payload(), LOG)
    assert "not stored" in str(caught.value)
    assert len(standin.posts()) == 1


def test_html_2xx_is_not_success(standin: BackendStandin, waits: Waits) -> None:
    standin.script("POST", POST_SUFFIX, [Fault(status=200, raw=b"<html>proxy page</html>")])
    with pytest.raises(BackendError):
        client_for(standin, waits).push_structure(make_site(), 123, valid_payload(), LOG)


@pytest.mark.parametrize("status", [400, 422])
def test_rejected_payload_quotes_the_backend_cut_to_500(
    standin: BackendStandin, waits: Waits, status: int
) -> None:
    long_message = "Field post_types is wrong. " + "x" * 2000
    standin.script(
        "POST", POST_SUFFIX, [Fault(status=status, body={"success": False, "error": long_message})]
    )
    with pytest.raises(PayloadRejected) as caught:
        client_for(standin, waits).push_structure(make_site(), 123, valid_payload(), LOG)
    message = str(caught.value)
    assert "Field post_types is wrong. " + "x" * 300 in message
    quoted = re.search(r"Field post_types is wrong\. x*…?", message)
    assert quoted is not None
    assert 400 <= len(quoted.group()) <= 500
    assert len(standin.posts()) == 1  # never retried
    assert waits.waits == []


def test_real_validation_error_is_quoted(standin: BackendStandin, waits: Waits) -> None:
    payload = valid_payload()
    payload["extra"] = 1
    with pytest.raises(PayloadRejected) as caught:
        client_for(standin, waits).push_structure(make_site(), 123, payload, LOG)
    assert "extra: unexpected key" in str(caught.value)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_mention_the_api_key_and_are_not_retried(
    standin: BackendStandin, waits: Waits, status: int
) -> None:
    standin.script("POST", POST_SUFFIX, [Fault(status=status)])
    with pytest.raises(BackendAuthError) as caught:
        client_for(standin, waits).push_structure(make_site(), 123, valid_payload(), LOG)
    message = str(caught.value)
    assert "API key" in message
    assert "sites[0]" in message or "main-blog" in message  # says which site
    assert KEY5 not in message
    assert len(standin.posts()) == 1
    assert waits.waits == []


def test_wrong_key_on_post_is_an_auth_error(standin: BackendStandin, waits: Waits) -> None:
    with pytest.raises(BackendAuthError) as caught:
        client_for(standin, waits).push_structure(
            make_site(api_key="bogus-key-000"), 123, valid_payload(), LOG
        )
    assert "bogus-key-000" not in str(caught.value)


def test_inactive_integration_is_an_auth_error(standin: BackendStandin, waits: Waits) -> None:
    with pytest.raises(BackendAuthError):
        client_for(standin, waits).push_structure(make_site(6, KEY6), 200, valid_payload(), LOG)


def test_404_on_post_is_integration_gone(standin: BackendStandin, waits: Waits) -> None:
    with pytest.raises(IntegrationGone):
        client_for(standin, waits).push_structure(make_site(), 999, valid_payload(), LOG)
    assert len(standin.posts()) == 1
    assert waits.waits == []


def test_503_twice_then_success(standin: BackendStandin, waits: Waits) -> None:
    standin.script("POST", POST_SUFFIX, [Fault(503), Fault(503, headers={"Retry-After": "4"})])
    client_for(standin, waits).push_structure(make_site(), 123, valid_payload(), LOG)
    posts = standin.posts()
    assert [r.fault.status if r.fault else None for r in posts] == [503, 503, None]
    assert waits.waits == [1.5, 4]
    assert standin.stored[123] == valid_payload()


def test_dropped_and_reset_connections_are_retried(standin: BackendStandin, waits: Waits) -> None:
    standin.script("POST", POST_SUFFIX, [Fault(drop=True), Fault(reset=True), Fault(502)])
    client_for(standin, waits).push_structure(make_site(), 123, valid_payload(), LOG)
    assert len(standin.posts()) == 4
    assert standin.stored[123] == valid_payload()


def test_transient_failures_give_up_after_max_attempts(
    standin: BackendStandin, waits: Waits
) -> None:
    standin.script("POST", POST_SUFFIX, [Fault(500)] * 10)
    with pytest.raises(SiteError) as caught:
        client_for(standin, waits, max_attempts=3).push_structure(
            make_site(), 123, valid_payload(), LOG
        )
    assert_gave_up(caught.value)
    assert len(standin.posts()) == 3
    assert 123 not in standin.stored


def test_retry_after_beyond_budget_gives_up_at_once(standin: BackendStandin, waits: Waits) -> None:
    standin.script("POST", POST_SUFFIX, [Fault(429, headers={"Retry-After": "86400"})])
    with pytest.raises(SiteError) as caught:
        client_for(standin, waits).push_structure(make_site(), 123, valid_payload(), LOG)
    assert_gave_up(caught.value)
    assert len(standin.posts()) == 1
    assert waits.waits == []


def test_backend_down_is_transient(waits: Waits) -> None:
    backend = standin_with([Integration(id=123, site_id=5)])
    backend.start()
    backend.stop()  # the port is now closed: connection refused
    client = BackendClient(
        BackendConfig(url=f"http://127.0.0.1:{backend.port}/api", timeout=5),
        SESSIONS[-1],
        RetryPolicy(2, 300, tenacity.wait_fixed(1), waits),
    )
    with pytest.raises(SiteError) as caught:
        client.push_structure(make_site(), 123, valid_payload(), LOG)
    assert_gave_up(caught.value)
    assert KEY5 not in str(caught.value)
    assert waits.waits == [1]


def test_sites_keep_their_own_keys(standin: BackendStandin, waits: Waits) -> None:
    client = client_for(standin, waits)
    six = replace(make_site(6, KEY6, "shop"), key_path="sites[1]")
    standin.add_integration(Integration(id=201, site_id=6))
    assert client.find_integration_id(six, LOG) == 201
    assert standin.requests[-1].headers["Authorization"] == f"Bearer {KEY6}"
    assert client.find_integration_id(make_site(), LOG) == 123
    assert standin.requests[-1].headers["Authorization"] == f"Bearer {KEY5}"


def test_an_endless_slow_integration_list_ends_within_one_retry_budget(waits: Waits) -> None:
    """50 pages, each within the timeout, each with a retry budget of its own, would hold
    the site for hours: the whole lookup has one budget."""
    import http.server
    import json
    import threading
    import time

    pages: list[str] = []

    class EndlessList(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            pages.append(self.path)
            time.sleep(0.4)
            host, port = self.server.server_address[:2]
            body = json.dumps(
                {
                    "results": [],
                    "next": f"http://{host}:{port}/api/v1/integration/"
                    f"integrations/?site=5&page={len(pages) + 1}",
                }  # fmt: skip
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EndlessList)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = BackendConfig(
            url=f"http://127.0.0.1:{server.server_port}/api", timeout=1, max_retry_seconds=1
        )
        client = BackendClient(
            config, SESSIONS[-1], RetryPolicy(2, 1, tenacity.wait_fixed(0), waits)
        )
        with pytest.raises(SiteError) as caught:
            client.find_integration_id(make_site(), LOG)
    finally:
        server.shutdown()
        server.server_close()
    assert (
        "time for the integration lookup (backend.max_retry_seconds + backend.timeout, 2 s)"
        in str(caught.value)
    )
    assert 3 <= len(pages) <= 6  # 2 s of 0.4 s pages, not 50
