"""Prometheus metrics, with prometheus_client.

The daemon serves them at `metrics.listen`; `sync` writes them to
`metrics.textfile` for node_exporter's textfile collector (atomically: a
temporary file, then a rename). Names and units follow Prometheus's
conventions: `igny8_agent_…`, `_seconds`, `_total`, `_timestamp_seconds`.

Per site (label `site`), from the state and each new result: the time of the
last success and of the last attempt, whether the last attempt succeeded, the
post types and taxonomies pushed. Per pass: its duration, end time and sites
ok/failed. Counters: requests to WordPress and to the backend by outcome (the
HTTP status, or timeout / connection / tls / deadline / error), retries,
pushes, freshness checks. In a textfile the counters are those of one `sync`.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, write_to_textfile
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from agent import __version__
from agent.state import SiteState
from agent.sync import PassObserver, SiteResult
from agent.timestamps import parse_iso

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = logging.getLogger(__name__)
PREFIX = "igny8_agent"


class Metrics(PassObserver):
    def __init__(self, *, with_process: bool = False):
        self.registry = CollectorRegistry(auto_describe=True)
        self.sites = _SiteGauges()
        self.registry.register(self.sites)
        if with_process:  # the daemon's own CPU time and memory
            from prometheus_client import ProcessCollector

            ProcessCollector(registry=self.registry)
        info = Gauge(
            f"{PREFIX}_build_info",
            "The agent's version (always 1).",
            ["version"],
            registry=self.registry,
        )
        info.labels(version=__version__).set(1)
        self.requests = Counter(
            f"{PREFIX}_requests_total",
            "Requests sent, by target (wordpress, backend, ping) and "
            "outcome (HTTP status, or what went wrong).",
            ["target", "outcome"],
            registry=self.registry,
        )
        self.retries = Counter(
            f"{PREFIX}_retries_total", "Retry waits, by target.", ["target"], registry=self.registry
        )
        self.pushes = Counter(
            f"{PREFIX}_pushes_total",
            "Sites whose structure was pushed (ok) or not (failed).",
            ["result"],
            registry=self.registry,
        )
        self.checks = Counter(
            f"{PREFIX}_freshness_checks_total",
            "Freshness checks of one site, by result (unchanged, changed, failed).",
            ["result"],
            registry=self.registry,
        )
        self.pass_seconds = Gauge(
            f"{PREFIX}_last_pass_duration_seconds",
            "How long the last pass took.",
            registry=self.registry,
        )
        self.pass_end = Gauge(
            f"{PREFIX}_last_pass_timestamp_seconds",
            "When the last pass ended.",
            registry=self.registry,
        )
        self.pass_sites = Gauge(
            f"{PREFIX}_last_pass_sites",
            "Sites of the last pass, by result (ok, failed).",
            ["result"],
            registry=self.registry,
        )
        for result in ("ok", "failed"):
            self.pass_sites.labels(result=result)
            self.pushes.labels(result=result)

    # --- the state, and what each pass adds to it -------------------------------------

    def load(self, states: dict[str, SiteState], site_names: list[str]) -> None:
        """The per-site figures of the configured sites, as the state has them."""
        self.sites.replace({name: states.get(name, SiteState()) for name in site_names})

    def request_done(self, target: str, outcome: str) -> None:
        self.requests.labels(target=target, outcome=outcome).inc()

    def retry_scheduled(self, target: str) -> None:
        self.retries.labels(target=target).inc()

    def site_done(self, result: SiteResult, state: SiteState) -> None:
        self.sites.update(result.site, state)
        if result.pushed is not None:
            self.pushes.labels(result="ok" if result.pushed else "failed").inc()

    def pass_done(self, results: list[SiteResult], seconds: float) -> None:
        self.pass_seconds.set(seconds)
        self.pass_end.set_to_current_time()
        failed = sum(1 for r in results if not r.ok)
        self.pass_sites.labels(result="ok").set(len(results) - failed)
        self.pass_sites.labels(result="failed").set(failed)

    def checked(self, site: str, result: str) -> None:
        self.checks.labels(result=result).inc()

    # --- out ------------------------------------------------------------------------

    def write_textfile(self, path: Path) -> None:
        """Write the metrics for node_exporter; a failure is a warning, never the pass's."""
        try:
            write_to_textfile(str(path), self.registry)
        except OSError as exc:
            log.warning(
                "could not write the metrics to %s (%s): check metrics.textfile",
                path,
                exc.strerror or exc,
            )

    def serve(self, listen: tuple[str, int]) -> WSGIServer | None:
        """Serve /metrics in a thread of its own; a failure to listen is a warning."""
        host, port = listen
        try:
            server = _serve_metrics(self.registry, host, port)
        except OSError as exc:
            log.warning(
                "cannot serve metrics on %s:%d (%s): check metrics.listen; the agent "
                "goes on without",
                host,
                port,
                exc.strerror or exc,
            )
            return None
        log.info(
            "serving Prometheus metrics at http://%s:%d/metrics",
            f"[{host}]" if ":" in host else host,
            port,
        )
        return server


SCRAPE_TIMEOUT_SECONDS = 10  # a connection that sends no request in time is closed
MAX_SCRAPES_AT_ONCE = 8  # connections beyond are closed at once


def _serve_metrics(registry: CollectorRegistry, host: str, port: int) -> WSGIServer:
    """prometheus_client's `start_http_server`, bounded: its handler waits for ever on
    a client that connects and sends nothing, with a thread for each such client."""
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from prometheus_client import make_wsgi_app

    class Handler(WSGIRequestHandler):
        timeout = SCRAPE_TIMEOUT_SECONDS

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # a scrape is not an event worth a log line

    # As prometheus_client does: the address family (and address) the host resolves to.
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        address_family = family
        places = threading.BoundedSemaphore(MAX_SCRAPES_AT_ONCE)

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that timed out or went away: socketserver would print a traceback

        def process_request(self, request: Any, client_address: Any) -> None:
            if not self.places.acquire(blocking=False):
                self.shutdown_request(request)
                return
            try:
                super().process_request(request, client_address)
            except BaseException:
                self.places.release()
                raise

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            try:
                super().process_request_thread(request, client_address)
            finally:
                self.places.release()

    bind = str(address[0])
    server = make_server(bind, port, make_wsgi_app(registry), Server, handler_class=Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


class _SiteGauges(Collector):
    """The per-site gauges, built at each scrape from the latest state of each site."""

    def __init__(self) -> None:
        self._states: dict[str, SiteState] = {}

    def replace(self, states: dict[str, SiteState]) -> None:
        self._states = dict(states)

    def update(self, site: str, state: SiteState) -> None:
        self._states = {**self._states, site: state}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        states = self._states
        families = {
            "last_success": GaugeMetricFamily(
                f"{PREFIX}_site_last_success_timestamp_seconds",
                "When the site's structure was last pushed successfully.",
                labels=["site"],
            ),
            "last_attempt": GaugeMetricFamily(
                f"{PREFIX}_site_last_attempt_timestamp_seconds",
                "When the site was last tried.",
                labels=["site"],
            ),
            "ok": GaugeMetricFamily(
                f"{PREFIX}_site_last_attempt_success",
                "Whether the site's last attempt succeeded (1) or failed (0).",
                labels=["site"],
            ),
            "post_types": GaugeMetricFamily(
                f"{PREFIX}_site_post_types", "Post types in the last push.", labels=["site"]
            ),
            "taxonomies": GaugeMetricFamily(
                f"{PREFIX}_site_taxonomies", "Taxonomies in the last push.", labels=["site"]
            ),
        }
        for name, state in states.items():
            success = _timestamp(state.last_success)
            attempt = _timestamp(state.last_attempt)
            if success is not None:
                families["last_success"].add_metric([name], success)
            if attempt is not None:
                families["last_attempt"].add_metric([name], attempt)
                families["ok"].add_metric([name], 0.0 if state.last_error else 1.0)
            if state.post_types_count is not None:
                families["post_types"].add_metric([name], state.post_types_count)
            if state.taxonomies_count is not None:
                families["taxonomies"].add_metric([name], state.taxonomies_count)
        yield from families.values()


def _timestamp(text: str | None) -> float | None:
    moment = parse_iso(text)
    return moment.timestamp() if moment is not None else None
