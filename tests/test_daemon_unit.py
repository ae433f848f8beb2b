"""The daemon's decisions, driven by hand: a fake scheduler records the jobs and the test
fires them, `run_pass` and `check_structures` are replaced by recorders, the state is a
real one. No sleeping, no waiting for a minute to turn: the one real-time test of the
schedule is in test_e2e_daemon.py; the cron arithmetic is in test_schedule.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

import agent.daemon as daemon_module
from agent.config import load_config
from agent.daemon import CHECK, DAILY, RETRY_FAILED, Daemon
from agent.schedule import CronSchedule
from agent.state import SiteState, StateStore
from agent.sync import PassOptions, PassProgress, SiteResult
from agent.systemd import Notifier


@dataclass
class Job:
    func: Callable[..., Any]
    trigger: Any
    args: list[Any]
    id: str | None


@dataclass
class FakeScheduler:
    """APScheduler's interface as the daemon uses it; jobs run only when a test fires them."""

    jobs: dict[str, Job] = field(default_factory=dict)
    once: list[Job] = field(default_factory=list)  # jobs without a trigger: run once, now

    def add_job(
        self,
        func: Callable[..., Any],
        trigger: Any = None,
        args: Any = None,
        id: str | None = None,
        **options: Any,
    ) -> Job:  # noqa: A002 - APScheduler's name
        job = Job(func, trigger, list(args or []), id)
        if trigger is None:
            self.once.append(job)
        else:
            self.jobs[id or f"job{len(self.jobs)}"] = job
        return job

    def get_job(self, job_id: str) -> Any:
        job = self.jobs.get(job_id)
        if job is None:
            return None
        now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        return type("Scheduled", (), {"next_run_time": job.trigger.get_next_fire_time(None, now)})

    def remove_job(self, job_id: str) -> None:
        del self.jobs[job_id]

    def start(self) -> None:
        pass

    def shutdown(self, wait: bool = True) -> None:
        pass

    def fire(self, job_id: str) -> None:
        job = self.jobs[job_id]
        job.func(*job.args)

    def run_once_jobs(self) -> None:
        jobs, self.once = self.once, []
        for job in jobs:
            job.func(*job.args)


class RecordingNotifier(Notifier):
    def __init__(self) -> None:
        super().__init__(environ={})
        self.sent: list[str] = []

    def send(self, *assignments: str) -> None:
        self.sent.extend(assignments)


@dataclass
class Passes:
    """What run_pass and check_structures were asked; what they answer."""

    calls: list[list[str]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    changed: list[str] = field(default_factory=list)
    checks: int = 0


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> Passes:
    record = Passes()

    def run_pass(config: Any, options: PassOptions) -> list[SiteResult]:
        names = options.site_names or [s.name for s in config.sites]
        record.calls.append(list(names))
        return [SiteResult(name, ok=name not in record.failing) for name in names]

    def check_structures(config: Any, options: PassOptions) -> list[str]:
        record.checks += 1
        return list(record.changed)

    monkeypatch.setattr(daemon_module, "run_pass", run_pass)
    monkeypatch.setattr(daemon_module, "check_structures", check_structures)
    return record


def write_config(tmp_path: Path, *names: str, **schedule: Any) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "backend": {"url": "https://api.igny8.example/api"},
                "state_dir": str(tmp_path / "state"),
                "schedule": {
                    "cron": "30 2 * * *",
                    "timezone": "Europe/Berlin",
                    "jitter_seconds": 0,
                    "retry_failed_every": 900,
                    **schedule,
                },
                "sites": [
                    {
                        "name": name,
                        "site_id": 1,
                        "api_key": "key-0123456789",
                        "wordpress": {"url": f"https://{name}.example"},
                    }
                    for name in names
                ],
            }
        )
    )
    path.chmod(0o600)
    return path


def make_daemon(path: Path) -> tuple[Daemon, FakeScheduler, RecordingNotifier]:
    scheduler, notifier = FakeScheduler(), RecordingNotifier()
    daemon = Daemon(load_config(path), str(path), None, notifier=notifier, scheduler=scheduler)
    daemon._schedule(daemon.config)
    return daemon, scheduler, notifier


def test_the_jobs_follow_the_schedule(tmp_path: Path, passes: Passes) -> None:
    daemon, scheduler, _ = make_daemon(write_config(tmp_path, "a", check_every=600))
    daily = scheduler.jobs[DAILY].trigger
    assert isinstance(daily, CronSchedule)
    assert str(daily.timezone) == "Europe/Berlin" and daily.jitter_seconds == 0
    assert scheduler.jobs[RETRY_FAILED].trigger.interval.total_seconds() == 900
    assert scheduler.jobs[CHECK].trigger.interval.total_seconds() == 600
    # Every trigger carries its zone: none asks tzlocal (which fails on TZ=IST-5:30).
    for job in scheduler.jobs.values():
        assert job.trigger.timezone is not None


def test_check_every_0_schedules_no_freshness_check(tmp_path: Path, passes: Passes) -> None:
    _, scheduler, _ = make_daemon(write_config(tmp_path, "a", check_every=0))
    assert CHECK not in scheduler.jobs


def test_a_scheduled_pass_covers_every_site_and_says_when_the_next_is(
    tmp_path: Path, passes: Passes
) -> None:
    daemon, scheduler, notifier = make_daemon(write_config(tmp_path, "a", "b"))
    passes.failing = {"b"}
    scheduler.fire(DAILY)
    assert passes.calls == [["a", "b"]]
    [status] = [m for m in notifier.sent if m.startswith("STATUS=last pass")]
    assert "1 ok, 1 failed (b; retried every 900s)" in status
    assert status.endswith("next run 2026-03-02T01:30:00Z")  # 02:30 in Berlin (CET)
    assert daemon.idle.is_set()


def test_the_retry_job_passes_over_the_failed_sites_only(tmp_path: Path, passes: Passes) -> None:
    daemon, scheduler, _ = make_daemon(write_config(tmp_path, "a", "b", "c"))
    with StateStore(tmp_path / "state") as store:
        store.update(
            "a", SiteState(last_attempt="2026-03-01T03:00:00Z", last_success="2026-03-01T03:00:00Z")
        )
        store.update("b", SiteState(last_attempt="2026-03-01T03:00:00Z", last_error="boom"))
    scheduler.fire(RETRY_FAILED)
    assert passes.calls == [["b"]]
    passes.calls.clear()
    with StateStore(tmp_path / "state") as store:
        store.update(
            "b", SiteState(last_attempt="2026-03-01T03:15:00Z", last_success="2026-03-01T03:15:00Z")
        )
    scheduler.fire(RETRY_FAILED)
    assert passes.calls == []  # nothing failing: no pass at all


def test_a_freshness_check_pushes_only_what_changed(tmp_path: Path, passes: Passes) -> None:
    daemon, scheduler, _ = make_daemon(write_config(tmp_path, "a", "b"))
    scheduler.fire(CHECK)
    assert (passes.checks, passes.calls) == (1, [])
    passes.changed = ["b"]
    scheduler.fire(CHECK)
    assert (passes.checks, passes.calls) == (2, [["b"]])


def test_a_reload_reschedules_and_passes_over_new_or_changed_sites(
    tmp_path: Path, passes: Passes
) -> None:
    path = write_config(tmp_path, "a", "b")
    daemon, scheduler, notifier = make_daemon(path)
    write_config(tmp_path, "b", "c", cron="0 4 * * *", check_every=0)
    daemon._reload()
    assert scheduler.jobs[DAILY].trigger.expression == "0 4 * * *"
    assert CHECK not in scheduler.jobs
    scheduler.run_once_jobs()
    assert passes.calls == [["c"]]  # b is unchanged, a is gone
    assert notifier.sent.count("READY=1") == 1 and "RELOADING=1" in notifier.sent


def test_a_reload_keeps_the_jobs_whose_settings_did_not_change(
    tmp_path: Path, passes: Passes
) -> None:
    """A replaced job counts its next time from now: a reload at 03:10 would push a
    daily run jittered to 03:20 to the next day, and reloads every few minutes would
    starve the retry job. Only the jobs whose settings changed are replaced."""
    daemon, scheduler, _ = make_daemon(write_config(tmp_path, "a", jitter_seconds=1800))
    before = dict(scheduler.jobs)
    write_config(tmp_path, "a", "b", jitter_seconds=1800)  # sites changed, schedule not
    daemon._reload()
    assert all(scheduler.jobs[job_id] is before[job_id] for job_id in before)

    write_config(tmp_path, "a", "b", jitter_seconds=1800, retry_failed_every=600)
    daemon._reload()
    assert scheduler.jobs[DAILY] is before[DAILY] and scheduler.jobs[CHECK] is before[CHECK]
    assert scheduler.jobs[RETRY_FAILED] is not before[RETRY_FAILED]


def test_a_bad_config_on_reload_keeps_the_running_one(tmp_path: Path, passes: Passes) -> None:
    path = write_config(tmp_path, "a")
    daemon, scheduler, notifier = make_daemon(path)
    path.write_text("sites: [")
    daemon._reload()
    assert [s.name for s in daemon.config.sites] == ["a"]
    assert scheduler.once == []
    assert any("the reloaded config was invalid" in m for m in notifier.sent)


def test_a_stopping_daemon_starts_no_pass(tmp_path: Path, passes: Passes) -> None:
    daemon, scheduler, _ = make_daemon(write_config(tmp_path, "a"))
    daemon.stopping.set()
    scheduler.fire(DAILY)
    scheduler.fire(CHECK)
    assert passes.calls == [] and passes.checks == 0
    assert daemon.idle.is_set()


def test_a_reload_keeps_serving_metrics_on_a_named_host(tmp_path: Path, passes: Passes) -> None:
    """`localhost:PORT` resolves to 127.0.0.1: the server is not restarted at each reload."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = write_config(tmp_path, "a")
    path.write_text(path.read_text() + f"metrics: {{listen: 'localhost:{port}'}}\n")
    daemon, _, _ = make_daemon(path)
    daemon._serve_metrics(daemon.config)
    serving = daemon.metrics_server
    try:
        assert serving is not None
        daemon._reload()
        assert daemon.metrics_server is serving
    finally:
        serving.shutdown()
        serving.server_close()


def test_the_metrics_server_drops_silent_clients_and_caps_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client that connects and sends nothing held a thread for ever
    (prometheus_client's own server has no timeout); now it is closed after
    SCRAPE_TIMEOUT_SECONDS, and connections past MAX_SCRAPES_AT_ONCE at once."""
    import socket
    import time
    import urllib.request

    from agent.monitoring import metrics as metrics_module

    monkeypatch.setattr(metrics_module, "SCRAPE_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(metrics_module, "MAX_SCRAPES_AT_ONCE", 3)
    server = metrics_module.Metrics().serve(("127.0.0.1", 0))
    assert server is not None
    port = server.server_address[1]
    silent = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
    try:
        started = time.monotonic()
        # The fourth is closed at once; the three others once their 0.5 s have passed.
        assert [client.recv(1) for client in silent] == [b""] * 4
        assert time.monotonic() - started < 4
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            assert b"igny8_agent_build_info" in answer.read()
    finally:
        for client in silent:
            client.close()
        server.shutdown()
        server.server_close()


def test_signals_wait_for_the_main_loop_and_none_is_lost() -> None:
    """Blocked, they stay pending until the loop takes them: a SIGTERM after a storm
    of SIGHUPs is still there (a pipe written by handlers dropped it when full)."""
    import signal
    import threading

    from agent.signals import DaemonSignals

    signals = DaemonSignals()
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    # To this thread: other tests' threads (which the daemon would not have, as it
    # blocks the signals before starting any) would take a signal sent to the process.
    this_thread = threading.get_ident()
    try:
        signals.install()
        for _ in range(1000):
            signal.pthread_kill(this_thread, signal.SIGHUP)
        assert signals.wait() == {signal.SIGHUP}
        for _ in range(1000):
            signal.pthread_kill(this_thread, signal.SIGHUP)
        signal.pthread_kill(this_thread, signal.SIGTERM)
        assert signals.wait() == {signal.SIGHUP, signal.SIGTERM}
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def test_run_blocks_its_signals_before_the_config_loads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A SIGTERM or SIGHUP sent while `run` still loads its config waits for the
    daemon's loop; it used to kill the process in its first ~0.4 s."""
    import signal

    import agent.cli as cli
    from agent.errors import ConfigError

    blocked_while_loading: set[int] = set()

    def load(args: Any) -> Any:
        blocked_while_loading.update(signal.pthread_sigmask(signal.SIG_BLOCK, []))
        raise ConfigError(str(tmp_path / "config.yaml"), ["stop here"])

    monkeypatch.setattr(cli, "_load", load)
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        assert cli.main(["--config", str(tmp_path / "config.yaml"), "run"]) == 2
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
    assert {signal.SIGTERM, signal.SIGINT, signal.SIGHUP} <= blocked_while_loading


def test_a_stop_abandons_the_sites_being_synced_not_those_being_checked() -> None:
    progress = PassProgress()
    progress.started("synced")
    progress.started("checked", check=True)
    assert progress.in_flight() == ["checked", "synced"]  # the watchdog names both
    assert progress.being_synced() == ["synced"]  # a stop records only it as abandoned
    progress.finished("checked", check=True)
    progress.finished("synced")
    assert progress.in_flight() == []
