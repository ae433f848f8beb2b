"""End to end: `igny8-agent run` against a real WordPress and the backend stand-in."""

from __future__ import annotations

import signal
import time

import pytest
import yaml

from tests.conftest import (
    INTEGRATION_ID,
    expected_payload_part,
    label_and_count,
    site_config,
)
from tests.support.backend_standin import Fault

pytestmark = pytest.mark.e2e

EVERY_MINUTE = {"cron": "* * * * *", "jitter_seconds": 0, "retry_failed_every": 600}
DAILY = {"cron": "0 3 * * *", "jitter_seconds": 0, "retry_failed_every": 2}


def daemon_config(site, backend, schedule, **site_extra):
    config = site_config(site, backend.url, **site_extra)
    config["schedule"] = schedule
    config["log_level"] = "info"
    config["backend"]["max_attempts"] = 1
    return config


def test_pushes_at_start_and_on_schedule(wordpress, backend, agent, start_daemon, notify):
    """The one test that waits for the clock: a real minute turning fires a real pass.
    What the daemon does on each job is driven by hand in test_daemon_unit.py."""
    site = wordpress("main")
    agent.write_config(daemon_config(site, backend, EVERY_MINUTE))
    daemon = start_daemon(WATCHDOG_USEC="1000000")

    ready = notify.wait_for("READY=1", 30)
    first = backend.wait_for_posts(1, 30)
    second = backend.wait_for_posts(2, 75)  # the next minute

    assert "STATUS=" in ready
    expected = expected_payload_part(site)
    assert label_and_count(first[0].json) == expected
    assert label_and_count(second[1].json) == expected
    assert "start-up pass over every site" in daemon.stderr()
    assert "scheduled pass over every site" in daemon.stderr()
    status = notify.wait_for("1 ok, 0 failed", 10)
    assert "next run" in status
    assert len([m for m in notify.messages if "WATCHDOG=1" in m]) >= 2
    assert daemon.stop() == 0
    assert "STOPPING=1" in notify.wait_for("STOPPING=1", 5)


def test_failed_push_is_retried_until_delivered(wordpress, backend, agent, start_daemon):
    site = wordpress("main")
    backend.script("POST", "/update-structure/", [Fault(status=503), Fault(status=503)])
    agent.write_config(daemon_config(site, backend, DAILY))
    start_daemon()

    posts = backend.wait_for_posts(3, 30)

    assert [p.status for p in posts] == [503, 503, 200]
    assert all(b.at - a.at >= 1.5 for a, b in zip(posts, posts[1:], strict=False))
    assert INTEGRATION_ID in backend.stored
    assert agent.run("status", "--json").json()["blog"]["last_error"] is None


def test_sighup_applies_a_changed_flag_and_keeps_a_bad_config_out(
    wordpress, backend, agent, start_daemon, notify
):
    site = wordpress("main")
    agent.write_config(daemon_config(site, backend, DAILY))
    daemon = start_daemon()
    assert backend.wait_for_posts(1, 30)[0].json["post_types"]["book"]["enabled"] is True

    agent.write_config(daemon_config(site, backend, DAILY, post_types={"book": {"enabled": False}}))
    daemon.signal(signal.SIGHUP)

    assert backend.wait_for_posts(2, 30)[1].json["post_types"]["book"]["enabled"] is False
    assert "RELOADING=1" in notify.wait_for("RELOADING=1", 5)

    agent.config_path.write_text("sites: [")
    daemon.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "kept the running config" not in daemon.stderr() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "kept the running config" in daemon.stderr()
    assert daemon.process.poll() is None
    assert daemon.stop() == 0


def test_a_storm_of_sighups_leaves_it_answering_sigterm(
    wordpress, backend, agent, start_daemon, notify
):
    """A signal handler that took a lock could hang the main thread for good, and with
    it every later reload and stop."""
    agent.write_config(daemon_config(wordpress("main"), backend, DAILY))
    daemon = start_daemon()
    notify.wait_for("1 ok, 0 failed", 30)
    for _ in range(500):
        daemon.signal(signal.SIGHUP)
        time.sleep(0.001)
    assert daemon.stop() == 0
    assert "stopped" in daemon.stderr()


def test_sighup_adds_and_removes_sites(wordpress, backend, agent, start_daemon):
    site = wordpress("main")
    config = daemon_config(site, backend, DAILY)
    agent.write_config(config)
    daemon = start_daemon()
    backend.wait_for_posts(1, 30)

    second = dict(config["sites"][0], name="second")
    config["sites"] = [second]
    agent.write_config(config)
    daemon.signal(signal.SIGHUP)

    backend.wait_for_posts(2, 30)
    assert "new or changed: second; removed: blog" in daemon.stderr()


def test_sigterm_during_a_push_exits_0_in_time(wordpress, backend, agent, start_daemon):
    site = wordpress("main")
    backend.script("POST", "/update-structure/", [Fault(status=None, delay=60)])
    agent.write_config(daemon_config(site, backend, DAILY))
    daemon = start_daemon()
    backend.wait_for_posts(1, 30)  # the push is in flight now

    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    returncode = daemon.process.wait(15)
    elapsed = time.monotonic() - started

    assert returncode == 0
    assert elapsed < 10, elapsed  # the contract's limit, not a speed target
    status = agent.run("status", "--json").json()["blog"]
    assert "abandoned" in status["last_error"]


def test_sigterm_while_idle_exits_0(wordpress, backend, agent, start_daemon, notify):
    agent.write_config(daemon_config(wordpress("main"), backend, DAILY))
    daemon = start_daemon()
    notify.wait_for("1 ok, 0 failed", 30)  # the start-up pass is over: idle
    assert daemon.stop() == 0
    assert "stopped" in daemon.stderr()
    assert "abandoned" not in daemon.stderr()


def test_cron_sync_during_a_daemon_pass_exits_75(wordpress, backend, agent, start_daemon):
    site = wordpress("main")
    backend.script("POST", "/update-structure/", [Fault(status=None, delay=8)])
    agent.write_config(daemon_config(site, backend, DAILY))
    start_daemon()
    backend.wait_for_posts(1, 30)

    run = agent.run("sync")

    assert run.returncode == 75
    assert "another pass holds" in run.stderr
    assert len(backend.posts()) == 1


def test_under_journald_no_timestamps(wordpress, backend, agent):
    agent.write_config(site_config(wordpress("main"), backend.url))
    run = agent.run("sync", env={"JOURNAL_STREAM": "8:1234"})
    assert run.returncode == 0
    lines = run.stderr.splitlines()
    assert lines and all(line.split()[0] in ("DEBUG", "INFO", "WARNING", "ERROR") for line in lines)
    plain = agent.run("sync")
    assert plain.stderr.splitlines()[0][:4].isdigit()  # a timestamp outside journald


def test_invalid_config_at_start_exits_2(agent):
    agent.config_path.write_text(yaml.safe_dump({"sites": [{"name": "x"}]}))
    run = agent.run("run")
    assert run.returncode == 2
    assert "sites[0].site_id" in run.stderr


@pytest.mark.parametrize(
    "environment",
    [
        {"TZ": "IST-5:30"},  # a POSIX TZ string: tzlocal cannot name it
        {"TZ": "Europe/Berlin"},
        {"TZ": "No/Such_Zone"},
        {"TZ": "", "HOME": "/nonexistent"},
    ],
    ids=["posix-tz", "zone-name", "unknown-zone", "empty-tz-bare-home"],
)
def test_the_daemon_runs_whatever_the_environment(
    wordpress, backend, agent, start_daemon, environment
):
    agent.write_config(daemon_config(wordpress("main"), backend, DAILY))
    daemon = start_daemon(**environment)
    backend.wait_for_posts(1, 30)
    assert daemon.process.poll() is None, daemon.stderr()
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.stderr()


def test_sighup_reads_sites_dir_again(wordpress, backend, agent, start_daemon):
    site = wordpress("main")
    config = daemon_config(site, backend, DAILY)
    entry = config.pop("sites")[0]
    config["sites_dir"] = "sites.d"
    sites_dir = agent.workdir / "sites.d"
    sites_dir.mkdir()
    (sites_dir / "blog.yaml").write_text(yaml.safe_dump(entry))
    agent.write_config(config)
    daemon = start_daemon()
    backend.wait_for_posts(1, 30)

    (sites_dir / "second.yaml").write_text(yaml.safe_dump(dict(entry, name="second")))
    daemon.signal(signal.SIGHUP)

    backend.wait_for_posts(2, 30)
    assert "new or changed: second; removed: none" in daemon.stderr()
