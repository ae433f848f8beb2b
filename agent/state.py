"""The state dir: per site, the last results, the integration id in use, and a short
history of attempts — one SQLite database, `<state_dir>/state.db`.

Why SQLite: recording one site's result is one short transaction, whatever the
size of the fleet (a JSON file rewritten whole after every site cost the square
of it), and a crash or kill -9 at any moment leaves the last committed state
(WAL journal). It never holds secrets: only the fields below.

- `sites`: the latest of each site — what `status` shows.
- `attempts`: the last HISTORY attempts of each site (time, ok, error, duration,
  requests made, counts, the hash of the structure pushed).

A database that cannot be opened or fails its check is moved aside (said
loudly, never silently dropped) and a new one started; an older `state.json`
is imported once and kept beside it, renamed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.errors import StateError

log = logging.getLogger(__name__)

DB_NAME = "state.db"
LEGACY_NAME = "state.json"
SCHEMA_VERSION = 1
HISTORY = 10  # attempts kept per site
BUSY_TIMEOUT_MS = 10_000
MAX_LEGACY_BYTES = 64 * 1024 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS sites (
    name TEXT PRIMARY KEY,
    last_success TEXT,
    last_attempt TEXT,
    last_error TEXT,
    integration_id INTEGER,
    integration_id_replaces INTEGER,
    post_types_count INTEGER,
    taxonomies_count INTEGER,
    structure_hash TEXT,
    api_root TEXT,
    xmlrpc_endpoint TEXT
);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    at TEXT NOT NULL,
    ok INTEGER NOT NULL,
    error TEXT,
    duration_seconds REAL,
    requests INTEGER,
    post_types_count INTEGER,
    taxonomies_count INTEGER,
    structure_hash TEXT
);
CREATE INDEX IF NOT EXISTS attempts_by_site ON attempts (site, id);
"""


@dataclass
class SiteState:
    last_success: str | None = None  # ISO 8601, UTC
    last_attempt: str | None = None
    last_error: str | None = None
    integration_id: int | None = None
    # The configured integration_id that `integration_id` replaces after a 404;
    # None when integration_id came from the config or from a plain lookup.
    integration_id_replaces: int | None = None
    post_types_count: int | None = None
    taxonomies_count: int | None = None
    structure_hash: str | None = None  # of the structure last pushed (slugs and labels)
    # Where the last successful read found the site's APIs: tried first next time.
    api_root: str | None = None
    xmlrpc_endpoint: str | None = None

    def status(self) -> dict[str, Any]:
        """The public view, as `status --json` shows it (CONTRACT §6)."""
        return {
            "last_success": self.last_success,
            "last_attempt": self.last_attempt,
            "last_error": self.last_error,
            "integration_id": self.integration_id,
            "post_types_count": self.post_types_count,
            "taxonomies_count": self.taxonomies_count,
        }


@dataclass(frozen=True)
class Attempt:
    """One try of one site, for the history."""

    at: str
    ok: bool
    error: str | None = None
    duration_seconds: float | None = None
    requests: int | None = None
    post_types_count: int | None = None
    taxonomies_count: int | None = None
    structure_hash: str | None = None


STATE_FIELDS = tuple(f.name for f in fields(SiteState))


class StateStore:
    """The state database of one state dir; safe to share between threads."""

    def __init__(self, state_dir: Path, *, read_only: bool = False):
        """`read_only` (for `status`): create, import and move nothing; an unusable
        database is an error that says the next pass moves it aside."""
        self.dir = state_dir
        self.path = state_dir / DB_NAME
        self.read_only = read_only
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    # --- opening ----------------------------------------------------------------

    def ensure_dir(self) -> None:
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create the state dir {self.dir}: {exc.strerror}; set state_dir in the "
                "config to a writable directory"
            ) from None

    def open(self) -> None:
        """Open the database now (creating it, importing state.json or moving a damaged
        one aside) rather than at its first use. A failure is left to that use to say."""
        with contextlib.suppress(StateError), self._transaction():
            pass

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            connection = self._connect()
            try:
                with connection:  # BEGIN ... COMMIT, or ROLLBACK on an exception
                    yield connection
            except sqlite3.Error as exc:
                raise StateError(f"cannot use {self.path}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None and self.read_only:
            self._connection = self._open_read_only()
        if self._connection is None:
            existed = self.path.exists()
            self._connection = self._open_or_replace()
            if not existed:
                self._import_legacy(self._connection)
        return self._connection

    def _open_or_replace(self) -> sqlite3.Connection:
        try:
            return self._open()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and not self._looks_damaged(exc):
                raise StateError(f"cannot open {self.path}: {exc}") from None
            moved = self._move_aside(str(exc))
            log.error(
                "the state database %s could not be used (%s): moved it to %s and "
                "started a new one; `status` forgets the earlier results, the next pass "
                "records new ones",
                self.path,
                exc,
                moved,
            )
        try:
            return self._open()
        except sqlite3.Error as exc:
            raise StateError(f"cannot open {self.path}: {exc}") from None

    def _open_read_only(self) -> sqlite3.Connection:
        """The database as it is, or an empty one in memory (with what state.json holds)
        when there is none yet."""
        if not self.path.exists():
            connection = sqlite3.connect(":memory:", check_same_thread=False)
            connection.executescript(SCHEMA)
            legacy = self.dir / LEGACY_NAME
            if legacy.is_file():
                _insert_sites(connection, _read_legacy(legacy) or {})
            return connection
        try:
            connection = sqlite3.connect(
                f"{self.path.as_uri()}?mode=ro",
                uri=True,
                timeout=BUSY_TIMEOUT_MS / 1000,
                check_same_thread=False,
            )
            check = connection.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            self._check_columns(connection)
        except sqlite3.Error as exc:
            raise StateError(
                f"the state database {self.path} cannot be used ({exc}); the "
                "next pass (sync, connect or the daemon) moves it aside and "
                "starts a new one"
            ) from None
        return connection

    def _open(self) -> sqlite3.Connection:
        if not self.path.exists():
            self.ensure_dir()
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
        connection = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None
        )
        try:
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            check = connection.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"written by a newer igny8-agent (schema {version})")
            connection.executescript(SCHEMA)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._check_columns(connection)
        except BaseException:
            connection.close()
            raise
        connection.isolation_level = "DEFERRED"  # transactions from here on
        return connection

    @staticmethod
    def _check_columns(connection: sqlite3.Connection) -> None:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(sites)")}
        missing = set(STATE_FIELDS) - columns - {"name"}
        if missing:
            raise sqlite3.DatabaseError(f"table sites lacks {', '.join(sorted(missing))}")

    @staticmethod
    def _looks_damaged(exc: sqlite3.Error) -> bool:
        text = str(exc).lower()
        return any(
            word in text
            for word in ("malformed", "not a database", "corrupt", "lacks", "integrity")
        )

    def _move_aside(self, why: str) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{DB_NAME}.unusable-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(str(self.path) + suffix)
            if source.exists():
                try:
                    os.replace(source, Path(str(target) + suffix))
                except OSError as exc:
                    raise StateError(
                        f"{self.path} is unusable ({why}) and cannot be moved aside: {exc.strerror}"
                    ) from None
        return target

    # --- reading ------------------------------------------------------------------

    def load(self) -> dict[str, SiteState]:
        """Every site's latest state."""
        with self._transaction() as db:
            rows = db.execute(f"SELECT name, {', '.join(STATE_FIELDS)} FROM sites").fetchall()
        return {row[0]: _state_from_row(row[1:]) for row in rows}

    def get(self, name: str) -> SiteState:
        with self._transaction() as db:
            row = db.execute(
                f"SELECT {', '.join(STATE_FIELDS)} FROM sites WHERE name = ?", (name,)
            ).fetchone()
        return _state_from_row(row) if row else SiteState()

    def history(self, name: str) -> list[Attempt]:
        """The site's last attempts, newest first."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT at, ok, error, duration_seconds, requests, post_types_count, "
                "taxonomies_count, structure_hash FROM attempts WHERE site = ? "
                "ORDER BY id DESC",
                (name,),
            ).fetchall()
        return [Attempt(row[0], bool(row[1]), *row[2:]) for row in rows]

    # --- writing --------------------------------------------------------------------

    def update(self, name: str, state: SiteState, attempt: Attempt | None = None) -> None:
        """Record a site's state (and one attempt), in one short transaction."""
        values = [getattr(state, f) for f in STATE_FIELDS]
        with self._transaction() as db:
            db.execute(
                f"INSERT INTO sites (name, {', '.join(STATE_FIELDS)}) "
                f"VALUES (?, {', '.join('?' for _ in STATE_FIELDS)}) "
                f"ON CONFLICT(name) DO UPDATE SET "
                + ", ".join(f"{f} = excluded.{f}" for f in STATE_FIELDS),
                [name, *values],
            )
            if attempt is not None:
                db.execute(
                    "INSERT INTO attempts (site, at, ok, error, duration_seconds, requests, "
                    "post_types_count, taxonomies_count, structure_hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        attempt.at,
                        int(attempt.ok),
                        attempt.error,
                        attempt.duration_seconds,
                        attempt.requests,
                        attempt.post_types_count,
                        attempt.taxonomies_count,
                        attempt.structure_hash,
                    ),
                )
                db.execute(
                    "DELETE FROM attempts WHERE site = ? AND id NOT IN (SELECT id FROM "
                    "attempts WHERE site = ? ORDER BY id DESC LIMIT ?)",
                    (name, name, HISTORY),
                )

    # --- the state.json of earlier versions -------------------------------------------

    def _import_legacy(self, db: sqlite3.Connection) -> None:
        legacy = self.dir / LEGACY_NAME
        if not legacy.is_file():
            return
        sites = _read_legacy(legacy)
        with self._lock, db:
            _insert_sites(db, sites or {})
        kept = legacy.with_name(LEGACY_NAME + (".imported" if sites is not None else ".unreadable"))
        try:
            os.replace(legacy, kept)
        except OSError as exc:
            log.warning("imported %s but could not rename it: %s", legacy, exc.strerror)
            return
        if sites is not None:
            log.warning(
                "imported %d site(s) from %s into %s; the old file is kept as %s",
                len(sites),
                legacy,
                self.path,
                kept,
            )


def _insert_sites(db: sqlite3.Connection, sites: dict[str, SiteState]) -> None:
    for name, state in sites.items():
        values = [getattr(state, f) for f in STATE_FIELDS]
        db.execute(
            f"INSERT OR REPLACE INTO sites (name, {', '.join(STATE_FIELDS)}) "
            f"VALUES (?, {', '.join('?' for _ in STATE_FIELDS)})",
            [name, *values],
        )


def _read_legacy(path: Path) -> dict[str, SiteState] | None:
    """The sites of a state.json, whatever shape it is in; None (and said) when it
    cannot be read."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_LEGACY_BYTES + 1)
        if len(raw) > MAX_LEGACY_BYTES:
            raise ValueError(f"larger than {MAX_LEGACY_BYTES // (1024 * 1024)} MiB")
        document = json.loads(raw)
    except (OSError, ValueError, RecursionError) as exc:
        log.error(
            "%s cannot be read (%s): nothing imported from it; it is kept (renamed "
            "*.unreadable) for you to look at",
            path,
            exc if not isinstance(exc, RecursionError) else "nested too deeply",
        )
        return None
    sites = document.get("sites") if isinstance(document, dict) else None
    if not isinstance(sites, dict):
        log.error(
            "%s holds no `sites` mapping: nothing imported from it; it is kept "
            "(renamed *.unreadable) for you to look at",
            path,
        )
        return None
    return {str(name): _legacy_site(entry) for name, entry in sites.items()}


def _legacy_site(entry: Any) -> SiteState:
    """A site's state as stored, each field of the wrong type (a hand edit) dropped."""
    if not isinstance(entry, dict):
        return SiteState()
    kept = {}
    for name in STATE_FIELDS:
        value = entry.get(name)
        if value is None or _has_type(value, name):
            kept[name] = value
        else:
            log.warning("state: ignoring %s=%.40r (not what the agent writes)", name, value)
    return SiteState(**kept)


def _state_from_row(row: tuple[Any, ...]) -> SiteState:
    values = dict(zip(STATE_FIELDS, row, strict=True))
    return SiteState(**{k: v if v is None or _has_type(v, k) else None for k, v in values.items()})


def _has_type(value: Any, name: str) -> bool:
    if name in (
        "last_success",
        "last_attempt",
        "last_error",
        "structure_hash",
        "api_root",
        "xmlrpc_endpoint",
    ):
        return isinstance(value, str)
    # ids and counts: whole numbers, not bools; ids positive
    if isinstance(value, bool) or not isinstance(value, int) or value >= 2**63:
        return False
    return value >= 0 if name.endswith("_count") else value > 0
