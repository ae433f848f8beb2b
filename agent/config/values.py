"""Reading one value of a given kind (see schema.py), or saying what is wrong with it.

Each reader returns the value, or raises `Wrong` with the problem, phrased for
the operator, never quoting more than the first characters of what was given.
Strings are accepted for numbers and flags: `${VAR}` interpolation always
yields strings.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.config.schema import (
    BOOLEAN,
    CHOICE,
    CRON,
    INTEGER,
    LISTEN,
    NAME,
    NAMES,
    NUMBER,
    PATH,
    STRING,
    TIMEZONE,
    TLS,
    URL,
    Key,
)

SHOWN_LIMIT = 40  # characters of a wrong value quoted back in a problem line
SITE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class Wrong(Exception):
    """What is wrong with a value."""


def kind_of(value: Any) -> str:
    return {dict: "a mapping", list: "a list", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def shown(value: Any) -> str:
    if isinstance(value, str) and len(value) > SHOWN_LIMIT:
        return repr(value[:SHOWN_LIMIT]) + "…"
    return repr(value) if isinstance(value, (str, int, float, bool)) else kind_of(value)


def read(key: Key, value: Any, beside: Path) -> Any:
    """The value of `key` from what the YAML gave; raise Wrong. `beside`: the config's
    directory, for relative paths."""
    reader = READERS[key.kind]
    return reader(key, value, beside)


def _string(key: Key, value: Any, beside: Path) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise Wrong(f"must be a string, not {kind_of(value)}")
    text = str(value)
    if key.required and not text.strip():
        raise Wrong("must not be empty")
    return text


def _name(key: Key, value: Any, beside: Path) -> str:
    name = _string(key, value, beside)
    if not SITE_NAME.match(name):
        raise Wrong(f"{name!r} may only hold letters, digits, '-' and '_'")
    return name


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def _integer(key: Key, value: Any, beside: Path) -> int:
    number = as_int(value)
    if number is None:
        raise Wrong(f"must be a whole number{_of_seconds(key)}, not {shown(value)}")
    if key.minimum is not None and number < key.minimum:
        raise Wrong(f"must be at least {key.minimum:g}, not {number}")
    if key.maximum is not None and number > key.maximum:
        raise Wrong(f"must be at most {key.maximum:g}, not {number}")
    return number


def _number(key: Key, value: Any, beside: Path) -> float:
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise Wrong(f"must be a number{_of_seconds(key)}, not {shown(value)}")
    if key.above is not None and number <= key.above:
        raise Wrong(f"must be greater than {key.above:g}, not {number:g}")
    return number


def _of_seconds(key: Key) -> str:
    """The words "of seconds" for a key counted in seconds (where "1h" is likely)."""
    return " of seconds" if key.help.startswith("seconds") else ""


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {
            "true": True, "yes": True, "1": True, "on": True,
            "false": False, "no": False, "0": False, "off": False,
        }.get(value.strip().lower())  # fmt: skip
    return None


def _boolean(key: Key, value: Any, beside: Path) -> bool:
    flag = as_bool(value)
    if flag is None:
        raise Wrong(f"must be true or false, not {shown(value)}")
    return flag


def _choice(key: Key, value: Any, beside: Path) -> str:
    text = _string(key, value, beside)
    if text.lower() not in key.choices:
        raise Wrong(f"must be one of {', '.join(key.choices)}, not {text!r}")
    return text.lower()


def _names(key: Key, value: Any, beside: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise Wrong("must be a list of names, e.g. [attachment]")
    return tuple(value)


def _url(key: Key, value: Any, beside: Path) -> str:
    url = _string(key, value, beside).strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise Wrong("is not a valid URL (check the host and port)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Wrong("must be an http:// or https:// URL with a host name")
    host_problem = _host_problem(parts.hostname)
    if host_problem:
        raise Wrong(host_problem)
    if parts.username or parts.password:
        # Never echo the URL here: it holds a credential.
        raise Wrong("must not contain a user name or password; put credentials in their own keys")
    if parts.query or parts.fragment:
        raise Wrong("must not have '?' or '#' parts")
    return url.rstrip("/")


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


def _tls(key: Key, value: Any, beside: Path) -> bool | str:
    flag = as_bool(value)
    if flag is not None:
        return flag
    if not isinstance(value, str):
        raise Wrong("must be true, false or the path of a CA bundle")
    path = resolve(value, beside)
    import ssl  # only when there is a CA bundle to check

    try:
        if path.is_dir():
            ssl.create_default_context(capath=str(path))
        else:
            ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        reason = "does not exist" if isinstance(exc, FileNotFoundError) else "is not usable"
        raise Wrong(f"CA bundle {path} {reason} ({exc.strerror or exc})") from None
    return str(path)


def _path(key: Key, value: Any, beside: Path) -> Path:
    text = _string(key, value, beside).strip()
    if not text:
        raise Wrong("must be a path")
    return resolve(text, beside)


def resolve(name: str, beside: Path) -> Path:
    path = Path(name)
    return path if path.is_absolute() else beside / path


def _cron(key: Key, value: Any, beside: Path) -> str:
    cron = _string(key, value, beside)
    if cron == key.default:
        return cron  # known good: no need to load the scheduler to check it
    from agent.schedule import crontab_triggers  # only when there is a cron to check

    try:
        crontab_triggers(cron, ZoneInfo("UTC"))
    except ValueError as exc:
        raise Wrong(
            f"must be a crontab expression like '0 3 * * *', not {cron!r} ({exc})"
        ) from None
    return cron


def _timezone(key: Key, value: Any, beside: Path) -> str:
    name = _string(key, value, beside)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Wrong(f"unknown time zone {name!r} (use a name like Europe/Berlin)") from None
    return name


def _listen(key: Key, value: Any, beside: Path) -> tuple[str, int]:
    """(host, port) of "127.0.0.1:9817", "[::1]:9817" or ":9817" (every IPv4 address, as
    exporters write it)."""
    text = _string(key, value, beside).strip()
    host, colon, port = text.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    if (
        not colon
        or not (port.isascii() and port.isdigit())
        or not 0 < int(port) < 65536
        or not re.fullmatch(r"[A-Za-z0-9.:_-]+", host)
    ):
        raise Wrong(
            "must be host:port, e.g. 127.0.0.1:9817 (or :9817 for every IPv4 address), "
            f"not {text!r}"
        )
    return host, int(port)


READERS: dict[str, Callable[[Key, Any, Path], Any]] = {
    STRING: _string,
    NAME: _name,
    INTEGER: _integer,
    NUMBER: _number,
    BOOLEAN: _boolean,
    CHOICE: _choice,
    NAMES: _names,
    URL: _url,
    TLS: _tls,
    PATH: _path,
    CRON: _cron,
    TIMEZONE: _timezone,
    LISTEN: _listen,
}
