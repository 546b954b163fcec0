"""Valid definitions: every key of the format, validated, compiled and run."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from admin_reports.compiler import ReportParams, compile_report
from admin_reports.definitions import ColumnKind, load_definition_file, load_definition_text
from admin_reports.sources import orm_rows
from project.shop.models import Product, Region

from ..factories import OrderLineFactory, ProductFactory, RegionFactory

VALID = Path(__file__).parent / "valid"


def load(name: str):
    spec, problems = load_definition_file(VALID / f"{name}.yaml")
    assert problems == []
    return spec


def test_every_key_is_read():
    spec = load("every_key")
    assert spec.name == "every_key_report"
    assert spec.title == "Every key"
    assert spec.description == "Uses every key of the definition format."
    assert spec.model._meta.label == "shop.OrderLine"
    assert [(a.label, a.selection) for a in spec.action_on] == [
        ("shop.Product", "product"),
        ("shop.Region", "order__customer__region__pk"),
    ]
    assert [(j.name, j.lookup, j.condition is not None) for j in spec.joins] == [
        ("customer", "order__customer", False),
        ("region", "order__customer__region", False),
        ("paid_order", "order", True),
    ]
    date_range = spec.date_range
    assert (date_range.lookup, date_range.is_datetime) == ("order__placed_at", True)
    assert (date_range.required, date_range.default, date_range.max_days) == (
        False,
        "last_month",
        31,
    )
    assert spec.filters == Q(product__active=True) & Q(quantity__gte=1) & ~Q(
        order__customer__region__code="ZZ"
    )
    assert [c.name for c in spec.columns] == [
        "region",
        "day",
        "big",
        "lines",
        "revenue",
        "refunded",
        "first_at",
        "any_bulk",
    ]
    assert [c.kind for c in spec.columns] == [
        ColumnKind.FIELD,
        ColumnKind.COMPUTED,
        ColumnKind.FIELD,
    ] + [ColumnKind.AGGREGATE] * 5
    assert [c.label for c in spec.columns[:4]] == ["Region", "Day", "Big order", "Lines"]
    assert spec.columns[0].format.empty_label == "(none)"
    assert spec.always_included == ("region", "day", "big", "revenue")
    assert spec.order_by == ("region", "-day")
    assert spec.max_duration == 600
    chart = spec.chart
    assert (chart.type.value, chart.x, chart.y, chart.series, chart.title) == (
        "bar",
        "day",
        ("revenue", "refunded"),
        None,
        "Takings",
    )
    assert spec.permissions == (
        "shop.view_customer",
        "shop.view_order",
        "shop.view_orderline",
        "shop.view_product",
        "shop.view_region",
        "shop.change_product",
    )


def test_defaults_when_keys_are_left_out():
    spec = load("raw_lines")
    assert spec.name == "raw_lines"
    assert spec.title == "Raw lines"
    assert spec.description == ""
    assert [(a.label, a.selection) for a in spec.action_on] == [("shop.OrderLine", "pk")]
    assert spec.date_range.required is True
    assert spec.date_range.default is None
    assert spec.columns[1].label == "Sku"
    assert [c.kind for c in spec.columns] == [ColumnKind.FIELD] + [ColumnKind.COMPUTED] * 6 + [
        ColumnKind.FIELD,
        ColumnKind.COMPUTED,
        ColumnKind.COMPUTED,
    ]


@pytest.mark.django_db
def test_every_key_runs():
    north = RegionFactory(code="N", name="North")
    at = dt.datetime(2026, 3, 10, 9, 30, tzinfo=dt.UTC)
    paid = OrderLineFactory(
        order__placed_at=at, order__customer__region=north, quantity=10, unit_price=Decimal("1.25")
    )
    OrderLineFactory(
        order=paid.order, product=paid.product, quantity=2, unit_price=Decimal("1.00")
    )
    refunded = OrderLineFactory(
        order__placed_at=at,
        order__status="refunded",
        order__customer__region=north,
        product=paid.product,
        quantity=1,
        unit_price=Decimal("3.00"),
    )
    OrderLineFactory(order__placed_at=at, product__active=False)  # filtered out
    spec = load("every_key")
    compiled = compile_report(
        spec,
        ReportParams(
            start=dt.date(2026, 3, 1),
            end=dt.date(2026, 3, 31),
            selection=Region.objects.filter(code="N"),
            selection_model=Region,
        ),
    )
    with CaptureQueriesContext(connection) as queries:
        rows = [compiled.format_row(row) for row in orm_rows(compiled)]
    assert sum('"shop_orderline"' in q["sql"] for q in queries) == 1, "one query, no N+1"
    # paid_order is a filtered join over a required foreign key: an inner join, so the
    # refunded order's line is dropped as by a filter, and no refunded amount remains.
    assert rows == [
        [
            "North",
            "10.03.2026",
            paid.order.customer.name,
            "2",
            "14.5",
            "",
            "2026-03-10T10:30",
            "yes",
        ]
    ]
    assert refunded.order.status == "refunded"


@pytest.mark.django_db
def test_raw_lines_runs():
    line = OrderLineFactory(
        order__placed_at=dt.datetime(2026, 3, 28, 23, 30, tzinfo=dt.UTC),  # 29th in Berlin
        order__customer__name="Zoe",
        order__customer__email="zoe@example.com",
        product=ProductFactory(sku="TOY-1", name="Kite"),
        quantity=12,
        unit_price=Decimal("2.50"),
    )
    spec = load("raw_lines")
    compiled = compile_report(
        spec, ReportParams(start=dt.date(2026, 3, 29), end=dt.date(2026, 3, 29))
    )
    rows = [compiled.format_row(row) for row in orm_rows(compiled)]
    assert rows == [
        [
            str(line.pk),
            "toy-1",
            "ZOE <zoe@example.com>",
            "27.00",
            "bulk",
            "3",
            "2026-03-29",
            "true",
            "13",
            line.order.customer.region.name,
        ]
    ]
    assert Product.objects.count() == 1


BASE_DEFINITION = "model: shop.OrderLine\ncolumns:\n  - name: quantity\n    value: quantity\n"


@pytest.mark.parametrize(
    ("key", "text", "reads"),
    [
        ("columns", "  - name: status\n    value: order.status\n", "shop.view_order"),
        (
            "filters",
            "filters:\n  order__customer__email__endswith: '@example.org'\n",
            "shop.view_customer",
        ),
        (
            "filters",
            "filters:\n  order.customer.email__endswith: '@example.org'\n",
            "shop.view_customer",
        ),
        ("exclude", "exclude:\n  product__category__name: Toys\n", "shop.view_category"),
        (
            "joins",
            "joins:\n  buyer:\n    path: order.customer\n    condition: \"region.code == 'N'\"\n",
            "shop.view_region",
        ),
        (
            "selection",
            "action_on: shop.Region\nselection: order.customer.region\n",
            "shop.view_region",
        ),
        ("date_range", "date_range:\n  field: order.placed_at\n", "shop.view_order"),
    ],
)
def test_every_model_a_definition_reads_needs_its_view_permission(tmp_path, key, text, reads):
    """Whatever part of a definition reads a model, its view permission is required."""
    base = BASE_DEFINITION
    if key == "columns":
        base += text
    else:
        base = text + base
    path = tmp_path / "report.yaml"
    path.write_text(base)
    spec, problems = load_definition_file(path)
    assert problems == []
    assert reads in spec.permissions
    assert reads not in load_definition_text(BASE_DEFINITION)[0].permissions
    assert "shop.view_orderline" in spec.permissions
