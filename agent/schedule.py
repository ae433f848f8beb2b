"""When the daemon runs its passes: pure scheduling arithmetic, tested without sleeping.

`CronSchedule` wraps APScheduler's CronTrigger for `schedule.cron` in
`schedule.timezone` and adds the random delay of up to `jitter_seconds`. On the
night clocks go back, a wall time such as 02:30 happens twice; CronTrigger fires
at both, so the second one is skipped here: DST never doubles a day. (On the
night clocks go forward, CronTrigger fires a missing 02:30 at 03:30: no day is
skipped either.)

The expression means what it means to cron, not to APScheduler 3's `from_crontab`:
weekdays count from Sunday (0 or 7), and when both the day of the month and the
weekday are restricted, either one matching is enough.
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
        self.expression = expression
        self.timezone = ZoneInfo(timezone)
        self.triggers = crontab_triggers(expression, self.timezone)
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
        scheduled = self._next(previous, now)
        while scheduled is not None and is_repeated_wall_time(scheduled, self.timezone):
            scheduled = self._next(scheduled, scheduled)
        return scheduled

    def _next(self, previous: datetime | None, now: datetime) -> datetime | None:
        times = [t.get_next_fire_time(previous, now) for t in self.triggers]
        return min((time for time in times if time is not None), default=None)

    def missed_since(self, last_success: datetime, now: datetime) -> datetime | None:
        """The first scheduled time after `last_success` that is already past, if any."""
        scheduled = self.next_scheduled(None, last_success + timedelta(microseconds=1))
        return scheduled if scheduled is not None and scheduled <= now else None

    def __str__(self) -> str:
        return f"cron {self.expression!r} in {self.timezone} jitter {self.jitter_seconds:g}s"


CRONTAB_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron's 0-6 (7 is sun too)


def crontab_triggers(expression: str, timezone: ZoneInfo) -> list[CronTrigger]:
    """APScheduler triggers firing when cron would run `expression` (5 fields).

    Raises ValueError saying what is wrong with it.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError("it needs 5 fields: minute hour day month weekday")
    minute, hour, day, month, weekday = fields
    weekdays = crontab_weekdays(weekday)
    if day.startswith("*") or weekday.startswith("*"):
        return [CronTrigger(minute=minute, hour=hour, day=day, month=month,
                            day_of_week=weekdays, timezone=timezone)]  # fmt: skip
    # Both restricted: cron runs on the days of the month and on the weekdays.
    return [
        CronTrigger(minute=minute, hour=hour, day=day, month=month, timezone=timezone),
        CronTrigger(minute=minute, hour=hour, month=month, day_of_week=weekdays, timezone=timezone),
    ]


def crontab_weekdays(field: str) -> str:
    """A crontab weekday field (0 or 7 Sunday; names; ranges, lists and steps) as the
    days it means, by name: APScheduler 3 counts 0 as Monday."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        part, slash, step_text = item.partition("/")
        step = _number(step_text, "step") if slash else 1
        if step < 1:
            raise ValueError(f"weekday step {step_text!r} must be 1 or more")
        if part == "*":
            first, last = 0, 6
        elif "-" in part:
            start, _, end = part.partition("-")
            first, last = _weekday(start), _weekday(end)
            if last == 0 and first > 0:
                last = 7  # mon-sun, 1-0
        else:
            first = _weekday(part)
            last = 7 if slash else first  # 1/2: from Monday on, every other day
        if first > last:
            raise ValueError(f"weekday range {part!r} runs backwards")
        days.update(number % 7 for number in range(first, last + 1, step))
    return ",".join(CRONTAB_DAYS[number] for number in sorted(days))


def _weekday(text: str) -> int:
    name = text.lower()
    if name in CRONTAB_DAYS:
        return CRONTAB_DAYS.index(name)
    number = _number(text, "weekday")
    if not 0 <= number <= 7:
        raise ValueError(f"weekday {text!r} is not 0-7 (0 and 7 are Sunday) nor sun-sat")
    return number


def _number(text: str, what: str) -> int:
    if not text.isdigit():
        raise ValueError(f"{what} {text!r} is not a number" + (
            " nor a day name (sun-sat)" if what == "weekday" else ""))  # fmt: skip
    return int(text)


def is_repeated_wall_time(moment: datetime, timezone: ZoneInfo) -> bool:
    """True for the second occurrence of a wall time that happens twice (DST ends)."""
    # Through UTC: astimezone() to the same zone object would return `moment` unchanged.
    local = moment.astimezone(UTC).astimezone(timezone)
    naive = local.replace(tzinfo=None)
    first = naive.replace(tzinfo=timezone, fold=0).utcoffset()
    second = naive.replace(tzinfo=timezone, fold=1).utcoffset()
    return first != second and local.utcoffset() == second
