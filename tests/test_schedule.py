"""Scheduling arithmetic as pure functions: cron, jitter, DST, catch-up. No sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.schedule import CronSchedule, is_repeated_wall_time

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def fire_times(trigger: CronSchedule, start: datetime, count: int) -> list[datetime]:
    """Successive fire times, fed back as APScheduler does (previous, now)."""
    times: list[datetime] = []
    previous, now = None, start
    for _ in range(count):
        nxt = trigger.get_next_fire_time(previous, now)
        assert nxt is not None
        times.append(nxt)
        previous = now = nxt
    return times


def local_days(times: list[datetime], zone: ZoneInfo) -> list[str]:
    # Through UTC: astimezone() to the same zone object would return the time unchanged.
    return [t.astimezone(UTC).astimezone(zone).strftime("%m-%d %H:%M") for t in times]


def test_daily_at_three_in_utc():
    trigger = CronSchedule("0 3 * * *", "UTC")
    times = fire_times(trigger, datetime(2026, 11, 26, 13, 0, tzinfo=UTC), 3)
    assert times == [datetime(2026, 11, d, 3, 0, tzinfo=UTC) for d in (27, 28, 29)]


@pytest.mark.parametrize(
    "zone, cron, start, expected",
    [
        # Clocks go back in Berlin on 2026-10-25 at 03:00 → 02:00: 02:30 happens twice.
        (
            BERLIN,
            "30 2 * * *",
            datetime(2026, 10, 23, 12, tzinfo=BERLIN),
            ["10-24 02:30", "10-25 02:30", "10-26 02:30", "10-27 02:30"],
        ),
        (
            NEW_YORK,
            "30 1 * * *",
            datetime(2026, 10, 30, 12, tzinfo=NEW_YORK),
            ["10-31 01:30", "11-01 01:30", "11-02 01:30", "11-03 01:30"],
        ),
        # Clocks go forward in Berlin on 2026-03-29 at 02:00 → 03:00: 02:30 does not exist
        # that night; the run happens at 03:30 instead of being skipped.
        (
            BERLIN,
            "30 2 * * *",
            datetime(2026, 3, 27, 12, tzinfo=BERLIN),
            ["03-28 02:30", "03-29 03:30", "03-30 02:30", "03-31 02:30"],
        ),
        (
            NEW_YORK,
            "30 2 * * *",
            datetime(2026, 3, 7, 12, tzinfo=NEW_YORK),
            ["03-08 03:30", "03-09 02:30", "03-10 02:30", "03-11 02:30"],
        ),
        # A time outside the changes is untouched either side of them.
        (
            BERLIN,
            "0 3 * * *",
            datetime(2026, 10, 23, 12, tzinfo=BERLIN),
            ["10-24 03:00", "10-25 03:00", "10-26 03:00", "10-27 03:00"],
        ),
    ],
)
def test_dst_neither_skips_nor_doubles_a_day(zone, cron, start, expected):
    trigger = CronSchedule(cron, zone.key)
    times = fire_times(trigger, start, 4)
    assert local_days(times, zone) == expected
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(timedelta(hours=22) <= gap <= timedelta(hours=26) for gap in gaps), gaps


def test_jitter_is_added_within_bounds_and_does_not_skip_days():
    delays = iter([0.0, 1800.0, 900.0, 1799.0])
    trigger = CronSchedule("0 3 * * *", "UTC", 1800, random_delay=lambda most: next(delays))
    times = fire_times(trigger, datetime(2026, 11, 26, 13, 0, tzinfo=UTC), 4)
    assert [t.strftime("%d %H:%M:%S") for t in times] == [
        "27 03:00:00",
        "28 03:30:00",
        "29 03:15:00",
        "30 03:29:59",
    ]


def test_real_jitter_stays_below_its_bound():
    trigger = CronSchedule("0 3 * * *", "UTC", 60)
    start = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    base = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    delays = [(trigger.get_next_fire_time(None, start) - base).total_seconds() for _ in range(200)]
    assert all(0 <= d <= 60 for d in delays)
    assert len(set(delays)) > 1


def test_jitter_on_the_night_clocks_go_back_does_not_double():
    trigger = CronSchedule("30 2 * * *", "Europe/Berlin", 1800, random_delay=lambda most: most)
    times = fire_times(trigger, datetime(2026, 10, 24, 12, tzinfo=BERLIN), 3)
    assert local_days(times, BERLIN) == ["10-25 03:00", "10-26 03:00", "10-27 03:00"]


def test_every_minute():
    trigger = CronSchedule("* * * * *", "UTC")
    times = fire_times(trigger, datetime(2026, 11, 26, 13, 0, 30, tzinfo=UTC), 3)
    assert [t.strftime("%H:%M:%S") for t in times] == ["13:01:00", "13:02:00", "13:03:00"]


@pytest.mark.parametrize(
    "last_success, now, missed",
    [
        # Daily at 03:00 UTC. Succeeded yesterday at 03:05, now 02:00: nothing missed.
        (datetime(2026, 11, 25, 3, 5), datetime(2026, 11, 26, 2, 0), None),
        # Machine was off over this morning's 03:00.
        (datetime(2026, 11, 25, 3, 5), datetime(2026, 11, 26, 9, 0), datetime(2026, 11, 26, 3, 0)),
        # Off for days: the first missed run is reported.
        (datetime(2026, 11, 20, 3, 5), datetime(2026, 11, 26, 9, 0), datetime(2026, 11, 21, 3, 0)),
        # Success at 03:00 exactly is that run.
        (datetime(2026, 11, 26, 3, 0), datetime(2026, 11, 26, 9, 0), None),
    ],
)
def test_missed_since(last_success, now, missed):
    trigger = CronSchedule("0 3 * * *", "UTC")
    found = trigger.missed_since(last_success.replace(tzinfo=UTC), now.replace(tzinfo=UTC))
    assert found == (missed.replace(tzinfo=UTC) if missed else None)


def test_repeated_wall_time():
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert not is_repeated_wall_time(first, BERLIN)
    assert is_repeated_wall_time(second, BERLIN)
    assert not is_repeated_wall_time(datetime(2026, 3, 29, 1, 30, tzinfo=UTC), BERLIN)


# --- cron's meaning, not APScheduler 3's from_crontab (which counts 0 as Monday) ---------

SUNDAY = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # a Sunday, past 03:00


def weekdays_fired(cron: str, count: int) -> list[str]:
    return [t.strftime("%a %d") for t in fire_times(CronSchedule(cron, "UTC"), SUNDAY, count)]


@pytest.mark.parametrize(
    "cron, expected",
    [
        ("0 3 * * 1", ["Mon 30", "Mon 07", "Mon 14"]),
        ("0 3 * * 0", ["Sun 06", "Sun 13", "Sun 20"]),
        ("0 3 * * 7", ["Sun 06", "Sun 13", "Sun 20"]),
        ("0 3 * * 1-5", ["Mon 30", "Tue 01", "Wed 02", "Thu 03", "Fri 04", "Mon 07"]),
        ("0 3 * * mon-fri", ["Mon 30", "Tue 01", "Wed 02", "Thu 03", "Fri 04", "Mon 07"]),
        ("0 3 * * sat-sun", ["Sat 05", "Sun 06", "Sat 12"]),
        ("0 3 * * 5-7", ["Fri 04", "Sat 05", "Sun 06", "Fri 11"]),
        ("0 3 * * 0-2", ["Mon 30", "Tue 01", "Sun 06", "Mon 07"]),
        ("0 3 * * */2", ["Tue 01", "Thu 03", "Sat 05", "Sun 06", "Tue 08"]),
        ("0 3 * * 1/3", ["Mon 30", "Thu 03", "Sun 06", "Mon 07"]),
        ("0 3 * * 2,4", ["Tue 01", "Thu 03", "Tue 08"]),
    ],
)
def test_weekdays_count_from_sunday_as_in_crontab(cron: str, expected: list[str]) -> None:
    assert weekdays_fired(cron, len(expected)) == expected


def test_a_day_of_the_month_and_a_weekday_both_given_mean_either() -> None:
    # crontab(5): "the 1st and 15th of each month, as well as on every Friday"
    assert weekdays_fired("0 3 1,15 * 5", 5) == ["Tue 01", "Fri 04", "Fri 11", "Tue 15", "Fri 18"]


@pytest.mark.parametrize(
    "cron, why",
    [
        ("0 3 * * 8", "weekday '8' is not 0-7 (0 and 7 are Sunday) nor sun-sat"),
        ("0 3 * * fri-mon", "weekday range 'fri-mon' runs backwards"),
        ("0 3 * * 1/0", "weekday step '0' must be 1 or more"),
        ("0 3 * * funday", "weekday 'funday' is not a number nor a day name (sun-sat)"),
        ("0 3 * *", "it needs 5 fields: minute hour day month weekday"),
    ],
)
def test_a_weekday_cron_cannot_run_says_why(cron: str, why: str) -> None:
    with pytest.raises(ValueError) as caught:
        CronSchedule(cron, "UTC")
    assert str(caught.value) == why
