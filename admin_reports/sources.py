"""
Row sources: where rows come from, read in the thread that calls them.

    for row in orm_rows(compiled):        # a compiled report's rows, in column order

    with reading("default", max_duration=60) as connection:
        ...                               # any long read, set up the same way

Rows are read through a server-side cursor. On PostgreSQL they are read inside a
transaction (outside one, Django declares the cursor WITH HOLD and PostgreSQL
computes the whole result before the first row) with cursor_tuple_fraction = 1
(or the planner optimises for the first 10% of rows), with statement_timeout
when a maximum duration is given, with idle_in_transaction_session_timeout (a client
that stops reading leaves the transaction idle: PostgreSQL ends it), and, on
PostgreSQL 14 and later, with client_connection_check_interval (a query whose
process was killed is dropped by the server instead of running on).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from .conf import app_settings

if TYPE_CHECKING:
    from .compiler import CompiledReport

# Seconds between PostgreSQL's checks that the producer's client is still there.
CLIENT_CHECK_INTERVAL = 1.0


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
    met: list[DatabaseError] = []
    try:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            _configure(connection, cursor, max_duration)
            try:
                yield connection
            except DatabaseError as error:
                met.append(error)
                raise
    except DatabaseError as error:
        if met and error is not met[0]:
            # Ending the transaction on a connection the server dropped reconnects, and
            # fails: what the read met (the server ended the session) is the error to tell.
            raise met[0] from None
        raise


def _configure(connection: Any, cursor: Any, max_duration: float | None) -> None:
    cursor.execute("SET LOCAL cursor_tuple_fraction = 1")
    settings = {"idle_in_transaction_session_timeout": app_settings.IDLE_TRANSACTION_TIMEOUT}
    if max_duration:
        settings["statement_timeout"] = max_duration
    if getattr(connection, "pg_version", 0) >= 140000:
        settings["client_connection_check_interval"] = CLIENT_CHECK_INTERVAL
    for name, seconds in settings.items():
        if seconds:
            cursor.execute("SELECT set_config(%s, %s, true)", [name, f"{int(seconds * 1000)}ms"])


def orm_rows(compiled: CompiledReport) -> Iterator[tuple[Any, ...]]:
    queryset = compiled.queryset
    # The SQL is compiled when iteration starts: date truncation needs the report's zone.
    with timezone.override(compiled.tz), reading(queryset.db, compiled.max_duration):
        yield from queryset.iterator(chunk_size=app_settings.FETCH_ROWS)
