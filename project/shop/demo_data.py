"""
Deterministic demo orders and order lines, written in bulk.

    plan = DemoDataPlan.build(lines=1_000_000, seed=1, end=date(2026, 11, 26))
    write_demo_data(plan, connection, progress=callback)

The same seed, line count, end date, customers and products always give the
same rows. Three independent random streams (lines per order, orders, lines)
let each table be written in one pass: PostgreSQL gets one COPY per table,
SQLite large executemany batches inside one transaction.
"""

from __future__ import annotations

import itertools
import random
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.management.color import no_style
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from .models import Customer, Order, OrderLine, Product

# Orders and lines are produced in batches of this many orders. Part of the
# random sequence: changing it changes the rows a seed gives.
BATCH_ORDERS = 10_000

LINES_PER_ORDER = (1, 2, 3, 4, 5, 6, 8, 12)
LINES_PER_ORDER_WEIGHTS = (34, 25, 16, 10, 7, 4, 3, 1)
QUANTITIES = (1, 2, 3, 4, 5, 6, 10, 12, 24)
QUANTITY_WEIGHTS = (52, 20, 10, 6, 4, 3, 2, 2, 1)
STATUSES = tuple(Order.Status.values)
STATUS_WEIGHTS = {"pending": 6, "paid": 38, "shipped": 44, "refunded": 7, "cancelled": 5}
# Share of lines sold at a 10% discount off the product's price.
DISCOUNT_RATE = 0.15
# Zipf exponents: the higher, the more a few products (customers) dominate.
PRODUCT_SKEW = 1.1
CUSTOMER_SKEW = 0.7

ProgressCallback = Callable[[int], None]


def _cumulative(weights) -> list[float]:
    return list(itertools.accumulate(weights))


def _zipf_cum_weights(count: int, exponent: float, rng: random.Random) -> list[float]:
    """Cumulative weights of a Zipf law over `count` items in a random (seeded) rank order."""
    ranks = list(range(1, count + 1))
    rng.shuffle(ranks)
    return _cumulative(1 / rank**exponent for rank in ranks)


def _cents_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True)
class DemoDataPlan:
    """Everything the rows depend on; `build` draws the lines per order."""

    seed: int
    lines: int
    start: datetime
    end: datetime
    customer_ids: tuple[int, ...]
    product_ids: tuple[int, ...]
    product_cents: tuple[int, ...]
    first_order_id: int
    first_line_id: int
    lines_per_order: array

    @classmethod
    def build(
        cls,
        *,
        lines: int,
        seed: int,
        end: date,
        days: int = 730,
        tz: ZoneInfo | None = None,
    ) -> DemoDataPlan:
        if lines < 0:
            raise ValueError("lines must not be negative")
        tz = tz or timezone.get_current_timezone()
        customers = tuple(Customer.objects.order_by("pk").values_list("pk", flat=True))
        products = list(Product.objects.order_by("pk").values_list("pk", "price"))
        if lines and (not customers or not products):
            raise ValueError("demo data needs customers and products: load the fixture first")
        last_order = Order.objects.order_by("-pk").values_list("pk", flat=True).first()
        last_line = OrderLine.objects.order_by("-pk").values_list("pk", flat=True).first()
        return cls(
            seed=seed,
            lines=lines,
            start=datetime.combine(end - timedelta(days=days - 1), time.min, tz),
            end=datetime.combine(end + timedelta(days=1), time.min, tz),
            customer_ids=customers,
            product_ids=tuple(pk for pk, _ in products),
            product_cents=tuple(int(price * 100) for _, price in products),
            first_order_id=(last_order or 0) + 1,
            first_line_id=(last_line or 0) + 1,
            lines_per_order=_draw_lines_per_order(lines, random.Random(f"{seed}:counts")),
        )

    @property
    def orders(self) -> int:
        return len(self.lines_per_order)

    def iter_orders(self) -> Iterator[list[tuple[int, int, datetime, str]]]:
        """Batches of (id, customer_id, placed_at, status), placed_at rising with id."""
        rng = random.Random(f"{self.seed}:orders")
        customer_cw = _zipf_cum_weights(len(self.customer_ids), CUSTOMER_SKEW, rng)
        status_cw = _cumulative(STATUS_WEIGHTS[status] for status in STATUSES)
        start = self.start.timestamp()
        step = (self.end.timestamp() - start) / max(self.orders, 1)
        for first in range(0, self.orders, BATCH_ORDERS):
            count = min(BATCH_ORDERS, self.orders - first)
            customers = rng.choices(self.customer_ids, cum_weights=customer_cw, k=count)
            statuses = rng.choices(STATUSES, cum_weights=status_cw, k=count)
            yield [
                (
                    self.first_order_id + first + i,
                    customers[i],
                    datetime.fromtimestamp(int(start + (first + i + rng.random()) * step), UTC),
                    statuses[i],
                )
                for i in range(count)
            ]

    def iter_lines(self) -> Iterator[list[tuple[int, int, int, int, str]]]:
        """Batches of (id, order_id, product_id, quantity, unit_price as text)."""
        rng = random.Random(f"{self.seed}:lines")
        product_cw = _zipf_cum_weights(len(self.product_ids), PRODUCT_SKEW, rng)
        quantity_cw = _cumulative(QUANTITY_WEIGHTS)
        prices = [
            (_cents_text(cents), _cents_text(cents * 9 // 10)) for cents in self.product_cents
        ]
        indexes = range(len(self.product_ids))
        line_id = self.first_line_id
        for first in range(0, self.orders, BATCH_ORDERS):
            counts = self.lines_per_order[first : first + BATCH_ORDERS]
            total = sum(counts)
            products = rng.choices(indexes, cum_weights=product_cw, k=total)
            quantities = rng.choices(QUANTITIES, cum_weights=quantity_cw, k=total)
            order_ids = [
                order_id
                for order_id, count in enumerate(counts, self.first_order_id + first)
                for _ in range(count)
            ]
            batch = []
            for i in range(total):
                product = products[i]
                price = prices[product][rng.random() < DISCOUNT_RATE]
                batch.append(
                    (line_id + i, order_ids[i], self.product_ids[product], quantities[i], price)
                )
            line_id += total
            yield batch


def _draw_lines_per_order(lines: int, rng: random.Random) -> array:
    cum_weights = _cumulative(LINES_PER_ORDER_WEIGHTS)
    counts = array("B")
    remaining = lines
    while remaining > 0:
        for count in rng.choices(LINES_PER_ORDER, cum_weights=cum_weights, k=BATCH_ORDERS):
            count = min(count, remaining)
            counts.append(count)
            remaining -= count
            if not remaining:
                break
    return counts


def write_demo_data(
    plan: DemoDataPlan,
    connection: BaseDatabaseWrapper,
    progress: ProgressCallback | None = None,
) -> None:
    """Insert the plan's orders, then its lines; `progress` gets the rows written so far."""
    progress = progress or (lambda done: None)
    with transaction.atomic(using=connection.alias):
        if connection.vendor == "postgresql":
            _copy_postgresql(plan, connection, progress)
        else:
            _insert_batches(plan, connection, progress)
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [Order, OrderLine]):
                cursor.execute(sql)
    # Fresh statistics, or the planner guesses the reports' plans from empty tables.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _copy_postgresql(plan: DemoDataPlan, connection, progress: ProgressCallback) -> None:
    order_table = connection.ops.quote_name(Order._meta.db_table)
    line_table = connection.ops.quote_name(OrderLine._meta.db_table)
    with connection.cursor() as cursor, _without_secondary_structures(cursor, [Order, OrderLine]):
        raw = cursor.cursor  # psycopg 3 cursor: COPY is not part of the DB-API
        done = 0
        with raw.copy(
            f"COPY {order_table} (id, customer_id, placed_at, status) FROM STDIN"
        ) as copy:
            for batch in plan.iter_orders():
                # str() of an aware UTC datetime is a timestamptz literal PostgreSQL reads.
                copy.write("".join(f"{pk}\t{cu}\t{at}\t{st}\n" for pk, cu, at, st in batch))
                done += len(batch)
                progress(done)
        with raw.copy(
            f"COPY {line_table} (id, order_id, product_id, quantity, unit_price) FROM STDIN"
        ) as copy:
            for batch in plan.iter_lines():
                copy.write("".join(f"{a}\t{b}\t{c}\t{d}\t{e}\n" for a, b, c, d, e in batch))
                done += len(batch)
                progress(done)


@contextmanager
def _without_secondary_structures(cursor, models) -> Iterator[None]:
    """
    Drop the tables' foreign keys and secondary indexes, and recreate them after.

    Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: loaded row by row,
    16 M lines queue 32 M trigger events checked at commit (over two minutes).
    Rebuilding each index and validating each key in one pass takes seconds.
    Everything runs in the caller's transaction: on failure nothing is lost.
    """
    tables = [model._meta.db_table for model in models]
    cursor.execute(
        """
        SELECT 'ALTER TABLE ' || conrelid::regclass || ' DROP CONSTRAINT ' || quote_ident(conname),
               'ALTER TABLE ' || conrelid::regclass || ' ADD CONSTRAINT ' || quote_ident(conname)
               || ' ' || pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)
        UNION ALL
        SELECT 'DROP INDEX ' || i.indexrelid::regclass, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary AND NOT i.indisunique
        """,
        [tables, tables],
    )
    statements = cursor.fetchall()
    for drop, _ in statements:
        cursor.execute(drop)
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    yield
    for _, create in statements:
        cursor.execute(create)


def _insert_batches(plan: DemoDataPlan, connection, progress: ProgressCallback) -> None:
    order_sql = "INSERT INTO {} (id, customer_id, placed_at, status) VALUES (%s, %s, %s, %s)"
    line_sql = (
        "INSERT INTO {} (id, order_id, product_id, quantity, unit_price)"
        " VALUES (%s, %s, %s, %s, %s)"
    )
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        done = 0
        order_sql = order_sql.format(connection.ops.quote_name(Order._meta.db_table))
        for batch in plan.iter_orders():
            cursor.executemany(
                order_sql,
                [
                    (pk, customer, adapt(placed_at), status)
                    for pk, customer, placed_at, status in batch
                ],
            )
            done += len(batch)
            progress(done)
        line_sql = line_sql.format(connection.ops.quote_name(OrderLine._meta.db_table))
        for batch in plan.iter_lines():
            cursor.executemany(line_sql, batch)
            done += len(batch)
            progress(done)
