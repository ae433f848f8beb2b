"""End to end: many sites in one pass, side by side and gentle on each WordPress.

Against the many-site fake (tests/support/fleet_wordpress.py, in its own process,
counting what arrives) and against the real WordPress: every site's structure
arrives, results keep config order, a hanging site holds only itself up, and no
site ever sees more than `wordpress.max_connections` requests at once.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.workers import processes_for
from tests.conftest import (
    API_KEY,
    SITE_ID,
    Agent,
    expected_payload_part,
    fleet_backend,
    fleet_sites,
    label_and_count,
    site_config,
)
from tests.support.backend_standin import BackendStandin, Integration
from tests.support.fleet_wordpress import Fleet, expected_structure, fleet_wordpress
from tests.support.procs import children_of

pytestmark = pytest.mark.e2e

SITES = 40
EXTRA_TYPES = 6  # 8 post types and 8 taxonomies a site: more than one batch of counts


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    with fleet_wordpress(latency=0.05, extra_types=EXTRA_TYPES, hang=(13,)) as server:
        yield server


@pytest.fixture
def standin() -> Iterator[BackendStandin]:
    with fleet_backend(SITES) as server:
        yield server


def fleet_config(fleet: Fleet, backend: BackendStandin, sites: range, **top: Any) -> dict[str, Any]:
    wordpress = top.pop("wordpress", {})
    return {
        "backend": {"url": backend.url, "max_attempts": 2, "max_retry_seconds": 10},
        "log_level": "info",
        **top,
        "sites": fleet_sites(fleet.site_url, sites, **wordpress),
    }


def test_a_fleet_pass_pushes_every_site_side_by_side(
    agent: Agent, fleet: Fleet, standin: BackendStandin
) -> None:
    names = [n for n in range(SITES) if n != 13]
    agent.write_config(
        fleet_config(fleet, standin, range(SITES), parallel_sites=8, wordpress={"deadline": 20})
    )
    fleet.reset()

    run = agent.run("sync", "--json", timeout=180)

    report = run.json()
    assert list(report) == [f"site{n}" for n in range(SITES)]  # config order
    assert [n for n in range(SITES) if report[f"site{n}"]["ok"]] == names
    for n in names:
        assert label_and_count(standin.stored[1000 + n]) == expected_structure(n, EXTRA_TYPES)
    stats = fleet.stats()
    assert stats["max_in_flight_per_site"] == 6  # the default cap, reached and never passed
    assert 1 < stats["peak_sites_in_flight"] <= 8
    assert run.returncode == 1  # the hanging site failed
    lines = [line for line in run.stderr.splitlines() if " INFO " in line or " ERROR " in line]
    assert len(lines) > SITES  # at least one line for each site
    assert all(
        line.split("] ", 1)[0].rsplit("[", 1)[1] in {f"site{n}" for n in range(SITES)} | {"agent"}
        for line in lines
    )


def test_a_hanging_site_holds_up_only_itself(
    agent: Agent, fleet: Fleet, standin: BackendStandin
) -> None:
    agent.write_config(
        fleet_config(
            fleet,
            standin,
            range(10, 20),
            parallel_sites=4,
            wordpress={"deadline": 4, "timeout": 30},
        )
    )
    run = agent.run("sync", "--json", timeout=180)
    report = run.json()
    assert "wordpress.deadline (4 s)" in report["site13"]["error"]
    assert all(report[f"site{n}"]["ok"] for n in range(10, 20) if n != 13)
    # The other sites did not wait for it: each took a fraction of its deadline.
    connection = _state(agent)
    durations = dict(connection.execute("SELECT site, duration_seconds FROM attempts WHERE ok = 1"))
    assert len(durations) == 9
    assert max(durations.values()) < 4


def test_the_cap_on_requests_in_flight_is_the_configured_one(
    agent: Agent, fleet: Fleet, standin: BackendStandin
) -> None:
    agent.write_config(fleet_config(fleet, standin, range(3), wordpress={"max_connections": 2}))
    fleet.reset()
    assert agent.run("sync").returncode == 0
    assert fleet.stats()["max_in_flight_per_site"] == 2


def test_status_of_a_fleet_puts_failing_sites_first_and_sums_up(
    agent: Agent, fleet: Fleet, standin: BackendStandin
) -> None:
    config = fleet_config(fleet, standin, range(11, 16), wordpress={"deadline": 3})
    agent.write_config(config)
    agent.run("sync", timeout=120)
    config["sites"].append(
        {
            "name": "new-site",
            "site_id": 1,
            "api_key": f"{API_KEY}-0",
            "wordpress": {"url": fleet.site_url(0)},
        }
    )
    agent.write_config(config)

    lines = agent.run("status").stdout.splitlines()

    assert lines[0].startswith("site13: FAILING")
    assert lines[-1] == "4 ok, 1 failing, 1 never synced"
    assert "new-site: never synced" in lines
    assert set(agent.run("status", "--json").json()) == {f"site{n}" for n in range(11, 16)} | {
        "new-site"
    }


def test_a_big_fleet_runs_in_worker_processes(agent: Agent, fleet: Fleet) -> None:
    """200 sites: past one core's worth of work, the pass is shared with worker processes,
    one process per core (this machine's cores decide how many); all else is as before."""
    sites = 200
    expected_processes = processes_for(sites, 16)
    with fleet_backend(sites) as standin:
        agent.write_config(fleet_config(fleet, standin, range(sites), wordpress={"deadline": 5}))
        fleet.reset()

        run = agent.run("sync", "--json", timeout=300)

        report = run.json()
        assert list(report) == [f"site{n}" for n in range(sites)]
        assert [n for n in range(sites) if report[f"site{n}"]["ok"]] == [
            n for n in range(sites) if n != 13
        ]
        for n in range(sites):
            if n != 13:
                assert label_and_count(standin.stored[1000 + n]) == expected_structure(
                    n, EXTRA_TYPES
                )
    assert (f"runs in {expected_processes} processes" in run.stderr) == (expected_processes > 1)
    assert fleet.stats()["max_in_flight_per_site"] == 6
    pushed = [line for line in run.stderr.splitlines() if " pushed " in line]
    assert len(pushed) == sites - 1  # the workers' lines, written once each by the agent
    assert (
        agent.run("status").stdout.splitlines()[-1] == f"{sites - 1} ok, 1 failing, 0 never synced"
    )


def test_sigterm_during_a_big_pass_exits_0_in_time_and_leaves_no_worker(
    agent: Agent, fleet: Fleet, start_daemon: Any
) -> None:
    """The daemon's stop (CONTRACT §7) with a pass shared by worker processes: exit 0
    within 10 s, the site still in flight (one that never answers) recorded as
    abandoned, and no worker left behind."""
    sites = 200
    with fleet_backend(sites) as standin:
        config = fleet_config(fleet, standin, range(sites), wordpress={"deadline": 120})
        config["schedule"] = {"cron": "0 3 * * *", "jitter_seconds": 0}
        agent.write_config(config)
        daemon = start_daemon()
        standin.wait_for_posts(sites - 1, 120)  # all but site13, which hangs
        workers = children_of(daemon.process.pid)
        assert len(workers) == processes_for(sites, 16) - 1

        started = time.monotonic()
        daemon.signal(signal.SIGTERM)
        returncode = daemon.process.wait(15)
        elapsed = time.monotonic() - started

    assert returncode == 0
    assert elapsed < 10, elapsed  # the contract's limit, not a speed target
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers):
        assert time.monotonic() < deadline, "a worker process outlived the daemon"
        time.sleep(0.05)
    status = agent.run("status", "--json").json()
    assert "abandoned" in status["site13"]["last_error"]
    assert sum(s["last_error"] is None for s in status.values()) == sites - 1


def test_a_fleet_on_the_real_wordpress(wordpress, backend, agent: Agent) -> None:
    """200 sites on the real WordPress (pretty and plain permalinks, a sub-folder
    install; with credentials, so over REST and XML-RPC): big enough for worker
    processes where this machine has more than one core. Expected values come from
    PHP, as everywhere."""
    variants = ["main", "plain", "subfolder"]
    sites = {variant: wordpress(variant) for variant in variants}
    count = 200
    entries = []
    for n in range(count):
        variant = variants[n % 3]
        backend.add_integration(Integration(id=200 + n, site_id=SITE_ID))
        entry = site_config(sites[variant], backend.url, name=f"wp{n}")["sites"][0]
        entry["integration_id"] = 200 + n
        entries.append(entry)
    config = site_config(sites["main"], backend.url)
    config.update(sites=entries, log_level="info")
    agent.write_config(config)

    run = agent.run("sync", "--json", timeout=600)

    assert run.returncode == 0, run.stderr[-3000:]
    assert list(run.json()) == [f"wp{n}" for n in range(count)]
    for n in range(count):
        expected = expected_payload_part(sites[variants[n % 3]])
        assert label_and_count(backend.stored[200 + n]) == expected
    processes = processes_for(count, 16)
    assert (f"runs in {processes} processes" in run.stderr) == (processes > 1)


def _state(agent: Agent):
    import sqlite3

    return sqlite3.connect(agent.state_dir / "state.db")
