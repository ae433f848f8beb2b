"""Logging to stderr: one line per event, each naming its site, secrets masked."""

from __future__ import annotations

import logging
import os
import sys
import warnings

from urllib3.exceptions import InsecureRequestWarning

from agent.secret import Redactor
from agent.text import printable

AGENT = "agent"  # the "site" shown on lines that concern no single site

_redacting_filter: _RedactSecrets | None = None


class _RedactSecrets(logging.Filter):
    """Masks every known credential in a finished log line, whatever logged it."""

    def __init__(self) -> None:
        super().__init__()
        self.redact: Redactor | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self.redact is not None:
            try:
                message = record.getMessage()
            except Exception:  # a bad log call: show it, masked, rather than raise
                message = f"{record.msg} {record.args!r}"
            record.msg = self.redact(message)
            record.args = None
            if record.exc_info:
                text = logging.Formatter().formatException(record.exc_info)
                record.exc_text = self.redact(text)
                record.exc_info = None
        return True


class _SiteFormatter(logging.Formatter):
    """`[site] message`, the message made one printable line (control characters from a
    peer, such as a slug with terminal escapes or a newline, are shown as escapes)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        if not hasattr(record, "site"):
            record.site = AGENT
        record.message = printable(record.message)
        return super().formatMessage(record)


def setup_logging(level: str = "info") -> None:
    """Log to stderr; under systemd (journald) without timestamps of our own."""
    global _redacting_filter
    under_journald = bool(os.environ.get("JOURNAL_STREAM"))
    fmt = "%(levelname)s [%(site)s] %(message)s"
    if not under_journald:
        fmt = "%(asctime)s " + fmt
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SiteFormatter(fmt, datefmt="%Y-%m-%dT%H:%M:%S%z"))
    _redacting_filter = _RedactSecrets()
    handler.addFilter(_redacting_filter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    set_level(level)
    # urllib3 logs full request lines at debug; ours (http.py) are enough.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # APScheduler logs every job run at info; the daemon logs its passes itself.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # verify: false is the operator's choice; urllib3 would warn on every request
    # in several lines. The config's load logs one line per site instead.
    warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    logging.captureWarnings(True)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(level.upper())


def mask_secrets(secrets: list[str]) -> None:
    """From now on, these values never reach stderr through logging."""
    if _redacting_filter is not None:
        _redacting_filter.redact = Redactor(secrets)


def site_log(site: str, name: str = "agent") -> logging.LoggerAdapter[logging.Logger]:
    """A logger whose lines name `site`."""
    return logging.LoggerAdapter(logging.getLogger(name), {"site": site})
