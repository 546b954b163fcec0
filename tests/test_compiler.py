import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Q

from admin_reports.compiler import ReportParams, compile_report
from admin_reports.definitions import load_definition_text
from admin_reports.exceptions import InvalidParameters
from admin_reports.models import ReportPreset
from admin_reports.registry import registry
from admin_reports.sources import orm_rows
from project.shop.models import Order, Product

from .factories import OrderLineFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

MARCH = {"start": dt.date(2026, 3, 1), "end": dt.date(2026, 3, 31)}


def rows(spec, **params):
    compiled = compile_report(spec, ReportParams(**params))
    return [compiled.format_row(row) for row in orm_rows(compiled)]


@pytest.fixture
def lines():
    at = dt.datetime(2026, 3, 5, 10, tzinfo=dt.UTC)
    return [
        OrderLineFactory(order__placed_at=at, product=ProductFactory(sku=sku, active=active))
        for sku, active in [("A-1", True), ("B-1", True), ("C-1", False)]
    ]


def test_selection_by_primary_keys(lines):
    spec = registry.get("order_lines")
    got = rows(spec, **MARCH, selection=[lines[0].product_id], selection_model=Product)
    assert [row[5] for row in got] == ["A-1"]


def test_selection_by_queryset_is_a_subquery(lines):
    spec = registry.get("order_lines")
    selection = Product.objects.filter(active=True)
    compiled = compile_report(
        spec, ReportParams(**MARCH, selection=selection, selection_model=Product)
    )
    assert "IN (SELECT" in str(compiled.queryset.query)
    got = [compiled.format_row(row) for row in orm_rows(compiled)]
    assert sorted(row[5] for row in got) == ["A-1", "B-1"]


def test_no_selection_means_every_row(lines):
    assert len(rows(registry.get("order_lines"), **MARCH)) == 3


def test_extra_filters(lines):
    got = rows(registry.get("order_lines"), **MARCH, filters=Q(product__sku__startswith="B"))
    assert [row[5] for row in got] == ["B-1"]


def test_selection_of_a_model_the_report_is_not_on():
    with pytest.raises(InvalidParameters) as caught:
        compile_report(
            registry.get("order_lines"),
            ReportParams(**MARCH, selection=[1], selection_model=Order),
        )
    assert caught.value.messages == ["This report does not run on orders."]
    assert caught.value.code == "selection"


def test_selection_without_its_model():
    with pytest.raises(InvalidParameters, match=r"A selection needs its model\."):
        compile_report(registry.get("order_lines"), ReportParams(**MARCH, selection=[1]))


def test_compiling_touches_no_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        compiled = compile_report(registry.get("daily_product_sales"), ReportParams(**MARCH))
    assert compiled.headers == ["SKU", "Product", "Day", "Units", "Revenue", "Orders"]
    assert compiled.spec.permissions == (
        "shop.view_order",
        "shop.view_orderline",
        "shop.view_product",
    )


def test_the_demo_reports_need_view_permission_on_what_they_read():
    assert registry.get("region_monthly").permissions == (
        "shop.view_customer",
        "shop.view_order",
        "shop.view_orderline",
        "shop.view_product",
        "shop.view_region",
    )


# A DateField range (the shop's dates are all datetimes): presets by start date.
PRESET_STARTS = """
model: admin_reports.ReportPreset
date_range: start
columns:
  - {name: name, value: name}
  - {name: start, value: start}
"""
FIRST, LAST = dt.date(1, 1, 1), dt.date(9998, 12, 31)  # the widest range the forms accept
MARCH_10 = dt.date(2026, 3, 10)


@pytest.fixture
def march_10(line):
    """The `line` fixture (10 March 2026, 12:00 UTC) and a preset starting on 10 March."""
    ReportPreset.objects.create(
        name="From 10 March", report="order_lines", owner=UserFactory(), start=MARCH_10
    )
    return line


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York"])
@pytest.mark.parametrize(
    ("start", "end", "included"),
    [
        (FIRST, LAST, True),
        (FIRST, MARCH_10, True),
        (FIRST, MARCH_10 - dt.timedelta(days=1), False),
        (MARCH_10, LAST, True),
        (MARCH_10 + dt.timedelta(days=1), LAST, False),
        (FIRST, dt.date.max, True),  # refused by the forms, but no day after it either
    ],
)
def test_the_widest_date_ranges_compile_and_run(march_10, tz, start, end, included):
    # 0001-01-01 00:00 in Berlin is year 0 in UTC; in New York it is not.
    params = {"start": start, "end": end, "tz": ZoneInfo(tz)}
    lines = rows(registry.get("order_lines"), **params)
    assert [row[0] for row in lines] == ([str(march_10.order_id)] if included else [])
    spec, problems = load_definition_text(PRESET_STARTS)
    assert problems == []
    assert rows(spec, **params) == ([["From 10 March", "2026-03-10"]] if included else [])
