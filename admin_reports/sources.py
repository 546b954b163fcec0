"""
Row sources: where rows come from, read in the thread that calls them.

    for row in orm_rows(compiled):        # a compiled report's rows, in column order

    with reading("default", max_duration=60) as connection:
        ...                               # any long read, set up the same way

Rows are read through a server-side cursor. On PostgreSQL they are read inside a
transaction (outside one, Django declares the cursor WITH HOLD and PostgreSQL
computes the whole result before the first row) with cursor_tuple_fraction = 1
(or the planner optimises for the first 10% of rows), and with
statement_timeout when a maximum duration is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.db import connections, transaction
from django.utils import timezone

from .conf import app_settings

if TYPE_CHECKING:
    from .compiler import CompiledReport


@contextmanager
def reading(using: str, max_duration: float | None = None) -> Iterator[Any]:
    """A transaction set up for one long read; yields the connection."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        # One statement reads a consistent snapshot already. A transaction would only
        # hurt: SQLite's IMMEDIATE mode would lock out every writer (run progress,
        # cancel requests) for as long as the report runs.
        yield connection
        return
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SET LOCAL cursor_tuple_fraction = 1")
        if max_duration:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)",
                [f"{int(max_duration * 1000)}ms"],
            )
        yield connection


def orm_rows(compiled: CompiledReport) -> Iterator[tuple[Any, ...]]:
    queryset = compiled.queryset
    # The SQL is compiled when iteration starts: date truncation needs the report's zone.
    with timezone.override(compiled.tz), reading(queryset.db, compiled.max_duration):
        yield from queryset.iterator(chunk_size=app_settings.FETCH_ROWS)
