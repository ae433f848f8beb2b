"""The one retry layer: tenacity around a single request.

Only `TransientError` is retried (connection refused/reset, timeouts,
408/425/429/5xx). Waits grow exponentially with full jitter; a `Retry-After`
from the server replaces the computed wait. The policy stops after
`max_attempts` tries, or before a wait that would end past `max_seconds` from
the first try (so a long Retry-After ends the retries instead of being cut
short), or past the deadline of the work the request belongs to (a site's read).

`sleep` and `wait` are injectable so tests can assert the waits without sleeping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import tenacity

from agent.deadline import Deadline
from agent.errors import TransientError

T = TypeVar("T")

INITIAL_WAIT_SECONDS = 1.0
MAX_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    max_seconds: float = 300.0
    wait: tenacity.wait.wait_base = field(
        default_factory=lambda: tenacity.wait_random_exponential(
            multiplier=INITIAL_WAIT_SECONDS, max=MAX_WAIT_SECONDS
        )
    )
    sleep: Callable[[float], None] = time.sleep
    on_retry: Callable[[], None] | None = None  # told before each retry wait


class _HonourRetryAfter(tenacity.wait.wait_base):
    """Use the server's Retry-After when the last failure carried one."""

    def __init__(self, fallback: tenacity.wait.wait_base):
        self.fallback = fallback

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return float(self.fallback(retry_state))


class _Stop(tenacity.stop.stop_base):
    """The policy's three limits; remembers which one ended the retries, for the message."""

    def __init__(self, policy: RetryPolicy, deadline: Deadline | None, started: float):
        self.policy = policy
        self.deadline = deadline
        self.started = started  # the first try's start, on the monotonic clock
        self.reason = ""

    def __call__(self, state: tenacity.RetryCallState) -> bool:
        wait = state.upcoming_sleep
        if state.attempt_number >= self.policy.max_attempts:
            self.reason = ""
            return True
        if time.monotonic() - self.started + wait >= self.policy.max_seconds:
            self.reason = f"the retry budget of {self.policy.max_seconds:.0f} s"
            return True
        if self.deadline is not None and wait >= self.deadline.remaining():
            self.reason = self.deadline.what
            return True
        return False


def call_with_retries(
    func: Callable[[], T],
    policy: RetryPolicy,
    *,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    deadline: Deadline | None = None,
) -> T:
    """Call `func` until it succeeds, raises a non-transient error, or the policy gives up.

    On giving up, the last TransientError is raised with the number of tries added.
    The first try runs outside tenacity: most requests succeed at once, and a
    fleet sends tens of thousands of them.
    """
    started = time.monotonic()
    try:
        return func()
    except TransientError as exc:
        first_failure: list[TransientError] = [exc]

    def again() -> T:
        if first_failure:  # tenacity's first attempt is the one that already failed
            raise first_failure.pop()
        return func()

    def log_before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.upcoming_sleep
        log.warning(
            "%s; try %d of %d in %.1f s", exc, state.attempt_number + 1, policy.max_attempts, wait
        )
        if policy.on_retry is not None:
            policy.on_retry()

    stop = _Stop(policy, deadline, started)
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(TransientError),
        wait=_HonourRetryAfter(policy.wait),
        stop=stop,
        sleep=policy.sleep,
        before_sleep=log_before_sleep,
        reraise=True,
    )
    try:
        return retrying(again)
    except TransientError as exc:
        attempts = retrying.statistics.get("attempt_number", 1)
        tries = f"{attempts} {'try' if attempts == 1 else 'tries'}"
        reason = f"gave up after {tries}"
        if stop.reason:
            asked = (
                f"it asked to retry after {exc.retry_after:.0f} s, past"
                if exc.retry_after is not None
                else "the next try would be past"
            )
            reason += f": {asked} {stop.reason}"
        raise TransientError(
            f"{exc} ({reason})", retry_after=exc.retry_after, status=exc.status
        ) from None
