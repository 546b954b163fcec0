"""
Date ranges: quick ranges relative to today, and the bounds of a range.

    start, end = resolve_quick_range("last_month", today=date(2026, 3, 15))
    # (date(2026, 2, 1), date(2026, 2, 28)): both inclusive
    since, until = datetime_bounds(date(2026, 2, 1), date(2026, 2, 28), ZoneInfo("Europe/Berlin"))
    # [1 February 00:00, 1 March 00:00) in Berlin; None for a bound beyond years 1 to 9999

Projects add quick ranges with ADMIN_REPORTS_QUICK_RANGES (name -> dotted path of
a function taking today and returning (start, end)).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from .conf import app_settings

DateRange = tuple[dt.date, dt.date]


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _quarter_start(day: dt.date) -> dt.date:
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


def _last_month(today: dt.date) -> DateRange:
    end = _month_start(today) - dt.timedelta(days=1)
    return _month_start(end), end


def _last_quarter(today: dt.date) -> DateRange:
    end = _quarter_start(today) - dt.timedelta(days=1)
    return _quarter_start(end), end


@dataclass(frozen=True)
class QuickRange:
    label: str
    resolve: Callable[[dt.date], DateRange]


QUICK_RANGES: dict[str, QuickRange] = {
    "today": QuickRange(_("Today"), lambda today: (today, today)),
    "yesterday": QuickRange(_("Yesterday"), lambda today: (today - dt.timedelta(days=1),) * 2),
    "last_7_days": QuickRange(
        _("Last 7 days"), lambda today: (today - dt.timedelta(days=6), today)
    ),
    "last_30_days": QuickRange(
        _("Last 30 days"), lambda today: (today - dt.timedelta(days=29), today)
    ),
    "this_month": QuickRange(_("This month"), lambda today: (_month_start(today), today)),
    "last_month": QuickRange(_("Last month"), _last_month),
    "this_quarter": QuickRange(_("This quarter"), lambda today: (_quarter_start(today), today)),
    "last_quarter": QuickRange(_("Last quarter"), _last_quarter),
    "year_to_date": QuickRange(
        _("Year to date"), lambda today: (today.replace(month=1, day=1), today)
    ),
    "last_year": QuickRange(
        _("Last year"),
        lambda today: (dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31)),
    ),
}


def quick_ranges() -> dict[str, QuickRange]:
    """The built-in quick ranges with the project's additions."""
    table = dict(QUICK_RANGES)
    for name, value in app_settings.QUICK_RANGES.items():
        if isinstance(value, str):
            value = QuickRange(name.replace("_", " ").capitalize(), import_string(value))
        table[name] = value
    return table


def resolve_quick_range(name: str, today: dt.date | None = None) -> DateRange:
    """(start, end), both inclusive, for `name` relative to `today` (default: local today)."""
    return quick_ranges()[name].resolve(today or timezone.localdate())


def datetime_bounds(
    start: dt.date, end: dt.date, tz=None, *, zones: Iterable[dt.tzinfo] = ()
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """
    Aware datetimes [from, until) covering the local days start..end inclusive.

    A bound that has no counterpart in UTC or in one of `zones` (local midnight of
    1 January of year 1 east of Greenwich, the day after 31 December 9999) is None:
    nothing a datetime can hold lies beyond it.
    """
    tz = tz or timezone.get_current_timezone()
    since = dt.datetime.combine(start, dt.time.min, tz)
    until = None
    if end < dt.date.max:
        until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tz)
    zones = (dt.UTC, *zones)
    return _in_range(since, zones), _in_range(until, zones)


def _in_range(moment: dt.datetime | None, zones: Iterable[dt.tzinfo]) -> dt.datetime | None:
    """`moment`, or None when converting it to one of `zones` leaves years 1 to 9999."""
    if moment is None:
        return None
    try:
        for zone in zones:
            moment.astimezone(zone)
    except OverflowError:
        return None
    return moment
