"""The state dir: per site, the last results and the integration id in use.

One JSON file, rewritten atomically (temp file, fsync, rename), so a crash
leaves either the old or the new file, never a torn one. It never holds
secrets: only the fields of SiteState.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.errors import StateError

log = logging.getLogger(__name__)

STATE_NAME = "state.json"
FORMAT_VERSION = 1


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


def utc_now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


class StateStore:
    # The daemon's main thread may record an abandoned site while a pass writes.
    _update_lock = threading.Lock()

    def __init__(self, state_dir: Path):
        self.dir = state_dir
        self.path = state_dir / STATE_NAME

    def ensure_dir(self) -> None:
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create the state dir {self.dir}: {exc.strerror}; set state_dir in the "
                "config to a writable directory"
            ) from None

    def load(self) -> dict[str, SiteState]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror}") from None
        except (ValueError, RecursionError):
            log.warning("%s is not valid JSON; starting from an empty state", self.path)
            return {}
        sites = raw.get("sites") if isinstance(raw, dict) else None
        if not isinstance(sites, dict):
            return {}
        return {name: _site_state(entry) for name, entry in sites.items()}

    def save(self, sites: dict[str, SiteState]) -> None:
        document = {"version": FORMAT_VERSION,
                    "sites": {name: asdict(state) for name, state in sorted(sites.items())}}
        self._write_atomically(json.dumps(document, indent=2, ensure_ascii=False) + "\n")

    def update(self, name: str, state: SiteState) -> None:
        with self._update_lock:
            sites = self.load()
            sites[name] = state
            self.save(sites)

    def _write_atomically(self, text: str) -> None:
        try:
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".state.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            dir_fd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StateError(f"cannot write {self.path}: {exc.strerror}") from None


def _site_state(entry: Any) -> SiteState:
    """A site's state as stored, each field of the wrong type (a hand edit) dropped."""
    if not isinstance(entry, dict):
        return SiteState()
    kept = {}
    for item in fields(SiteState):
        value = entry.get(item.name)
        if value is None or _has_type(value, item.name):
            kept[item.name] = value
        else:
            log.warning("state: ignoring %s=%r (not what the agent writes)", item.name, value)
    return SiteState(**kept)


def _has_type(value: Any, name: str) -> bool:
    if name in ("last_success", "last_attempt", "last_error"):
        return isinstance(value, str)
    # ids and counts: whole numbers, not bools; ids positive
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    return value >= 0 if name.endswith("_count") else value > 0
