"""
Turning database values into CSV cells, one formatter per column.

    format_cell = formatter_for(DecimalField(decimal_places=2), ColumnFormat(), tz)
    format_cell(Decimal("3.456"))  # "3.46"

The defaults give the same text on every database: decimals rounded half up to
the field's places (2 when unknown), dates as YYYY-MM-DD, datetimes as
YYYY-MM-DD HH:MM:SS in the report's time zone, booleans as true/false, NULL
as the empty string. FORMATTERS maps a field's internal type to its builder.
"""

from __future__ import annotations

import datetime as dt
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


def _decimal(field, fmt: ColumnFormat, tz) -> Formatter:
    places = fmt.decimals
    if places is None:
        places = getattr(field, "decimal_places", None)
        places = DEFAULT_DECIMALS if places is None else places
    quantum = Decimal(1).scaleb(-places)

    def format_decimal(value) -> str:
        if not isinstance(value, Decimal):
            # SQLite hands back floats for computed decimals: go through repr, not binary.
            value = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        try:
            return str(value.quantize(quantum, rounding=ROUND_HALF_UP))
        except InvalidOperation:
            return str(value)

    return format_decimal


def _integer(field, fmt: ColumnFormat, tz) -> Formatter:
    if fmt.decimals:
        return _decimal(field, fmt, tz)
    return lambda value: str(int(value))


def _float(field, fmt: ColumnFormat, tz) -> Formatter:
    return _decimal(field, fmt, tz)


def _date(field, fmt: ColumnFormat, tz) -> Formatter:
    pattern = fmt.date or DEFAULT_DATE_FORMAT

    def format_date(value) -> str:
        if isinstance(value, dt.datetime):
            value = value.astimezone(tz) if value.tzinfo else value
        return value.strftime(pattern)

    return format_date


def _datetime(field, fmt: ColumnFormat, tz) -> Formatter:
    pattern = fmt.datetime or DEFAULT_DATETIME_FORMAT

    def format_datetime(value) -> str:
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(tz)
            return value.strftime(pattern)
        return value.strftime(fmt.date or DEFAULT_DATE_FORMAT)

    return format_datetime


def _boolean(field, fmt: ColumnFormat, tz) -> Formatter:
    labels = {True: fmt.true_label or "true", False: fmt.false_label or "false"}
    return lambda value: labels[bool(value)]


def _text(field, fmt: ColumnFormat, tz) -> Formatter:
    if not app_settings.CSV_ESCAPE_FORMULAS:
        return str

    def format_text(value) -> str:
        text = str(value)
        # A leading apostrophe keeps spreadsheets from running the cell as a formula.
        return "'" + text if text.startswith(FORMULA_PREFIXES) else text

    return format_text


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
}


def formatter_for(field: models.Field | None, fmt: ColumnFormat, tz: ZoneInfo) -> Formatter:
    """The cell formatter for values of `field`; None values give `fmt.empty_label`."""
    internal_type = field.get_internal_type() if field is not None else "TextField"
    if isinstance(field, models.ForeignKey):
        internal_type = field.target_field.get_internal_type()
    build = FORMATTERS.get(internal_type, _text)
    format_value = build(field, fmt, tz)
    empty = fmt.empty_label

    def format_cell(value) -> str:
        return empty if value is None else format_value(value)

    return format_cell
