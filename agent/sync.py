"""One pass over the sites: read WordPress, build the payload, push, record.

`sync`, `connect` and the daemon's scheduler all call `run_pass`.
Each site is handled on its own: an error in one is recorded and reported,
and the pass goes on with the next.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from agent.backend import BackendClient, PushReceipt
from agent.config import Config, SiteConfig
from agent.errors import AgentError, IntegrationGone, Interrupted, StateError
from agent.http import new_session
from agent.lock import pass_lock
from agent.logs import site_log
from agent.payload import build_payload, unmatched_overrides
from agent.retry import RetryPolicy
from agent.secret import redact
from agent.state import SiteState, StateStore, utc_now_iso
from agent.structure import SiteStructure
from agent.wordpress.reader import read_structure

Log = logging.LoggerAdapter[logging.Logger]
SLEEP_SLICE_SECONDS = 10.0


@dataclass
class SiteResult:
    site: str
    ok: bool
    error: str | None = None
    payload: dict[str, Any] | None = None
    integration_id: int | None = None
    receipt: PushReceipt | None = None
    source: str | None = None


@dataclass
class PassProgress:
    """What the pass is doing, for the daemon's stop and its systemd watchdog."""

    site: str | None = None  # the site being handled now
    last_activity: float = field(default_factory=time.monotonic)

    def touch(self, *_: object) -> None:
        """Something happened: a request ended, a retry wait went on, a site finished."""
        self.last_activity = time.monotonic()

    def quiet_for(self) -> float:
        return time.monotonic() - self.last_activity


@dataclass
class PassOptions:
    dry_run: bool = False
    sleep: Callable[[float], None] | None = None  # tests inject a fake sleep
    site_names: list[str] = field(default_factory=list)  # empty: every site
    stop: threading.Event | None = None  # set when the daemon must stop: no new site, no wait
    progress: PassProgress = field(default_factory=PassProgress)


def run_pass(config: Config, options: PassOptions | None = None) -> list[SiteResult]:
    """One pass; takes the pass lock unless it is a dry run (which writes nothing)."""
    options = options or PassOptions()
    sites = [s for s in config.sites if not options.site_names or s.name in options.site_names]
    if options.dry_run:
        return [_dry_run_site(site, config, options) for site in sites]
    store = StateStore(config.state_dir)
    store.ensure_dir()
    with pass_lock(config.state_dir), new_session() as backend_session:
        assert config.backend is not None  # load_config(require_backend=True) ensures it
        backend = BackendClient(config.backend, backend_session, _policy(config, options),
                                config.secrets(), on_request=options.progress.touch)
        results = []
        try:
            for site in sites:
                if options.stop is not None and options.stop.is_set():
                    break
                options.progress.site = site.name
                options.progress.touch()
                results.append(_sync_site(site, config, backend, store, options))
        finally:
            options.progress.site = None
        return results


def record_abandoned(config: Config, site_name: str) -> None:
    """Record that a stopping daemon left `site_name` in the middle of its push."""
    store = StateStore(config.state_dir)
    state = store.load().get(site_name, SiteState())
    state.last_attempt = utc_now_iso()
    state.last_error = "abandoned: the agent stopped while this site was being synced"
    store.update(site_name, state)


def _dry_run_site(site: SiteConfig, config: Config, options: PassOptions) -> SiteResult:
    log = site_log(site.name)
    try:
        structure, payload = _read_and_build(site, config, options, log)
    except Exception as exc:  # noqa: BLE001 - one site's failure never stops another's
        return _failure(site, exc, config, log)
    return SiteResult(site.name, ok=True, payload=payload, source=structure.source)


def _sync_site(
    site: SiteConfig, config: Config, backend: BackendClient, store: StateStore,
    options: PassOptions,
) -> SiteResult:
    log = site_log(site.name)
    try:
        state = store.load().get(site.name, SiteState())
    except StateError as exc:
        return _failure(site, exc, config, log)
    state.last_attempt = utc_now_iso()
    try:
        structure, payload = _read_and_build(site, config, options, log)
        integration_id, receipt = _push(site, payload, backend, state, log)
    except Exception as exc:  # noqa: BLE001 - one site's failure never stops another's
        result = _failure(site, exc, config, log)
        state.last_error = result.error
        _record(store, site, state, log)
        return result
    state.last_success = state.last_attempt
    state.last_error = None
    state.post_types_count = len(payload["post_types"])
    state.taxonomies_count = len(payload["taxonomies"])
    try:
        store.update(site.name, state)
    except StateError as exc:
        return _failure(site, StateError(f"pushed, but could not record it: {exc}"), config,
                        log)
    log.info("pushed %d post types and %d taxonomies to integration %d",
             state.post_types_count, state.taxonomies_count, integration_id)
    return SiteResult(site.name, ok=True, payload=payload, integration_id=integration_id,
                      receipt=receipt, source=structure.source)


def _record(store: StateStore, site: SiteConfig, state: SiteState, log: Log) -> None:
    """Record a failure; a state that cannot be written is said, not raised (the site
    has failed already, and the other sites go on)."""
    try:
        store.update(site.name, state)
    except StateError as exc:
        log.error("%s", exc)


def _read_and_build(
    site: SiteConfig, config: Config, options: PassOptions, log: Log
) -> tuple[SiteStructure, dict[str, Any]]:
    structure = read_structure(site, _policy(config, options), log,
                               on_request=options.progress.touch)
    for key_path in unmatched_overrides(structure, site):
        log.info("%s: the payload has no such slug (not on the site, not public, or "
                 "excluded); this override adds nothing", key_path)
    return structure, build_payload(structure, site)


def _push(
    site: SiteConfig, payload: dict[str, Any], backend: BackendClient, state: SiteState,
    log: Log,
) -> tuple[int, PushReceipt]:
    """Push to the integration in use; after a 404, look it up once and push once more."""
    integration_id = integration_id_to_use(site, state)
    if integration_id is None:
        integration_id = backend.find_integration_id(site, log)
        _remember(state, integration_id, replaces=None)
    try:
        return integration_id, backend.push_structure(site, integration_id, payload, log)
    except IntegrationGone:
        stale = integration_id
        integration_id = backend.find_integration_id(site, log)
        if site.integration_id == stale:
            log.warning("the configured integration_id %d is stale (404); using %d, found by "
                        "lookup, from now on — update %s.integration_id", stale, integration_id,
                        site.key_path)
            _remember(state, integration_id, replaces=stale)
        else:
            log.warning("integration %d is gone (404); using %d, found by lookup", stale,
                        integration_id)
            _remember(state, integration_id, replaces=state.integration_id_replaces)
        return integration_id, backend.push_structure(site, integration_id, payload, log)


def integration_id_to_use(site: SiteConfig, state: SiteState) -> int | None:
    """The configured id, unless a lookup after a 404 replaced it; else the remembered one."""
    if site.integration_id is None:
        return state.integration_id
    if state.integration_id is not None and state.integration_id_replaces == site.integration_id:
        return state.integration_id
    state.integration_id = site.integration_id
    state.integration_id_replaces = None
    return site.integration_id


def _remember(state: SiteState, integration_id: int, *, replaces: int | None) -> None:
    state.integration_id = integration_id
    state.integration_id_replaces = replaces


def _failure(site: SiteConfig, exc: Exception, config: Config, log: Log) -> SiteResult:
    if isinstance(exc, AgentError):
        message = str(exc)
    elif isinstance(exc, requests.RequestException):
        message = f"network error: {exc}"
    else:
        log.debug("unexpected error", exc_info=True)
        message = f"internal error ({type(exc).__name__}: {exc}); please report this"
    message = redact(message, config.secrets())
    log.error("%s", message)
    return SiteResult(site.name, ok=False, error=message)


def _policy(config: Config, options: PassOptions) -> RetryPolicy:
    """The retry policy of backend.*, with the pass's sleep (fake in tests, stoppable in
    the daemon)."""
    defaults = RetryPolicy()
    backend = config.backend
    if options.stop is not None:
        sleep = _interruptible(options.stop, options.progress)
    else:
        sleep = options.sleep or defaults.sleep
    return RetryPolicy(
        max_attempts=backend.max_attempts if backend else defaults.max_attempts,
        max_seconds=backend.max_retry_seconds if backend else defaults.max_seconds,
        sleep=sleep,
    )


def _interruptible(stop: threading.Event, progress: PassProgress) -> Callable[[float], None]:
    """A sleep for retry waits that ends at once, with Interrupted, when `stop` is set.

    It waits in slices and counts each as activity: a long Retry-After is a pass
    going as planned, not a hung one.
    """

    def sleep(seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if stop.wait(min(left, SLEEP_SLICE_SECONDS)):
                raise Interrupted("the agent is stopping: abandoned this site's retries")
            progress.touch()

    return sleep
