import datetime as dt

import pytest
from django.db.models import Q

from admin_reports.compiler import ReportParams, compile_report
from admin_reports.exceptions import InvalidParameters
from admin_reports.registry import registry
from admin_reports.sources import orm_rows
from project.shop.models import Order, Product

from .factories import OrderLineFactory, ProductFactory

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
