"""A big pass shared with worker processes (agent/workers.py): every site synced and
recorded, what the workers log and tell arriving in the pass's process, a worker's
death or a stop costing only what it must.

The passes here run from this process (`run_pass`), with the number of processes
set; the workers are real processes, against the many-site fake WordPress and the
backend stand-in. test_e2e_fleet.py runs the installed command over a fleet big
enough to use them on its own.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent import sync, workers
from agent.config import Config, load_config
from agent.state import StateStore
from agent.sync import PassObserver, PassOptions, SiteResult, run_pass
from tests.conftest import fleet_backend, fleet_sites, label_and_count
from tests.support.backend_standin import BackendStandin
from tests.support.fleet_wordpress import Fleet, expected_structure, fleet_wordpress
from tests.support.procs import children_of

HANGS = 5


@pytest.mark.parametrize(
    ("sites", "parallel", "cpus", "expected"),
    [
        (2000, 16, 2, 2),  # this process and one worker
        (2000, 16, 8, 4),  # each process has at least 4 sites at once
        (2000, 64, 8, 8),
        (199, 16, 8, 1),  # fewer than 100 sites a process: not worth starting a worker
        (200, 16, 8, 2),
        (5000, 16, 1, 1),  # one core: the pass stays in this process
        (5000, 1, 4, 1),
        (0, 16, 4, 1),
    ],
)
def test_how_many_worker_processes(sites: int, parallel: int, cpus: int, expected: int) -> None:
    assert workers.processes_for(sites, parallel, cpus) == expected


def test_parallel_sites_is_split_evenly() -> None:
    assert workers.shares(16, 2) == [8, 8]
    assert workers.shares(10, 3) == [4, 3, 3]


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    with fleet_wordpress(latency=0.02, hang=(HANGS,)) as server:
        yield server


@pytest.fixture
def standin() -> Iterator[BackendStandin]:
    with fleet_backend(40) as server:
        yield server


class Recorder(PassObserver):
    def __init__(self) -> None:
        self.requests: collections.Counter[tuple[str, str]] = collections.Counter()
        self.done: list[str] = []

    def request_done(self, target: str, outcome: str) -> None:
        self.requests[target, outcome] += 1

    def site_done(self, result: SiteResult, state: Any) -> None:
        self.done.append(result.site)


def config_for(
    tmp_path: Path, fleet: Fleet, standin: BackendStandin, sites: Iterable[int], **top: Any
) -> Config:
    wordpress = top.pop("wordpress", {})
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "backend": {"url": standin.url, "max_attempts": 1},
                "state_dir": str(tmp_path / "state"),
                **top,
                "sites": fleet_sites(fleet.site_url, sites, **wordpress),
            }
        )
    )
    path.chmod(0o600)
    return load_config(path)


def worker_pids() -> list[int]:
    """This process's worker processes."""
    found = []
    for pid in children_of(os.getpid()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"agent.workers" in command:
            found.append(pid)
    return found


def busy_workers() -> list[int]:
    """The worker processes with a connection open: they have been given sites."""
    busy = []
    for pid in worker_pids():
        try:
            fds = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        if any(fd.startswith("socket:") for fd in fds):
            busy.append(pid)
    return busy


@pytest.fixture
def two_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process and two workers."""
    monkeypatch.setattr(workers, "processes_for", lambda sites, parallel: 3)


def test_a_pass_in_worker_processes_syncs_and_records_every_site(
    tmp_path: Path,
    fleet: Fleet,
    standin: BackendStandin,
    two_workers: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = config_for(
        tmp_path, fleet, standin, range(24), parallel_sites=6, wordpress={"deadline": 3}
    )
    recorder = Recorder()
    fleet.reset()
    caplog.set_level(logging.INFO)

    results = run_pass(config, PassOptions(observers=[recorder]))

    assert [r.site for r in results] == [f"site{n}" for n in range(24)]  # config order
    assert [r.site for r in results if not r.ok] == [f"site{HANGS}"]
    assert "wordpress.deadline (3 s)" in (results[HANGS].error or "")
    for n in range(24):
        if n != HANGS:
            assert label_and_count(standin.stored[1000 + n]) == expected_structure(n, 2)
    # What the workers told arrived here, exactly: one request_done per request the
    # fake WordPress saw, one site_done per site.
    wordpress_requests = sum(n for (t, _), n in recorder.requests.items() if t == "wordpress")
    assert wordpress_requests == fleet.stats()["requests"]
    assert sorted(recorder.done) == sorted(f"site{n}" for n in range(24))
    # Their log lines too, each naming its site.
    pushed = [r for r in caplog.records if "pushed" in r.getMessage()]
    assert {r.site for r in pushed} == {f"site{n}" for n in range(24) if n != HANGS}  # type: ignore[attr-defined]
    assert len({r.process for r in pushed} - {os.getpid()}) == 2  # both workers had sites
    assert any("runs in 3 processes" in r.getMessage() for r in caplog.records)
    # Each worker wrote its sites' state.
    with StateStore(config.state_dir) as store:
        states = store.load()
    assert len(states) == 24
    assert states[f"site{HANGS}"].last_error and not states["site0"].last_error
    assert fleet.stats()["max_in_flight_per_site"] <= 6
    assert worker_pids() == []  # none outlives the pass


def test_a_worker_that_dies_loses_only_the_sites_it_held(
    tmp_path: Path, standin: BackendStandin, two_workers: None
) -> None:
    # Sites 10-17 never answer: once 0-9 are done, each of the 6 places (2 a process)
    # holds one of them, and 2 wait.
    with fleet_wordpress(latency=0.02, hang=tuple(range(10, 18))) as fleet:
        config = config_for(
            tmp_path, fleet, standin, range(18), parallel_sites=6, wordpress={"deadline": 3}
        )
        outcome: list[list[SiteResult]] = []
        recorder = Recorder()
        thread = threading.Thread(
            target=lambda: outcome.append(run_pass(config, PassOptions(observers=[recorder])))
        )
        thread.start()
        deadline = time.monotonic() + 30
        while len(recorder.done) < 10 or len(busy_workers()) < 2:
            assert time.monotonic() < deadline, "the workers never got going"
            time.sleep(0.01)
        os.kill(busy_workers()[0], signal.SIGKILL)
        thread.join(120)

    (results,) = outcome
    assert [r.site for r in results] == [f"site{n}" for n in range(18)]  # every site
    assert all(r.ok for r in results[:10])
    lost = [r.site for r in results if "ended unexpectedly (killed by signal 9)" in (r.error or "")]
    assert len(lost) == 2  # the two it held, no more
    cut_off = [r.site for r in results if "wordpress.deadline (3 s)" in (r.error or "")]
    assert sorted(lost + cut_off) == sorted(f"site{n}" for n in range(10, 18))
    with StateStore(config.state_dir) as store:
        states = store.load()
    assert all("ended unexpectedly" in (states[name].last_error or "") for name in lost)
    assert len(recorder.done) == 18
    assert worker_pids() == []


def test_a_stop_hands_out_no_more_sites(
    tmp_path: Path, fleet: Fleet, standin: BackendStandin, two_workers: None
) -> None:
    config = config_for(
        tmp_path, fleet, standin, [n for n in range(40) if n != HANGS], parallel_sites=6
    )
    stop = threading.Event()
    recorder = Recorder()

    def stop_after_a_few() -> None:
        while len(recorder.done) < 6:
            time.sleep(0.01)
        stop.set()

    threading.Thread(target=stop_after_a_few, daemon=True).start()
    results = run_pass(config, PassOptions(stop=stop, observers=[recorder]))

    assert 6 <= len(results) < 39
    assert all(r.ok for r in results)  # those begun were finished, none cut in half
    assert worker_pids() == []


def test_workers_that_cannot_start_leave_the_pass_to_this_one(
    tmp_path: Path,
    fleet: Fleet,
    standin: BackendStandin,
    two_workers: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(workers, "WORKER_CODE", "import sys; sys.exit(3)")
    config = config_for(tmp_path, fleet, standin, range(6, 12))

    results = run_pass(config, PassOptions())

    assert [r.ok for r in results] == [True] * 6  # all synced here
    messages = [r.getMessage() for r in caplog.records]
    assert sum("a worker process could not start (exit status 3)" in m for m in messages) == 2


def test_a_worker_logs_what_nothing_caught_rather_than_printing_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """In a worker, an uncaught error goes through logging (masked, written by the
    pass's process), never raw to stderr."""
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    workers._log_uncaught_errors()

    def fail() -> None:
        raise RuntimeError("boom")

    thread = threading.Thread(target=fail)
    thread.start()
    thread.join()

    (record,) = [r for r in caplog.records if "thread failed" in r.getMessage()]
    assert record.name == "agent.workers"
    # The traceback: still attached, or folded into the line by the agent's own
    # logging, when an earlier test set it up.
    assert "RuntimeError: boom" in caplog.text


def test_a_worker_stuck_past_the_longest_a_site_may_take_is_stopped(
    tmp_path: Path,
    fleet: Fleet,
    standin: BackendStandin,
    two_workers: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Workers that say they are ready, then never answer: the pass must not wait for
    # ever on the sites it gave them.
    monkeypatch.setattr(
        workers,
        "WORKER_CODE",
        "import pickle, sys, time; sys.stdout.buffer.write(pickle.dumps(('ready',))); "
        "sys.stdout.flush(); time.sleep(600)",
    )
    monkeypatch.setattr(workers, "site_time_limit", lambda site, config: 1.0)
    config = config_for(tmp_path, fleet, standin, range(20, 32), parallel_sites=6)

    results = run_pass(config, PassOptions())

    assert [r.site for r in results] == [f"site{n}" for n in range(20, 32)]
    stuck = [r for r in results if not r.ok]
    assert 1 <= len(stuck) <= 4  # what the two held, 2 each
    assert all("stopped: it held site" in (r.error or "") for r in stuck)
    assert sum(r.ok for r in results) == 12 - len(stuck)  # the rest, synced here
    assert any("the most a site may take" in r.getMessage() for r in caplog.records)
    assert worker_pids() == []


def test_a_lost_site_error_is_masked(tmp_path: Path, fleet: Fleet, standin: BackendStandin) -> None:
    """What a worker reports of a failure passes the config's masking before it is
    logged, recorded or returned, like any site error."""
    config = config_for(tmp_path, fleet, standin, range(1))
    site = config.sites[0]
    secret = site.api_key.reveal()  # type: ignore[union-attr]
    with StateStore(config.state_dir) as store:
        result = sync._record_lost(site, f"boom: {secret}", config, store, PassOptions().watchers())
        state = store.get(site.name)
    assert secret not in (result.error or "") and "boom: ***" in (result.error or "")
    assert secret not in (state.last_error or "")
