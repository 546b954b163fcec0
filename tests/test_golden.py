"""
The demo definitions against a hand-built shop: run_report's CSV equals the CSV
computed here in plain Python from the created objects.

The range crosses the spring DST change in Europe/Berlin (29 March 2026, a
23-hour day) and ends on it: the end date is inclusive, in local time.
"""

import csv
import datetime as dt
import io
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from project.shop.models import OrderLine

from .factories import (
    CustomerFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    RegionFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC
START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 29)
MARCH_TO_DST = ["--start", START.isoformat(), "--end", END.isoformat()]


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def shop(settings):
    assert settings.TIME_ZONE == "Europe/Berlin"
    north = RegionFactory(code="N", name="North")
    idf = RegionFactory(code="IDF", name="Île-de-France")
    kite = ProductFactory(sku="TOY-1", name="Kite", price=Decimal("12.50"))
    atlas = ProductFactory(sku="BOO-2", name='Atlas, "2nd" ed.', price=Decimal("30.00"))
    formula = ProductFactory(sku="ZZZ-3", name="=SUM(A1)", price=Decimal("1.99"))
    anna = CustomerFactory(name="Anna Müller", region=north)
    bob = CustomerFactory(name="@Bob", region=idf)
    placed = [
        # (customer, when, status, [(product, quantity, unit price)])
        (anna, utc(2026, 2, 28, 22, 59, 59), "paid", [(kite, 1, "12.50")]),  # 28 Feb local
        (anna, utc(2026, 2, 28, 23, 0, 0), "paid", [(kite, 2, "12.50"), (atlas, 1, "27.00")]),
        (bob, utc(2026, 3, 10, 12, 0), "shipped", [(kite, 3, "11.25"), (formula, 1, "1.99")]),
        (bob, utc(2026, 3, 10, 13, 0), "refunded", [(atlas, 1, "30.00")]),
        (anna, utc(2026, 3, 10, 14, 0), "pending", [(kite, 5, "12.50")]),
        (bob, utc(2026, 3, 28, 22, 59, 59), "paid", [(atlas, 2, "30.00")]),  # 28 Mar local
        (anna, utc(2026, 3, 28, 23, 0, 0), "shipped", [(kite, 1, "12.50")]),  # 29 Mar 00:00
        (bob, utc(2026, 3, 29, 21, 59, 59), "paid", [(kite, 4, "12.50")]),  # 29 Mar 23:59:59
        (anna, utc(2026, 3, 29, 22, 0, 0), "paid", [(kite, 7, "12.50")]),  # 30 Mar: after end
        (bob, utc(2026, 3, 15, 9, 0), "cancelled", [(formula, 9, "1.99")]),
    ]
    for customer, when, status, lines in placed:
        order = OrderFactory(customer=customer, placed_at=when, status=status)
        for product, quantity, price in lines:
            OrderLineFactory(
                order=order, product=product, quantity=quantity, unit_price=Decimal(price)
            )
    return {"kite": kite, "atlas": atlas, "formula": formula}


def lines_in(start: dt.date, end: dt.date, products=None) -> list[OrderLine]:
    """The lines whose order's local date is in [start, end], from the objects themselves."""
    lines = OrderLine.objects.select_related("order__customer__region", "product")
    return [
        line
        for line in lines
        if start <= line.order.placed_at.astimezone(BERLIN).date() <= end
        and (products is None or line.product in products)
    ]


def money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def text(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def as_csv(rows) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def run(tmp_path, *args) -> str:
    path = tmp_path / "out.csv"
    call_command("run_report", "--no-bom", *args, "--output", str(path))
    return path.read_bytes().decode("utf-8")


def test_daily_product_sales(shop, tmp_path):
    selected = [shop["kite"], shop["formula"], shop["atlas"]]
    groups = defaultdict(lambda: [0, Decimal(0), set()])
    for line in lines_in(START, END, selected):
        if line.order.status not in ("paid", "shipped"):
            continue
        key = (line.product.sku, line.product.name, line.order.placed_at.astimezone(BERLIN).date())
        groups[key][0] += line.quantity
        groups[key][1] += line.quantity * line.unit_price
        groups[key][2].add(line.order_id)
    expected = [["SKU", "Product", "Day", "Units", "Revenue", "Orders"]] + [
        [text(sku), text(name), day.isoformat(), str(units), money(revenue), str(len(orders))]
        for (sku, name, day), (units, revenue, orders) in sorted(groups.items())
    ]
    pks = ",".join(str(product.pk) for product in selected)
    output = run(tmp_path, "daily_product_sales", *MARCH_TO_DST, "--select", pks)
    assert output == as_csv(expected)
    # The checks the expectation itself must satisfy, so that it cannot be empty or trivial.
    days = [row[2] for row in expected[1:]]
    assert "2026-02-28" not in days
    assert "2026-03-30" not in days
    assert {"2026-03-01", "2026-03-28", "2026-03-29"} <= set(days)
    assert "'=SUM(A1)" in output


def test_daily_product_sales_selection_limits_rows(shop, tmp_path):
    output = run(tmp_path, "daily_product_sales", *MARCH_TO_DST, "--select", str(shop["atlas"].pk))
    assert [row[0] for row in csv.reader(io.StringIO(output))][1:] == ["BOO-2", "BOO-2"]


def test_order_lines(shop, tmp_path):
    selected = [shop["kite"], shop["atlas"]]
    lines = sorted(
        lines_in(START, END, selected), key=lambda line: (line.order_id, line.product.sku)
    )
    expected = [
        [
            "Order",
            "Placed at",
            "Status",
            "Customer",
            "Region",
            "SKU",
            "Quantity",
            "Unit price",
            "Line total",
        ]
    ] + [
        [
            str(line.order_id),
            line.order.placed_at.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M:%S"),
            line.order.status,
            text(line.order.customer.name),
            line.order.customer.region.name,
            line.product.sku,
            str(line.quantity),
            money(line.unit_price),
            money(line.quantity * line.unit_price),
        ]
        for line in lines
    ]
    pks = f"{shop['kite'].pk},{shop['atlas'].pk}"
    output = run(
        tmp_path, "order_lines", "--start", "2026-03-01", "--end", "2026-03-29", "--select", pks
    )
    assert output == as_csv(expected)
    assert "2026-03-29 23:59:59" in output  # the last second of the 23-hour day
    assert "2026-03-01 00:00:00" in output  # the first second of the range
    assert "'@Bob" in output
    assert len(expected) == 9  # header and 8 lines


def test_region_monthly(shop, tmp_path):
    start = dt.date(2026, 2, 1)
    groups = defaultdict(lambda: [Decimal(0), Decimal(0), set()])
    for line in lines_in(start, END):
        local = line.order.placed_at.astimezone(BERLIN)
        key = (line.order.customer.region.name, local.strftime("%Y-%m"))
        amount = line.quantity * line.unit_price
        if line.order.status in ("paid", "shipped"):
            groups[key][0] += amount
        if line.order.status == "refunded":
            groups[key][1] += amount
        groups[key][2].add(line.order.customer_id)
    expected = [["Region", "Month", "Revenue", "Refunded", "Customers"]] + [
        [region, month, money(revenue), money(refunded), str(len(customers))]
        for (region, month), (revenue, refunded, customers) in sorted(groups.items())
    ]
    output = run(tmp_path, "region_monthly", "--start", "2026-02-01", "--end", "2026-03-29")
    assert output == as_csv(expected)
    assert ["North", "2026-02", "12.50", "0.00", "1"] in expected
    assert any(row[:2] == ["Île-de-France", "2026-03"] and row[3] == "30.00" for row in expected)


def test_bom_for_excel(shop, tmp_path):
    output = run(
        tmp_path, "region_monthly", "--start", "2026-02-01", "--end", "2026-03-29", "--bom"
    )
    assert output.startswith("\ufeffRegion,Month,")
