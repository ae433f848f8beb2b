"""Times as the agent writes and reads them: UTC, ISO 8601 to the second, ending in Z
(the payload's `timestamp`, the state, `status`, the daemon's STATUS= line)."""

from __future__ import annotations

from datetime import UTC, datetime

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> datetime:
    """Now, in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(FORMAT)


def now_iso() -> str:
    return iso(utc_now())


def parse_iso(text: str | None) -> datetime | None:
    """A time the agent wrote, or None for anything else."""
    try:
        return datetime.strptime(text or "", FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
