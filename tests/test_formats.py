import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import models
from django.test import override_settings

from admin_reports.definitions.spec import ColumnFormat
from admin_reports.formats import formatter_for
from project.shop.models import OrderLine

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("field", "fmt", "value", "expected"),
    [
        (models.DecimalField(decimal_places=2), ColumnFormat(), Decimal("2.345"), "2.35"),
        (models.DecimalField(decimal_places=2), ColumnFormat(), Decimal("-2.345"), "-2.35"),
        (models.DecimalField(decimal_places=2), ColumnFormat(decimals=0), Decimal("2.5"), "3"),
        (models.DecimalField(), ColumnFormat(), Decimal("7"), "7.00"),
        (models.DecimalField(), ColumnFormat(), 1234.5000000001, "1234.50"),  # SQLite float
        (models.FloatField(), ColumnFormat(decimals=3), 0.1 + 0.2, "0.300"),
        (models.IntegerField(), ColumnFormat(), 42, "42"),
        (models.IntegerField(), ColumnFormat(decimals=1), 42, "42.0"),
        (models.DateField(), ColumnFormat(), dt.date(2026, 3, 9), "2026-03-09"),
        (models.DateField(), ColumnFormat(date="%d.%m.%Y"), dt.date(2026, 3, 9), "09.03.2026"),
        (
            models.DateTimeField(),
            ColumnFormat(),
            dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC),
            "2026-03-29 03:30:00",
        ),
        (
            models.DateTimeField(),
            ColumnFormat(datetime="%H:%M %d/%m"),
            dt.datetime(2026, 3, 28, 23, 0, tzinfo=dt.UTC),
            "00:00 29/03",
        ),
        (models.BooleanField(), ColumnFormat(), True, "true"),
        (models.BooleanField(), ColumnFormat(), 0, "false"),
        (models.BooleanField(), ColumnFormat(true_label="yes", false_label="no"), False, "no"),
        (models.BooleanField(), ColumnFormat(true_label="", false_label="no"), True, ""),
        (models.BooleanField(), ColumnFormat(false_label=""), True, "true"),
        (models.CharField(), ColumnFormat(), "Kite", "Kite"),
        (models.CharField(), ColumnFormat(), "=1+2", "'=1+2"),
        (models.CharField(), ColumnFormat(), "+49 30 1234", "'+49 30 1234"),
        (models.CharField(), ColumnFormat(), "-x", "'-x"),
        (models.CharField(), ColumnFormat(), "@SUM(A1)", "'@SUM(A1)"),
        (models.CharField(), ColumnFormat(), "\tcmd", "'\tcmd"),
        (None, ColumnFormat(), "a=b", "a=b"),
        (models.CharField(), ColumnFormat(), None, ""),
        (models.CharField(), ColumnFormat(empty_label="n/a"), None, "n/a"),
        (models.DecimalField(), ColumnFormat(empty_label="-"), None, "-"),
    ],
)
def test_formats(field, fmt, value, expected):
    assert formatter_for(field, fmt, BERLIN)(value) == expected


def test_negative_numbers_are_not_escaped():
    assert formatter_for(models.DecimalField(), ColumnFormat(), BERLIN)(Decimal("-3")) == "-3.00"


@override_settings(ADMIN_REPORTS_CSV_ESCAPE_FORMULAS=False)
def test_formula_escaping_can_be_turned_off():
    assert formatter_for(models.CharField(), ColumnFormat(), BERLIN)("=1+2") == "=1+2"


def test_foreign_keys_format_as_their_target():
    assert formatter_for(OrderLine._meta.get_field("order"), ColumnFormat(), BERLIN)(7) == "7"


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [
        (Decimal("5.99E-7"), 10, "0.0000005990"),
        (Decimal("0E-10"), 7, "0.0000000"),
        (5.99e-7, 10, "0.0000005990"),
        (Decimal("-0.004"), 2, "-0.00"),
    ],
)
def test_small_decimals_are_written_in_places_not_as_exponents(value, places, text):
    format_cell = formatter_for(models.DecimalField(), ColumnFormat(decimals=places), BERLIN)
    assert format_cell(value) == text
