"""Shared fixtures: real WordPress sites, the backend stand-in, the installed command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.backend_standin import BackendStandin, Integration
from tests.support.daemon import Daemon, NotifySocket
from tests.support.tls import make_certificate
from tests.support.wordpress import WordPressServers, WordPressSite, WordPressUnavailable

IN_CI = os.environ.get("CI", "").lower() == "true"
SITE_ID = 5
INTEGRATION_ID = 123
API_KEY = "igny8-test-api-key-0123456789abcdef"


def unavailable(reason: str) -> None:
    """Under CI a missing part is a failure, never a skip."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: not skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def agent_command() -> str:
    path = shutil.which("igny8-agent")
    if path is None:
        unavailable(
            "igny8-agent is not installed; run scripts/install-deps and put .venv/bin "
            "on PATH (scripts/test does both)"
        )
    return path


@pytest.fixture(scope="session")
def wordpress_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPressServers]:
    servers = WordPressServers(tmp_path_factory.mktemp("wordpress"))
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture(scope="session")
def wordpress(wordpress_servers: WordPressServers):
    """site(variant) -> a running WordPressSite; fails (CI) or skips when it cannot start."""

    def site(variant: str) -> WordPressSite:
        try:
            return wordpress_servers.site(variant)
        except WordPressUnavailable as exc:
            unavailable(f"WordPress variant {variant!r} unavailable: {exc}")
            raise

    return site


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (cert.pem, key.pem)."""
    if shutil.which("openssl") is None:
        unavailable("openssl is needed to make a test certificate")
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def backend() -> Iterator[BackendStandin]:
    standin = BackendStandin(
        api_keys={SITE_ID: API_KEY},
        integrations=[Integration(id=INTEGRATION_ID, site_id=SITE_ID)],
    )
    with standin:
        yield standin


@dataclass
class AgentRun:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class Agent:
    """Writes a config and runs the installed igny8-agent with it."""

    def __init__(self, command: str, workdir: Path):
        self.command = command
        self.workdir = workdir
        self.config_path = workdir / "config.yaml"
        self.state_dir = workdir / "state"

    def write_config(self, config: dict[str, Any]) -> Path:
        config = {"state_dir": str(self.state_dir), **config}
        self.config_path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
        self.config_path.chmod(0o600)
        return self.config_path

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> AgentRun:
        full_env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        full_env.update(env or {})
        completed = subprocess.run(
            [self.command, "--config", str(self.config_path), *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
        )
        return AgentRun(completed.returncode, completed.stdout, completed.stderr)

    def state_files_text(self) -> str:
        if not self.state_dir.exists():
            return ""
        return "".join(
            p.read_text(errors="replace") for p in self.state_dir.rglob("*") if p.is_file()
        )


@pytest.fixture
def agent(agent_command: str, tmp_path: Path) -> Agent:
    return Agent(agent_command, tmp_path)


def site_config(
    site: WordPressSite,
    backend_url: str | None = None,
    *,
    credentials: bool = True,
    name: str = "blog",
    **extra: Any,
) -> dict[str, Any]:
    """A config with one site; `extra` keys go into the site entry."""
    wordpress: dict[str, Any] = {"url": site.url}
    if credentials:
        wordpress.update(username=site.username, app_password=site.app_password)
    wordpress.update(extra.pop("wordpress", {}))
    entry = {"name": name, "site_id": SITE_ID, "api_key": API_KEY, "wordpress": wordpress, **extra}
    config: dict[str, Any] = {"sites": [entry], "log_level": "debug"}
    if backend_url:
        config["backend"] = {"url": backend_url, "max_attempts": 3, "max_retry_seconds": 30}
    return config


# What a read can know, by how it reads (CONTRACT §3, §4):
WITH_XMLRPC = "xmlrpc"  # credentials and XML-RPC: WordPress's `public` flag, labels->name
REST_EDIT = "rest-edit"  # credentials, no XML-RPC: REST's `viewable` decides post types
REST_ANONYMOUS = "rest-anonymous"  # no credentials: registered labels; the public ones at least


def expected_payload_part(
    site: WordPressSite,
    *,
    exclude_post_types: tuple[str, ...] = ("attachment",),
    exclude_taxonomies: tuple[str, ...] = ("post_format",),
    read: str = WITH_XMLRPC,
) -> dict[str, dict[str, dict[str, Any]]]:
    """{post_types: {slug: {label, count}}, taxonomies: ...} as PHP inside WordPress says,
    for a read of the kind `read` (see above).

    With XML-RPC the agent reports exactly the public types; over REST alone it sees only
    what is `show_in_rest`, and judges post types by `viewable` (with credentials) or by
    WordPress's list of internal types (without: then this is the part it must report,
    and REST-visible non-public custom types may come along, as documented).
    """
    truth = site.php_expected()
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, excluded in (("post_types", exclude_post_types), ("taxonomies", exclude_taxonomies)):
        result[kind] = {
            slug: {
                "label": item["registered_label" if read == REST_ANONYMOUS else "label"],
                "count": item["count"],
            }
            for slug, item in truth[kind].items()
            if slug not in excluded and _in_read(kind, item, read)
        }
    return result


def _in_read(kind: str, item: dict[str, Any], read: str) -> bool:
    if read == WITH_XMLRPC:
        return bool(item["public"])
    if not item["show_in_rest"]:
        return False
    if read == REST_EDIT and kind == "post_types":
        return bool(item["viewable"])
    return bool(item["public"])


def label_and_count(payload: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        kind: {
            slug: {"label": e["label"], "count": e["count"]} for slug, e in payload[kind].items()
        }
        for kind in ("post_types", "taxonomies")
    }


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    yield sock
    sock.close()


@pytest.fixture
def start_daemon(agent, notify) -> Iterator:
    started: list[Daemon] = []

    def start(**env: str) -> Daemon:
        daemon = Daemon(agent, {"NOTIFY_SOCKET": str(notify.path), **env})
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


# --- fleets: site n is `site{n}`, site_id n + 1, API key f"{API_KEY}-{n}" -------------


def fleet_backend(sites: int) -> BackendStandin:
    """The stand-in knowing `sites` fleet sites, each with its key and integration."""
    keys = {n + 1: f"{API_KEY}-{n}" for n in range(sites)}
    integrations = [Integration(id=1000 + n, site_id=n + 1) for n in range(sites)]
    return BackendStandin(api_keys=keys, integrations=integrations)


def fleet_sites(site_url: Any, sites: Iterable[int], **wordpress: Any) -> list[dict[str, Any]]:
    """Config entries of fleet sites; `site_url(n)` is site n's WordPress."""
    return [
        {
            "name": f"site{n}",
            "site_id": n + 1,
            "api_key": f"{API_KEY}-{n}",
            "wordpress": {"url": site_url(n), **wordpress},
        }
        for n in sites
    ]
