"""When the daemon runs its passes: pure scheduling arithmetic, tested without sleeping.

`CronSchedule` wraps APScheduler's CronTrigger for `schedule.cron` in
`schedule.timezone` and adds the random delay of up to `jitter_seconds`. On the
night clocks go back, a wall time such as 02:30 happens twice; CronTrigger fires
at both, so the second one is skipped here: DST never doubles a day. (On the
night clocks go forward, CronTrigger fires a missing 02:30 at 03:30: no day is
skipped either.)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger


class CronSchedule(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 has no types
    def __init__(
        self,
        expression: str,
        timezone: str,
        jitter_seconds: float = 0,
        random_delay: Callable[[float], float] = lambda most: random.uniform(0, most),
    ):
        self.timezone = ZoneInfo(timezone)
        self.cron = CronTrigger.from_crontab(expression, timezone=self.timezone)
        self.jitter_seconds = jitter_seconds
        self.random_delay = random_delay

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        scheduled = self.next_scheduled(previous_fire_time, now)
        if scheduled is None or not self.jitter_seconds:
            return scheduled
        return scheduled + timedelta(seconds=self.random_delay(self.jitter_seconds))

    def next_scheduled(self, previous: datetime | None, now: datetime) -> datetime | None:
        """The next cron time after `now` (and `previous`), without jitter."""
        scheduled: datetime | None = self.cron.get_next_fire_time(previous, now)
        while scheduled is not None and is_repeated_wall_time(scheduled, self.timezone):
            scheduled = self.cron.get_next_fire_time(scheduled, scheduled)
        return scheduled

    def missed_since(self, last_success: datetime, now: datetime) -> datetime | None:
        """The first scheduled time after `last_success` that is already past, if any."""
        scheduled = self.next_scheduled(None, last_success + timedelta(microseconds=1))
        return scheduled if scheduled is not None and scheduled <= now else None

    def __str__(self) -> str:
        return f"{self.cron} jitter {self.jitter_seconds:g}s"


def is_repeated_wall_time(moment: datetime, timezone: ZoneInfo) -> bool:
    """True for the second occurrence of a wall time that happens twice (DST ends)."""
    # Through UTC: astimezone() to the same zone object would return `moment` unchanged.
    local = moment.astimezone(UTC).astimezone(timezone)
    naive = local.replace(tzinfo=None)
    first = naive.replace(tzinfo=timezone, fold=0).utcoffset()
    second = naive.replace(tzinfo=timezone, fold=1).utcoffset()
    return first != second and local.utcoffset() == second
