"""
One numeric meaning on every database ("Numbers" in docs/definitions.md): the same cells
on SQLite and PostgreSQL, equal to Python's decimal arithmetic under the documented rules.

Runs in the SQLite pass and the PostgreSQL one (DATABASE_URL).
"""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from django.db.models import DurationField
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from admin_reports.compiler import compile_report
from admin_reports.definitions import load_definition_text
from admin_reports.definitions.spec import ColumnFormat
from admin_reports.formats import duration_text, formatter_for
from admin_reports.sources import orm_rows
from admin_reports.xlsx_cells import SheetColumns
from project.shop.models import Order, OrderLine, Product

from .factories import OrderFactory, ProductFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def cells(*values: str, decimals: int | None = None) -> list[str]:
    """The one row of an aggregate report over every order line, a column per value."""
    fmt = f", format: {{decimals: {decimals}}}" if decimals is not None else ""
    columns = "".join(
        f'  - {{name: c{index}, value: "{value}"{fmt}}}\n' for index, value in enumerate(values)
    )
    spec, problems = load_definition_text(f"model: shop.OrderLine\ncolumns:\n{columns}")
    assert problems == []
    compiled = compile_report(spec)
    (row,) = [compiled.format_row(row) for row in orm_rows(compiled)]
    return row


def add_lines(quantities_and_prices) -> None:
    order, product = OrderFactory(), ProductFactory()
    OrderLine.objects.bulk_create(
        OrderLine(order=order, product=product, quantity=quantity, unit_price=Decimal(price))
        for quantity, price in quantities_and_prices
    )


def test_a_share_of_counts_has_its_digits():
    """The issue's examples: 111 of 280 rows is 39.642857...%, not 39.00 nor 0.0000."""
    add_lines([(2, "1.00")] * 111 + [(1, "1.00")] * 169)
    assert cells(
        "100.0 * count(pk, filter=quantity > 1) / count()",
        "count(pk, filter=quantity > 1) * 1.0 / count()",
        "count(pk, filter=quantity > 1) / count()",
    ) == ["39.64", "0.40", "0.40"]
    assert cells("count(pk, filter=quantity > 1) * 1.0 / count()", decimals=4) == ["0.3964"]


def test_a_quotient_is_rounded_half_away_from_zero():
    add_lines([(1, "1.00")])
    assert cells("1 / 8", "-1 / 8", "1 / 3", "2 / 3", decimals=6) == [
        "0.125000",
        "-0.125000",
        "0.333333",
        "0.666667",
    ]
    assert cells(
        "cast(1 / 8, 'decimal', places=2)",
        "cast(-1 / 8, 'decimal', places=2)",
        "round(1.005, places=2)",
        "round(-2.5)",
        "cast(-7 / 2, 'integer')",
        "cast(2.99, 'integer')",
    ) == ["0.13", "-0.13", "1.01", "-3", "-3", "2"]


def test_division_by_zero_is_an_empty_cell():
    add_lines([(1, "1.00")])
    assert cells("sum(quantity) / 0", "sum(unit_price) / (count() - 1)", "count() % 0") == [
        "",
        "",
        "",
    ]


def test_averages_are_the_sum_over_the_count():
    add_lines([(1, "1.00"), (2, "2.00"), (2, "2.01")])
    assert cells("avg(quantity)", "avg(unit_price)", decimals=6) == ["1.666667", "1.670000"]


def test_mixed_types_resolve_without_output_field():
    add_lines([(3, "2.50")])
    assert cells(
        "coalesce(sum(unit_price), 0)",
        "sum(quantity) if count() > 0 else 0.5",
        "cast(sum(unit_price), 'text')",
        "cast(sum(quantity * unit_price) * 2, 'text')",
        "sum(quantity) * 3",
    ) == ["2.50", "3.00", "2.50", "15.00", "9"]


def test_durations_have_a_text_and_functions():
    for hours in (0, 49):
        OrderFactory(placed_at=dt.datetime(2026, 3, 1, tzinfo=UTC) + dt.timedelta(hours=hours))
    product = ProductFactory()
    OrderLine.objects.bulk_create(
        OrderLine(order=order, product=product, quantity=1, unit_price=1)
        for order in Order.objects.all()
    )
    span = "max(order.placed_at) - min(order.placed_at)"
    back = "min(order.placed_at) - max(order.placed_at)"
    assert cells(
        span,
        back,
        f"days({span})",
        f"hours({span})",
        f"minutes({back})",
        f"seconds({span})",
        f"days({back})",
        f"{span} + duration(minutes=30, seconds=5)",
        f"({span}) / 4",
        f"days(({span}) * 2)",
        "days(duration(days=14))",
        "min(date(order.placed_at)) + duration(days=2)",
        "hours(max(order.placed_at) - duration(hours=1) - min(order.placed_at))",
    ) == [
        "49:00:00",
        "-49:00:00",
        "2",
        "49",
        "-2940",
        "176400",
        "-2",
        "49:30:05",
        "12:15:00",
        "4",
        "14",
        "2026-03-03",
        "48",
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (dt.timedelta(days=2, minutes=34, seconds=16, microseconds=561267), "48:34:16.561267"),
        (dt.timedelta(0), "0:00:00"),
        (dt.timedelta(seconds=-1), "-0:00:01"),
        (dt.timedelta(days=-1, hours=1), "-23:00:00"),
        (dt.timedelta(microseconds=5), "0:00:00.000005"),
    ],
)
def test_duration_text(value, text):
    assert duration_text(value) == text


def test_a_duration_is_a_number_of_days_in_xlsx():
    formatter = formatter_for(DurationField(), ColumnFormat(), UTC)
    sheet = SheetColumns(["span"], [formatter], UTC)
    row = sheet.rows([[dt.timedelta(days=1, hours=12), dt.timedelta(hours=-1), None]], first=2)
    assert '<c r="A2" s="2"><v>1.5</v></c>' in row
    assert "-1:00:00" in row  # Excel shows no negative duration: the CSV's text
    assert "[h]:mm:ss" in sheet.styles_xml()


# Generated arithmetic -----------------------------------------------------------------

PLACES = 6  # DIVISION_PLACES
LIMIT = 10**15  # a value as the integer of its last place: at most 15 digits


class OutOfLimits(Exception):
    pass


def exact(value: Fraction, scale: int) -> tuple[Fraction, int]:
    if abs(value) * 10**scale >= LIMIT:
        raise OutOfLimits
    return value, scale


def divide(a: tuple[Fraction, int], b: tuple[Fraction, int]) -> tuple[Fraction, int] | None:
    (x, _), (y, sb) = a, b
    if abs(x) * 10 ** (PLACES + sb) >= 10**18:
        raise OutOfLimits  # SQLite's 64-bit integers
    if y == 0:
        return None
    n = abs(x / y) * 10**PLACES
    whole = int(n + Fraction(1, 2))  # half away from zero
    return exact(Fraction(whole if x / y >= 0 else -whole, 10**PLACES), PLACES)


def evaluate(tree, data):
    """(value, scale) by the documented rules; None for NULL."""
    if tree[0] == "leaf":
        return data[tree[1]]
    _, op, left, right = tree
    a, b = evaluate(left, data), evaluate(right, data)
    if a is None or b is None:
        return None
    if op == "/":
        return divide(a, b)
    (x, sa), (y, sb) = a, b
    if op == "*":
        return exact(x * y, sa + sb)
    return exact(x + y if op == "+" else x - y, max(sa, sb))


def text_of(tree) -> str:
    if tree[0] == "leaf":
        return tree[1]
    _, op, left, right = tree
    return f"({text_of(left)} {op} {text_of(right)})"


LEAVES = ["count()", "sum(quantity)", "sum(unit_price)", "sum(quantity * unit_price)", "7"]
LEAVES += ["max(unit_price)", "min(quantity)", "0.5", "100.0", "1.25", "3"]

trees = st.recursive(
    st.sampled_from(LEAVES).map(lambda leaf: ("leaf", leaf)),
    lambda inner: st.tuples(st.just("op"), st.sampled_from("+-*/"), inner, inner),
    max_leaves=5,
)
rows = st.lists(
    st.tuples(
        st.integers(1, 50),
        st.decimals(Decimal("-999.99"), Decimal("999.99"), places=2, allow_nan=False),
    ),
    min_size=1,
    max_size=4,
)


def leaf_values(lines) -> dict:
    quantities = [Fraction(q) for q, _ in lines]
    prices = [Fraction(p) for _, p in lines]
    values = {
        "count()": (Fraction(len(lines)), 0),
        "sum(quantity)": (sum(quantities), 0),
        "sum(unit_price)": (sum(prices), 2),
        "sum(quantity * unit_price)": (
            sum(q * p for q, p in zip(quantities, prices, strict=True)),
            2,
        ),
        "max(unit_price)": (max(prices), 2),
        "min(quantity)": (min(quantities), 0),
    }
    for literal in ("7", "3", "0.5", "100.0", "1.25"):
        decimal = Decimal(literal)
        values[literal] = (Fraction(decimal), -decimal.as_tuple().exponent)
    return values


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tree=trees, lines=rows)
def test_arithmetic_equals_pythons_decimals(tree, lines):
    try:
        expected = evaluate(tree, leaf_values(lines))
    except OutOfLimits:
        assume(False)
    OrderLine.objects.all().delete()
    order = Order.objects.first() or OrderFactory()
    product = Product.objects.first() or ProductFactory()
    OrderLine.objects.bulk_create(
        OrderLine(order=order, product=product, quantity=quantity, unit_price=price)
        for quantity, price in lines
    )
    if expected is None:
        text = ""
    else:
        value = Decimal(expected[0].numerator) / Decimal(expected[0].denominator)
        text = format(value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP), "f")
    # count(): the report is an aggregate one (a literal alone would be a row per line).
    assert cells(text_of(tree), "count()", decimals=PLACES)[0] == text, text_of(tree)


def test_every_column_with_a_type_error_is_reported_in_one_pass(tmp_path):
    from admin_reports.registry import load_definition

    path = tmp_path / "types.yaml"
    path.write_text(
        "model: shop.OrderLine\ncolumns:\n"
        "  - {name: a, value: 'unit_price + product.name'}\n"
        "  - {name: b, value: 'coalesce(quantity, product.name)'}\n"
        "  - {name: c, value: days(quantity)}\n",
        encoding="utf-8",
    )
    spec, problems = load_definition(path)
    assert spec is None
    assert [(p.id, p.mark.line) for p in problems] == [("E060", 3), ("E060", 4), ("E063", 5)]
