"""Ways of being watched from outside, one module each; each is a `PassObserver`
(see sync.py), and none of them can fail a pass.

metrics.py  Prometheus: /metrics served by the daemon, a textfile written after `sync`
pings.py    check-ins to a Healthchecks-style URL: start, success, fail (with the log tail)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.errors import AgentError
from agent.state import StateStore

if TYPE_CHECKING:
    from agent.config import Config
    from agent.monitoring.metrics import Metrics
    from agent.sync import PassObserver

log = logging.getLogger(__name__)


@dataclass
class Monitoring:
    """What watches the passes of one config: metrics and check-ins, as configured."""

    config: Config
    metrics: Metrics | None = None
    observers: list[PassObserver] = field(default_factory=list)

    def refresh_sites(self) -> None:
        """Per-site metrics from the state, for every configured site."""
        if self.metrics is None:
            return
        try:
            with StateStore(self.config.state_dir, read_only=True) as store:
                states = store.load()
        except AgentError as exc:
            log.warning("metrics: cannot read the state (%s)", exc)
            return
        self.metrics.load(states, [site.name for site in self.config.sites])

    def after_pass(self) -> None:
        if self.metrics is not None and self.config.metrics.textfile is not None:
            self.metrics.write_textfile(self.config.metrics.textfile)


def monitoring_for(
    config: Config, *, daemon: bool = False, metrics: Metrics | None = None
) -> Monitoring:
    """Metrics when `metrics.*` asks for them (or `metrics` is given: the daemon keeps one
    across reloads), check-ins when `monitoring.ping_url` is set."""
    observers: list[PassObserver] = []
    wanted = config.metrics.textfile is not None or (daemon and config.metrics.listen)
    if metrics is None and wanted:
        from agent.monitoring.metrics import Metrics

        metrics = Metrics(with_process=daemon)
    if metrics is not None:
        observers.append(metrics)
    if config.monitoring.ping_url is not None:
        from agent.monitoring.pings import Pings

        observers.append(Pings(config.monitoring.ping_url))
    monitoring = Monitoring(config, metrics, observers)
    monitoring.refresh_sites()
    return monitoring
