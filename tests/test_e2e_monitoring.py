"""End to end: being watched — Prometheus metrics (served and as a textfile, parsed with
prometheus_client's own parser), check-ins to a real HTTP listener, `status --check`,
and the daemon's freshness check against the real WordPress."""

from __future__ import annotations

import http.server
import socket
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import (
    API_KEY,
    INTEGRATION_ID,
    SITE_ID,
    Agent,
    expected_payload_part,
    label_and_count,
    site_config,
)
from tests.support.backend_standin import BackendStandin, Fault
from tests.support.hostile import HostileWordPress

pytestmark = pytest.mark.e2e

PING_TOKEN = "0f8fad5b-d9cb-469f-a165-70867728950e"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value}, parsed by prometheus_client itself."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


@pytest.fixture
def fake_wp() -> Iterator[HostileWordPress]:
    with HostileWordPress() as site:
        yield site


def one_site(site_url: str, backend: BackendStandin, **top: Any) -> dict[str, Any]:
    return {
        "backend": {"url": backend.url, "max_attempts": 1},
        "log_level": "info",
        **top,
        "sites": [
            {
                "name": "blog",
                "site_id": SITE_ID,
                "api_key": API_KEY,
                "wordpress": {"url": site_url, "xmlrpc": "never"},
            }
        ],
    }


# --- metrics ---------------------------------------------------------------------------------


def test_sync_writes_a_textfile_node_exporter_can_read(
    agent: Agent, fake_wp, backend, tmp_path: Path
) -> None:
    textfile = tmp_path / "collector" / "igny8_agent.prom"
    textfile.parent.mkdir()
    agent.write_config(one_site(fake_wp.url, backend, metrics={"textfile": str(textfile)}))
    before = time.time()

    assert agent.run("sync").returncode == 0

    found = samples(textfile.read_text())
    site = (("site", "blog"),)
    assert found["igny8_agent_site_last_attempt_success", site] == 1.0
    assert (
        before - 1 <= found["igny8_agent_site_last_success_timestamp_seconds", site] <= time.time()
    )
    assert found["igny8_agent_site_post_types", site] == 1.0
    assert found["igny8_agent_site_taxonomies", site] == 1.0
    assert found["igny8_agent_last_pass_sites", (("result", "ok"),)] == 1.0
    assert found["igny8_agent_last_pass_sites", (("result", "failed"),)] == 0.0
    assert found["igny8_agent_last_pass_duration_seconds", ()] > 0
    wordpress_200 = found[
        "igny8_agent_requests_total", (("outcome", "200"), ("target", "wordpress"))
    ]
    assert wordpress_200 == len(fake_wp.requests)
    assert found["igny8_agent_requests_total", (("outcome", "200"), ("target", "backend"))] == 2
    assert found["igny8_agent_pushes_total", (("result", "ok"),)] == 1.0
    assert list(textfile.parent.iterdir()) == [textfile]  # written atomically, nothing left


def test_a_failed_push_shows_in_the_textfile(
    agent: Agent, fake_wp, backend, tmp_path: Path
) -> None:
    textfile = tmp_path / "igny8_agent.prom"
    backend.script("POST", "/update-structure/", [Fault(status=503)] * 3)
    config = one_site(fake_wp.url, backend, metrics={"textfile": str(textfile)})
    config["backend"]["max_attempts"] = 2
    config["backend"]["max_retry_seconds"] = 5
    agent.write_config(config)
    assert agent.run("sync").returncode == 1
    found = samples(textfile.read_text())
    assert found["igny8_agent_site_last_attempt_success", (("site", "blog"),)] == 0.0
    assert found["igny8_agent_pushes_total", (("result", "failed"),)] == 1.0
    assert found["igny8_agent_retries_total", (("target", "backend"),)] == 1.0
    assert found["igny8_agent_requests_total", (("outcome", "503"), ("target", "backend"))] == 2


def test_a_textfile_that_cannot_be_written_costs_a_warning(agent: Agent, fake_wp, backend) -> None:
    # /proc takes no new files, not even from root.
    agent.write_config(
        one_site(fake_wp.url, backend, metrics={"textfile": "/proc/igny8_agent.prom"})
    )
    run = agent.run("sync")
    assert run.returncode == 0, run.stderr
    assert "could not write the metrics to /proc/igny8_agent.prom" in run.stderr


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        return answer.read().decode()


def test_the_daemon_serves_metrics(agent: Agent, fake_wp, backend, start_daemon) -> None:
    port = free_port()
    agent.write_config(
        one_site(
            fake_wp.url,
            backend,
            metrics={"listen": f"127.0.0.1:{port}"},
            schedule={"cron": "0 3 * * *", "jitter_seconds": 0},
        )
    )
    daemon = start_daemon()
    backend.wait_for_posts(1, 30)
    # A scrape is not a snapshot: one taken as the pass ends may hold the pass's figures
    # and not yet the site's, so wait for both.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = samples(scrape(port))
        if (
            found.get(("igny8_agent_last_pass_sites", (("result", "ok"),))) == 1.0
            and ("igny8_agent_site_last_attempt_success", (("site", "blog"),)) in found
        ):
            break
        time.sleep(0.2)
    assert found.get(("igny8_agent_site_last_attempt_success", (("site", "blog"),))) == 1.0, (
        found,
        daemon.stderr(),
    )
    assert found["igny8_agent_build_info", (("version", _version()),)] == 1.0
    assert found["process_resident_memory_bytes", ()] > 0
    assert daemon.stop() == 0


def _version() -> str:
    from agent import __version__

    return __version__


# --- check-ins ---------------------------------------------------------------------------------


@dataclass
class Monitor:
    """A Healthchecks-like listener: records (path, body) of every ping."""

    status: int = 200
    pings: list[tuple[str, str]] = field(default_factory=list)
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/ping/{PING_TOKEN}"


@pytest.fixture
def monitor() -> Iterator[Monitor]:
    state = Monitor()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.pings.append((self.path, body.decode()))
            self.send_response(state.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    state.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=state.server.serve_forever, daemon=True).start()
    yield state
    state.server.shutdown()
    state.server.server_close()


def assert_ping_url_hidden(agent: Agent, *texts: str) -> None:
    for text in (*texts, agent.state_files_text()):
        assert PING_TOKEN not in text


def test_a_pass_checks_in_at_start_and_on_success(
    agent: Agent, fake_wp, backend, monitor: Monitor
) -> None:
    agent.write_config(one_site(fake_wp.url, backend, monitoring={"ping_url": monitor.url}))
    run = agent.run("sync")
    assert run.returncode == 0, run.stderr
    paths = [path for path, _ in monitor.pings]
    assert paths == [f"/ping/{PING_TOKEN}/start", f"/ping/{PING_TOKEN}"]
    assert "pushed 1 post types" in monitor.pings[1][1]  # the log's tail as the body
    assert_ping_url_hidden(agent, run.stdout, run.stderr)


def test_a_failed_site_checks_in_as_a_failure_with_the_log_tail(
    agent: Agent, fake_wp, backend, monitor: Monitor, tmp_path: Path
) -> None:
    secret_file = tmp_path / "ping.url"
    secret_file.write_text(monitor.url + "\n")
    secret_file.chmod(0o600)
    config = one_site(fake_wp.url, backend, monitoring={"ping_url_file": str(secret_file)})
    config["sites"][0]["api_key"] = "not-the-right-key-0123"
    agent.write_config(config)
    run = agent.run("--log-level", "debug", "sync")
    assert run.returncode == 1
    assert [p for p, _ in monitor.pings] == [
        f"/ping/{PING_TOKEN}/start",
        f"/ping/{PING_TOKEN}/fail",
    ]
    body = monitor.pings[1][1]
    assert "IGNY8 refused the API key" in body
    assert len(body.encode()) <= 10 * 1024
    assert "not-the-right-key-0123" not in body
    assert_ping_url_hidden(agent, run.stdout, run.stderr)


@pytest.mark.parametrize("monitor_state", ["refused", "error"])
def test_a_monitor_that_is_down_costs_a_warning_never_the_pass(
    agent: Agent, fake_wp, backend, monitor: Monitor, monitor_state: str
) -> None:
    url = monitor.url
    if monitor_state == "refused":
        url = f"http://127.0.0.1:{free_port()}/ping/{PING_TOKEN}"
    else:
        monitor.status = 500
    agent.write_config(one_site(fake_wp.url, backend, monitoring={"ping_url": url}))
    run = agent.run("sync")
    assert run.returncode == 0, run.stderr
    assert "check-in to monitoring.ping_url" in run.stderr
    assert INTEGRATION_ID in backend.stored
    assert_ping_url_hidden(agent, run.stdout, run.stderr)


# --- status --check ----------------------------------------------------------------------------


def test_status_check_for_nagios(agent: Agent, fake_wp, backend) -> None:
    agent.write_config(one_site(fake_wp.url, backend))
    never = agent.run("status", "--check")
    assert never.returncode == 1
    assert never.stdout == "blog: never synced\n"

    assert agent.run("sync").returncode == 0
    fresh = agent.run("status", "--check")
    assert fresh.returncode == 0
    assert fresh.stdout.startswith("OK: 1 site(s)")

    connection = sqlite3.connect(agent.state_dir / "state.db")
    with connection:
        connection.execute(
            "UPDATE sites SET last_success = '2026-01-01T00:00:00Z', "
            "last_attempt = '2026-01-01T00:00:00Z'"
        )
    connection.close()
    stale = agent.run("status", "--check", "--max-age", "48")
    assert stale.returncode == 1
    assert stale.stdout.startswith("blog: STALE: last success 2026-01-01T00:00:00Z")
    assert "more than 48 h" in stale.stdout

    backend.script("POST", "/update-structure/", [Fault(status=401)])
    agent.run("sync")
    failing = agent.run("status", "--check")
    assert failing.returncode == 1
    assert failing.stdout.startswith("blog: FAILING since ")
    assert "refused the API key" in failing.stdout
    assert agent.run("status", "--check", "--max-age", "-1").returncode == 2
    assert agent.run("status", "--max-age", "48").returncode == 2  # without --check
    assert agent.run("status", "--check", "--json").returncode == 2


def test_status_check_says_what_it_cannot_know(agent: Agent, fake_wp, backend) -> None:
    """On stdout, where a monitor looks: no sites at all, or a state it cannot read."""
    (agent.config_path.parent / "sites.d").mkdir()
    config = one_site(fake_wp.url, backend)
    config.pop("sites")
    config["sites_dir"] = "sites.d"
    agent.write_config(config)
    nothing = agent.run("status", "--check")
    assert (nothing.returncode, nothing.stdout) == (
        1,
        "no sites configured (sites, sites_dir): nothing is synced\n",
    )

    agent.write_config(one_site(fake_wp.url, backend))
    agent.state_dir.mkdir(parents=True, exist_ok=True)
    (agent.state_dir / "state.db").write_bytes(b"not a database" * 100)
    unreadable = agent.run("status", "--check")
    assert unreadable.returncode == 1
    assert unreadable.stdout.startswith("UNKNOWN: ")
    assert "state.db" in unreadable.stdout


# --- freshness: a new post type reaches IGNY8 within check_every --------------------------------


NEW_TYPE_PLUGIN = """<?php
add_action( 'init', function () {
    register_post_type( 'podcast', array( 'label' => 'Podcasts', 'public' => true,
        'show_in_rest' => true ) );
} );
"""


def test_a_post_type_registered_while_the_daemon_runs_arrives_within_check_every(
    wordpress, backend, agent: Agent, start_daemon
) -> None:
    site = wordpress("fresh")
    port = free_port()
    config = site_config(site, backend.url)
    config.update(
        schedule={"cron": "0 3 1 1 *", "jitter_seconds": 0, "check_every": 2},
        metrics={"listen": f"127.0.0.1:{port}"},
        log_level="info",
    )
    agent.write_config(config)
    plugin = site.root_dir / "wp-content" / "mu-plugins" / "podcast.php"
    daemon = start_daemon()
    try:
        first = backend.wait_for_posts(1, 30)[0].json
        assert "podcast" not in first["post_types"]
        _wait_for_checks(port, unchanged=2)
        assert len(backend.posts()) == 1  # nothing changed: the backend got nothing

        plugin.write_text(NEW_TYPE_PLUGIN)
        second = backend.wait_for_posts(2, 30)[1].json
        assert label_and_count(second) == expected_payload_part(site)
        assert second["post_types"]["podcast"] == {
            "label": "Podcasts",
            "count": 0,
            "enabled": True,
            "fetch_limit": 100,
        }
        assert "its post types or taxonomies changed since the last push" in daemon.stderr()
    finally:
        plugin.unlink(missing_ok=True)
    assert daemon.stop() == 0


def _wait_for_checks(port: int, unchanged: int) -> None:
    key = ("igny8_agent_freshness_checks_total", (("result", "unchanged"),))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if samples(scrape(port)).get(key, 0) >= unchanged:
            return
        time.sleep(0.3)
    raise AssertionError(f"fewer than {unchanged} freshness checks in 30 s")
