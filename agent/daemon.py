"""`igny8-agent run`: a pass at start, then on the schedule, until told to stop.

APScheduler decides *when*; every pass is `sync.run_pass`, the function
`igny8-agent sync` calls. Its job store stays in memory: the durable truth is
the state dir (last success per site), so a restart never loses a run — the
start-up pass covers every site.

Passes run one at a time on a single worker thread (and hold the pass lock,
so a cron `sync` never overlaps either). The main thread takes the signals
itself (`agent.signals`) and acts on them:
  SIGHUP          reload the config (a bad one is logged and the old one kept)
  SIGTERM/SIGINT  stop taking work, let the pass finish or abandon it, exit 0
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from agent.config import Config, ScheduleConfig, load_config
from agent.errors import AgentError, ConfigError, LockHeld
from agent.logs import mask_secrets, set_level, site_log
from agent.monitoring import monitoring_for
from agent.schedule import CronSchedule
from agent.signals import DaemonSignals
from agent.state import StateStore
from agent.sync import PassOptions, PassProgress, check_structures, record_abandoned, run_pass
from agent.systemd import Notifier
from agent.timestamps import iso, now_iso, parse_iso

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = site_log("agent", "agent.daemon")

STOP_GRACE_SECONDS = 6.0  # the contract allows 10 s from SIGTERM to exit; keep a margin
DAILY, RETRY_FAILED, CHECK, WATCHDOG = "daily", "retry-failed", "freshness", "watchdog"
STALL_MARGIN_SECONDS = 60.0


class Daemon:
    def __init__(
        self,
        config: Config,
        config_path: str,
        log_level: str | None,
        notifier: Notifier | None = None,
        scheduler: Any = None,
    ):
        """`notifier` and `scheduler` are given by tests (a fake scheduler fires jobs by
        hand); by default systemd's socket and APScheduler's background scheduler."""
        self.config = config
        self.config_path = config_path
        self.log_level_override = log_level
        self.notifier = notifier or Notifier()
        self.signals = DaemonSignals()
        self.stopping = threading.Event()
        self.progress = PassProgress()
        self.idle = threading.Event()
        self.idle.set()
        self._stalled_said = False
        self.monitoring = monitoring_for(config, daemon=True)
        self.metrics_server: WSGIServer | None = None
        self.metrics_listen: tuple[str, int] | None = None
        self.scheduler = scheduler or BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1), WATCHDOG: ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    # --- lifecycle -------------------------------------------------------------

    def run(self) -> int:
        self.signals.install()
        self._serve_metrics(self.config)
        self._log_missed_runs()
        self._schedule(self.config)
        self.scheduler.add_job(self._pass, args=[None, "start-up"], id="start-up")
        self.scheduler.start()
        if self.notifier.watchdog_seconds:
            self.scheduler.add_job(
                self._watchdog,
                IntervalTrigger(seconds=self.notifier.watchdog_seconds, timezone=UTC),
                id=WATCHDOG,
                executor=WATCHDOG,
            )
            self.notifier.watchdog()
        self.notifier.ready(f"running; {len(self.config.sites)} site(s); first pass now")
        log.info(
            "started: %d site(s), schedule %r in %s, next run %s",
            len(self.config.sites),
            self.config.schedule.cron,
            self.config.schedule.timezone,
            self._next_run(),
        )
        while True:
            received = self.signals.wait()
            if received & self.signals.STOP:
                return self._shut_down()
            if self.signals.RELOAD in received:
                self._reload()

    def _shut_down(self) -> int:
        self.notifier.stopping()
        log.info("stopping")
        self.stopping.set()
        self.scheduler.shutdown(wait=False)
        if self.idle.wait(STOP_GRACE_SECONDS):
            log.info("stopped")
            return 0
        sites = self.progress.in_flight()
        if self.progress.being_synced():
            record_abandoned(self.config, self.progress.being_synced())
        log.warning(
            "stopped while requests for %s were in flight; abandoned them",
            ", ".join(sites) or "a site",
        )
        logging.shutdown()
        sys.stdout.flush()
        # A worker stuck in a network read would keep the interpreter alive
        # past systemd's stop timeout; the state is written, so leave now.
        os._exit(0)

    # --- scheduling ------------------------------------------------------------

    def _schedule(self, config: Config, before: ScheduleConfig | None = None) -> None:
        """(Re)schedule the jobs; on a reload (`before` given) only those whose settings
        changed: a job replaced counts its next time from now, so a reload between a
        daily run's cron time and its jittered start would push that run to the next
        day."""
        schedule = config.schedule
        daily = (schedule.cron, schedule.timezone, schedule.jitter_seconds)
        if before is None or daily != (before.cron, before.timezone, before.jitter_seconds):
            self.scheduler.add_job(
                self._pass,
                CronSchedule(schedule.cron, schedule.timezone, schedule.jitter_seconds),
                args=[None, "scheduled"],
                id=DAILY,
                replace_existing=True,
            )
        # The interval trigger asks tzlocal for the local zone unless given one, and
        # tzlocal fails on a POSIX TZ such as "IST-5:30": every trigger gets UTC.
        if before is None or schedule.retry_failed_every != before.retry_failed_every:
            self.scheduler.add_job(
                self._retry_failed,
                IntervalTrigger(seconds=schedule.retry_failed_every, timezone=UTC),
                id=RETRY_FAILED,
                replace_existing=True,
            )
        if before is not None and schedule.check_every == before.check_every:
            return
        if schedule.check_every:
            self.scheduler.add_job(
                self._check_freshness,
                IntervalTrigger(seconds=schedule.check_every, timezone=UTC),
                id=CHECK,
                replace_existing=True,
            )
        elif self.scheduler.get_job(CHECK) is not None:
            self.scheduler.remove_job(CHECK)

    def _serve_metrics(self, config: Config) -> None:
        """Serve /metrics at metrics.listen (again, after a reload that changed it)."""
        listen = config.metrics.listen
        if self.metrics_server is not None and self.metrics_listen != listen:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
            self.metrics_server = None
        if listen is not None and self.metrics_server is None and self.monitoring.metrics:
            self.metrics_server = self.monitoring.metrics.serve(listen)
        # As configured (a name such as localhost, not the address it resolved to).
        self.metrics_listen = listen

    def _next_run(self) -> str:
        job = self.scheduler.get_job(DAILY)
        when = job.next_run_time if job is not None else None
        return iso(when) if when else "never"

    def _log_missed_runs(self) -> None:
        schedule = self.config.schedule
        trigger = CronSchedule(schedule.cron, schedule.timezone)
        try:
            with StateStore(self.config.state_dir) as store:
                states = store.load()
        except AgentError as exc:
            log.error("cannot read the state: %s", exc)
            return
        now = datetime.now(UTC)
        for site in self.config.sites:
            last = states.get(site.name)
            if last is None or last.last_success is None:
                continue
            last_success = parse_iso(last.last_success)
            if last_success is None:
                continue
            missed = trigger.missed_since(last_success, now)
            if missed is not None:
                site_log(site.name, "agent.daemon").info(
                    "missed the run of %s (last success %s); the start-up pass covers it",
                    missed.isoformat(),
                    last.last_success,
                )

    # --- the watchdog ------------------------------------------------------------

    def _watchdog(self) -> None:
        """Tell systemd the daemon is alive, unless a pass has stopped making progress:
        then systemd's watchdog restarts it."""
        if self.idle.is_set() or self.progress.quiet_for() < stall_limit(self.config):
            self._stalled_said = False
            self.notifier.watchdog()
            return
        if not self._stalled_said:
            self._stalled_said = True
            log.error(
                "the pass over %s has made no progress for %.0f s: no longer answering "
                "systemd's watchdog, so that it restarts the daemon",
                ", ".join(self.progress.in_flight()) or "the sites",
                self.progress.quiet_for(),
            )

    # --- passes ----------------------------------------------------------------

    def _retry_failed(self) -> None:
        try:
            with StateStore(self.config.state_dir) as store:
                states = store.load()
        except AgentError as exc:
            log.error("cannot tell which sites failed: %s", exc)
            return
        failed = [
            s.name
            for s in self.config.sites
            if (state := states.get(s.name)) is not None and state.last_error
        ]
        if failed:
            self._pass(failed, "retry of failed sites")

    def _pass(self, site_names: list[str] | None, reason: str) -> None:
        """One pass (every site, or `site_names`), as `igny8-agent sync` does it."""
        self.idle.clear()  # before the check, so a stop never sees idle while a pass starts
        if self.stopping.is_set():
            self.idle.set()
            return
        config = self.config
        try:
            options = PassOptions(
                site_names=site_names or [],
                stop=self.stopping,
                progress=self.progress,
                observers=self.monitoring.observers,
            )
            log.info(
                "%s pass over %s", reason, ", ".join(site_names) if site_names else "every site"
            )
            self.progress.touch()
            results = run_pass(config, options)
        except LockHeld as exc:
            log.warning("skipped the %s pass: %s", reason, exc)
            return
        except AgentError as exc:
            log.error("%s pass failed: %s", reason, exc)
            return
        finally:
            self.idle.set()
            self.monitoring.after_pass()
        failed = [r.site for r in results if not r.ok]
        summary = (
            f"last pass {now_iso()}: "
            f"{len(results) - len(failed)} ok, {len(failed)} failed"
            + (
                f" ({', '.join(failed)}; retried every {config.schedule.retry_failed_every}s)"
                if failed
                else ""
            )
            + f"; next run {self._next_run()}"
        )
        self.notifier.status(summary)

    def _check_freshness(self) -> None:
        """Between daily pushes: read each site's lists (nothing counted, the backend
        not asked) and push at once the sites whose types or labels changed."""
        self.idle.clear()
        if self.stopping.is_set():
            self.idle.set()
            return
        try:
            self.progress.touch()
            options = PassOptions(
                stop=self.stopping, progress=self.progress, observers=self.monitoring.observers
            )
            changed = check_structures(self.config, options)
        except LockHeld as exc:
            log.info("skipped the freshness check: %s", exc)
            return
        except AgentError as exc:
            log.error("the freshness check failed: %s", exc)
            return
        finally:
            self.idle.set()
        if changed:
            self._pass(changed, "changed structure")

    # --- reload ----------------------------------------------------------------

    def _reload(self) -> None:
        self.notifier.reloading()
        log.info("reloading %s", self.config_path)
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error(
                "kept the running config: %s is invalid: %s", exc.path, "; ".join(exc.problems)
            )
            self.notifier.ready("running; the reloaded config was invalid and is not used")
            return
        old, self.config = self.config, new
        mask_secrets(old.secrets() + new.secrets())
        self.monitoring = monitoring_for(new, daemon=True, metrics=self.monitoring.metrics)
        self._serve_metrics(new)
        set_level(self.log_level_override or new.log_level)
        for warning in new.warnings:
            log.warning("%s", warning)
        self._schedule(new, before=old.schedule)
        old_sites = {site.name: site for site in old.sites}
        new_names = {site.name for site in new.sites}
        changed = [s.name for s in new.sites if old_sites.get(s.name) != s]
        removed = [s.name for s in old.sites if s.name not in new_names]
        log.info(
            "reloaded: %d site(s); new or changed: %s; removed: %s",
            len(new.sites),
            ", ".join(changed) or "none",
            ", ".join(removed) or "none",
        )
        if changed:
            self.scheduler.add_job(self._pass, args=[changed, "reload"])
        self.notifier.ready(f"running; {len(new.sites)} site(s); next run {self._next_run()}")


def stall_limit(config: Config) -> float:
    """How long a pass may go without any activity before it counts as hung: longer than
    any one request may take (its timeout bounds it), with a margin."""
    timeouts = [site.wordpress.timeout for site in config.sites]
    if config.backend is not None:
        timeouts.append(config.backend.timeout)
    return max(timeouts, default=30.0) + STALL_MARGIN_SECONDS
