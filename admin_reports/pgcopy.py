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

import contextlib
import functools
import logging
import os
import re
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connections
from django.utils import timezone

from .conf import app_settings, psql_path, reader_problem
from .engine import QueryTimeout, cancel_with
from .sources import read_settings, reading
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

logger = logging.getLogger("admin_reports")

COPY = "copy"
ORM = "orm"
# Bytes of COPY output joined into one chunk (or CHUNK_ROWS reads, whichever comes first).
CHUNK_BYTES = 64 * 1024
# The pipe from psql (Linux: F_SETPIPE_SZ; 1 MiB is the unprivileged maximum).
PIPE_BYTES = 1024 * 1024
QUERY_CANCELED = "57014"  # SQLSTATE of a cancel and of statement_timeout alike
# ADMIN_REPORTS_COPY_READER: what reads COPY's rows ("auto": psql when it is on the PATH).
PSQL = "psql"
PSYCOPG = "psycopg"


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


def copy_reader(connection: Any) -> str:
    """What reads a COPY's rows on `connection`: "psql" (a child process) or "psycopg"."""
    setting = app_settings.COPY_READER
    problem = reader_problem()
    if problem:
        raise ImproperlyConfigured(problem)
    if setting == PSYCOPG or connection.in_atomic_block or psql_path() is None:
        # The caller's transaction (a test's) may hold rows another session cannot see.
        return PSYCOPG
    unknown = _unknown_to_psql(connection)
    if unknown:
        if setting == PSQL:
            raise ImproperlyConfigured(
                f"The connection sets {', '.join(unknown)}, which this psql's libpq does"
                " not know: it would connect without. Use a newer psql, or"
                " ADMIN_REPORTS_COPY_READER = 'psycopg'."
            )
        logger.warning("psql's libpq does not know %s: psycopg reads the rows", unknown)
        return PSYCOPG
    return PSQL


# Connection parameters newer than some libpq (the major version that brought them) and
# their defaults: at another value, an older psql would connect without them.
NEWER_PARAMETERS = {
    "sslcrldir": (14, ""),
    "sslsni": (14, "1"),
    "require_auth": (16, ""),
    "sslcertmode": (16, "allow"),
    "load_balance_hosts": (16, "disable"),
    "gssdelegation": (16, "0"),
    "sslnegotiation": (17, "postgres"),
}


def _unknown_to_psql(connection: Any) -> list[str]:
    """The connection's parameters that psql's libpq would ignore."""
    connection.ensure_connection()
    major = _psql_major(psql_path() or PSQL)
    return [
        name
        for name, value in connection.connection.info.get_parameters().items()
        if name in NEWER_PARAMETERS
        and major < NEWER_PARAMETERS[name][0]
        and value != NEWER_PARAMETERS[name][1]
    ]


@functools.cache
def _psql_major(path: str) -> int:
    """psql's major version ("psql (PostgreSQL) 15.18 (Debian ...)": 15); 0 if unknown."""
    try:
        output = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return 0
    match = re.search(r"\b(\d+)(?:\.\d+)?", output.stdout)
    return int(match[1]) if match else 0


def copy_chunks(
    compiled: CompiledReport, on_rows: Callable[[int, int], None] | None = None
) -> Iterator[bytes]:
    """The report's rows as CSV chunks from COPY; on_rows(rows, bytes) after each."""
    copy_query(compiled)  # NotExpressible before any query
    using = compiled.queryset.db
    started = time.monotonic()
    try:
        connection = connections[using]
        if copy_reader(connection) == PSQL:
            query = typed_copy_query(connection, compiled)
            try:
                yield from _piped(connection, query, compiled.max_duration, on_rows)
                return
            except PsqlError as error:
                if not error.unconnected or app_settings.COPY_READER == PSQL:
                    raise
                # "auto": the connection works for psycopg, not for psql; psycopg reads.
                logger.warning("psql could not connect (%s); psycopg reads the rows", error)
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
    return getattr(error, "sqlstate", None) or getattr(error.__cause__, "sqlstate", None)


class PsqlError(OperationalError):
    """What psql reported when it failed: the server's message and SQLSTATE, or its own.

    unconnected: psql could not connect, and nothing was read.
    """

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.unconnected = False


PSQL_CONNECTION_FAILED = 2  # psql's exit status when its connection fails


# psql -v VERBOSITY=verbose: "psql:<stdin>:5: ERROR:  57014: canceling statement ..."
PSQL_ERROR = re.compile(r"^(?:psql:[^\n]*?: )?(?:ERROR|FATAL):  ([0-9A-Z]{5}): (.*)$", re.M)


def _piped(
    connection: Any,
    query: CopyQuery,
    max_duration: float | None,
    on_rows: Callable[[int, int], None] | None,
) -> Iterator[bytes]:
    """The COPY run by a psql child process, its output read from a pipe.

    psql reads the rows in C; psycopg hands Python one object per row, which costs the
    serving process more CPU than the database spends on the query. The child connects
    as the connection did (its parameters; the password in the child's environment),
    sets the session as sources.reading() sets a transaction, and is interrupted
    (SIGINT: psql cancels the query) on a cancel or when reading stops.
    """
    command, environment = _psql_command(connection)
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, env=environment
        )
        try:
            with cancel_with(lambda: _interrupt(process)):
                with contextlib.suppress(BrokenPipeError):  # psql ended at once: see below
                    assert process.stdin is not None
                    process.stdin.write(_psql_script(connection, query, max_duration))
                    process.stdin.close()
                read = yield from _pipe_chunks(process, LineEnds(query.multiline), on_rows)
                if (code := process.wait()) != 0:
                    errors.seek(0)
                    error = _psql_error(errors.read().decode("utf-8", "replace"))
                    error.unconnected = code == PSQL_CONNECTION_FAILED and not read
                    raise error
        finally:
            if process.poll() is None:
                _stop(process)
            assert process.stdout is not None
            process.stdout.close()


def _psql_command(connection: Any) -> tuple[list[str], dict[str, str]]:
    """psql's command line and environment: the connection's own parameters (those not
    at libpq's defaults: host, port, database, user, sslmode, options...) and password,
    as libpq's environment variables, which a psql of an older libpq ignores when it does
    not know them (a parameter on its command line would fail it)."""
    info = connection.connection.info
    environment = {**os.environ, "PGAPPNAME": "admin-reports"}
    for name, value in info.get_parameters().items():
        if name in CONNINFO_ENVIRONMENT:
            environment[CONNINFO_ENVIRONMENT[name]] = value
    if info.password:
        environment["PGPASSWORD"] = info.password
    options = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", "-f", "-"]
    return [psql_path() or PSQL, *options], environment


# libpq's connection parameters and the environment variables that set them (those
# without one only tune the connection: keepalives, tcp_user_timeout...).
CONNINFO_ENVIRONMENT = {
    name: "PG" + variable
    for name, variable in {
        "host": "HOST",
        "hostaddr": "HOSTADDR",
        "port": "PORT",
        "dbname": "DATABASE",
        "user": "USER",
        "passfile": "PASSFILE",
        "require_auth": "REQUIREAUTH",
        "channel_binding": "CHANNELBINDING",
        "service": "SERVICE",
        "options": "OPTIONS",
        "sslmode": "SSLMODE",
        "sslnegotiation": "SSLNEGOTIATION",
        "requiressl": "REQUIRESSL",
        "sslcompression": "SSLCOMPRESSION",
        "sslcert": "SSLCERT",
        "sslkey": "SSLKEY",
        "sslcertmode": "SSLCERTMODE",
        "sslrootcert": "SSLROOTCERT",
        "sslcrl": "SSLCRL",
        "sslcrldir": "SSLCRLDIR",
        "sslsni": "SSLSNI",
        "requirepeer": "REQUIREPEER",
        "ssl_min_protocol_version": "SSLMINPROTOCOLVERSION",
        "ssl_max_protocol_version": "SSLMAXPROTOCOLVERSION",
        "gssencmode": "GSSENCMODE",
        "krbsrvname": "KRBSRVNAME",
        "gsslib": "GSSLIB",
        "gssdelegation": "GSSDELEGATION",
        "connect_timeout": "CONNECT_TIMEOUT",
        "client_encoding": "CLIENTENCODING",
        "target_session_attrs": "TARGETSESSIONATTRS",
        "load_balance_hosts": "LOADBALANCEHOSTS",
    }.items()
}


def _psql_script(connection: Any, query: CopyQuery, max_duration: float | None) -> bytes:
    """The session's settings, as reading() sets a transaction's, then the COPY."""
    # The role and search_path the connection has now (OPTIONS assume_role, a SET at
    # connect): the child's session reads as the report's connection would.
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, session_user, current_setting('search_path')")
        role, login, search_path = cursor.fetchone()
    settings = {
        **read_settings(connection, max_duration),
        "DateStyle": "ISO",
        "TimeZone": query.time_zone,
        "search_path": search_path,
    }
    if role != login:
        settings["role"] = role
    calls = ", ".join("set_config(%s, %s, false)" for _ in settings)
    values = [part for setting in settings.items() for part in setting]
    session = connection.ops.compose_sql(f"SELECT {calls}", values) + " \\g /dev/null\n"
    return (session + connection.ops.compose_sql(query.sql, query.params) + ";\n").encode()


def _pipe_chunks(
    process: subprocess.Popen, lines: LineEnds, on_rows: Callable[[int, int], None] | None
) -> Generator[bytes, None, bool]:
    """The process's output as chunks of up to CHUNK_BYTES; returns whether any came."""
    assert process.stdout is not None
    output = process.stdout.fileno()
    with contextlib.suppress(ImportError, OSError):  # a bigger pipe: fewer, fuller reads
        import fcntl

        fcntl.fcntl(output, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    read = False
    while data := os.read(output, CHUNK_BYTES):
        pieces, size = [data], len(data)
        # What else is there already joins the chunk; nothing waits for more.
        while size < CHUNK_BYTES and select.select([output], [], [], 0)[0]:
            if not (data := os.read(output, CHUNK_BYTES - size)):
                break
            pieces.append(data)
            size += len(data)
        read = True
        yield lines.chunk(pieces, on_rows)
    return read


def _interrupt(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)


def _stop(process: subprocess.Popen) -> None:
    """SIGINT (psql cancels its query), then SIGKILL if it is not gone within a second."""
    _interrupt(process)
    try:
        process.wait(1)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _psql_error(text: str) -> PsqlError:
    match = PSQL_ERROR.search(text)
    if match:
        return PsqlError(match[2].strip(), match[1])
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return PsqlError(lines[0] if lines else "psql failed without a message")


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


def explain_path(
    compiled: CompiledReport, chosen: tuple[str, str] | None = None
) -> tuple[str, str, str]:
    """(path, why, SQL with its parameters bound, for people) of `compiled`; `chosen`:
    the path and why, when not row_path()'s (a file format that takes the ORM's)."""
    path, why = chosen or row_path(compiled)
    connection = connections[compiled.queryset.db]
    if path == COPY:
        query = typed_copy_query(connection, compiled)
        sql, params = query.sql, query.params
        reader = copy_reader(connection)
        where = "a psql child process's session" if reader == PSQL else "a transaction"
        sql = (
            f"-- rows read by {reader}, in {where} whose TimeZone is {query.time_zone}"
            f" (DateStyle ISO)\n{sql}"
        )
    else:
        with timezone.override(compiled.tz):
            sql, params = compiled.queryset.query.get_compiler(using=connection.alias).as_sql()
    if connection.vendor == "postgresql":
        return path, why, connection.ops.compose_sql(sql, params)  # type: ignore[attr-defined]
    return path, why, f"{sql}\n-- parameters: {list(params)!r}"
