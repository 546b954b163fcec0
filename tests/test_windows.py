"""
Windows (over=, rank(), dense_rank(), row_number()) against the same numbers computed
in Python from the rows the factories made, on the database the suite runs on.
"""

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest

from admin_reports.compiler import ReportParams, compile_report
from admin_reports.definitions import load_definition_text
from admin_reports.sources import orm_rows
from project.shop.models import OrderLine

from .factories import OrderFactory, OrderLineFactory, ProductFactory

pytestmark = pytest.mark.django_db


def rows_of(text: str) -> list[tuple]:
    spec, problems = load_definition_text(text)
    assert problems == []
    compiled = compile_report(spec, ReportParams())
    return [tuple(compiled.format_row(row)) for row in orm_rows(compiled)]


def problems_of(text: str) -> list[str]:
    spec, problems = load_definition_text(text)
    assert spec is None
    return [problem.id for problem in problems]


def divided(a: Decimal, b: Decimal, places: int) -> str:
    """The language's '/': 6 places half away from zero; then the column's places."""
    quotient = (a / b).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    return str(quotient.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


@pytest.fixture
def lines():
    """Lines of four products; two with the same revenue (a tie for rank)."""
    products = [ProductFactory(sku=sku) for sku in ("A-1", "B-1", "C-1", "D-1")]
    for index, quantity, unit in [
        (0, 3, "10.10"),
        (0, 1, "9.95"),
        (1, 2, "20.00"),
        (1, 1, "0.30"),
        (2, 1, "40.30"),
        (3, 7, "0.70"),
        (3, 1, "0.01"),
        (3, 2, "3.33"),
    ]:
        OrderLineFactory(product=products[index], quantity=quantity, unit_price=Decimal(unit))
    return list(OrderLine.objects.select_related("product", "order"))


def revenue_by_sku(lines) -> dict[str, Decimal]:
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        revenue[line.product.sku] += line.quantity * line.unit_price
    return revenue


GROUPED = """\
model: shop.OrderLine
columns:
  - {name: sku, value: product.sku}
  - {name: revenue, value: "sum(quantity * unit_price)"}
  - {name: share, value: "revenue / sum(revenue, over=True)", format: {decimals: 4}}
  - {name: lines, value: "count(over=True)"}
  - {name: rank, value: "rank(order_by=-revenue)"}
  - {name: dense, value: "dense_rank(order_by=-revenue)"}
order_by: [sku]
"""


def test_share_of_the_total_and_ranks_of_grouped_rows(lines):
    revenue = revenue_by_sku(lines)
    total = sum(revenue.values())
    expected = []
    values = sorted(set(revenue.values()), reverse=True)
    for sku in sorted(revenue):
        mine = revenue[sku]
        rank = 1 + sum(1 for other in revenue.values() if other > mine)
        expected.append(
            (
                sku,
                str(mine.quantize(Decimal("0.01"))),
                divided(mine, total, 4),
                str(len(lines)),
                str(rank),
                str(1 + values.index(mine)),
            )
        )
    assert revenue["B-1"] == revenue["C-1"], "the data has a tie"
    assert rows_of(GROUPED) == expected


def test_a_partition_of_groups_totals_each_key(lines):
    text = """\
model: shop.OrderLine
columns:
  - {name: sku, value: product.sku}
  - {name: big, value: "quantity > 2"}
  - {name: units, value: sum(quantity)}
  - {name: of_sku, value: "sum(units, over=[sku])"}
  - {name: avg_price, value: "avg(unit_price, over=[sku])", format: {decimals: 6}}
  - {name: top, value: "max(unit_price, over=[big])"}
order_by: [sku, big]
"""
    groups: dict[tuple, int] = defaultdict(int)
    for line in lines:
        groups[(line.product.sku, line.quantity > 2)] += line.quantity
    expected = []
    for sku, big in sorted(groups):
        mine = [line for line in lines if line.product.sku == sku]
        prices = sum(line.unit_price for line in mine)
        top = max(line.unit_price for line in lines if (line.quantity > 2) == big)
        expected.append(
            (
                sku,
                "true" if big else "false",
                str(groups[(sku, big)]),
                str(sum(line.quantity for line in mine)),
                divided(prices, Decimal(len(mine)), 6),
                str(top),
            )
        )
    assert rows_of(text) == expected


def test_a_window_over_rows_and_row_numbers(lines):
    text = """\
model: shop.OrderLine
columns:
  - {name: sku, value: product.sku}
  - {name: quantity, value: quantity}
  - {name: sku_units, value: "sum(quantity, over=[product])"}
  - {name: nth, value: "row_number(order_by=[-quantity, unit_price], over=[product])"}
order_by: [sku, nth]
"""
    expected = []
    for sku in sorted({line.product.sku for line in lines}):
        mine = sorted(
            (line for line in lines if line.product.sku == sku),
            key=lambda line: (-line.quantity, line.unit_price),
        )
        units = sum(line.quantity for line in mine)
        for nth, line in enumerate(mine, 1):
            expected.append((sku, str(line.quantity), str(units), str(nth)))
    assert rows_of(text) == expected


@pytest.mark.parametrize(
    ("extra", "id"),
    [
        ("having: rank(order_by=-units) < 3\n", "E070"),
        ("where: sum(quantity, over=True) > 3\n", "E025"),
        ("  - {name: odd, value: 'count_distinct(quantity, over=True)'}\n", "E070"),
        ("  - {name: odd, value: 'sum(quantity, over=quantity)'}\n", "E070"),
        ("  - {name: odd, value: 'sum(rank(order_by=units), over=True)'}\n", "E071"),
    ],
)
def test_windows_where_sql_has_none_are_check_errors(extra, id):
    text = (
        "model: shop.OrderLine\ncolumns:\n  - {name: sku, value: product.sku}\n"
        "  - {name: units, value: sum(quantity)}\n"
    )
    assert problems_of(text + extra) == [id]


def test_an_order_with_lines_of_several_products(lines):
    """A window over an order's lines in a report of rows: each line's share of its order."""
    order = OrderFactory()
    made = [
        OrderLineFactory(order=order, product=ProductFactory(sku=f"Z-{n}"), quantity=n)
        for n in (1, 2, 4)
    ]
    text = """\
model: shop.OrderLine
columns:
  - {name: sku, value: product.sku}
  - {name: share, value: "quantity / sum(quantity, over=[order])", format: {decimals: 6}}
where: "product.sku >= 'Z'"
order_by: [sku]
"""
    assert rows_of(text) == [
        (line.product.sku, divided(Decimal(line.quantity), Decimal(7), 6)) for line in made
    ]


def test_window_sums_of_decimals_are_exact_and_take_a_default(lines):
    """0.10 + 0.20 is 0.30, not the doubles' 0.30000000000000004 (SQLite sums doubles in a
    window); default= stands for an empty partition (a window cannot be of COALESCE)."""
    product = ProductFactory(sku="E-1")
    for unit in ("0.10", "0.20"):
        OrderLineFactory(product=product, quantity=5, unit_price=Decimal(unit))
    text = """\
model: shop.OrderLine
columns:
  - {name: sku, value: product.sku}
  - {name: price, value: unit_price}
  - {name: total, value: "sum(unit_price, over=[product.sku])", format: {decimals: 2}}
  - {name: exact, value: "sum(unit_price, over=[product.sku]) == 0.3"}
  - {name: big, value: "sum(unit_price, filter=quantity > 4, default=0, over=[product.sku])"}
  - {name: of_all, value: "sum(unit_price, over=True) - sum(unit_price, over=True)"}
order_by: [sku, price]
"""
    rows = OrderLine.objects.select_related("product").order_by("product__sku", "unit_price")
    everything = list(rows)
    expected = []
    for line in everything:
        mine = [other for other in everything if other.product.sku == line.product.sku]
        total = sum(other.unit_price for other in mine)
        big = sum((other.unit_price for other in mine if other.quantity > 4), Decimal(0))
        expected.append(
            (
                line.product.sku,
                str(line.unit_price),
                str(total),
                "true" if total == Decimal("0.3") else "false",
                str(big.quantize(Decimal("0.01"))),
                "0.00",
            )
        )
    assert ("E-1", "0.10", "0.30", "true", "0.30", "0.00") in expected
    assert rows_of(text) == expected
