"""
Turning database values into CSV cells, one formatter per column.

    format_cell = formatter_for(DecimalField(decimal_places=2), ColumnFormat(), tz)
    format_cell(Decimal("3.456"))  # "3.46"
    format_cell.column([Decimal("1.50"), None])  # ["1.50", ""]: a chunk's column at once

The defaults give the same text on every database: decimals rounded half up to
the field's places (2 when unknown), dates as YYYY-MM-DD, datetimes as
YYYY-MM-DD HH:MM:SS in the report's time zone, booleans as true/false, NULL
as the empty string. FORMATTERS maps a field's internal type to its builder.

A builder returns a function of one value; it may give that function a
format_values(values, empty) that formats a whole column of a chunk at C speed
when it can (and returns None when it cannot): most columns hold values whose
text csv.writer makes itself, or that are already in the column's format.

A duration is [-]H:MM:SS[.ffffff] with the hours whole (duration_text()).

A formatter also says what its cells are (`kind`, KINDS by builder: number, date,
datetime, boolean, duration or text) and keeps its column's format (`fmt`), for the file
formats whose cells have types (XLSX) and the CSV whose numbers have decimal commas.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.db import models

from .conf import app_settings
from .definitions.spec import ColumnFormat

Formatter = Callable[[Any], str]

DEFAULT_DATE_FORMAT = "%Y-%m-%d"
DEFAULT_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_DECIMALS = 2
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A formula prefix after NUL, in cells joined by NUL after a NUL (a false hit only
# sends the column down the cell-by-cell way).
FORMULA_STARTS = tuple("\x00" + prefix for prefix in FORMULA_PREFIXES)
NONE_TYPE = type(None)
# The kinds of cells (CellFormatter.kind).
NUMBER, DATE, DATETIME, BOOLEAN, TEXT = "number", "date", "datetime", "boolean", "text"
DURATION = "duration"
# PostgreSQL's text for timestamptz values in a session zone of UTC, joined by NUL.
UTC_TEXTS = re.compile(
    r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?\+00(?:\x00|$))*"
)


class UtcTimestamps(list):
    """A column of timestamptz values as text (None for NULL); datetimes() parses them."""

    def __init__(self, texts: list, parse: Callable[[UtcTimestamps], list], in_utc: bool) -> None:
        super().__init__(texts)
        self.parse = parse
        self.in_utc = in_utc

    def datetimes(self) -> list:
        return self.parse(self)

    def are_utc(self) -> bool:
        """Whether every text is YYYY-MM-DD HH:MM:SS[.ffffff]+00."""
        return self.in_utc and bool(UTC_TEXTS.fullmatch("\x00".join(filter(None, self))))


class NumberTexts(list):
    """A column of integers or numerics as PostgreSQL's text ("12", "-0.50"; None for NULL).

    kind is int or Decimal, what values() gives: the values psycopg would have loaded.
    """

    def __init__(self, texts: list, kind: type) -> None:
        super().__init__(texts)
        self.kind = kind

    def values(self) -> list:
        kind = self.kind
        return [None if text is None else kind(text) for text in self]


def loaded(values: list) -> list:
    """The column's values, as the database driver loads them."""
    if isinstance(values, UtcTimestamps):
        return values.datetimes()
    if isinstance(values, NumberTexts):
        return values.values()
    return values


class CellFormatter:
    """A column's formatter: called with one value, or column() with a chunk's column."""

    __slots__ = ("empty", "fmt", "format_value", "format_values", "kind")

    def __init__(
        self,
        format_value: Formatter,
        empty: str,
        kind: str = TEXT,
        fmt: ColumnFormat | None = None,
    ) -> None:
        self.format_value = format_value
        self.empty = empty
        self.format_values = getattr(format_value, "format_values", None)
        self.kind = kind
        self.fmt = fmt or ColumnFormat(empty_label=empty)

    @property
    def places(self) -> int | None:
        """The decimal places of a number's cells; None: an integer's, as they come."""
        return getattr(self.format_value, "places", None)

    def __call__(self, value: Any) -> str:
        return self.empty if value is None else self.format_value(value)

    def column(self, values: list) -> list:
        """The column's cells, or values csv.writer turns into the same text."""
        if isinstance(values, NumberTexts) and not hasattr(self.format_values, "number_texts"):
            values = values.values()  # a formatter that knows only loaded values
        if self.format_values is not None:
            cells = self.format_values(values, self.empty)
            if cells is not None:
                return cells
        values = loaded(values)
        format_value, empty = self.format_value, self.empty
        return [empty if value is None else format_value(value) for value in values]


def _types(values: list, empty: str) -> set[type] | None:
    """The types of the values; None when a NULL would not give the empty string."""
    types = set(map(type, values))
    if NONE_TYPE in types:
        if empty:
            return None
        types.discard(NONE_TYPE)
    return types


def _decimal(field, fmt: ColumnFormat, tz) -> Formatter:
    places = fmt.decimals
    if places is None:
        places = getattr(field, "decimal_places", None)
        places = DEFAULT_DECIMALS if places is None else places
    quantum = Decimal(1).scaleb(-places)
    digits = f"-?[0-9]+\\.[0-9]{{{places}}}" if places > 0 else "-?[0-9]+"
    quantized = re.compile(f"{digits}(?:\\x00{digits})*")

    def format_decimal(value) -> str:
        if not isinstance(value, Decimal):
            # SQLite hands back floats for computed decimals: go through repr, not binary.
            value = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        try:
            # format "f": str() would write small values as 5.990E-7.
            return format(value.quantize(quantum, rounding=ROUND_HALF_UP), "f")
        except InvalidOperation:
            return str(value)

    def format_values(values: list, empty: str) -> list | None:
        # Decimals already at the column's places (a numeric column's own) stay as they are.
        if isinstance(values, NumberTexts):
            # PostgreSQL's text of a numeric with the column's places is what
            # format_decimal writes for it; an integer's text never matches places > 0.
            if None in values:
                return None
            texts = list(values)
        elif set(map(type, values)) != {Decimal}:
            return None
        else:
            texts = list(map(str, values))
        return texts if quantized.fullmatch("\x00".join(texts)) else None

    format_values.number_texts = True  # type: ignore[attr-defined]
    format_decimal.format_values = format_values  # type: ignore[attr-defined]
    format_decimal.places = places  # type: ignore[attr-defined]
    return format_decimal


def _integer(field, fmt: ColumnFormat, tz) -> Formatter:
    if fmt.decimals:
        return _decimal(field, fmt, tz)

    def format_integer(value) -> str:
        return str(int(value))

    def format_values(values: list, empty: str) -> list | None:
        # csv.writer writes an int (never a bool: type() is exact) and None as these cells.
        if isinstance(values, NumberTexts):
            # An integer column's text is str() of its int; None stays the empty cell.
            if values.kind is not int or (empty and None in values):
                return None
            return list(values)
        return values if _types(values, empty) in ({int}, set()) else None

    format_values.number_texts = True  # type: ignore[attr-defined]
    format_integer.format_values = format_values  # type: ignore[attr-defined]
    return format_integer


def _float(field, fmt: ColumnFormat, tz) -> Formatter:
    return _decimal(field, fmt, tz)


def _date(field, fmt: ColumnFormat, tz) -> Formatter:
    pattern = fmt.date or DEFAULT_DATE_FORMAT

    def format_date(value) -> str:
        if isinstance(value, dt.datetime):
            value = value.astimezone(tz) if value.tzinfo else value
        return value.strftime(pattern)

    def format_values(values: list, empty: str) -> list | None:
        if pattern != DEFAULT_DATE_FORMAT or set(map(type, values)) != {dt.date}:
            return None
        # strftime's %Y writes years before 1000 without leading zeros; isoformat pads.
        return list(map(dt.date.isoformat, values)) if min(values).year >= 1000 else None

    format_date.format_values = format_values  # type: ignore[attr-defined]
    return format_date


def _datetime(field, fmt: ColumnFormat, tz) -> Formatter:
    pattern = fmt.datetime or DEFAULT_DATETIME_FORMAT

    def format_datetime(value) -> str:
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(tz)
            return value.strftime(pattern)
        return value.strftime(fmt.date or DEFAULT_DATE_FORMAT)

    if pattern == DEFAULT_DATETIME_FORMAT:
        format_datetime.format_values = _LocalTexts(tz)  # type: ignore[attr-defined]
    return format_datetime


class _LocalTexts:
    """UTC timestamp texts to the default datetime format in a zone, an hour at a time.

    Within a UTC hour whose offset is whole hours and does not change, the local text
    is the local hour followed by the UTC text's minutes and seconds.
    """

    def __init__(self, tz: ZoneInfo) -> None:
        self.hours = _LocalHours(tz)

    def __call__(self, values: list, empty: str) -> list | None:
        if not isinstance(values, UtcTimestamps) or not values.are_utc():
            return None
        hours = self.hours
        if len(hours) > 100_000:
            hours.clear()
        try:
            if None in values:
                return [empty if t is None else hours[t[:13]] + t[13:19] for t in values]
            return [hours[t[:13]] + t[13:19] for t in values]
        except TypeError:  # an hour whose minutes differ in the zone (None + str)
            return None


class _LocalHours(dict):
    """UTC "YYYY-MM-DD HH" -> the local one; None when the local minutes differ.

    Filled a UTC day at a time when the day's offset does not change (no zone changes
    twice in a day), an hour at a time on the days it does.
    """

    def __init__(self, tz: ZoneInfo) -> None:
        super().__init__()
        self.tz = tz

    def __missing__(self, utc_hour: str) -> str | None:
        try:
            self.update(self.local_day(utc_hour[:10]) or {utc_hour: self.local_hour(utc_hour)})
        except (ValueError, OverflowError):  # the edges of datetime: cell by cell
            self[utc_hour] = None
        return self[utc_hour]

    def local_day(self, utc_day: str) -> dict[str, str | None] | None:
        start = dt.datetime.fromisoformat(utc_day + " 00:00:00+00:00")
        offset = self.whole_offset(start, dt.timedelta(days=1))
        if offset is None:
            return None
        local = start.replace(tzinfo=None) + offset
        return {
            f"{utc_day} {hour:02d}": _hour_text(local + dt.timedelta(hours=hour))
            for hour in range(24)
        }

    def local_hour(self, utc_hour: str) -> str | None:
        start = dt.datetime.fromisoformat(utc_hour + ":00:00+00:00")
        offset = self.whole_offset(start, dt.timedelta(hours=1))
        return None if offset is None else _hour_text(start.replace(tzinfo=None) + offset)

    def whole_offset(self, start: dt.datetime, span: dt.timedelta) -> dt.timedelta | None:
        """The zone's offset over [start, start + span) if it is whole hours and stays."""
        offset = start.astimezone(self.tz).utcoffset()
        if offset is None or offset % dt.timedelta(hours=1):
            return None
        last = start + span - dt.timedelta(microseconds=1)
        return offset if last.astimezone(self.tz).utcoffset() == offset else None


def _hour_text(local: dt.datetime) -> str:
    """The hour as strftime("%Y-%m-%d %H") writes it: years before 1000 unpadded."""
    if local.year < 1000:
        return local.strftime("%Y-%m-%d %H")
    return f"{local.year:04d}-{local.month:02d}-{local.day:02d} {local.hour:02d}"


def _duration(field, fmt: ColumnFormat, tz) -> Formatter:
    def format_duration(value) -> str:
        return duration_text(value)

    return format_duration


def duration_text(value: dt.timedelta) -> str:
    """[-]H:MM:SS[.ffffff], the hours whole (48:34:16 for two days and 34 minutes): a
    spreadsheet reads it as a duration; the fraction only when there is one."""
    micro = value // dt.timedelta(microseconds=1)
    sign = "-" if micro < 0 else ""
    seconds, fraction = divmod(abs(micro), 1_000_000)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    text = f"{sign}{hours}:{minute:02d}:{second:02d}"
    return f"{text}.{fraction:06d}" if fraction else text


def _boolean(field, fmt: ColumnFormat, tz) -> Formatter:
    labels = {True: boolean_label(fmt, True), False: boolean_label(fmt, False)}

    def format_boolean(value) -> str:
        return labels[bool(value)]

    def format_values(values: list, empty: str) -> list | None:
        if set(map(type, values)) != {bool}:
            return None
        return list(map(labels.__getitem__, values))

    format_boolean.format_values = format_values  # type: ignore[attr-defined]
    return format_boolean


def boolean_label(fmt: ColumnFormat, value: bool) -> str:
    """The cell of a boolean: its label, "" included, else true or false."""
    label = fmt.true_label if value else fmt.false_label
    return ("true" if value else "false") if label is None else label


def _text(field, fmt: ColumnFormat, tz) -> Formatter:
    escape = app_settings.CSV_ESCAPE_FORMULAS

    def format_text(value) -> str:
        text = str(value)
        # A leading apostrophe keeps spreadsheets from running the cell as a formula.
        return "'" + text if escape and text.startswith(FORMULA_PREFIXES) else text

    def format_values(values: list, empty: str) -> list | None:
        if _types(values, empty) not in ({str}, set()):
            return None
        if escape:
            joined = "\x00" + "\x00".join(filter(None, values))
            if any(start in joined for start in FORMULA_STARTS):
                return None
        return values

    format_text.format_values = format_values  # type: ignore[attr-defined]
    return format_text


# What a column's cells are, by its formatter's builder (another builder's: text).
KINDS: dict[Callable[..., Formatter], str] = {
    _decimal: NUMBER,
    _integer: NUMBER,
    _float: NUMBER,
    _date: DATE,
    _datetime: DATETIME,
    _boolean: BOOLEAN,
    _duration: DURATION,
}

FORMATTERS: dict[str, Callable[[Any, ColumnFormat, Any], Formatter]] = {
    "DecimalField": _decimal,
    "FloatField": _float,
    "IntegerField": _integer,
    "BigIntegerField": _integer,
    "SmallIntegerField": _integer,
    "PositiveIntegerField": _integer,
    "PositiveBigIntegerField": _integer,
    "PositiveSmallIntegerField": _integer,
    "AutoField": _integer,
    "BigAutoField": _integer,
    "SmallAutoField": _integer,
    "DateField": _date,
    "DateTimeField": _datetime,
    "BooleanField": _boolean,
    "DurationField": _duration,
}


def formatter_for(field: models.Field | None, fmt: ColumnFormat, tz: ZoneInfo) -> Formatter:
    """The cell formatter for values of `field`; None values give `fmt.empty_label`."""
    internal_type = field.get_internal_type() if field is not None else "TextField"
    if isinstance(field, models.ForeignKey):
        internal_type = field.target_field.get_internal_type()
    build = FORMATTERS.get(internal_type, _text)
    return CellFormatter(build(field, fmt, tz), fmt.empty_label, KINDS.get(build, TEXT), fmt)
