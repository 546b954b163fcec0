"""
The definition language's row and group constructs, each checked against the same
numbers computed in Python from the rows the factories made.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Value

from admin_reports.compiler import ReportParams, compile_report
from admin_reports.definitions import load_definition_text
from admin_reports.definitions.functions import FunctionSpec
from admin_reports.exceptions import InvalidParameters
from admin_reports.sources import orm_rows
from project.shop.models import Order, OrderLine

from .factories import OrderLineFactory, ProductFactory

pytestmark = pytest.mark.django_db

MARCH = {"start": dt.date(2026, 3, 1), "end": dt.date(2026, 3, 31)}


def spec_of(text: str):
    spec, problems = load_definition_text(text)
    assert problems == []
    return spec


def raw_rows(text: str, **params) -> list[tuple]:
    compiled = compile_report(spec_of(text), ReportParams(**params))
    return list(orm_rows(compiled))


def problems_of(text: str) -> list[tuple[str, str]]:
    spec, problems = load_definition_text(text)
    assert spec is None
    return [(problem.id, problem.message) for problem in problems]


@pytest.fixture
def lines():
    """Lines of three products over March (and one in April), prices above and below list."""
    products = [
        ProductFactory(sku=sku, price=Decimal(price))
        for sku, price in [("A-1", "10.00"), ("B-1", "4.00"), ("C-1", "7.50")]
    ]
    made = []
    for day, quantity, index, unit in [
        (1, 3, 0, "10.00"),
        (2, 1, 0, "9.00"),
        (5, 7, 1, "4.00"),
        (9, 2, 1, "4.50"),
        (12, 5, 2, "7.00"),
        (20, 4, 2, "7.50"),
        (31, 6, 0, "11.00"),
        (30, 2, 1, "3.50"),
    ]:
        at = dt.datetime(2026, 3, day, 10, tzinfo=dt.UTC)
        made.append(
            OrderLineFactory(
                order__placed_at=at,
                product=products[index],
                quantity=quantity,
                unit_price=Decimal(unit),
            )
        )
    OrderLineFactory(order__placed_at=dt.datetime(2026, 4, 2, tzinfo=dt.UTC), product=products[0])
    return made


def in_march():
    return [
        line
        for line in OrderLine.objects.select_related("order", "product")
        if dt.date(2026, 3, 1) <= line.order.placed_at.date() <= dt.date(2026, 3, 31)
    ]


BY_SKU = """\
model: shop.OrderLine
date_range: {field: order.placed_at}
columns:
  - {name: sku, value: product.sku}
"""


def test_a_field_mixed_with_an_aggregate_must_be_a_grouping_column():
    text = BY_SKU + "  - {name: odd, value: quantity + sum(quantity)}\n"
    assert problems_of(text) == [
        (
            "E065",
            "The value of 'columns[1].value' reads 'quantity' outside an aggregate, but no"
            " grouping column has that value.",
        )
    ]


def test_a_grouping_columns_field_may_be_read_beside_an_aggregate(lines):
    text = BY_SKU + "  - {name: tagged, value: \"concat(product.sku, '/', count())\"}\n"
    got = raw_rows(text, **MARCH)
    counts = defaultdict(int)
    for line in in_march():
        counts[line.product.sku] += 1
    assert got == [(sku, f"{sku}/{count}") for sku, count in sorted(counts.items())]


def test_count_with_a_filter_counts_the_matching_rows(lines):
    text = BY_SKU + "  - {name: big, value: 'count(filter=quantity > 2)'}\n"
    got = raw_rows(text, **MARCH)
    counts = defaultdict(int)
    for line in in_march():
        counts[line.product.sku] += line.quantity > 2
    assert got == sorted(counts.items())


BERLIN = ZoneInfo("Europe/Berlin")


def test_where_compares_two_fields(lines):
    text = BY_SKU + "  - {name: n, value: count()}\nwhere: unit_price < product.price\n"
    counts = defaultdict(int)
    for line in in_march():
        if line.unit_price < line.product.price:
            counts[line.product.sku] += 1
    assert raw_rows(text, **MARCH) == sorted(counts.items())


def test_where_takes_a_list_of_conditions_all_of_which_hold(lines):
    text = (
        BY_SKU
        + "  - {name: n, value: sum(quantity)}\n"
        + "where:\n  - unit_price >= product.price\n  - quantity > 2\n"
    )
    sums = defaultdict(int)
    for line in in_march():
        if line.unit_price >= line.product.price and line.quantity > 2:
            sums[line.product.sku] += line.quantity
    assert raw_rows(text, **MARCH) == sorted(sums.items())


@pytest.mark.parametrize("end", [dt.date(2026, 3, 28), dt.date(2026, 3, 29), dt.date(2026, 3, 30)])
def test_a_datetime_compared_with_a_range_date_is_its_local_date(end):
    """Berlin's clocks go forward on 29 March 2026: the local date decides, not UTC's."""
    moments = [
        dt.datetime(2026, 3, 28, 22, 30, tzinfo=dt.UTC),  # 23:30 on the 28th in Berlin
        dt.datetime(2026, 3, 28, 23, 30, tzinfo=dt.UTC),  # 00:30 on the 29th (CET)
        dt.datetime(2026, 3, 29, 21, 30, tzinfo=dt.UTC),  # 23:30 on the 29th (CEST)
        dt.datetime(2026, 3, 29, 22, 30, tzinfo=dt.UTC),  # 00:30 on the 30th
    ]
    for moment in moments:
        OrderLineFactory(order__placed_at=moment)
    text = (
        "model: shop.OrderLine\ndate_range: {field: order.placed_at}\n"
        "columns:\n  - {name: at, value: order.placed_at}\n"
        "where:\n  - order.placed_at >= range.end\n  - range.end == order.placed_at\n"
    )
    params = {"start": dt.date(2026, 3, 1), "end": end, "tz": BERLIN}
    got = [row[0] for row in raw_rows(text, **params)]
    assert got == [m for m in moments if m.astimezone(BERLIN).date() == end]


def test_range_values_fold_with_constant_durations(lines, settings):
    """`range.end - <a duration>` is one date, computed when the report compiles."""
    settings.ADMIN_REPORTS_FUNCTIONS = {
        "weeks": FunctionSpec(
            lambda n: Value(dt.timedelta(weeks=n.value)), 1, 1, literal_args={0: None}
        )
    }
    text = (
        "model: shop.OrderLine\ndate_range: {field: order.placed_at}\n"
        "columns:\n  - {name: id, value: pk}\n"
        "where: order.placed_at < range.end - weeks(2)\n"
    )
    compiled = compile_report(spec_of(text), ReportParams(**MARCH))
    assert "RunValue" not in repr(compiled.queryset.query.where)
    got = [row[0] for row in orm_rows(compiled)]
    cutoff = dt.date(2026, 3, 31) - dt.timedelta(weeks=2)
    assert got == sorted(line.pk for line in in_march() if line.order.placed_at.date() < cutoff)


def test_now_and_today_are_the_runs(lines, time_machine):
    time_machine.move_to(dt.datetime(2026, 3, 20, 23, 30, tzinfo=dt.UTC))  # the 21st in Berlin
    text = (
        "model: shop.OrderLine\n"
        "columns:\n  - {name: id, value: pk}\n"
        "  - {name: past, value: order.placed_at < now()}\n"
        "where: order.placed_at < today()\n"
    )
    compiled = compile_report(spec_of(text), ReportParams(tz=BERLIN))
    got = list(orm_rows(compiled))
    now = dt.datetime(2026, 3, 20, 23, 30, tzinfo=dt.UTC)
    expected = [
        (line.pk, line.order.placed_at < now)
        for line in OrderLine.objects.order_by("pk")
        if line.order.placed_at.astimezone(BERLIN).date() < dt.date(2026, 3, 21)
    ]
    assert got == expected


def test_a_range_value_needs_a_date_range():
    text = "model: shop.OrderLine\ncolumns:\n  - {name: id, value: pk}\nwhere: range.end > order.placed_at\n"
    assert [id for id, _ in problems_of(text)] == ["E067"]


def test_a_run_without_dates_of_a_report_that_reads_them_is_refused():
    text = (
        "model: shop.OrderLine\ndate_range: {field: order.placed_at, required: false}\n"
        "columns:\n  - {name: id, value: pk}\nwhere: order.placed_at < range.end\n"
    )
    with pytest.raises(InvalidParameters, match=r"uses range\.end"):
        compile_report(spec_of(text), ReportParams())


def test_having_filters_the_groups_and_may_name_columns(lines):
    text = (
        BY_SKU
        + "  - {name: units, value: sum(quantity)}\n"
        + "having:\n  - units > 9\n  - count() >= 3\n"
    )
    groups = defaultdict(list)
    for line in in_march():
        groups[line.product.sku].append(line.quantity)
    expected = [(s, sum(q)) for s, q in sorted(groups.items()) if sum(q) > 9 and len(q) >= 3]
    assert raw_rows(text, **MARCH) == expected
    assert 0 < len(expected) < len(groups)


def test_a_column_may_use_the_columns_above_it(lines):
    text = (
        BY_SKU
        + "  - {name: units, value: sum(quantity)}\n"
        + "  - {name: lines, value: count()}\n"
        + "  - {name: spread, value: 'units * 10 - lines'}\n"
    )
    groups = defaultdict(list)
    for line in in_march():
        groups[line.product.sku].append(line.quantity)
    expected = [(s, sum(q), len(q), sum(q) * 10 - len(q)) for s, q in sorted(groups.items())]
    assert raw_rows(text, **MARCH) == expected


@pytest.mark.parametrize(
    ("columns", "where", "id"),
    [
        ("  - {name: a, value: b}\n  - {name: b, value: pk}\n", "", "E066"),
        ("  - {name: a, value: a + 1}\n", "", "E066"),
        ("  - {name: a, value: pk}\n", "where: quantity\n", "E068"),
        ("  - {name: a, value: pk}\n", "having: quantity > 1\n", "E069"),
        ("  - {name: a, value: sum(quantity)}\n", "where: a > 1\n", "E025"),
    ],
)
def test_misuses_of_names_where_and_having(columns, where, id):
    text = "model: shop.OrderLine\ncolumns:\n" + columns + where
    assert [found for found, _ in problems_of(text)] == [id]


def test_label_gives_a_choice_fields_display_label_through_joins(lines):
    first = in_march()[0].order
    first.status = "refunded"
    first.save()
    text = (
        "model: shop.OrderLine\ncolumns:\n  - {name: id, value: pk}\n"
        "  - {name: status, value: label(order.status)}\n"
    )
    expected = [
        (line.pk, line.order.get_status_display())
        for line in OrderLine.objects.select_related("order").order_by("pk")
    ]
    assert raw_rows(text) == expected
    assert "Refunded" in {status for _, status in expected}


def test_label_of_a_value_that_is_no_choice_is_the_value():
    line = OrderLineFactory()
    Order.objects.filter(pk=line.order_id).update(status="lost")
    text = "model: shop.Order\ncolumns:\n  - {name: status, value: label(status)}\n"
    assert raw_rows(text) == [("lost",)]


def test_label_of_a_field_without_choices_is_refused():
    text = "model: shop.OrderLine\ncolumns:\n  - {name: s, value: label(product.sku)}\n"
    assert [id for id, _ in problems_of(text)] == ["E072"]


def test_a_field_in_having_outside_an_aggregate_is_refused():
    """`having: quantity > 5` with a column named quantity (a field too) would filter the
    rows, not the groups: refused, never a silently different file."""
    text = (
        "model: shop.OrderLine\ncolumns:\n  - {name: sku, value: product.sku}\n"
        "  - {name: quantity, value: sum(quantity)}\nhaving: quantity > 5\n"
    )
    assert [id for id, _message in problems_of(text)] == ["E065"]
    text = text.replace("having: quantity > 5", "having: sum(quantity) > 5")
    assert spec_of(text).having is not None
