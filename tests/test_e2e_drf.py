"""End to end against a real Django REST Framework backend (tests/support/drf_backend/):
the installed igny8-agent finds the integration through DRF's pagination, pushes through
its serializer, and says clearly what DRF's redirects, HTML pages, field errors, 401s and
throttling mean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    API_KEY,
    SITE_ID,
    Agent,
    AgentRun,
    expected_payload_part,
    label_and_count,
    site_config,
)
from tests.support.drf_backend import DrfBackend
from tests.support.hostile import HostileWordPress
from tests.test_drf_backend import start

pytestmark = pytest.mark.e2e

StartDrf = Callable[..., DrfBackend]


@pytest.fixture
def drf(tmp_path: Path) -> Iterator[StartDrf]:
    started: list[DrfBackend] = []

    def start_with(**options: Any) -> DrfBackend:
        backend = start(tmp_path / f"drf-{len(started)}", **options)
        started.append(backend)
        backend.add_site(SITE_ID, API_KEY)
        return backend

    yield start_with
    for backend in started:
        backend.close()


@pytest.fixture
def fake_wordpress() -> Iterator[HostileWordPress]:
    with HostileWordPress() as site:
        yield site


def served_by(site: HostileWordPress) -> dict[str, dict[str, dict[str, Any]]]:
    """What the fake WordPress holds, as `label_and_count` shows a payload."""
    return {
        "post_types": {"post": {"label": "Posts", "count": site.POSTS}},
        "taxonomies": {"category": {"label": "Categories", "count": site.CATEGORIES}},
    }


def sync_fake(
    agent: Agent, site: HostileWordPress, backend_url: str, *args: str, **entry: Any
) -> AgentRun:
    wordpress = {"url": site.url, "xmlrpc": "never"}
    agent.write_config(
        {
            "backend": {"url": backend_url, "max_attempts": 2, "max_retry_seconds": 10},
            "sites": [
                {
                    "name": "blog",
                    "site_id": SITE_ID,
                    "api_key": API_KEY,
                    "wordpress": wordpress,
                    **entry,
                }
            ],
        }
    )
    return agent.run("sync", "--json", *args)


def test_the_active_integration_on_page_two_gets_the_push(wordpress, agent, drf):
    backend = drf(page_size=2)
    inactive = backend.add_integration(SITE_ID, is_active=False)  # page 1
    backend.add_integration(SITE_ID, platform="shopify")  # page 1
    active = backend.add_integration(SITE_ID)  # page 2
    site = wordpress("main")
    agent.write_config(site_config(site, backend.url))

    run = agent.run("connect")

    assert run.returncode == 0, run.stderr
    stored = backend.stored_structure(active)
    assert stored is not None
    assert label_and_count(stored) == expected_payload_part(site)
    assert backend.stored_structure(inactive) is None
    assert agent.run("status", "--json").json()["blog"]["integration_id"] == active
    pages = [e for e in backend.access_log() if e.method == "GET"]
    assert [("page=2" in e.query) for e in pages] == [False, True]


def test_an_inactive_integration_alone_is_used(agent, drf, fake_wordpress):
    backend = drf(page_size=2)
    inactive = backend.add_integration(SITE_ID, is_active=False)
    run = sync_fake(agent, fake_wordpress, backend.url)
    assert run.returncode == 0, run.stderr
    stored = backend.stored_structure(inactive)
    assert stored is not None and label_and_count(stored) == served_by(fake_wordpress)
    assert "(inactive)" in run.stderr


def test_an_http_backend_url_redirected_to_https_fails_naming_where(agent, drf, fake_wordpress):
    backend = drf(secure_ssl_redirect=True)
    integration = backend.add_integration(SITE_ID)
    run = sync_fake(agent, fake_wordpress, backend.url, integration_id=integration)
    assert run.returncode == 1
    error = run.json()["blog"]["error"]
    https = backend.url.replace("http://", "https://")
    assert f"set backend.url to {https}" in error
    assert "a POST would become a GET" in error
    assert [(e.method, e.status) for e in backend.access_log()] == [("POST", 301)]
    assert backend.stored_structure(integration) is None


def test_a_wrong_backend_url_gets_djangos_404_page_on_one_line(agent, drf, fake_wordpress):
    backend = drf()
    backend.add_integration(SITE_ID)
    run = sync_fake(agent, fake_wordpress, backend.origin + "/wrong-prefix")
    assert run.returncode == 1
    [line] = [x for x in run.stderr.splitlines() if "ERROR [blog]" in x]
    assert "answered 404 (Not Found); check backend.url" in line
    assert "<" not in line and "doctype" not in line


@pytest.mark.parametrize("wrapped", [False, True], ids=["drf-errors", "igny8-wrapped"])
def test_an_unknown_site_id_names_the_key(agent, drf, fake_wordpress, wrapped):
    backend = drf(wrapped_errors=wrapped)
    agent_site_id = 99
    backend.add_site(agent_site_id, "key-of-99")
    agent.write_config(
        {
            "backend": {"url": backend.url, "max_attempts": 1},
            "sites": [
                {
                    "name": "blog",
                    "site_id": 123456,
                    "api_key": "key-of-99",
                    "wordpress": {"url": fake_wordpress.url, "xmlrpc": "never"},
                }
            ],
        }
    )
    run = agent.run("sync", "--json")
    error = run.json()["blog"]["error"]
    assert "IGNY8 does not know site_id 123456" in error
    assert "Select a valid choice" in error
    assert "check sites[0].site_id" in error


def test_a_revoked_api_key_says_which_key(agent, drf, fake_wordpress):
    backend = drf()
    backend.add_integration(SITE_ID)
    agent.write_config(
        {
            "backend": {"url": backend.url},
            "sites": [
                {
                    "name": "blog",
                    "site_id": SITE_ID,
                    "api_key": "revoked-key-0123456789",
                    "wordpress": {"url": fake_wordpress.url, "xmlrpc": "never"},
                }
            ],
        }
    )
    error = agent.run("sync", "--json").json()["blog"]["error"]
    assert "IGNY8 refused the API key (401: Invalid API key.)" in error
    assert "check sites[0].api_key for site_id 5" in error
    assert "revoked-key" not in error


def test_throttling_past_the_budget_is_said_as_such(agent, drf, fake_wordpress):
    backend = drf(throttle_rate="2/min")
    integration = backend.add_integration(SITE_ID)
    first = sync_fake(agent, fake_wordpress, backend.url)  # lookup + push: 2 requests
    assert first.returncode == 0, first.stderr
    second = sync_fake(agent, fake_wordpress, backend.url)  # the push: the third
    assert second.returncode == 1
    error = second.json()["blog"]["error"]
    assert "IGNY8 is throttling the agent's requests" in error
    assert "it asked to retry after 60 s, past the retry budget of 10 s" in error
    assert backend.stored_structure(integration) is not None  # the first push stands


def test_a_stale_configured_integration_is_replaced(agent, drf, fake_wordpress):
    backend = drf()
    stale = backend.add_integration(SITE_ID)
    backend.delete_integration(stale)
    current = backend.add_integration(SITE_ID)
    run = sync_fake(agent, fake_wordpress, backend.url, integration_id=stale)
    assert run.returncode == 0, run.stderr
    assert f"the configured integration_id {stale} is stale (404)" in run.stderr
    stored = backend.stored_structure(current)
    assert stored is not None and label_and_count(stored) == served_by(fake_wordpress)
    assert agent.run("status", "--json").json()["blog"]["integration_id"] == current
