"""End to end: finding the REST API behind what real front ends do.

WordPress sits behind a reverse proxy that serves TLS (with an http→https
redirect in front), hides the API root's announcement, or refuses HEAD.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Iterator

import pytest

from tests.conftest import INTEGRATION_ID, expected_payload_part, label_and_count, site_config
from tests.support.proxy import Redirector, ReverseProxy

pytestmark = pytest.mark.e2e


@pytest.fixture
def https_wordpress(wordpress, certificate) -> Iterator[tuple[object, ReverseProxy]]:
    site = wordpress("main")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with ReverseProxy(site.url, tls=context) as proxy:
        yield site, proxy


def test_http_redirected_to_https_with_own_ca(https_wordpress, certificate, backend, agent):
    site, proxy = https_wordpress
    with Redirector(proxy.url) as redirector:
        config = site_config(site, backend.url)
        config["sites"][0]["wordpress"].update(url=redirector.url, verify=str(certificate[0]))
        agent.write_config(config)

        run = agent.run("sync", env={"REQUESTS_CA_BUNDLE": "/nonexistent/bundle.pem"})

    assert run.returncode == 0, run.stderr
    assert label_and_count(backend.stored[INTEGRATION_ID]) == expected_payload_part(site)
    assert f"REST at {proxy.url}/wp-json/" in run.stderr
    assert "internal_log" not in backend.stored[INTEGRATION_ID]["post_types"]  # edit context


def test_verify_true_is_not_overridden_by_requests_ca_bundle(
    https_wordpress, certificate, backend, agent
):
    site, proxy = https_wordpress
    config = site_config(site, backend.url)
    config["sites"][0]["wordpress"]["url"] = proxy.url
    agent.write_config(config)

    run = agent.run("sync", env={"REQUESTS_CA_BUNDLE": str(certificate[0])})

    assert run.returncode == 1
    assert "TLS failed for" in run.stderr and "the certificate is self-signed" in run.stderr
    assert "sites[0].wordpress.verify" in run.stderr
    assert "try 2 of" not in run.stderr  # TLS errors are never retried
    assert backend.posts() == []


@pytest.mark.parametrize("variant", ["main", "plain", "subfolder"])
def test_api_found_without_its_announcement(wordpress, backend, agent, variant):
    site = wordpress(variant)
    with ReverseProxy(site.url, strip_api_links=True) as proxy:
        home = proxy.proxied(site.url)
        with urllib.request.urlopen(home + "/") as answer:
            page = str(answer.headers) + answer.read().decode()
        assert "api.w.org" not in page  # the proxy really hides it
        config = site_config(site, backend.url)
        config["sites"][0]["wordpress"]["url"] = home
        agent.write_config(config)

        run = agent.run("sync")

    assert run.returncode == 0, run.stderr
    assert label_and_count(backend.stored[INTEGRATION_ID]) == expected_payload_part(site)
    root = "/?rest_route=/" if variant == "plain" else "/wp-json/"
    assert f"REST at {home}{root}" in run.stderr


def test_site_refusing_head_is_counted_with_get(wordpress, backend, agent):
    site = wordpress("main")
    with ReverseProxy(site.url, refuse_head=True) as proxy:
        config = site_config(site, backend.url)
        config["sites"][0]["wordpress"]["url"] = proxy.url
        agent.write_config(config)

        run = agent.run("sync")

    assert run.returncode == 0, run.stderr
    assert label_and_count(backend.stored[INTEGRATION_ID]) == expected_payload_part(site)
