"""A point in time by which some work must be done, on the monotonic clock.

Every request has one (its `timeout`, for the whole answer, however slowly it
trickles in), and so does every site's whole read (`wordpress.deadline`): a
request's own deadline is the earlier of the two. Retries never wait past a
deadline either.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadline:
    at: float  # time.monotonic()
    what: str  # for messages: "sites[0].wordpress.deadline (120 s)"

    @classmethod
    def after(cls, seconds: float, what: str) -> Deadline:
        return cls(time.monotonic() + seconds, what)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


def earliest(*deadlines: Deadline | None) -> Deadline | None:
    """The deadline that comes first; None when there is none."""
    present = [d for d in deadlines if d is not None]
    return min(present, key=lambda d: d.at) if present else None
