"""
Row sources: where rows come from, read in the thread that calls them.

    for row in orm_rows(compiled):        # a compiled report's rows, in column order
    for columns in orm_columns(compiled):  # the same, a fetch at a time, column by column

    with reading("default", max_duration=60) as connection:
        ...                               # any long read, set up the same way

On PostgreSQL rows are read inside a transaction (outside one, Django declares a
server-side cursor WITH HOLD and PostgreSQL computes the whole result before the
first row) with cursor_tuple_fraction = 1 (or the planner optimises a cursor for
the first 10% of rows), with statement_timeout when a maximum duration is given,
with idle_in_transaction_session_timeout (a client that stops reading between
FETCHes leaves the transaction idle: PostgreSQL ends it), and, on PostgreSQL 14 and
later, with client_connection_check_interval (a query whose process was killed is
dropped by the server instead of running on).

A report's rows are read with the SQL Django compiles, through a streamed query on
PostgreSQL (see _streams) or a server-side cursor, and only the columns Django has
converters for go through them (the ORM's iterator costs a Python call per row and
per value). On PostgreSQL, timestamptz values and numbers come as text: Django's
loader for timestamps is pure Python, and an int or a Decimal costs more to build
(and to turn back into text) than the rest of its cell. orm_columns(...,
as_text=True) hands them on as UtcTimestamps and NumberTexts, for formatters that
turn that text into cells directly; without it they are loaded as psycopg would.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from .conf import app_settings
from .formats import NumberTexts, UtcTimestamps

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
    for name, value in read_settings(connection, max_duration).items():
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])


def read_settings(connection: Any, max_duration: float | None) -> dict[str, str]:
    """PostgreSQL: the settings (set_config() names and values) of one long read."""
    timeouts = {"idle_in_transaction_session_timeout": app_settings.IDLE_TRANSACTION_TIMEOUT}
    if max_duration:
        timeouts["statement_timeout"] = max_duration
    if getattr(connection, "pg_version", 0) >= 140000:
        timeouts["client_connection_check_interval"] = CLIENT_CHECK_INTERVAL
    return {
        "cursor_tuple_fraction": "1",
        **{name: f"{int(seconds * 1000)}ms" for name, seconds in timeouts.items() if seconds},
    }


TIMESTAMPTZ_OID = 1184
# int8, int2, int4, numeric: read as text, loaded only when a formatter needs the value.
NUMBER_OIDS: dict[int, type] = {20: int, 21: int, 23: int, 1700: Decimal}


def orm_rows(compiled: CompiledReport) -> Iterator[tuple[Any, ...]]:
    """The report's rows as the ORM's iterator gives them, in column order."""
    for columns in orm_columns(compiled):
        yield from zip(*columns, strict=True)


def orm_columns(compiled: CompiledReport, *, as_text: bool = False) -> Iterator[list[list[Any]]]:
    """The rows FETCH_ROWS at a time, as one list of values per column."""
    queryset = compiled.queryset
    # The SQL is compiled when reading starts: date truncation needs the report's zone.
    with timezone.override(compiled.tz), reading(queryset.db, compiled.max_duration) as conn:
        compiler = queryset.query.get_compiler(using=queryset.db)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return
        if not sql:
            return
        streams = _streams(conn)
        chunked = not streams and not conn.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
        cursor = conn.chunked_cursor() if chunked else conn.cursor()
        try:
            parse_text = _read_as_text(conn, cursor)
            fetch = _streamed if streams else _fetched
            yield from _columns(compiler, cursor, fetch(cursor, sql, params), parse_text, as_text)
        finally:
            cursor.close()


def _streams(connection: Any) -> bool:
    """Whether to read the rows as PostgreSQL sends them, not FETCH by FETCH.

    A server-side cursor computes the next rows only when asked for them: the
    database waits for Python and Python for the database. Streamed, the query runs
    on while the rows are formatted, held back only by the socket's buffers. It
    needs libpq 17 (rows in chunks), and no execute wrappers (which only see
    cursor.execute()).
    """
    if connection.vendor != "postgresql" or connection.execute_wrappers:
        return False
    try:
        from psycopg import pq
    except ImportError:  # psycopg2
        return False
    return pq.version() >= 170000


def _fetched(cursor: Any, sql: str, params: Any) -> Iterator[list[tuple]]:
    cursor.execute(sql, params)
    while rows := cursor.fetchmany(app_settings.FETCH_ROWS):
        yield rows


def _streamed(cursor: Any, sql: str, params: Any) -> Iterator[list[tuple]]:
    size = app_settings.FETCH_ROWS
    wrap_errors = cursor.db.wrap_database_errors
    logged = cursor.debug_sql(sql, params) if hasattr(cursor, "debug_sql") else nullcontext()
    rows = cursor.cursor.stream(sql, params, size=size)
    try:
        with logged, wrap_errors:  # logged, as cursor.execute() is, up to the first rows
            batch = list(itertools.islice(rows, size))
        while batch:
            yield batch
            with wrap_errors:
                batch = list(itertools.islice(rows, size))
    finally:
        with wrap_errors:
            rows.close()  # cancels the query if it is still running


def _columns(
    compiler: Any, cursor: Any, batches: Iterator[list[tuple]], parse_text: Any, as_text: bool
) -> Iterator[list]:
    count = compiler.col_count
    converters = compiler.get_converters([s[0] for s in compiler.select[:count]])
    texts: set[int] | None = None
    numbers: dict[int, type] = {}
    connection = compiler.connection
    in_utc = connection.timezone is dt.UTC
    for rows in batches:
        if texts is None:  # the result's types are known with its first rows
            texts = _timestamptz_columns(cursor, count) if parse_text else set()
            numbers = _number_columns(cursor, count) if parse_text else {}
        columns = [list(column) for column in zip(*rows, strict=True)][:count]
        for index, kind in numbers.items():
            numbers_texts = NumberTexts(columns[index], kind)
            columns[index] = numbers_texts if as_text else numbers_texts.values()
        for index in texts:
            timestamps = UtcTimestamps(columns[index], parse_text, in_utc)
            use_text = as_text and index not in converters
            columns[index] = timestamps if use_text else timestamps.datetimes()
        for index, (functions, expression) in converters.items():
            values = columns[index]
            if isinstance(values, NumberTexts):
                if all(_keeps(convert, expression, values.kind) for convert in functions):
                    continue  # the converters would give the values the texts load as
                values = values.values()
            if as_text and _naive_utc(connection, functions, values):
                columns[index] = _utc_texts(values)
                continue
            for convert in functions:
                if not _changes(convert, expression, values):
                    continue
                values = [convert(value, expression, connection) for value in values]
            columns[index] = values
        yield columns


# What an expression's own converter does to values of its output field's type: nothing.
CONVERTED_TYPES = {"DecimalField": Decimal, "FloatField": float, "IntegerField": int}


def _changes(convert: Any, expression: Any, values: list) -> bool:
    """Whether a converter may change the values (not an expression's own on its type)."""
    kind = _own_kind(convert, expression)
    return kind is None or not set(map(type, values)) <= {kind, type(None)}


def _keeps(convert: Any, expression: Any, kind: type) -> bool:
    """Whether a converter is an expression's own on its type, and the type is kind."""
    return _own_kind(convert, expression) is kind


def _own_kind(convert: Any, expression: Any) -> type | None:
    """The type an expression's own converter gives (None: another converter, or type)."""
    if convert != getattr(expression, "convert_value", None):
        return None
    internal_type = expression.output_field.get_internal_type()
    if internal_type.endswith("IntegerField"):
        internal_type = "IntegerField"
    return CONVERTED_TYPES.get(internal_type)


def _naive_utc(connection: Any, functions: list, values: list) -> bool:
    """SQLite: whether the values are naive datetimes Django only makes aware in UTC."""
    if connection.vendor != "sqlite" or connection.timezone is not dt.UTC:
        return False
    if functions != [connection.ops.convert_datetimefield_value]:
        return False
    present = [value for value in values if value is not None]
    types = set(map(type, present))
    return types == {dt.datetime} and {value.tzinfo for value in present} == {None}


def _utc_texts(values: list) -> UtcTimestamps:
    """Naive UTC datetimes as the text PostgreSQL gives for them (in a UTC session)."""
    texts = [None if value is None else f"{value}+00" for value in values]
    return UtcTimestamps(texts, _from_utc_texts, True)


def _from_utc_texts(texts: UtcTimestamps) -> list:
    # What Django's converter gives: the datetime, made aware in UTC.
    return [None if text is None else dt.datetime.fromisoformat(text) for text in texts]


def _timestamptz_columns(cursor: Any, count: int) -> set[int]:
    return {i for i, d in enumerate(cursor.description[:count]) if d[1] == TIMESTAMPTZ_OID}


def _number_columns(cursor: Any, count: int) -> dict[int, type]:
    description = cursor.description[:count]
    return {i: NUMBER_OIDS[d[1]] for i, d in enumerate(description) if d[1] in NUMBER_OIDS}


def _loading(loader: Any) -> Callable[[str], dt.datetime]:
    return lambda text: loader.load(text.encode())


def _read_as_text(connection: Any, cursor: Any) -> Callable[[UtcTimestamps], list] | None:
    """PostgreSQL: read timestamptz and numbers as text on `cursor`; gives the timestamps' parser.

    Building an int or a Decimal, and str() of it for the CSV, cost more than the rest of
    a cell; a numeric's text is often its cell already (formats.NumberTexts).
    """
    if connection.vendor != "postgresql" or not hasattr(cursor.cursor, "adapters"):
        return None
    from psycopg.pq import Format

    adapters = cursor.cursor.adapters
    django_loader = adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)(
        TIMESTAMPTZ_OID, cursor.cursor
    )
    text_loader = adapters.get_loader(adapters.types["text"].oid, Format.TEXT)
    for oid in (TIMESTAMPTZ_OID, *NUMBER_OIDS):
        adapters.register_loader(oid, text_loader)

    def parse(texts: UtcTimestamps) -> list:
        """The datetimes Django's loader gives for these texts."""
        # Django's loader gives UTC datetimes in a UTC session; so does fromisoformat().
        load = dt.datetime.fromisoformat if texts.are_utc() else _loading(django_loader)
        return [None if text is None else load(text) for text in texts]

    return parse
