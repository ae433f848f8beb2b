"""The config as the rest of the agent sees it: plain, frozen dataclasses.

Each field has the name of its key in `schema.py`, and its default from there.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from agent.config.schema import default
from agent.secret import Redactor, Secret

MIN_MASKED_PART = 8  # shorter parts of a ping URL (`/ping`) hold no token, and are common


@dataclass(frozen=True)
class ContentSettings:
    enabled: bool = default("sites.defaults.enabled")
    fetch_limit: int = default("sites.defaults.fetch_limit")


@dataclass(frozen=True)
class ContentOverride:
    enabled: bool | None = None
    fetch_limit: int | None = None


@dataclass(frozen=True)
class BackendConfig:
    url: str
    timeout: float = default("backend.timeout")
    verify: bool | str = default("backend.verify")
    max_attempts: int = default("backend.max_attempts")
    max_retry_seconds: float = default("backend.max_retry_seconds")


@dataclass(frozen=True)
class WordPressConfig:
    url: str
    username: str | None = None
    app_password: Secret | None = None
    xmlrpc: str = default("sites.wordpress.xmlrpc")
    timeout: float = default("sites.wordpress.timeout")
    verify: bool | str = default("sites.wordpress.verify")
    max_connections: int = default("sites.wordpress.max_connections")
    deadline: float = default("sites.wordpress.deadline")

    @property
    def has_credentials(self) -> bool:
        return bool(self.username and self.app_password)


@dataclass(frozen=True)
class SiteConfig:
    # "sites[0]", for messages that tell the operator what to edit; not part of what the
    # site is (moving it in the file changes nothing a reload should act on)
    key_path: str = field(compare=False)
    name: str
    site_id: int
    api_key: Secret | None
    wordpress: WordPressConfig
    integration_id: int | None = None
    plugin_connection_enabled: bool = default("sites.plugin_connection_enabled")
    two_way_sync_enabled: bool = default("sites.two_way_sync_enabled")
    defaults: ContentSettings = ContentSettings()
    post_types: dict[str, ContentOverride] = field(default_factory=dict)
    taxonomies: dict[str, ContentOverride] = field(default_factory=dict)
    exclude_post_types: tuple[str, ...] = default("sites.exclude_post_types")
    exclude_taxonomies: tuple[str, ...] = default("sites.exclude_taxonomies")


@dataclass(frozen=True)
class ScheduleConfig:
    cron: str = default("schedule.cron")
    timezone: str = default("schedule.timezone")
    jitter_seconds: int = default("schedule.jitter_seconds")
    retry_failed_every: int = default("schedule.retry_failed_every")
    check_every: int = default("schedule.check_every")


@dataclass(frozen=True)
class MetricsConfig:
    listen: tuple[str, int] | None = None  # (host, port) the daemon serves /metrics on
    textfile: Path | None = None  # written after each `sync`, for node_exporter


@dataclass(frozen=True)
class MonitoringConfig:
    ping_url: Secret | None = None  # Healthchecks-style: <url>/start, <url>, <url>/fail


@dataclass(frozen=True)
class Config:
    path: Path
    backend: BackendConfig | None
    sites: tuple[SiteConfig, ...]
    schedule: ScheduleConfig
    state_dir: Path
    log_level: str = default("log_level")
    warnings: tuple[str, ...] = ()
    parallel_sites: int = default("parallel_sites")
    sites_dir: Path | None = None
    metrics: MetricsConfig = MetricsConfig()
    monitoring: MonitoringConfig = MonitoringConfig()

    def site(self, name: str) -> SiteConfig | None:
        return next((s for s in self.sites if s.name == name), None)

    @functools.cached_property
    def redact(self) -> Redactor:
        """Masks every credential of this config in a text."""
        return Redactor(self.secrets())

    def secrets(self) -> list[str]:
        """Every credential value, in the forms that could reach a log line."""
        values: list[str] = []
        if self.monitoring.ping_url:
            values += ping_url_forms(self.monitoring.ping_url.reveal())
        for site in self.sites:
            if site.api_key:
                values.append(site.api_key.reveal())
            wp = site.wordpress
            if wp.app_password:
                password = wp.app_password.reveal()
                values += [password, password.replace(" ", "")]
                if wp.username:
                    pair = f"{wp.username}:{password}".encode()
                    values.append(base64.b64encode(pair).decode())
        return values


def ping_url_forms(url: str) -> list[str]:
    """The ping URL and its token-bearing parts: a library may log the URL rebuilt (the
    port spelled out, `/start` added), so its path and query are masked on their own."""
    try:
        parts = urlsplit(url)
    except ValueError:  # refused by the config's checks; masked whole all the same
        return [url]
    pieces = [parts.path.rstrip("/"), parts.query]
    return [url, *(piece for piece in pieces if len(piece) >= MIN_MASKED_PART)]
