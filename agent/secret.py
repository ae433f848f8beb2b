"""A string wrapper that never prints its value.

Credentials are kept as `Secret` from the moment the config is read, so a
stray `repr()` of a config object, a log line or a traceback shows `'***'`.
Only the code that puts the value on the wire calls `reveal()`.
"""

from __future__ import annotations

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


def redact(text: str, secrets: list[str]) -> str:
    """Replace every occurrence of each secret in `text` with the mask."""
    for value in sorted(secrets, key=len, reverse=True):
        if value:
            text = text.replace(value, MASK)
    return text
