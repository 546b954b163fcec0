"""
Date ranges: quick ranges relative to today, and the bounds of a range.

    start, end = resolve_quick_range("last_month", today=date(2026, 3, 15))
    # (date(2026, 2, 1), date(2026, 2, 28)): both inclusive
    since, until = datetime_bounds(date(2026, 2, 1), date(2026, 2, 28), ZoneInfo("Europe/Berlin"))
    # [1 February 00:00, 1 March 00:00) in Berlin; None for a bound beyond years 1 to 9999

Projects add quick ranges with ADMIN_REPORTS_QUICK_RANGES (name -> dotted path of
a function taking today and returning (start, end), or a QuickRange). An entry
that cannot be imported or does not return two ordered dates for today is left
out; `manage.py check` reports it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from .conf import app_settings
from .exceptions import InvalidSetting

DateRange = tuple[dt.date, dt.date]
StrOrPromise = str | Promise  # a label, translated when shown


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
    label: StrOrPromise
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


SETTING = "ADMIN_REPORTS_QUICK_RANGES"
SETTING_HINT = (
    "Give the dotted path of a function f(today) that returns (start, end), two dates"
    " with start <= end, or a QuickRange."
)


def _range_from_setting(name: str, value: Any, today: dt.date) -> QuickRange:
    where = f"{SETTING}[{name!r}]"
    if isinstance(value, str):
        try:
            function = import_string(value)
        except ImportError as exc:
            raise InvalidSetting(
                f"{where} is {value!r}, which cannot be imported: {exc}.", SETTING_HINT
            ) from exc
        if not callable(function):
            raise InvalidSetting(f"{where} is {value!r}, which is not callable.", SETTING_HINT)
        value = QuickRange(str(name).replace("_", " ").capitalize(), function)
    elif not isinstance(value, QuickRange):
        raise InvalidSetting(
            f"{where} is {value!r}, which is neither a dotted path nor a QuickRange.",
            SETTING_HINT,
        )
    _check_range(where, value, today)
    return value


def _check_range(where: str, quick_range: QuickRange, today: dt.date) -> None:
    """Try the range on `today`: a range that fails here would fail in a form."""
    try:
        result = quick_range.resolve(today)
    except Exception as exc:  # the project's code: any error makes the entry unusable
        raise InvalidSetting(
            f"{where} raised {type(exc).__name__} for {today.isoformat()}: {exc}.", SETTING_HINT
        ) from exc
    if not (
        isinstance(result, tuple | list)
        and len(result) == 2
        and all(_is_date(day) for day in result)
        and result[0] <= result[1]
    ):
        raise InvalidSetting(
            f"{where} returned {result!r} for {today.isoformat()}, not two dates with"
            " start <= end.",
            SETTING_HINT,
        )


def _is_date(value: Any) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def project_quick_ranges(
    today: dt.date | None = None,
) -> tuple[dict[str, QuickRange], list[InvalidSetting]]:
    """The usable entries of ADMIN_REPORTS_QUICK_RANGES, and what is wrong with the others."""
    setting = app_settings.QUICK_RANGES
    if not isinstance(setting, Mapping):
        error = InvalidSetting(
            f"{SETTING} must be a dict of name: function, not {setting!r}.", SETTING_HINT
        )
        return {}, [error]
    today = today or timezone.localdate()
    table: dict[str, QuickRange] = {}
    errors: list[InvalidSetting] = []
    for name, value in setting.items():
        try:
            table[name] = _range_from_setting(name, value, today)
        except InvalidSetting as exc:
            errors.append(exc)
    return table, errors


def quick_ranges() -> dict[str, QuickRange]:
    """The built-in quick ranges with the project's usable additions."""
    # A bad entry is left out here: `manage.py check` reports it (admin_reports.E028).
    return {**QUICK_RANGES, **project_quick_ranges()[0]}


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
