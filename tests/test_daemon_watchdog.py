"""The daemon answers systemd's watchdog only while its passes make progress.

Driven directly: a Daemon whose notifier records what it would send, and a pass
progress whose clock is set by the test. No sleeping, no systemd.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from agent.config import BackendConfig, Config, ScheduleConfig, SiteConfig, WordPressConfig
from agent.daemon import STALL_MARGIN_SECONDS, Daemon, stall_limit
from agent.systemd import Notifier


class RecordingNotifier(Notifier):
    def __init__(self) -> None:
        super().__init__(environ={"WATCHDOG_USEC": "60000000"})
        self.sent: list[str] = []

    def send(self, *assignments: str) -> None:
        self.sent.extend(assignments)


def config(*timeouts: float, backend_timeout: float = 30.0) -> Config:
    sites = tuple(
        SiteConfig(
            key_path=f"sites[{n}]",
            name=f"s{n}",
            site_id=1,
            api_key=None,
            wordpress=WordPressConfig(url="https://example.com", timeout=timeout),
        )
        for n, timeout in enumerate(timeouts)
    )
    return Config(
        path=Path("/dev/null"),
        backend=BackendConfig(url="https://b.example", timeout=backend_timeout),
        sites=sites,
        schedule=ScheduleConfig(),
        state_dir=Path("/nonexistent"),
        log_level="info",
    )


@pytest.fixture
def daemon() -> Daemon:
    return Daemon(config(30.0, 45.0), "/dev/null", None, notifier=RecordingNotifier())


def watchdogs(daemon: Daemon) -> int:
    notifier = daemon.notifier
    assert isinstance(notifier, RecordingNotifier)
    return notifier.sent.count("WATCHDOG=1")


def test_an_idle_daemon_answers_the_watchdog(daemon: Daemon) -> None:
    daemon.progress.last_activity = time.monotonic() - 10_000  # long ago, but idle
    daemon._watchdog()
    assert watchdogs(daemon) == 1


def test_a_pass_making_progress_answers_the_watchdog(daemon: Daemon) -> None:
    daemon.idle.clear()
    daemon.progress.touch()
    daemon._watchdog()
    assert watchdogs(daemon) == 1


def test_a_stalled_pass_stops_answering_and_says_so_once(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    daemon.idle.clear()
    daemon.progress.started("s1")
    daemon.progress.last_activity = time.monotonic() - stall_limit(daemon.config) - 1
    with caplog.at_level(logging.ERROR):
        daemon._watchdog()
        daemon._watchdog()
    assert watchdogs(daemon) == 0
    said = [r for r in caplog.records if "no progress" in r.getMessage()]
    assert len(said) == 1 and "s1" in said[0].getMessage()
    daemon.progress.touch()  # it moves again: the watchdog is answered again
    daemon._watchdog()
    assert watchdogs(daemon) == 1


def test_the_stall_limit_outlasts_the_slowest_request() -> None:
    assert stall_limit(config(30.0, 45.0)) == 45.0 + STALL_MARGIN_SECONDS
    assert stall_limit(config(10.0, backend_timeout=90.0)) == 90.0 + STALL_MARGIN_SECONDS


def test_retry_waits_count_as_progress() -> None:
    """A long Retry-After is a pass going as planned: the stoppable sleep reports it."""
    import threading

    from agent.sync import PassProgress, _interruptible

    progress = PassProgress()
    progress.last_activity = 0.0
    sleep = _interruptible(threading.Event(), progress)
    sleep(0.01)
    assert progress.quiet_for() < 5
