"""A string wrapper that never prints its value.

Credentials are kept as `Secret` from the moment the config is read, so a
stray `repr()` of a config object, a log line or a traceback shows `'***'`.
Only the code that puts the value on the wire calls `reveal()`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret in `text` with the mask."""
    return Redactor(secrets)(text)


class Redactor:
    """Masks a fixed set of secrets in any text, in one scan whatever their number
    (a fleet has thousands; every log line and error message goes through this)."""

    def __init__(self, secrets: Iterable[str]):
        values = sorted({value for value in secrets if value}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern is not None else text


_known = Redactor(())


def know_secrets(values: Iterable[str]) -> None:
    """The secrets of the running config: from now on masked in every log line and in
    every peer's text the agent quotes (before it is cut, so no part of one survives)."""
    global _known
    _known = Redactor(values)


def mask_known(text: str) -> str:
    """`text` with every secret given to `know_secrets` masked."""
    return _known(text)
