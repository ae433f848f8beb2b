"""Reading the config: YAML, then every key as `schema.py` describes it, then the
checks no table can say, then the dataclasses of `model.py`.

Every problem is collected with its key path (`sites[1].wordpress.url: …`,
`sites.d/shop.yaml: sites[0].site_id: …`) and reported at once; a config with
any problem is rejected as a whole before anything is contacted. `${NAME}` is
replaced by the environment variable NAME in each string that is read (an
unset one is a problem); secrets the command does not need are not read at all.
"""

from __future__ import annotations

import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from agent.config.model import (
    BackendConfig,
    Config,
    ContentOverride,
    ContentSettings,
    MetricsConfig,
    MonitoringConfig,
    ScheduleConfig,
    SiteConfig,
    WordPressConfig,
)
from agent.config.schema import (
    NAMES,
    NEEDED_TO_PUSH,
    OVERRIDES,
    SCHEMA,
    SECTION,
    SITE_KEYS,
    SITES,
    Key,
)
from agent.config.secrets import (
    UNREAD,
    SecretProblem,
    check_header,
    read_secret,
    readable_by_others,
)
from agent.config.values import Wrong, kind_of, read, resolve
from agent.config.yamlfile import YamlProblem, load_yaml
from agent.errors import ConfigError
from agent.secret import Secret, redact

DEFAULT_CONFIG_PATH = "/etc/igny8-agent/config.yaml"
DEFAULT_STATE_DIR = "/var/lib/igny8-agent"
# A read waits on about three answers one after another (discover, list, count).
SLOWEST_ANSWERS_PER_READ = 3
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SITE_FILE_PATTERNS = ("*.yaml", "*.yml")
MIN_MASKED_SECRET = 6
SITE = Key("site", SECTION, "one WordPress site", keys=SITE_KEYS)
SECRETS = ("api_key", "app_password", "ping_url")
M = TypeVar("M")


def default_config_path() -> str:
    return os.environ.get("IGNY8_AGENT_CONFIG") or DEFAULT_CONFIG_PATH


def load_config(
    path: str | os.PathLike[str], *, require_backend: bool = True, read_secrets: bool = True
) -> Config:
    """Read and validate the config file; raise ConfigError listing every problem.

    `require_backend=False` (for `sync --dry-run`) tolerates a missing backend
    section and leaves API keys (and the ping URL) unread, since nothing is pushed.
    `read_secrets=False` (for `status`) leaves every secret unread: no ${VAR} or
    *_file needed for them. No problem line quotes a secret.
    """
    unread = set(SECRETS) if not read_secrets else set() if require_backend else {
        "api_key", "ping_url"}  # fmt: skip
    return _Loader(Path(path), require_backend, unread).load()


def read_yaml(path: Path, *, empty_ok: bool = False) -> Any:
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


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class _Loader:
    def __init__(self, path: Path, require_backend: bool, unread: set[str]):
        self.path = path
        self.beside = path.parent
        self.require_backend = require_backend
        self.unread = unread
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.secrets_seen: list[str] = []  # every secret value read, even bad ones
        self.file = path  # the file being read: the config, or a site file
        self._literal_secret_warned: set[Path] = set()

    def problem(self, key_path: str, message: str) -> None:
        self.problems.append(f"{key_path or '(top level)'}: {message}")

    # --- the whole config -------------------------------------------------------

    def load(self) -> Config:
        top = self.section(SCHEMA, read_yaml(self.path), "")
        sites_dir = self.sites_dir(top["sites_dir"])
        sites = self.sites(top["sites"], required=sites_dir is None)
        if sites_dir is not None:
            sites += self.site_files(sites_dir)
        sites = self.unique(sites)
        if not sites and sites_dir is not None and not self.problems:
            self.warnings.append(f"no sites configured: neither `sites:` nor {sites_dir} lists any")
        backend = self.backend(top["backend"])
        metrics = self.metrics(top["metrics"])
        monitoring = self.monitoring(top["monitoring"])
        config = Config(
            path=self.path,
            backend=backend,
            sites=tuple(sites),
            schedule=_build(ScheduleConfig, top["schedule"]),
            state_dir=top["state_dir"] or _default_state_dir(),
            log_level=top["log_level"],
            warnings=tuple(self.warnings),  # after every check that may add one
            parallel_sites=top["parallel_sites"],
            sites_dir=sites_dir,
            metrics=metrics,
            monitoring=monitoring,
        )
        if self.problems:
            # A secret too short to be told from ordinary words is not masked: masking
            # it would garble every line (and any real key or password is longer).
            maskable = [v for v in self.secrets_seen if len(v) >= MIN_MASKED_SECRET]
            raise ConfigError(str(self.path), [redact(line, maskable) for line in self.problems])
        return config

    # --- any section, as the schema describes it --------------------------------------

    def section(self, key: Key, value: Any, path: str) -> dict[str, Any]:
        """The values of a SECTION's keys (their defaults where absent or wrong)."""
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.problem(path, f"must be a mapping, not {kind_of(value)}")
            value = {}
        known = key.names()
        for name in value:
            if name not in known:
                import difflib  # only when there is a misspelt key to match

                hint = difflib.get_close_matches(str(name), known, n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                self.problem(join(path, str(name)), f"unknown key{suggestion}")
        out: dict[str, Any] = {}
        for child in key.keys:
            child_path = join(path, child.name)
            if child.secret:
                out[child.name] = self.secret(child, value, path)
            elif child.kind == SECTION:
                out[child.name] = self.section(child, value.get(child.name), child_path)
            elif child.kind == OVERRIDES:
                out[child.name] = self.overrides(child, value.get(child.name), child_path)
            elif child.kind == SITES:
                out[child.name] = value.get(child.name)  # read by sites()
            else:
                out[child.name] = self.value(child, value.get(child.name), child_path)
        return out

    def value(self, key: Key, raw: Any, path: str) -> Any:
        if raw is None:
            if self.required(key):
                self.problem(path, "is required")
            return key.default
        try:
            return read(key, self.interpolated(raw, path, key), self.beside)
        except Wrong as wrong:
            self.problem(path, str(wrong))
            return key.default

    def required(self, key: Key) -> bool:
        return key.required is True or (key.required == NEEDED_TO_PUSH and self.require_backend)

    def interpolated(self, raw: Any, path: str, key: Key) -> Any:
        if isinstance(raw, str):
            return self.substitute(raw, path)
        if key.kind == NAMES and isinstance(raw, list):
            return [self.substitute(item, path) if isinstance(item, str) else item
                    for item in raw]  # fmt: skip
        return raw

    def substitute(self, text: str, path: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                self.problem(path, f"environment variable {name} is not set")
                return match.group(0)  # kept, so no second problem follows from an empty value
            return os.environ[name]

        return ENV_REFERENCE.sub(replace, text)

    def overrides(self, key: Key, value: Any, path: str) -> dict[str, ContentOverride]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, f"must be a mapping, not {kind_of(value)}")
            return {}
        return {str(slug): _build(ContentOverride, self.section(key, entry, join(path, str(slug))))
                for slug, entry in value.items()}  # fmt: skip

    # --- secrets ----------------------------------------------------------------------

    def secret(self, key: Key, section: dict[Any, Any], path: str) -> Secret | None:
        file_key = f"{key.name}_file"
        present = section.get(key.name) is not None or section.get(file_key) is not None
        if key.name in self.unread:
            return Secret(UNREAD) if present else None
        if not present:
            if self.required(key):
                self.problem(join(path, key.name), f"is required (or set {file_key})")
            return None
        inline = section.get(key.name)
        if isinstance(inline, str):
            self.warn_literal_secret(inline)
            section = {**section, key.name: self.substitute(inline, join(path, key.name))}
        file_as_written = section.get(file_key)
        if isinstance(file_as_written, str):
            section = {
                **section,
                file_key: self.substitute(section[file_key], join(path, file_key)),
            }
        try:
            return read_secret(
                key.name,
                section,
                config_path=self.path,
                seen=self.secrets_seen,
                warnings=self.warnings,
                key_path=join(path, file_key),
                file_as_written=file_as_written if isinstance(file_as_written, str) else None,
            )
        except SecretProblem as problem:
            self.problem(join(path, problem.key), str(problem))
            return None

    def warn_literal_secret(self, inline: str) -> None:
        """A secret written into a file others can read (not a ${VAR}) is warned of once."""
        if (
            not inline
            or ENV_REFERENCE.fullmatch(inline)
            or self.file in self._literal_secret_warned
        ):
            return
        if readable_by_others(self.file):
            self._literal_secret_warned.add(self.file)
            self.warnings.append(
                f"{self.file} holds a secret and is readable by other users; "
                f"run: chmod o-rwx {self.file} (or move secrets to *_file keys)"
            )

    # --- the checks a table cannot say ---------------------------------------------------

    def backend(self, values: dict[str, Any]) -> BackendConfig | None:
        if values["verify"] is False:
            self.warnings.append(
                "backend.verify: TLS certificates of the IGNY8 backend are not verified"
            )
        return _build(BackendConfig, values) if values["url"] else None

    def sites(self, raw: Any, *, required: bool) -> list[SiteConfig]:
        if raw is None:
            if required:
                self.problem(
                    "sites", "is required: list at least one WordPress site (or set sites_dir)"
                )
            return []
        if not isinstance(raw, list) or (required and not raw):
            self.problem("sites", "must be a non-empty list of sites")
            return []
        return [site for index, entry in enumerate(raw)
                if (site := self.site(entry, join("sites", index))) is not None]  # fmt: skip

    def site(self, entry: Any, path: str) -> SiteConfig | None:
        values = self.section(SITE, entry, path)
        written = entry.get("wordpress") if isinstance(entry, dict) else None
        wordpress = self.wordpress(
            values["wordpress"],
            join(path, "wordpress"),
            deadline_given=isinstance(written, dict) and written.get("deadline") is not None,
        )
        if not values["name"]:
            return None
        return _build(
            SiteConfig,
            values,
            key_path=path,
            wordpress=wordpress,
            site_id=values["site_id"] or 0,
            defaults=_build(ContentSettings, values["defaults"]),
        )

    def wordpress(
        self, values: dict[str, Any], path: str, *, deadline_given: bool
    ) -> WordPressConfig:
        username, password = values["username"], values["app_password"]
        values = {**values, "deadline": self.deadline(values, path, deadline_given)}
        if username is not None:
            try:
                check_header(username, latin1=True)
            except Wrong as wrong:
                self.problem(join(path, "username"), str(wrong))
                username = None
        if password and not username and values["username"] is None:
            self.problem(join(path, "username"), "is required when an application password "
                         "is given")  # fmt: skip
        if username and not password:
            self.problem(
                join(path, "app_password"),
                "is required when a username is given (or set app_password_file)",
            )
        if values["xmlrpc"] == "always" and not (username and password):
            self.problem(join(path, "xmlrpc"),
                         "'always' needs username and app_password: XML-RPC has no anonymous "
                         "read")  # fmt: skip
        if values["verify"] is False:
            self.warnings.append(
                f"{join(path, 'verify')}: TLS certificates of {values['url']} are not verified"
            )
        return _build(WordPressConfig, {**values, "username": username, "url": values["url"] or ""})

    def deadline(self, values: dict[str, Any], path: str, given: bool) -> float:
        """The site's `deadline`: when not given, long enough for a slow site's `timeout`
        (a config written before the key existed keeps its meaning)."""
        deadline, timeout = values["deadline"], values["timeout"]
        if not given:
            return float(max(deadline, SLOWEST_ANSWERS_PER_READ * timeout))
        if deadline < timeout:
            self.warnings.append(
                f"{join(path, 'deadline')} ({deadline:g} s) is shorter than "
                f"{join(path, 'timeout')} ({timeout:g} s): one slow answer uses it up"
            )
        return float(deadline)

    def unique(self, sites: list[SiteConfig]) -> list[SiteConfig]:
        seen: dict[str, str] = {}
        for site in sites:
            if site.name in seen:
                self.problem(join(site.key_path, "name"),
                             f"{site.name!r} is already used by {seen[site.name]}")  # fmt: skip
            seen.setdefault(site.name, site.key_path)
        return sites

    def sites_dir(self, directory: Path | None) -> Path | None:
        if directory is not None and not directory.is_dir():
            self.problem("sites_dir", f"{directory} is not a directory: create it, or remove the "
                         "key")  # fmt: skip
            return None
        return directory

    def site_files(self, directory: Path) -> list[SiteConfig]:
        """The entries of each site file: one site (a mapping) or a list of them (bare, or
        under `sites:`), named in problems as `sites.d/shop.yaml: sites[0].…`."""
        files = sorted({path for pattern in SITE_FILE_PATTERNS
                        for path in directory.glob(pattern) if path.is_file()})  # fmt: skip
        sites = []
        for path in files:
            shown = _relative(path, self.beside)
            try:
                raw = read_yaml(path, empty_ok=True)
            except ConfigError as exc:
                for problem in exc.problems:
                    self.problem(shown, problem)
                continue
            if isinstance(raw, dict) and list(raw) == ["sites"]:
                raw = raw["sites"]  # the list as the main config writes it: the same sites
            entries = [raw] if isinstance(raw, dict) else raw if isinstance(raw, list) else None
            if entries is None:
                if raw is not None:
                    self.problem(shown, "must hold one site entry (a mapping) or a list of them")
                continue
            self.file = path
            for index, entry in enumerate(entries):
                site = self.site(entry, f"{shown}: {join('sites', index)}")
                if site is not None:
                    sites.append(site)
            self.file = self.path
        return sites

    def metrics(self, values: dict[str, Any]) -> MetricsConfig:
        textfile = values["textfile"]
        if textfile is not None and textfile.suffix != ".prom":
            # A warning, not a refusal: other readers of the format take any name.
            self.warnings.append(f"metrics.textfile: {textfile.name} does not end in .prom: "
                                 "node_exporter's textfile collector reads only *.prom "
                                 "files")  # fmt: skip
        if textfile is not None and not textfile.parent.is_dir():
            # A metrics target that fails costs a warning, never the pass (nor a config
            # refused when node_exporter is gone).
            self.warnings.append(f"metrics.textfile: {textfile.parent} is not a directory "
                                 "(yet?): the metrics will not be written there")  # fmt: skip
        return _build(MetricsConfig, values)

    def monitoring(self, values: dict[str, Any]) -> MonitoringConfig:
        url = values["ping_url"]
        said = any(p.startswith("monitoring.ping_url") for p in self.problems)  # ${VAR} unset
        if url is not None and url.reveal() != UNREAD and not said:
            from urllib.parse import urlsplit

            try:
                parts = urlsplit(url.reveal())
                usable = (
                    parts.scheme in ("http", "https")
                    and bool(parts.hostname)
                    and parts.port != 0  # .port raises ValueError past 65535
                    and not any(char.isspace() for char in url.reveal())
                )
            except ValueError:  # e.g. an unclosed [ of an IPv6 address
                usable = False
            if not usable:
                self.problem("monitoring.ping_url", "must be an http:// or https:// URL (it is "
                             "not shown here: it is a secret)")  # fmt: skip
                values = {**values, "ping_url": None}
        return _build(MonitoringConfig, values)


def _build(model: type[M], values: dict[str, Any], **given: Any) -> M:
    """A dataclass of model.py from the schema's values (keys without a field, such as
    nested sections built separately, are left to `given`)."""
    names = {f.name for f in fields(model)}  # type: ignore[arg-type]
    return model(**{k: v for k, v in values.items() if k in names and k not in given}, **given)


def _default_state_dir() -> Path:
    from_systemd = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(from_systemd or DEFAULT_STATE_DIR)


def _relative(path: Path, beside: Path) -> str:
    try:
        return str(path.relative_to(beside))
    except ValueError:
        return str(path)


__all__ = ["default_config_path", "load_config", "resolve"]
