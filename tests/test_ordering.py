"""
A report's order is total: the same data gives the same file, whatever the plan.

Row-level reports end their order with the model's primary key; aggregate reports
with every grouping column.
"""

import datetime as dt
from contextlib import contextmanager, nullcontext
from decimal import Decimal

import pytest
from django.db import connection

from admin_reports.compiler import ReportParams, compile_report
from admin_reports.csv_output import body_chunks, header_bytes
from admin_reports.definitions import load_definition_text
from admin_reports.registry import registry
from admin_reports.sources import orm_rows, reading
from project.shop.models import Product

from .factories import OrderFactory, OrderLineFactory, ProductFactory

LINES = """
model: shop.OrderLine
columns:
  - {name: order_id, value: order.id}
  - {name: quantity, value: quantity}
  - {name: sku, value: product.sku}
"""
SALES = """
model: shop.OrderLine
columns:
  - {name: sku, value: product.sku}
  - {name: units, value: sum(quantity)}
  - {name: day, value: "trunc(order.placed_at, 'day')"}
  - {name: orders, value: count_distinct(order)}
"""
TOTALS = """
model: shop.OrderLine
columns:
  - {name: units, value: sum(quantity)}
  - {name: orders, value: count_distinct(order)}
"""
# Order -> lines is a reverse relation: one order, several rows.
ORDERS = """
model: shop.Order
columns:
  - {name: quantity, value: lines.quantity}
  - {name: status, value: status}
"""
DEFINITIONS = {"lines": LINES, "sales": SALES, "totals": TOTALS, "orders": ORDERS}
LINE_PK = '"shop_orderline"."id" ASC'


def spec_of(text: str, order_by: str = ""):
    spec, problems = load_definition_text(text + (f"order_by: {order_by}\n" if order_by else ""))
    assert problems == []
    return spec


MARCH_PARAMS = {"start": dt.date(2026, 3, 1), "end": dt.date(2026, 3, 31)}


def order_by_clause(spec) -> str:
    """The ORDER BY of the compiled SQL: positions of selected columns, or table columns."""
    queryset = compile_report(spec, ReportParams(**MARCH_PARAMS)).queryset
    sql, _ = queryset.query.get_compiler(queryset.db).as_sql()
    return sql.partition(" ORDER BY ")[2]


@pytest.mark.parametrize(
    ("definition", "order_by", "expected"),
    [
        # Row level: the definition's order, then the primary key.
        ("lines", "", LINE_PK),
        ("lines", "[order_id, sku]", f"1 ASC, 3 ASC, {LINE_PK}"),
        ("lines", "[-quantity]", f"2 DESC, {LINE_PK}"),
        ("lines", "[sku, -order_id, quantity]", f"3 ASC, 1 DESC, 2 ASC, {LINE_PK}"),
        # A reverse relation repeats the object: then every other column too.
        ("orders", "", '"shop_order"."id" ASC, 1 ASC, 2 ASC'),
        ("orders", "[-status]", '2 DESC, "shop_order"."id" ASC, 1 ASC'),
        # Aggregate: the definition's order, then the grouping columns not in it.
        ("sales", "", "1 ASC, 3 ASC"),
        ("sales", "[-day]", "3 DESC, 1 ASC"),
        ("sales", "[-units]", "2 DESC, 1 ASC, 3 ASC"),
        ("sales", "[day, sku]", "3 ASC, 1 ASC"),
        ("sales", "[orders, -sku]", "4 ASC, 1 DESC, 3 ASC"),
        # No grouping column: one row, the definition's order as it is.
        ("totals", "", ""),
        ("totals", "[-units]", "1 DESC"),
    ],
)
def test_order_by_is_total(definition, order_by, expected):
    assert order_by_clause(spec_of(DEFINITIONS[definition], order_by)) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("order_lines", f"1 ASC, 6 ASC, {LINE_PK}"),
        ("daily_product_sales", "1 ASC, 3 ASC, 2 ASC"),
        ("region_monthly", "1 ASC, 2 ASC"),
    ],
)
def test_the_demo_reports_order(name, expected):
    assert order_by_clause(registry.get(name)) == expected


@pytest.mark.django_db
def test_ordering_by_primary_key_adds_no_output_column():
    OrderLineFactory.create_batch(2)
    for definition in (LINES, ORDERS):
        compiled = compile_report(spec_of(definition))
        assert [len(row) for row in orm_rows(compiled)] == [len(compiled.headers)] * 2


def render(compiled) -> bytes:
    return header_bytes(compiled.headers) + b"".join(body_chunks(compiled))


def plan(compiled) -> str:
    """The query plan, under the settings the report's rows are read with."""
    sql, params = compiled.queryset.query.sql_with_params()
    explain = "EXPLAIN" if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN"
    with reading(compiled.queryset.db), connection.cursor() as cursor:
        cursor.execute(f"{explain} {sql}", params)
        return "\n".join(str(row) for row in cursor.fetchall())


@contextmanager
def planner(**settings):
    """PostgreSQL planner settings (enable_seqscan = off...) for the block."""
    with connection.cursor() as cursor:
        for name, value in settings.items():
            cursor.execute(f"SET {name} = {value}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for name in settings:
                cursor.execute(f"RESET {name}")


@contextmanager
def lowest_key_moved_to_the_heap_end(lines, compiled):
    """PostgreSQL: an UPDATE writes a new row version after the others; scan the heap."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps a table's rows in rowid (primary key) order")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE shop_orderline SET quantity = quantity WHERE id = %s", [lines[0].pk]
        )
        cursor.execute(
            "SELECT id FROM shop_orderline WHERE order_id = %s ORDER BY ctid", [lines[0].order_id]
        )
        assert [pk for (pk,) in cursor.fetchall()] == [line.pk for line in lines[1:] + lines[:1]]
    with planner(enable_indexscan="off", enable_bitmapscan="off", enable_indexonlyscan="off"):
        assert "Seq Scan on shop_orderline" in plan(compiled)
        yield


@contextmanager
def an_index_by_falling_quantity(lines, compiled):
    """A covering index that lists an order's lines by falling quantity, the reverse of pk."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Fire the foreign key checks now: an index cannot be built while they wait.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "CREATE INDEX test_lines_by_falling_quantity"
            " ON shop_orderline (product_id, order_id, quantity DESC, unit_price)"
        )
    try:
        with planner(enable_seqscan="off") if connection.vendor == "postgresql" else nullcontext():
            assert "test_lines_by_falling_quantity" in plan(compiled)
            yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX test_lines_by_falling_quantity")


@pytest.fixture
def three_lines():
    """One order with three lines of one product; quantities 1, 2, 3 in primary key order."""
    order = OrderFactory(placed_at=dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC))
    product = ProductFactory(sku="TOY-1", price=Decimal("2.00"))
    return [OrderLineFactory(order=order, product=product, quantity=n) for n in (1, 2, 3)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "replan",
    [lowest_key_moved_to_the_heap_end, an_index_by_falling_quantity],
    ids=["heap", "index"],
)
def test_the_same_data_gives_the_same_bytes_under_another_plan(three_lines, replan):
    params = ReportParams(
        **MARCH_PARAMS, selection=[three_lines[0].product_id], selection_model=Product
    )
    compiled = compile_report(registry.get("order_lines"), params)
    in_key_order = render(compiled)
    assert [row.split(b",")[6] for row in in_key_order.splitlines()[1:]] == [b"1", b"2", b"3"]
    with replan(three_lines, compiled):
        assert render(compiled) == in_key_order
