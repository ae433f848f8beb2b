"""Logging to stderr: one line per event, each naming its site, secrets masked."""

from __future__ import annotations

import collections
import logging
import os
import sys
import warnings
from collections.abc import Callable

from agent.secret import know_secrets, mask_known
from agent.text import printable

MAX_MESSAGE_CHARS = 4000  # ours quote at most 500 characters of a peer's text
MAX_TRACE_CHARS = 2000  # a traceback folded into its log line keeps its last characters
AGENT = "agent"  # the "site" shown on lines that concern no single site
# Where a module logs: a logger, or one that names a site (site_log).
Log = logging.Logger | logging.LoggerAdapter[logging.Logger]

_redacting_filter: _RedactSecrets | None = None


class _RedactSecrets(logging.Filter):
    """Masks every known credential in a finished log line, whatever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact = mask_known
        try:
            message = record.getMessage()
        except Exception:  # a bad log call: show it (masked) as one line, never a traceback
            message = f"{record.msg} {record.args!r}"
        record.msg = _bounded(redact(message))  # masked whole first: no secret is cut in two
        record.args = None
        if record.exc_info or record.stack_info:
            # One line per event, a traceback included: its lines joined with " | ".
            formatter = logging.Formatter()
            text = formatter.formatException(record.exc_info) if record.exc_info else ""
            text += "\n" + formatter.formatStack(record.stack_info) if record.stack_info else ""
            record.msg += f" | {_one_line_trace(redact(text))}"
            record.exc_info = record.exc_text = record.stack_info = None
        return True


def _one_line_trace(text: str) -> str:
    """A traceback on one line; a long one keeps its end, where the error is."""
    trace = " | ".join(line.strip() for line in text.splitlines() if line.strip())
    if len(trace) > MAX_TRACE_CHARS:
        trace = "… " + trace[-MAX_TRACE_CHARS:]
    return trace


def _bounded(message: str) -> str:
    """A log line of sane length, whatever a library or a peer put in it."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return f"{message[:MAX_MESSAGE_CHARS]}… ({len(message) - MAX_MESSAGE_CHARS} more characters)"


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
    _quiet_libraries()


def relay_logging(send: Callable[[logging.LogRecord], None], level: int) -> None:
    """Log by handing each record, secrets masked and made one line, to `send` (a worker
    process sends them to the pass's process, which writes them as its own)."""
    global _redacting_filter
    _redacting_filter = _RedactSecrets()
    handler = _Relay(send)
    handler.addFilter(_redacting_filter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    _quiet_libraries()


class _Relay(logging.Handler):
    def __init__(self, send: Callable[[logging.LogRecord], None]):
        super().__init__()
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.send(record)
        except Exception:  # noqa: BLE001 - logging never fails the work (logging's own rule)
            self.handleError(record)


def _quiet_libraries() -> None:
    # urllib3 logs full request lines at debug, and at warning quotes a peer's bad
    # headers whole, with the URL and a traceback; http.py says what went wrong itself.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    # APScheduler logs every job run at info; the daemon logs its passes itself.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # verify: false is the operator's choice; urllib3 would warn on every request
    # in several lines. The config's load logs one line per site instead.
    warnings.filterwarnings("ignore", message="Unverified HTTPS request")  # urllib3's
    logging.captureWarnings(True)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(level.upper())


def mask_secrets(secrets: list[str]) -> None:
    """From now on, these values never reach a log line, nor a peer's text the agent
    quotes."""
    know_secrets(secrets)


def site_log(site: str, name: str = "agent") -> logging.LoggerAdapter[logging.Logger]:
    """A logger whose lines name `site`."""
    return logging.LoggerAdapter(logging.getLogger(name), {"site": site})


class _Quiet(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Info and warnings at debug level: for work that runs often and says little."""

    def info(self, msg: object, *args: object, **kwargs: object) -> None:
        self.debug(msg, *args, **kwargs)  # type: ignore[arg-type]

    def warning(self, msg: object, *args: object, **kwargs: object) -> None:
        self.debug(msg, *args, **kwargs)  # type: ignore[arg-type]


def quiet_site_log(site: str, name: str = "agent") -> logging.LoggerAdapter[logging.Logger]:
    """A logger whose lines name `site`, its info and warnings lowered to debug."""
    return _Quiet(logging.getLogger(name), {"site": site})


class LogTail(logging.Handler):
    """The last lines logged (at most `limit` bytes of them), secrets masked: the body of
    a check-in. Attach with `capture_tail()`, read with `text()`."""

    def __init__(self, limit: int):
        super().__init__(logging.INFO)
        self.limit = limit
        self._lines: collections.deque[str] = collections.deque()
        self._size = 0
        self.setFormatter(
            _SiteFormatter(
                "%(asctime)s %(levelname)s [%(site)s] %(message)s", datefmt="%Y-%m-%dT%H:%M:%S%z"
            )
        )
        if _redacting_filter is not None:
            self.addFilter(_redacting_filter)

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record).encode("utf-8", errors="replace")[: self.limit]
        with self.lock:  # type: ignore[union-attr]
            self._lines.append(line.decode("utf-8", errors="ignore"))
            self._size += len(line) + 1
            while self._size > self.limit and self._lines:
                self._size -= len(self._lines.popleft().encode()) + 1

    def text(self) -> str:
        with self.lock:  # type: ignore[union-attr]
            return "\n".join(self._lines) + ("\n" if self._lines else "")


def capture_tail(limit: int) -> LogTail:
    tail = LogTail(limit)
    logging.getLogger().addHandler(tail)
    return tail


def release_tail(tail: LogTail) -> None:
    logging.getLogger().removeHandler(tail)
