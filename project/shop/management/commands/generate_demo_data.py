"""
Fill the demo shop with orders and order lines.

    python manage.py generate_demo_data --lines 1000000 --seed 1 --reset

Deterministic: the same seed, line count and end date over the same customers
and products give the same rows, on SQLite and on PostgreSQL.
"""

import sys
import time
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from project.shop.demo_data import DemoDataPlan, write_demo_data
from project.shop.models import Order, OrderLine


class ProgressBar:
    """A progress bar on a terminal; a line every 10% elsewhere."""

    width = 30

    def __init__(self, total: int, stream, label: str) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.label = label
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.shown_at = 0.0
        self.shown_tenth = -1

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        tenth = done * 10 // self.total
        if self.tty and (now - self.shown_at >= 0.2 or done >= self.total):
            self.shown_at = now
            self.stream.write("\r" + self.render(done, now))
            self.stream.flush()
        elif not self.tty and tenth > self.shown_tenth:
            self.shown_tenth = tenth
            self.stream.write(self.render(done, now) + "\n")

    def render(self, done: int, now: float) -> str:
        filled = self.width * done // self.total
        elapsed = max(now - self.started, 1e-9)
        return (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {done * 100 // self.total:3d}% "
            f"{done:,}/{self.total:,} {self.label} {done / elapsed:,.0f}/s {elapsed:.1f}s"
        )

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


class Command(BaseCommand):
    help = "Generate demo orders and order lines (deterministic for a seed and an end date)."

    def add_arguments(self, parser):
        parser.add_argument("--lines", type=int, required=True, help="Order lines to create.")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
        parser.add_argument(
            "--end",
            type=date.fromisoformat,
            help="Last day with orders, YYYY-MM-DD (default: yesterday).",
        )
        parser.add_argument(
            "--days", type=int, default=730, help="Days the orders span (default 730)."
        )
        parser.add_argument(
            "--reset", action="store_true", help="Delete all orders and order lines first."
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, lines, seed, end, days, reset, database, verbosity, **options):
        if lines < 0:
            raise CommandError("--lines must be zero or more.")
        if days < 1:
            raise CommandError("--days must be at least 1.")
        connection = connections[database]
        end = end or timezone.localdate() - timedelta(days=1)
        started = time.monotonic()
        if reset:
            self._reset(connection)
        try:
            plan = DemoDataPlan.build(lines=lines, seed=seed, end=end, days=days)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        progress = ProgressBar(plan.orders + plan.lines, sys.stderr, "rows")
        write_demo_data(plan, connection, progress if verbosity else None)
        if verbosity:
            progress.close()
            self.stdout.write(
                f"Created {plan.orders:,} orders and {plan.lines:,} order lines "
                f"from {plan.start:%Y-%m-%d} to {end:%Y-%m-%d} (seed {seed}) "
                f"on {connection.vendor} in {time.monotonic() - started:.1f}s."
            )

    def _reset(self, connection) -> None:
        tables = [OrderLine._meta.db_table, Order._meta.db_table]
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                quoted = ", ".join(connection.ops.quote_name(table) for table in tables)
                cursor.execute(f"TRUNCATE {quoted}")
            else:
                for table in tables:
                    cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
