"""
Row sources: where a compiled report's rows come from.

    for row in orm_rows(compiled):   # tuples in column order
        ...

`orm_rows` reads through a server-side cursor. On PostgreSQL it runs inside a
transaction, or Django declares the cursor WITH HOLD and PostgreSQL computes the
whole result before the first row, and with cursor_tuple_fraction = 1, or the
planner optimises for the first 10% of rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.db import connections, transaction
from django.utils import timezone

if TYPE_CHECKING:
    from .compiler import CompiledReport

ITERATOR_CHUNK_SIZE = 2000


def orm_rows(compiled: CompiledReport) -> Iterator[tuple[Any, ...]]:
    queryset = compiled.queryset
    connection = connections[queryset.db]
    # The SQL is compiled when iteration starts: date truncation needs the report's zone.
    with timezone.override(compiled.tz), transaction.atomic(using=queryset.db):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL cursor_tuple_fraction = 1")
        yield from queryset.iterator(chunk_size=ITERATOR_CHUNK_SIZE)
