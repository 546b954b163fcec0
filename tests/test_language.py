"""
The definition language's row and group constructs, each checked against the same
numbers computed in Python from the rows the factories made.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest

from admin_reports.compiler import ReportParams, compile_report
from admin_reports.definitions import load_definition_text
from admin_reports.sources import orm_rows
from project.shop.models import OrderLine

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
