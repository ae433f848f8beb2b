"""End to end: the state database through the installed command — the import of an
older state.json, an unusable database, and kill -9 at any moment of a pass."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Agent, fleet_backend, fleet_sites
from tests.support.backend_standin import BackendStandin
from tests.support.fleet_wordpress import Fleet, fleet_wordpress
from tests.support.procs import children_of

pytestmark = pytest.mark.e2e

SITES = 24
KILLS = 12


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    with fleet_wordpress(latency=0.03) as server:
        yield server


@pytest.fixture
def standin() -> Iterator[BackendStandin]:
    with fleet_backend(SITES) as standin:
        yield standin


def fleet_config(fleet: Fleet, backend: BackendStandin, **top: Any) -> dict[str, Any]:
    return {
        "backend": {"url": backend.url, "max_attempts": 2, "max_retry_seconds": 10},
        "parallel_sites": 4,
        **top,
        "sites": fleet_sites(fleet.site_url, range(SITES)),
    }


def integrity(agent: Agent) -> str:
    connection = sqlite3.connect(agent.state_dir / "state.db")
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


def test_an_older_state_json_is_imported_once_and_kept(
    agent: Agent, fleet: Fleet, standin: BackendStandin
) -> None:
    agent.write_config(fleet_config(fleet, standin))
    agent.state_dir.mkdir()
    old = {
        "version": 1,
        "sites": {
            "site0": {
                "last_success": "2026-11-20T03:00:00Z",
                "last_attempt": "2026-11-21T03:00:00Z",
                "last_error": "IGNY8 is unavailable (503)",
                "integration_id": 1000,
                "integration_id_replaces": None,
                "post_types_count": 3,
                "taxonomies_count": 2,
            }
        },
    }
    (agent.state_dir / "state.json").write_text(json.dumps(old))

    status = agent.run("status", "--json")  # reads it, changes nothing
    assert status.returncode == 0, status.stderr
    assert status.json()["site0"] == {
        k: v for k, v in old["sites"]["site0"].items() if k != "integration_id_replaces"
    }
    assert not (agent.state_dir / "state.db").exists()

    run = agent.run("sync", "--site", "site1")
    assert run.returncode == 0, run.stderr
    assert "imported 1 site(s)" in run.stderr
    assert (agent.state_dir / "state.json.imported").is_file()
    assert not (agent.state_dir / "state.json").exists()
    report = agent.run("status", "--json").json()
    assert report["site0"]["last_error"] == "IGNY8 is unavailable (503)"  # carried over
    assert report["site1"]["last_error"] is None
    assert agent.run("sync", "--site", "site1").stderr.count("imported") == 0


def test_an_unusable_database_is_said_by_status_and_moved_aside_by_the_next_pass(
    agent: Agent, fleet: Fleet, standin: BackendStandin
) -> None:
    agent.write_config(fleet_config(fleet, standin))
    assert agent.run("sync").returncode == 0
    (agent.state_dir / "state.db").write_bytes(b"\x00garbage" * 4096)

    status = agent.run("status")
    assert status.returncode == 1
    assert "cannot be used" in status.stderr and "the next pass" in status.stderr
    assert "Traceback" not in status.stderr

    run = agent.run("sync")
    assert run.returncode == 0, run.stderr
    assert "moved it to" in run.stderr
    assert list(agent.state_dir.glob("state.db.unusable-*"))
    assert agent.run("status").stdout.splitlines()[-1] == f"{SITES} ok, 0 failing, 0 never synced"


def test_kill_9_at_any_moment_leaves_a_usable_state(
    agent: Agent, fleet: Fleet, standin: BackendStandin
) -> None:
    agent.write_config(fleet_config(fleet, standin))
    chance = random.Random(9)
    killed_mid_pass = 0
    for _ in range(KILLS):
        process = subprocess.Popen(
            [agent.command, "--config", str(agent.config_path), "sync"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(chance.uniform(0.05, 1.5))
        if process.poll() is None:
            killed_mid_pass += 1
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        status = agent.run("status", "--json")
        assert status.returncode == 0, status.stderr
        assert set(status.json()) == {f"site{n}" for n in range(SITES)}
        if (agent.state_dir / "state.db").exists():
            assert integrity(agent) == "ok"
    assert killed_mid_pass >= KILLS // 2  # most kills hit a pass in flight

    run = agent.run("sync")
    assert run.returncode == 0, run.stderr
    assert not list(agent.state_dir.glob("state.db.unusable-*"))  # nothing was damaged
    assert agent.run("status").stdout.splitlines()[-1] == f"{SITES} ok, 0 failing, 0 never synced"


def test_kill_9_of_the_agent_or_of_a_worker_process_mid_pass(agent: Agent, fleet: Fleet) -> None:
    """A pass big enough to share with worker processes: killing the agent ends its
    workers too (they see their pipe close), killing a worker fails only the sites it
    held; the state stays usable either way."""
    sites = 200
    chance = random.Random(99)
    with fleet_backend(sites) as standin:
        config = fleet_config(fleet, standin, parallel_sites=16)
        config["sites"] = fleet_sites(fleet.site_url, range(sites))
        agent.write_config(config)
        for round_number in range(4):
            process = subprocess.Popen(
                [agent.command, "--config", str(agent.config_path), "sync"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            workers = _workers_of(process.pid, timeout=20)
            time.sleep(chance.uniform(0.8, 2.0))  # the workers have sites by then
            if round_number % 2 == 0 or not workers:
                process.send_signal(signal.SIGKILL)
                process.wait(30)
            else:
                os.kill(workers[0], signal.SIGKILL)
                _, stderr = process.communicate(timeout=120)
                assert process.returncode == 1  # the sites it held failed; the rest did not
                assert "Traceback" not in stderr
                assert "ended unexpectedly (killed by signal 9)" in stderr
            _wait_gone(workers)
            status = agent.run("status", "--json")
            assert status.returncode == 0, status.stderr
            assert integrity(agent) == "ok"

        run = agent.run("sync", timeout=300)
        assert run.returncode == 0, run.stderr
    assert not list(agent.state_dir.glob("state.db.unusable-*"))
    assert agent.run("status").stdout.splitlines()[-1] == f"{sites} ok, 0 failing, 0 never synced"


def _workers_of(pid: int, timeout: float) -> list[int]:
    """The worker processes of the agent `pid` (none if the machine has one core)."""
    from agent.workers import processes_for

    expected = processes_for(200, 16) - 1
    if expected < 1:
        return []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        children = children_of(pid)
        if len(children) >= expected:
            return children
        time.sleep(0.05)
    raise AssertionError("the agent started no worker processes")


def _wait_gone(pids: list[int]) -> None:
    end = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in pids):
        assert time.monotonic() < end, "a worker process outlived its pass"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """Not gone, and not a zombie waiting for its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
