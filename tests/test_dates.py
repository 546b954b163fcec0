import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from admin_reports.dates import datetime_bounds, quick_ranges, resolve_quick_range

D = dt.date


@pytest.mark.parametrize(
    ("name", "today", "expected"),
    [
        ("today", D(2026, 4, 15), (D(2026, 4, 15), D(2026, 4, 15))),
        ("yesterday", D(2026, 3, 1), (D(2026, 2, 28), D(2026, 2, 28))),
        ("last_7_days", D(2026, 4, 15), (D(2026, 4, 9), D(2026, 4, 15))),
        ("last_30_days", D(2026, 4, 15), (D(2026, 3, 17), D(2026, 4, 15))),
        ("this_month", D(2026, 4, 15), (D(2026, 4, 1), D(2026, 4, 15))),
        ("last_month", D(2026, 3, 31), (D(2026, 2, 1), D(2026, 2, 28))),
        ("last_month", D(2026, 1, 10), (D(2025, 12, 1), D(2025, 12, 31))),
        ("last_month", D(2024, 3, 1), (D(2024, 2, 1), D(2024, 2, 29))),
        ("this_quarter", D(2026, 5, 20), (D(2026, 4, 1), D(2026, 5, 20))),
        ("last_quarter", D(2026, 5, 20), (D(2026, 1, 1), D(2026, 3, 31))),
        ("last_quarter", D(2026, 2, 1), (D(2025, 10, 1), D(2025, 12, 31))),
        ("year_to_date", D(2026, 4, 15), (D(2026, 1, 1), D(2026, 4, 15))),
        ("last_year", D(2026, 4, 15), (D(2025, 1, 1), D(2025, 12, 31))),
    ],
)
def test_quick_ranges(name, today, expected):
    assert resolve_quick_range(name, today) == expected


def test_quick_ranges_default_to_the_local_today(time_machine_today):
    assert resolve_quick_range("today") == (time_machine_today, time_machine_today)


def test_local_today_is_not_utc_today(time_machine):
    # 23:30 UTC on 31 March is already 1 April in Berlin.
    time_machine.move_to(dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC), tick=False)
    assert resolve_quick_range("today") == (D(2026, 4, 1), D(2026, 4, 1))


def last_fortnight(today):
    return today - dt.timedelta(days=13), today


@override_settings(
    ADMIN_REPORTS_QUICK_RANGES={"last_fortnight": "tests.test_dates.last_fortnight"}
)
def test_the_project_can_add_quick_ranges():
    assert "last_fortnight" in quick_ranges()
    assert quick_ranges()["last_fortnight"].label == "Last fortnight"
    assert resolve_quick_range("last_fortnight", D(2026, 4, 15)) == (D(2026, 4, 2), D(2026, 4, 15))


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        (D(2026, 3, 29), D(2026, 3, 29), 23),  # spring forward
        (D(2026, 10, 25), D(2026, 10, 25), 25),  # fall back
        (D(2026, 3, 1), D(2026, 3, 31), 31 * 24 - 1),
    ],
)
def test_datetime_bounds_follow_local_midnights(start, end, hours):
    berlin = ZoneInfo("Europe/Berlin")
    since, until = datetime_bounds(start, end, berlin)
    assert (since.hour, until.hour) == (0, 0)
    assert (until.astimezone(dt.UTC) - since.astimezone(dt.UTC)) == dt.timedelta(hours=hours)


NEW_YORK = ZoneInfo("America/New_York")
UTC_PLUS_14 = ZoneInfo("Etc/GMT-14")  # POSIX signs: UTC+14


@pytest.mark.parametrize(
    ("start", "end", "tz", "zones", "since", "until"),
    [
        # Midnight of 1 January of year 1 east of Greenwich is still year 0 in UTC.
        (D(1, 1, 1), D(9998, 12, 31), "Europe/Berlin", (), None, D(9999, 1, 1)),
        (D(1, 1, 2), D(9998, 12, 31), "Europe/Berlin", (), D(1, 1, 2), D(9999, 1, 1)),
        # West of it, UTC is later: both bounds hold.
        (D(1, 1, 1), D(9998, 12, 31), "America/New_York", (), D(1, 1, 1), D(9999, 1, 1)),
        # Unless the database stores datetimes in a zone further west.
        (D(1, 1, 1), D(2026, 1, 1), "UTC", (NEW_YORK,), None, D(2026, 1, 2)),
        (D(1, 1, 1), D(2026, 1, 1), "America/New_York", (UTC_PLUS_14,), D(1, 1, 1), D(2026, 1, 2)),
        # The end of 30 December 9999 at UTC-12 is 1 January 10000 at UTC+14.
        (D(2026, 1, 1), D(9999, 12, 30), "Etc/GMT+12", (), D(2026, 1, 1), D(9999, 12, 31)),
        (D(2026, 1, 1), D(9999, 12, 30), "Etc/GMT+12", (UTC_PLUS_14,), D(2026, 1, 1), None),
        # There is no day after 31 December 9999.
        (D(2026, 1, 1), D(9999, 12, 31), "America/New_York", (), D(2026, 1, 1), None),
        (D(1, 1, 1), D(9999, 12, 31), "Europe/Berlin", (), None, None),
    ],
)
def test_datetime_bounds_beyond_what_can_be_stored_are_none(start, end, tz, zones, since, until):
    tz = ZoneInfo(tz)

    def midnight(day):
        return None if day is None else dt.datetime.combine(day, dt.time.min, tz)

    assert datetime_bounds(start, end, tz, zones=zones) == (midnight(since), midnight(until))
