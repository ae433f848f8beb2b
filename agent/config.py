"""Load, interpolate and validate the YAML config into plain dataclasses.

Every problem is collected with its key path (`sites[1].wordpress.url: ...`)
and reported at once; a config with any problem is rejected as a whole
before anything is contacted.
"""

from __future__ import annotations

import base64
import difflib
import functools
import math
import os
import re
import ssl
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from agent.errors import ConfigError
from agent.schedule import DailyCron
from agent.secret import Redactor, Secret, redact
from agent.yamlfile import YamlProblem, load_yaml

DEFAULT_CONFIG_PATH = "/etc/igny8-agent/config.yaml"
DEFAULT_STATE_DIR = "/var/lib/igny8-agent"
DEFAULT_EXCLUDE_POST_TYPES = ("attachment",)
DEFAULT_EXCLUDE_TAXONOMIES = ("post_format",)
LOG_LEVELS = ("debug", "info", "warning", "error")
XMLRPC_MODES = ("auto", "always", "never")
SITE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


# --- the config as the rest of the agent sees it -----------------------------


@dataclass(frozen=True)
class ContentSettings:
    enabled: bool = True
    fetch_limit: int = 100


@dataclass(frozen=True)
class ContentOverride:
    enabled: bool | None = None
    fetch_limit: int | None = None


@dataclass(frozen=True)
class BackendConfig:
    url: str
    timeout: float = 30.0
    verify: bool | str = True
    max_attempts: int = 5
    max_retry_seconds: float = 300.0


@dataclass(frozen=True)
class WordPressConfig:
    url: str
    username: str | None = None
    app_password: Secret | None = None
    xmlrpc: str = "auto"
    timeout: float = 30.0
    verify: bool | str = True
    max_connections: int = 6  # requests in flight to this site at most
    deadline: float = 120.0  # seconds for the whole read of this site

    @property
    def has_credentials(self) -> bool:
        return bool(self.username and self.app_password)


@dataclass(frozen=True)
class SiteConfig:
    key_path: str  # "sites[0]", for messages that tell the operator what to edit
    name: str
    site_id: int
    api_key: Secret | None
    wordpress: WordPressConfig
    integration_id: int | None = None
    plugin_connection_enabled: bool = True
    two_way_sync_enabled: bool = True
    defaults: ContentSettings = ContentSettings()
    post_types: dict[str, ContentOverride] = field(default_factory=dict)
    taxonomies: dict[str, ContentOverride] = field(default_factory=dict)
    exclude_post_types: tuple[str, ...] = DEFAULT_EXCLUDE_POST_TYPES
    exclude_taxonomies: tuple[str, ...] = DEFAULT_EXCLUDE_TAXONOMIES


@dataclass(frozen=True)
class ScheduleConfig:
    cron: str = "0 3 * * *"
    timezone: str = "UTC"
    jitter_seconds: int = 1800
    retry_failed_every: int = 900
    check_every: int = 3600  # seconds between freshness checks; 0: none


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
    log_level: str
    warnings: tuple[str, ...] = ()
    parallel_sites: int = 16  # sites handled side by side in a pass
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
            values.append(self.monitoring.ping_url.reveal())
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


# --- loading ----------------------------------------------------------------


def default_config_path() -> str:
    return os.environ.get("IGNY8_AGENT_CONFIG") or DEFAULT_CONFIG_PATH


def load_config(
    path: str | os.PathLike[str], *, require_backend: bool = True, read_secrets: bool = True
) -> Config:
    """Read and validate the config file; raise ConfigError listing every problem.

    `require_backend=False` (for `sync --dry-run`) tolerates a missing backend
    section and leaves API keys unread, since nothing is pushed.
    `read_secrets=False` (for `status`) leaves every secret unread: no ${VAR}
    or *_file needed for them. No problem line quotes a secret.
    """
    config_path = Path(path)
    problems = Problems()
    unread = SECRET_KEYS if not read_secrets else () if require_backend else SECRET_KEYS[:1]
    context = _Context(config_path, problems, require_backend, [], unread_secrets=unread)
    raw = _unread_secrets(_read_yaml(config_path), context)
    context.warnings += _secret_permission_warnings(config_path, raw)
    interpolated = _interpolate(raw, "", problems)
    config = _build_config(Section(interpolated, "", problems, TOP_KEYS), context)
    if problems:
        # A secret too short to be told from ordinary words is not masked: masking
        # it would garble every line (and any real key or password is longer).
        maskable = [value for value in context.secrets if len(value) >= MIN_MASKED_SECRET]
        raise ConfigError(str(config_path), [redact(line, maskable) for line in problems.lines])
    return config


def _read_yaml(path: Path, *, empty_ok: bool = False) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(path),
            [
                "file not found: create it (config.example.yaml documents every key) "
                "or pass --config PATH / set IGNY8_AGENT_CONFIG"
            ],
        ) from None
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), ["the file is not UTF-8 text"]) from None
    try:
        raw = load_yaml(text)
    except YamlProblem as exc:
        raise ConfigError(str(path), [str(exc)]) from None
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f"line {mark.line + 1}, column {mark.column + 1}: "
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(str(path), [f"{where}{problem}"]) from None
    if raw is None and not empty_ok:
        raise ConfigError(str(path), ["the file is empty: at least `sites:` is needed"])
    return raw


SECRET_KEYS = (("api_key", "api_key_file"), ("app_password", "app_password_file"))
PING_URL_KEYS = ("ping_url", "ping_url_file")
MAX_SECRET_FILE_BYTES = 64 * 1024
MIN_MASKED_SECRET = 6
SHOWN_LIMIT = 40  # characters of a wrong value quoted back in a problem line
UNREAD = "(not read)"


def _unread_secrets(raw: Any, ctx: _Context) -> Any:
    """The raw config with the secrets the command does not need replaced by a
    placeholder, unread (no ${VAR} or file needed for them). A command that reads no
    API key pings no monitor either."""
    which = ctx.unread_secrets
    if not which or not isinstance(raw, dict):
        return raw
    if isinstance(raw.get("monitoring"), dict):
        raw = {**raw, "monitoring": _placeholder_secrets(dict(raw["monitoring"]), PING_URL_KEYS)}
    if not isinstance(raw.get("sites"), list):
        return raw
    sites = []
    for site in raw["sites"]:
        if isinstance(site, dict) and SECRET_KEYS[0] in which:
            site = _placeholder_secrets(dict(site), SECRET_KEYS[0])
        if (
            isinstance(site, dict)
            and isinstance(site.get("wordpress"), dict)
            and SECRET_KEYS[1] in which
        ):
            site = {
                **site,
                "wordpress": _placeholder_secrets(dict(site["wordpress"]), SECRET_KEYS[1]),
            }
        sites.append(site)
    return {**raw, "sites": sites}


def _placeholder_secrets(section: dict[str, Any], keys: tuple[str, str]) -> dict[str, Any]:
    key, file_key = keys
    if key in section or file_key in section:
        section.pop(file_key, None)
        section[key] = UNREAD
    return section


# --- problems and typed access ---------------------------------------------


class Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, key_path: str, message: str) -> None:
        self.lines.append(f"{key_path or '(top level)'}: {message}")

    def __bool__(self) -> bool:
        return bool(self.lines)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Section:
    """A mapping from the YAML with its key path; typed getters record problems.

    A getter returns the default (or None) when the value is missing or wrong,
    so validation goes on and reports every problem in one run.
    """

    def __init__(self, value: Any, path: str, problems: Problems, known: tuple[str, ...] = ()):
        self.path = path
        self.problems = problems
        if value is None:
            value = {}
        if not isinstance(value, dict):
            problems.add(path, f"must be a mapping, not {_kind(value)}")
            value = {}
        self.value: dict[Any, Any] = value
        if known:
            self._report_unknown_keys(known)

    def _report_unknown_keys(self, known: tuple[str, ...]) -> None:
        for key in self.value:
            if key not in known:
                hint = difflib.get_close_matches(str(key), known, n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                self.problems.add(_join(self.path, str(key)), f"unknown key{suggestion}")

    def has(self, key: str) -> bool:
        return self.value.get(key) is not None

    def key_path(self, key: str) -> str:
        return _join(self.path, key)

    def fail(self, key: str, message: str) -> None:
        self.problems.add(self.key_path(key), message)

    def section(self, key: str, known: tuple[str, ...] = ()) -> Section:
        return Section(self.value.get(key), self.key_path(key), self.problems, known)

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.value.get(key)
        if value is None:
            if required:
                self.fail(key, "is required")
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.fail(key, f"must be a string, not {_kind(value)}")
            return default
        text = str(value)
        if required and not text.strip():
            self.fail(key, "must not be empty")
            return default
        return text

    def integer(
        self,
        key: str,
        default: int | None,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        required: bool = False,
    ) -> int | None:
        value = self.value.get(key)
        if value is None:
            if required:
                self.fail(key, "is required")
            return default
        number = _as_int(value)
        if number is None:
            self.fail(key, f"must be a whole number, not {_shown(value)}")
            return default
        if minimum is not None and number < minimum:
            self.fail(key, f"must be at least {minimum}, not {number}")
            return default
        if maximum is not None and number > maximum:
            self.fail(key, f"must be at most {maximum}, not {number}")
            return default
        return number

    def number(self, key: str, default: float, *, above: float = 0.0) -> float:
        value = self.value.get(key)
        if value is None:
            return default
        number = _as_float(value)
        if number is None or not math.isfinite(number):
            self.fail(key, f"must be a number, not {_shown(value)}")
            return default
        if number <= above:
            self.fail(key, f"must be greater than {above:g}, not {number:g}")
            return default
        return number

    def boolean(self, key: str, default: bool | None) -> bool | None:
        value = self.value.get(key)
        if value is None:
            return default
        flag = _as_bool(value)
        if flag is None:
            self.fail(key, f"must be true or false, not {_shown(value)}")
            return default
        return flag

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.string(key, default) or default
        if value.lower() not in choices:
            self.fail(key, f"must be one of {', '.join(choices)}, not {value!r}")
            return default
        return value.lower()

    def string_list(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.value.get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(key, "must be a list of names, e.g. [attachment]")
            return default
        return tuple(value)


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def _shown(value: Any) -> str:
    if isinstance(value, str) and len(value) > SHOWN_LIMIT:
        return repr(value[:SHOWN_LIMIT]) + "…"
    return repr(value) if isinstance(value, (str, int, float, bool)) else _kind(value)


def _as_int(value: Any) -> int | None:
    # Strings are accepted because `${VAR}` interpolation always yields strings.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {
            "true": True,
            "yes": True,
            "1": True,
            "on": True,
            "false": False,
            "no": False,
            "0": False,
            "off": False,
        }.get(value.strip().lower())
    return None


# --- ${NAME} interpolation ---------------------------------------------------


def _interpolate(value: Any, path: str, problems: Problems) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, _join(path, str(k)), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, _join(path, i), problems) for i, v in enumerate(value)]
    if isinstance(value, str):
        return _interpolate_string(value, path, problems)
    return value


def _interpolate_string(text: str, path: str, problems: Problems) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            problems.add(path, f"environment variable {name} is not set")
            return match.group(0)  # kept, so no second problem follows from an empty value
        return os.environ[name]

    return ENV_REFERENCE.sub(replace, text)


# --- building the dataclasses ------------------------------------------------


@dataclass
class _Context:
    config_path: Path
    problems: Problems
    require_backend: bool
    warnings: list[str]
    secrets: list[str] = field(default_factory=list)  # every secret value read, even bad ones
    unread_secrets: tuple[tuple[str, str], ...] = ()  # (key, file key) pairs left unread


TOP_KEYS = (
    "backend",
    "sites",
    "schedule",
    "state_dir",
    "log_level",
    "parallel_sites",
    "sites_dir",
    "metrics",
    "monitoring",
)
METRICS_KEYS = ("listen", "textfile")
MONITORING_KEYS = ("ping_url", "ping_url_file")
SITE_FILE_PATTERNS = ("*.yaml", "*.yml")
BACKEND_KEYS = ("url", "timeout", "verify", "max_attempts", "max_retry_seconds")
SITE_KEYS = (
    "name",
    "site_id",
    "api_key",
    "api_key_file",
    "integration_id",
    "wordpress",
    "plugin_connection_enabled",
    "two_way_sync_enabled",
    "defaults",
    "post_types",
    "taxonomies",
    "exclude_post_types",
    "exclude_taxonomies",
)
WORDPRESS_KEYS = (
    "url",
    "username",
    "app_password",
    "app_password_file",
    "xmlrpc",
    "timeout",
    "verify",
    "max_connections",
    "deadline",
)
CONTENT_KEYS = ("enabled", "fetch_limit")
SCHEDULE_KEYS = ("cron", "timezone", "jitter_seconds", "retry_failed_every", "check_every")


def _build_config(top: Section, ctx: _Context) -> Config:
    backend = _build_backend(top.section("backend", BACKEND_KEYS), ctx)
    sites_dir = _sites_dir(top, ctx)
    entries = _site_sections(top, ctx, required=sites_dir is None)
    if sites_dir is not None:
        entries += _site_file_sections(sites_dir, ctx)
    sites = _build_sites(entries, ctx)
    if not sites and sites_dir is not None and not ctx.problems:
        ctx.warnings.append(f"no sites configured: neither `sites:` nor {sites_dir} lists any")
    schedule = _build_schedule(top.section("schedule", SCHEDULE_KEYS))
    return Config(
        path=ctx.config_path,
        backend=backend,
        sites=sites,
        schedule=schedule,
        state_dir=_state_dir(top, ctx),
        log_level=top.choice("log_level", LOG_LEVELS, "info"),
        warnings=tuple(ctx.warnings),
        parallel_sites=top.integer("parallel_sites", 16, minimum=1, maximum=256) or 16,
        sites_dir=sites_dir,
        metrics=_build_metrics(top.section("metrics", METRICS_KEYS), ctx),
        monitoring=MonitoringConfig(
            ping_url=_ping_url(top.section("monitoring", MONITORING_KEYS), ctx)
        ),
    )


def _build_metrics(section: Section, ctx: _Context) -> MetricsConfig:
    listen = None
    text = section.string("listen")
    if text:
        listen = _listen_address(text.strip())
        if listen is None:
            section.fail("listen", f"must be host:port, e.g. 127.0.0.1:9817, not {text!r}")
    textfile = section.string("textfile")
    path = _resolve_beside_config(textfile, ctx) if textfile else None
    if path is not None and path.suffix != ".prom":
        section.fail("textfile", "must end in .prom (node_exporter reads only those files)")
    elif path is not None and not path.parent.is_dir():
        section.fail("textfile", f"{path.parent} is not a directory")
    return MetricsConfig(listen=listen, textfile=path)


def _listen_address(text: str) -> tuple[str, int] | None:
    """(host, port) of "127.0.0.1:9817", "[::1]:9817" or ":9817" (every address)."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        return None
    if not re.fullmatch(r"[A-Za-z0-9.:_-]+", host):
        return None
    return host, int(port)


def _ping_url(section: Section, ctx: _Context) -> Secret | None:
    secret = _secret(section, "ping_url", ctx, required=False)
    if secret is None or secret.reveal() == UNREAD:
        return secret
    parts = urlsplit(secret.reveal())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        section.fail(
            "ping_url", "must be an http:// or https:// URL (it is not shown here: it is a secret)"
        )
        return None
    return secret


def _build_backend(section: Section, ctx: _Context) -> BackendConfig | None:
    url = _url(section, "url", required=ctx.require_backend)
    verify = _verify(section, ctx)
    if verify is False:
        ctx.warnings.append(
            "backend.verify: TLS certificates of the IGNY8 backend are not verified"
        )
    config = BackendConfig(
        url=url or "",
        timeout=section.number("timeout", 30.0),
        verify=verify,
        max_attempts=section.integer("max_attempts", 5, minimum=1) or 5,
        max_retry_seconds=section.number("max_retry_seconds", 300.0),
    )
    return config if url else None


def _site_sections(top: Section, ctx: _Context, *, required: bool) -> list[Section]:
    """The entries of `sites:` in the config file."""
    raw_sites = top.value.get("sites")
    if raw_sites is None:
        if required:
            top.fail("sites", "is required: list at least one WordPress site (or set sites_dir)")
        return []
    if not isinstance(raw_sites, list) or (required and not raw_sites):
        top.fail("sites", "must be a non-empty list of sites")
        return []
    return [
        Section(raw, _join("sites", index), ctx.problems, SITE_KEYS)
        for index, raw in enumerate(raw_sites)
    ]


def _sites_dir(top: Section, ctx: _Context) -> Path | None:
    name = top.string("sites_dir")
    if not name:
        return None
    directory = _resolve_beside_config(name, ctx)
    if not directory.is_dir():
        top.fail("sites_dir", f"{directory} is not a directory: create it, or remove the key")
        return None
    return directory


def _site_file_sections(directory: Path, ctx: _Context) -> list[Section]:
    """The entries of each site file: one site (a mapping) or a list of them, named in
    problems as `sites.d/shop.yaml: sites[0].…`."""
    files = sorted(
        {
            path
            for pattern in SITE_FILE_PATTERNS
            for path in directory.glob(pattern)
            if path.is_file()
        }
    )
    sections = []
    for path in files:
        shown = _shown_path(path, ctx)
        try:
            raw = _read_yaml(path, empty_ok=True)
        except ConfigError as exc:
            for problem in exc.problems:
                ctx.problems.add(shown, problem)
            continue
        entries = [raw] if isinstance(raw, dict) else raw if isinstance(raw, list) else None
        if entries is None:
            if raw is not None:
                ctx.problems.add(shown, "must hold one site entry (a mapping) or a list of them")
            continue
        entries = _unread_secrets({"sites": entries}, ctx)["sites"]
        ctx.warnings += _secret_permission_warnings(path, {"sites": entries})
        for index, entry in enumerate(entries):
            prefix = f"{shown}: {_join('sites', index)}"
            interpolated = _interpolate(entry, prefix, ctx.problems)
            sections.append(Section(interpolated, prefix, ctx.problems, SITE_KEYS))
    return sections


def _shown_path(path: Path, ctx: _Context) -> str:
    try:
        return str(path.relative_to(ctx.config_path.parent))
    except ValueError:
        return str(path)


def _build_sites(sections: list[Section], ctx: _Context) -> tuple[SiteConfig, ...]:
    sites: list[SiteConfig] = []
    seen: dict[str, str] = {}
    for section in sections:
        site = _build_site(section, ctx)
        if site is None:
            continue
        if site.name in seen:
            section.fail("name", f"{site.name!r} is already used by {seen[site.name]}")
        seen[site.name] = section.path
        sites.append(site)
    return tuple(sites)


def _build_site(section: Section, ctx: _Context) -> SiteConfig | None:
    name = section.string("name", required=True)
    if name is not None and not SITE_NAME.match(name):
        section.fail("name", f"{name!r} may only hold letters, digits, '-' and '_'")
    site_id = section.integer("site_id", None, minimum=1, required=True)
    api_key = _secret(section, "api_key", ctx, required=ctx.require_backend)
    wordpress = _build_wordpress(section.section("wordpress", WORDPRESS_KEYS), ctx)
    defaults_section = section.section("defaults", CONTENT_KEYS)
    defaults = ContentSettings(
        enabled=bool(defaults_section.boolean("enabled", True)),
        fetch_limit=defaults_section.integer("fetch_limit", 100, minimum=1) or 100,
    )
    site = SiteConfig(
        key_path=section.path,
        name=name or "",
        site_id=site_id or 0,
        api_key=api_key,
        wordpress=wordpress,
        integration_id=section.integer("integration_id", None, minimum=1),
        plugin_connection_enabled=bool(section.boolean("plugin_connection_enabled", True)),
        two_way_sync_enabled=bool(section.boolean("two_way_sync_enabled", True)),
        defaults=defaults,
        post_types=_overrides(section.section("post_types")),
        taxonomies=_overrides(section.section("taxonomies")),
        exclude_post_types=section.string_list("exclude_post_types", DEFAULT_EXCLUDE_POST_TYPES),
        exclude_taxonomies=section.string_list("exclude_taxonomies", DEFAULT_EXCLUDE_TAXONOMIES),
    )
    return site if name else None


def _build_wordpress(section: Section, ctx: _Context) -> WordPressConfig:
    url = _url(section, "url", required=True)
    username = section.string("username")
    if username is not None and (problem := header_problem(username, latin1=True)):
        section.fail("username", problem)
        username = None
    app_password = _secret(section, "app_password", ctx, required=False)
    if app_password and not username:
        section.fail("username", "is required when an application password is given")
    if username and not app_password:
        section.fail(
            "app_password", "is required when a username is given (or set app_password_file)"
        )
    xmlrpc = section.choice("xmlrpc", XMLRPC_MODES, "auto")
    if xmlrpc == "always" and not (username and app_password):
        section.fail(
            "xmlrpc", "'always' needs username and app_password: XML-RPC has no anonymous read"
        )
    verify = _verify(section, ctx)
    if verify is False:
        ctx.warnings.append(
            f"{section.key_path('verify')}: TLS certificates of {url} are not verified"
        )
    return WordPressConfig(
        url=(url or "").rstrip("/"),
        username=username,
        app_password=app_password,
        xmlrpc=xmlrpc,
        timeout=section.number("timeout", 30.0),
        verify=verify,
        max_connections=section.integer("max_connections", 6, minimum=1, maximum=32) or 6,
        deadline=section.number("deadline", 120.0),
    )


def _overrides(section: Section) -> dict[str, ContentOverride]:
    overrides: dict[str, ContentOverride] = {}
    for slug in section.value:
        entry = section.section(str(slug), CONTENT_KEYS)
        overrides[str(slug)] = ContentOverride(
            enabled=entry.boolean("enabled", None),
            fetch_limit=entry.integer("fetch_limit", None, minimum=1),
        )
    return overrides


def _build_schedule(section: Section) -> ScheduleConfig:
    timezone = section.string("timezone", "UTC") or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        section.fail("timezone", f"unknown time zone {timezone!r} (use a name like Europe/Berlin)")
        timezone = "UTC"
    cron = section.string("cron", "0 3 * * *") or "0 3 * * *"
    try:
        if len(cron.split()) != 5:
            raise ValueError("it needs 5 fields: minute hour day month weekday")
        DailyCron(cron, timezone)
    except ValueError as exc:
        section.fail("cron", f"must be a crontab expression like '0 3 * * *', not {cron!r} ({exc})")
    return ScheduleConfig(
        cron=cron,
        timezone=timezone,
        jitter_seconds=section.integer("jitter_seconds", 1800, minimum=0) or 0,
        retry_failed_every=section.integer("retry_failed_every", 900, minimum=1) or 900,
        check_every=section.integer("check_every", 3600, minimum=0) or 0,
    )


def _state_dir(top: Section, ctx: _Context) -> Path:
    configured = top.string("state_dir")
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else ctx.config_path.parent / path
    from_systemd = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(from_systemd or DEFAULT_STATE_DIR)


def _url(section: Section, key: str, *, required: bool) -> str | None:
    url = section.string(key, required=required)
    if url is None:
        return None
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        section.fail(key, "is not a valid URL (check the host and port)")
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        section.fail(key, "must be an http:// or https:// URL with a host name")
        return None
    host_problem = _host_problem(parts.hostname)
    if host_problem:
        section.fail(key, host_problem)
        return None
    if parts.username or parts.password:
        # Never echo the URL here: it holds a credential.
        section.fail(
            key, "must not contain a user name or password; put credentials in their own keys"
        )
        return None
    if parts.query or parts.fragment:
        section.fail(key, "must not have '?' or '#' parts")
        return None
    return url.strip()


def _host_problem(host: str) -> str | None:
    """Why requests could not use `host`, or None (it encodes a non-ASCII name as IDNA)."""
    if host.isascii():
        if re.fullmatch(r"[A-Za-z0-9._:-]+", host):
            return None
        bad = next(c for c in host if not re.fullmatch(r"[A-Za-z0-9._:-]", c))
        return f"the host name holds {bad!r}, which no host name can"
    import idna  # requests' own dependency, for the same check requests makes

    try:
        idna.encode(host, uts46=True)
    except idna.IDNAError:
        odd = next((c for c in host if unicodedata.category(c) in ("Cf", "Cc", "Zs")), None)
        detail = f" (U+{ord(odd):04X} {unicodedata.name(odd, '')})" if odd else ""
        return f"the host name is not a valid internationalized name{detail}"
    return None


def _verify(section: Section, ctx: _Context) -> bool | str:
    value = section.value.get("verify")
    if value is None:
        return True
    flag = _as_bool(value)
    if flag is not None:
        return flag
    if not isinstance(value, str):
        section.fail("verify", "must be true, false or the path of a CA bundle")
        return True
    path = _resolve_beside_config(value, ctx)
    try:
        if path.is_dir():
            ssl.create_default_context(capath=str(path))
        else:
            ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        reason = "does not exist" if isinstance(exc, FileNotFoundError) else "is not usable"
        section.fail("verify", f"CA bundle {path} {reason} ({exc.strerror or exc})")
        return True
    return str(path)


def _resolve_beside_config(name: str, ctx: _Context) -> Path:
    path = Path(name)
    return path if path.is_absolute() else ctx.config_path.parent / path


# --- secrets -----------------------------------------------------------------


def _secret(section: Section, key: str, ctx: _Context, *, required: bool) -> Secret | None:
    file_key = f"{key}_file"
    inline = section.value.get(key)
    from_file = section.value.get(file_key)
    if inline is not None and from_file is not None:
        section.fail(key, f"give either {key} or {file_key}, not both")
        return None
    if from_file is not None:
        return _secret_from_file(section, file_key, ctx)
    if inline is None:
        if required:
            section.fail(key, f"is required (or set {file_key})")
        return None
    if not isinstance(inline, str) or not inline.strip():
        section.fail(key, "must be a non-empty string")
        return None
    value = inline.strip()
    ctx.secrets.append(value)
    problem = header_problem(value)
    if problem:
        section.fail(key, f"{problem}: paste it again")
        return None
    return Secret(value)


def _secret_from_file(section: Section, file_key: str, ctx: _Context) -> Secret | None:
    name = section.string(file_key)
    if not name:
        section.fail(file_key, "must be a file name")
        return None
    path = _find_secret_file(name, ctx)
    if path is None:
        section.fail(
            file_key,
            f"file {name!r} not found in $CREDENTIALS_DIRECTORY nor beside {ctx.config_path}",
        )
        return None
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        section.fail(file_key, f"cannot read {path}: {exc.strerror}")
        return None
    if len(raw) > MAX_SECRET_FILE_BYTES:
        section.fail(
            file_key,
            f"{path} is larger than {MAX_SECRET_FILE_BYTES // 1024} KiB: it "
            "should hold one secret on one line; is it the right file?",
        )
        return None
    try:
        value = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        section.fail(file_key, f"{path} is not UTF-8 text")
        return None
    ctx.secrets.append(value)
    if not value.strip():
        section.fail(file_key, f"{path} is empty")
        return None
    problem = header_problem(value)
    if problem:
        section.fail(file_key, f"{path} {problem}: write the secret again, on one line")
        return None
    if _readable_by_others(path):
        ctx.warnings.append(
            f"{section.key_path(file_key)}: {path} holds a secret and is "
            f"readable by other users; run: chmod o-rwx {path}"
        )
    return Secret(value)


def header_problem(value: str, *, latin1: bool = False) -> str | None:
    """Why `value` cannot go into an HTTP header, or None. Never quotes the value.

    Only printable ASCII (and, for a user name, Latin-1) can: requests would
    fail on anything else, and a newline would end up quoted in its refusal,
    secret and all.
    """
    for position, char in enumerate(value, start=1):
        code = ord(char)
        if 0x20 <= code <= 0x7E or (latin1 and 0xA0 <= code <= 0xFF):
            continue
        name = unicodedata.name(char, "a control character")
        return (
            f"holds a character an HTTP header cannot carry (U+{code:04X} {name}, "
            f"character {position})"
        )
    return None


def _find_secret_file(name: str, ctx: _Context) -> Path | None:
    path = Path(name)
    if path.is_absolute():
        return path if _is_file(path) else None
    candidates = []
    credentials_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials_dir:
        candidates.append(Path(credentials_dir) / name)
    candidates.append(ctx.config_path.parent / name)
    return next((c for c in candidates if _is_file(c)), None)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a directory we may not search
        return False


def _readable_by_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & stat.S_IROTH)
    except OSError:
        return False


def _secret_permission_warnings(path: Path, raw: Any) -> list[str]:
    """Warn when the config file itself holds a literal secret others can read."""
    if not _readable_by_others(path) or not isinstance(raw, dict):
        return []
    sites = raw.get("sites") if isinstance(raw.get("sites"), list) else []
    for site in sites:
        if not isinstance(site, dict):
            continue
        wordpress = site.get("wordpress") if isinstance(site.get("wordpress"), dict) else {}
        for value in (site.get("api_key"), wordpress.get("app_password")):
            if isinstance(value, str) and value and not ENV_REFERENCE.fullmatch(value):
                return [
                    f"{path} holds a secret and is readable by other users; "
                    f"run: chmod o-rwx {path} (or move secrets to *_file keys)"
                ]
    return []
