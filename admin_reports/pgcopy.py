"""
The COPY path: a report's CSV rows straight from PostgreSQL, as bytes chunks.

    path, why = row_path(compiled)             # ("copy" | "orm", the reason in words)
    for chunk in copy_chunks(compiled, on_rows):
        ...                                     # CSV bytes, CRLF line ends, no header

`COPY (<the report's SQL, its cells formatted in SQL>) TO STDOUT (FORMAT csv)` runs
through psycopg's copy support on the calling thread's connection, inside
sources.reading() (a transaction with statement_timeout and the idle-in-transaction
limit), with the report's time zone as the transaction's TimeZone and ISO as its
DateStyle. A LIMIT 0 run of the report's query first gives its columns' SQL types,
which make the common cells cheaper (sqlformats). The engine cancels it like any
query (cancel_safe() on the producer's connection).

COPY ends lines with LF where Python's csv writes CRLF: line ends are rewritten, and
rows counted, per chunk. When no cell can hold a line break every LF ends a row;
otherwise an LF ends a row only outside quotes (a quote count, carried across chunks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from django.db import OperationalError, connections
from django.utils import timezone

from .conf import app_settings
from .engine import QueryTimeout
from .sources import reading
from .sqlformats import (
    CopyQuery,
    NotExpressible,
    column_types,
    copy_query,
    describe_query,
    inner_query,
)

if TYPE_CHECKING:
    from .compiler import CompiledReport

COPY = "copy"
ORM = "orm"
# Bytes of COPY output joined into one chunk (or CHUNK_ROWS reads, whichever comes first).
CHUNK_BYTES = 64 * 1024
QUERY_CANCELED = "57014"  # SQLSTATE of a cancel and of statement_timeout alike


def row_path(compiled: CompiledReport) -> tuple[str, str]:
    """("copy" | "orm", why): the row source a run of `compiled` takes."""
    if not app_settings.COPY:
        return ORM, "ADMIN_REPORTS_COPY is off"
    vendor = connections[compiled.queryset.db].vendor
    if vendor != "postgresql":
        return ORM, f"COPY is PostgreSQL's; this database is {vendor}"
    if not uses_psycopg3():
        return ORM, "the COPY path needs psycopg 3; this connection uses psycopg2"
    try:
        copy_query(compiled)
    except NotExpressible as exc:
        return ORM, f"SQL cannot format it identically: {exc}"
    return COPY, "every column has an identical SQL format"


def uses_psycopg3() -> bool:
    """Whether Django's PostgreSQL backend runs on psycopg 3 (its copy support)."""
    from django.db.backends.postgresql.psycopg_any import is_psycopg3  # type: ignore[import-untyped]

    return is_psycopg3


def copy_chunks(
    compiled: CompiledReport, on_rows: Callable[[int, int], None] | None = None
) -> Iterator[bytes]:
    """The report's rows as CSV chunks from COPY; on_rows(rows, bytes) after each."""
    copy_query(compiled)  # NotExpressible before any query
    using = compiled.queryset.db
    started = time.monotonic()
    try:
        with reading(using, compiled.max_duration) as connection:
            yield from _copied(connection, typed_copy_query(connection, compiled), on_rows)
    except OperationalError as exc:
        limit = compiled.max_duration
        timed_out = limit is not None and time.monotonic() - started >= limit
        if limit is not None and timed_out and _sqlstate(exc) == QUERY_CANCELED:
            # statement_timeout: the same end as the engine's own deadline.
            raise QueryTimeout(limit) from exc
        raise


def typed_copy_query(connection: Any, compiled: CompiledReport) -> CopyQuery:
    """The COPY statement of `compiled`, its cells fitted to its columns' SQL types."""
    inner = inner_query(compiled)
    with connection.cursor() as cursor:
        cursor.execute(*describe_query(inner))
        return copy_query(compiled, column_types(cursor.description), inner)


def _sqlstate(error: BaseException) -> str | None:
    return getattr(error.__cause__, "sqlstate", None)


def _copied(
    connection: Any, query: CopyQuery, on_rows: Callable[[int, int], None] | None
) -> Iterator[bytes]:
    lines = LineEnds(query.multiline)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('TimeZone'), current_setting('DateStyle'),"
            " set_config('TimeZone', %s, true), set_config('DateStyle', 'ISO', true)",
            [query.time_zone],
        )
        session_zone, session_style = cursor.fetchone()[:2]
        # Django's wrapper: psycopg's errors become Django's, and a broken connection is
        # marked as such.
        with connection.wrap_database_errors, cursor.cursor.copy(query.sql, query.params) as copy:
            limit, buffered, size = app_settings.CHUNK_ROWS, [], 0
            for data in copy:
                buffered.append(data)
                size += len(data)
                if size >= CHUNK_BYTES or len(buffered) >= limit:
                    yield lines.chunk(buffered, on_rows)
                    buffered, size = [], 0
            if buffered:
                yield lines.chunk(buffered, on_rows)
        # Inside an outer transaction (a test's) the settings would outlive the read, and
        # Django reads datetimes assuming its own zone. An error rolls them back anyway.
        cursor.execute(
            "SELECT set_config('TimeZone', %s, true), set_config('DateStyle', %s, true)",
            [session_zone, session_style],
        )


class LineEnds:
    """Rewrites COPY's LF line ends to CRLF and counts rows, chunk by chunk."""

    def __init__(self, multiline: bool) -> None:
        self.multiline = multiline
        self.quoted = False  # the last chunk ended inside a quoted cell

    def chunk(self, pieces: list[Any], on_rows: Callable[[int, int], None] | None) -> bytes:
        data, rows = self.convert(b"".join(pieces))
        if on_rows is not None:
            on_rows(rows, len(data))
        return data

    def convert(self, data: bytes) -> tuple[bytes, int]:
        """(data with CRLF line ends, rows ended in it)."""
        if not self.multiline or (not self.quoted and b'"' not in data):
            return data.replace(b"\n", b"\r\n"), data.count(b"\n")
        # Between quotes (odd parts when the chunk starts outside) an LF is a cell's;
        # a doubled quote inside a cell is an empty part, which keeps the parity.
        parts = data.split(b'"')
        rows = 0
        for index in range(1 if self.quoted else 0, len(parts), 2):
            breaks = parts[index].count(b"\n")
            if breaks:
                rows += breaks
                parts[index] = parts[index].replace(b"\n", b"\r\n")
        self.quoted ^= (len(parts) - 1) % 2 == 1
        return b'"'.join(parts), rows


def explain_path(compiled: CompiledReport) -> tuple[str, str, str]:
    """(path, why, SQL with its parameters bound, for people) of `compiled`."""
    path, why = row_path(compiled)
    connection = connections[compiled.queryset.db]
    if path == COPY:
        query = typed_copy_query(connection, compiled)
        sql, params = query.sql, query.params
        sql = f"-- in a transaction whose TimeZone is {query.time_zone} (DateStyle ISO)\n{sql}"
    else:
        with timezone.override(compiled.tz):
            sql, params = compiled.queryset.query.get_compiler(using=connection.alias).as_sql()
    if connection.vendor == "postgresql":
        return path, why, connection.ops.compose_sql(sql, params)  # type: ignore[attr-defined]
    return path, why, f"{sql}\n-- parameters: {list(params)!r}"
