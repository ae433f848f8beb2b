"""Runs the Django REST Framework backend under gunicorn, for end-to-end tests.

    with DrfBackend(tmp_path, page_size=2) as backend:
        backend.add_site(5, "key-5")
        integration_id = backend.add_integration(5)
        ...  # the agent talks to backend.url
        assert backend.stored_structure(integration_id) == payload
        assert ("POST", f"/api/v1/integration/integrations/{integration_id}/update-structure/",
                200) in [(e.method, e.path, e.status) for e in backend.access_log()]

The database is SQLite in ``workdir``: migrated once per test process (into a
template copied for each backend), then seeded and read here with plain SQL —
a few milliseconds a call — on the schema of ``integration/migrations``.
gunicorn runs from ``sys.executable`` in its own process group, on a loopback
socket bound here (port 0) and handed over as ``fd://N``, so no port can be lost
to a race; on exit its whole process group (master and workers) is killed.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parents[2]
SETTINGS_MODULE = "tests.support.drf_backend.settings"
GUNICORN_CONFIG = PACKAGE_DIR / "gunicorn_conf.py"
READY_PATH = "/-/drf-backend-ready"  # the readiness probe; left out of access_log()


class DrfBackendError(RuntimeError):
    """The backend could not be set up or started (the message says why)."""


@dataclass(frozen=True)
class AccessLogEntry:
    method: str
    path: str  # without the query string
    query: str  # raw query string, "" when none
    status: int
    at: float = field(default=0.0, compare=False)  # when it arrived (time.time())


def _now_sql() -> str:
    # How Django stores an aware datetime in SQLite (UTC, naive text).
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _child_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DRF_BACKEND_") and k != "GUNICORN_CMD_ARGS"
    }
    pythonpath = [str(REPO_ROOT)]
    if env.get("PYTHONPATH"):
        pythonpath.append(env["PYTHONPATH"])
    env.update(
        PYTHONPATH=os.pathsep.join(pythonpath),
        DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
        DRF_BACKEND_DATA_DIR=str(data_dir),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def live_group_members(pgid: int) -> list[int]:
    """Pids of the process group's processes that are not zombies (Linux /proc)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            live.append(int(stat.parent.name))
    return live


_template_lock = threading.Lock()
_template_db: Path | None = None


def _migrated_template() -> Path:
    """A migrated, empty database, made once per process (``manage.py migrate``)."""
    global _template_db
    with _template_lock:
        if _template_db is None or not _template_db.exists():
            directory = Path(tempfile.mkdtemp(prefix="drf-backend-template-"))
            atexit.register(shutil.rmtree, directory, True)
            completed = subprocess.run(
                [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
                cwd=REPO_ROOT,
                env=_child_env(directory),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if completed.returncode != 0:
                raise DrfBackendError(
                    f"migrate failed ({completed.returncode}): "
                    f"{(completed.stderr or completed.stdout).strip()[-2000:]}"
                )
            _template_db = directory / "db.sqlite3"
        return _template_db


class DrfBackend:
    """A real DRF backend behaving like IGNY8's, under gunicorn on 127.0.0.1.

    Options (each becomes an environment variable read by ``settings.py``):
    ``page_size`` of ``PageNumberPagination``; ``secure_ssl_redirect`` (every http
    request answered 301 to https); ``throttle_rate``, a DRF rate such as
    ``"2/min"`` (``None``: no throttling); ``wrapped_errors`` (IGNY8-style
    ``{"success": false, "error", "errors"}`` bodies instead of DRF's).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        page_size: int = 10,
        secure_ssl_redirect: bool = False,
        throttle_rate: str | None = None,
        wrapped_errors: bool = False,
        startup_timeout: float = 60.0,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        self.workdir = Path(workdir)
        self.page_size = page_size
        self.secure_ssl_redirect = secure_ssl_redirect
        self.throttle_rate = throttle_rate
        self.wrapped_errors = wrapped_errors
        self.startup_timeout = startup_timeout
        self.db_path = self.workdir / "db.sqlite3"
        self.access_log_path = self.workdir / "access.log"
        self.error_log_path = self.workdir / "gunicorn.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> DrfBackend:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        if self._process is not None:
            raise DrfBackendError("already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.db_path.exists():
            shutil.copyfile(_migrated_template(), self.db_path)
        env = _child_env(
            self.workdir,
            {
                "DRF_BACKEND_PAGE_SIZE": str(self.page_size),
                "DRF_BACKEND_SECURE_SSL_REDIRECT": "1" if self.secure_ssl_redirect else "0",
                "DRF_BACKEND_THROTTLE_RATE": self.throttle_rate or "",
                "DRF_BACKEND_WRAPPED_ERRORS": "1" if self.wrapped_errors else "0",
            },
        )
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(128)
            self._port = listener.getsockname()[1]
            fd = listener.fileno()
            with open(self.error_log_path, "ab") as error_log:
                self._process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "--config",
                        str(GUNICORN_CONFIG),
                        "--bind",
                        f"fd://{fd}",
                        "--access-logfile",
                        str(self.access_log_path),
                        "--error-logfile",
                        "-",
                    ],
                    cwd=REPO_ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=error_log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(fd,),
                    start_new_session=True,
                )
        finally:
            listener.close()  # gunicorn has its own copy; ours must not hold connections
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    def _wait_ready(self) -> None:
        assert self._process is not None and self._port is not None
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise DrfBackendError(
                    f"gunicorn exited with status {self._process.returncode}: "
                    f"{self.error_log()[-3000:]}"
                )
            conn = http.client.HTTPConnection(
                "127.0.0.1", self._port, timeout=max(0.1, min(5.0, deadline - time.monotonic()))
            )
            try:
                conn.request("GET", READY_PATH)
                conn.getresponse().read()
                return
            except (OSError, http.client.HTTPException) as exc:
                last_error = exc
                time.sleep(0.05)
            finally:
                conn.close()
        raise DrfBackendError(
            f"gunicorn did not answer within {self.startup_timeout:.0f} s ({last_error}): "
            f"{self.error_log()[-3000:]}"
        )

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        # SIGKILL to the whole group (master and workers at once): gunicorn's own
        # shutdown takes 0.7 to 3.5 s here and saves nothing a test needs (each
        # answer's database writes are committed and its access-log line flushed).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
        # The workers die a moment later (and are reaped by init, not by us).
        deadline = time.monotonic() + 10
        while live_group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.01)

    # ---------------------------------------------------------------- addresses

    @property
    def port(self) -> int:
        if self._port is None:
            raise DrfBackendError("not started")
        return self._port

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL the agent is configured with (``backend.url``)."""
        return f"{self.origin}/api"

    def integrations_url(self) -> str:
        return f"{self.url}/v1/integration/integrations/"

    def update_structure_url(self, integration_id: int) -> str:
        return f"{self.integrations_url()}{integration_id}/update-structure/"

    # ------------------------------------------------------------- seed and read

    def _db(self) -> sqlite3.Connection:
        if not self.db_path.exists():
            shutil.copyfile(_migrated_template(), self.db_path)
        conn = sqlite3.connect(self.db_path, timeout=20, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def add_site(
        self, site_id: int, api_key: str, active: bool = True, *, name: str | None = None
    ) -> None:
        with contextlib.closing(self._db()) as conn:
            conn.execute(
                "INSERT INTO integration_site (id, name, api_key, is_active, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    site_id,
                    name if name is not None else f"Site {site_id}",
                    api_key,
                    active,
                    _now_sql(),
                ),
            )

    def set_site_active(self, site_id: int, active: bool) -> None:
        with contextlib.closing(self._db()) as conn:
            cursor = conn.execute(
                "UPDATE integration_site SET is_active = ? WHERE id = ?", (active, site_id)
            )
            if cursor.rowcount != 1:
                raise KeyError(f"no site {site_id}")

    def add_integration(
        self,
        site_id: int,
        platform: str = "wordpress",
        is_active: bool = True,
        *,
        integration_id: int | None = None,
    ) -> int:
        """Adds an integration of the site; returns its id (the next free one by default)."""
        now = _now_sql()
        with contextlib.closing(self._db()) as conn:
            cursor = conn.execute(
                "INSERT INTO integration_siteintegration"
                " (id, site_id, platform, is_active, structure, last_structure_fetch,"
                "  created_at, updated_at)"
                " VALUES (?, ?, ?, ?, NULL, NULL, ?, ?)",
                (integration_id, site_id, platform, is_active, now, now),
            )
            assert cursor.lastrowid is not None
            return int(cursor.lastrowid)

    def delete_integration(self, integration_id: int) -> None:
        with contextlib.closing(self._db()) as conn:
            cursor = conn.execute(
                "DELETE FROM integration_siteintegration WHERE id = ?", (integration_id,)
            )
            if cursor.rowcount != 1:
                raise KeyError(f"no integration {integration_id}")

    def stored_structure(self, integration_id: int) -> dict[str, Any] | None:
        """The structure payload the backend stored (None before the first push)."""
        with contextlib.closing(self._db()) as conn:
            row = conn.execute(
                "SELECT structure FROM integration_siteintegration WHERE id = ?",
                (integration_id,),
            ).fetchone()
        if row is None:
            raise KeyError(f"no integration {integration_id}")
        return None if row[0] is None else json.loads(row[0])

    # --------------------------------------------------------------------- logs

    def access_log(self, *, min_entries: int = 0, timeout: float = 5.0) -> list[AccessLogEntry]:
        """gunicorn's access log, one entry per request answered (probes left out).

        gunicorn writes a line just after the answer is sent, so a test that has
        just had its answer may ask for ``min_entries`` to wait (up to ``timeout``).
        """
        deadline = time.monotonic() + timeout
        while True:
            entries = self._read_access_log()
            if len(entries) >= min_entries or time.monotonic() >= deadline:
                return entries
            time.sleep(0.02)

    def _read_access_log(self) -> list[AccessLogEntry]:
        try:
            text = self.access_log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        entries = []
        for line in text.splitlines():
            parts = line.split("\t")
            if len(parts) != 5 or not parts[3].isdigit():
                continue  # a line being written
            method, path, query, status, started = parts
            if path == READY_PATH:
                continue
            try:
                at = float(started)
            except ValueError:
                at = 0.0  # answered before reaching Django (a malformed request)
            entries.append(
                AccessLogEntry(method, path, "" if query == "-" else query, int(status), at)
            )
        entries.sort(key=lambda entry: entry.at)  # unknown times (0.0) first
        return entries

    def error_log(self) -> str:
        """gunicorn's own log and the workers' stderr (500 tracebacks land here)."""
        try:
            return self.error_log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
