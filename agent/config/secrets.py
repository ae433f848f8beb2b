"""Reading secrets: given inline (often as `${VAR}`) or in a file (`<key>_file`).

A relative file name is looked up in `$CREDENTIALS_DIRECTORY` (systemd's
`LoadCredential=`) first, then beside the config file. A secret must be one
line of what an HTTP header can carry; a file holding one must not be larger
than MAX_SECRET_FILE_BYTES. Problems never quote the secret.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from pathlib import Path
from typing import Any

from agent.config.values import Wrong
from agent.secret import Secret

MAX_SECRET_FILE_BYTES = 64 * 1024
UNREAD = "(not read)"  # stands for a secret the command does not need


class SecretProblem(Exception):
    """A problem of a secret, and the key (`api_key` or `api_key_file`) it belongs to."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def read_secret(
    name: str,
    section: dict[Any, Any],
    *,
    config_path: Path,
    seen: list[str],
    warnings: list[str],
    key_path: str,
    file_as_written: str | None = None,
) -> Secret | None:
    """The secret `name` of a mapping (or None when it has none); raise SecretProblem.

    Every value read is added to `seen` (masked in the config's problems, even a bad
    one); a file others can read adds a warning. `file_as_written` is the `<name>_file`
    value before `${VAR}`s were replaced: what a problem may show of it.
    """
    file_key = f"{name}_file"
    inline, from_file = section.get(name), section.get(file_key)
    if inline is not None and from_file is not None:
        raise SecretProblem(name, f"give either {name} or {file_key}, not both")
    if from_file is not None:
        shown = file_as_written if file_as_written is not None else from_file
        return _from_file(file_key, from_file, shown, config_path, seen, warnings, key_path)
    if inline is None:
        return None
    if not isinstance(inline, str) or not inline.strip():
        raise SecretProblem(name, "must be a non-empty string")
    value = inline.strip()
    seen.append(value)
    problem = header_problem(value)
    if problem:
        raise SecretProblem(name, f"{problem}: paste it again")
    return Secret(value)


def _from_file(
    file_key: str,
    name: Any,
    as_written: Any,
    config_path: Path,
    seen: list[str],
    warnings: list[str],
    key_path: str,
) -> Secret:
    if not isinstance(name, str) or not name.strip():
        raise SecretProblem(file_key, "must be a file name")
    path = find_secret_file(name, config_path.parent)
    if path is None:
        where = f"in $CREDENTIALS_DIRECTORY nor beside {config_path}"
        if as_written != name:  # it came from ${VAR}s: name them, never their value
            raise SecretProblem(file_key, f"the file {as_written} names is not found {where}")
        if not looks_like_a_file_name(name):
            raise SecretProblem(
                file_key,
                f"no such file {where}. The value is not shown: it does not look like a "
                f"file name. If it is the secret itself, give it as {file_key[:-5]} instead",
            )
        raise SecretProblem(file_key, f"file {name!r} not found {where}")
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise SecretProblem(file_key, f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > MAX_SECRET_FILE_BYTES:
        raise SecretProblem(
            file_key,
            f"{path} is larger than {MAX_SECRET_FILE_BYTES // 1024} KiB: it should hold one "
            "secret on one line; is it the right file?",
        )
    try:
        value = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise SecretProblem(file_key, f"{path} is not UTF-8 text") from None
    seen.append(value)
    if not value.strip():
        raise SecretProblem(file_key, f"{path} is empty")
    problem = header_problem(value)
    if problem:
        raise SecretProblem(file_key, f"{path} {problem}: write the secret again, on one line")
    if readable_by_others(path):
        warnings.append(
            f"{key_path}: {path} holds a secret and is readable by other users; "
            f"run: chmod o-rwx {path}"
        )
    return Secret(value)


def looks_like_a_file_name(name: str) -> bool:
    """Whether `name` may be quoted in a problem: a path or a short name, not what a
    secret pasted into the wrong key looks like (long, a URL, or spaced like a
    WordPress application password)."""
    if "://" in name or any(char.isspace() for char in name):
        return False
    return "/" in name or "." in name or len(name) < 24


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


def check_header(value: str, *, latin1: bool = False) -> str:
    """`value`, or Wrong saying why an HTTP header cannot carry it."""
    problem = header_problem(value, latin1=latin1)
    if problem:
        raise Wrong(problem)
    return value


def find_secret_file(name: str, config_dir: Path) -> Path | None:
    path = Path(name)
    if path.is_absolute():
        return path if _is_file(path) else None
    candidates = []
    credentials_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials_dir:
        candidates.append(Path(credentials_dir) / name)
    candidates.append(config_dir / name)
    return next((c for c in candidates if _is_file(c)), None)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a directory we may not search
        return False


def readable_by_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & stat.S_IROTH)
    except OSError:
        return False
