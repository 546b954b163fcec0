"""Row sources and cancelling on a real database (SQLite or PostgreSQL)."""

import threading
import time

import pytest
from django.db import OperationalError, connection, connections

from admin_reports.csv_output import encode_chunks
from admin_reports.engine import IdentityWire, Outcome, StreamJob, SyncStream
from admin_reports.sources import reading

from .rows import sql_rows

pytestmark = pytest.mark.django_db(transaction=True)

ENDLESS = {
    "postgresql": "SELECT pg_sleep(60)",
    "sqlite": "WITH RECURSIVE spin(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM spin)"
    " SELECT count(*) FROM spin",
}


def test_sql_rows_streams_rows_in_order():
    rows = list(sql_rows("SELECT 1, 'a' UNION ALL SELECT 2, 'b'"))
    assert rows == [(1, "a"), (2, "b")]


def test_reading_runs_in_a_transaction_on_postgresql_only():
    with reading("default"):
        # PostgreSQL: else the cursor is WITH HOLD; SQLite: else writers are locked out.
        assert connection.in_atomic_block is (connection.vendor == "postgresql")
    assert not connection.in_atomic_block


def test_statement_timeout_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's; SQLite is stopped by the engine")
    with (
        pytest.raises(OperationalError, match="statement timeout"),
        reading("default", 0.2),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT pg_sleep(3)")


def test_the_read_transaction_is_bounded_in_postgresql(settings):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's session settings")
    settings.ADMIN_REPORTS_IDLE_TRANSACTION_TIMEOUT = 30
    names = [
        "idle_in_transaction_session_timeout",
        "client_connection_check_interval",
        "statement_timeout",
    ]
    with reading("default", 5) as reader, reader.cursor() as cursor:
        shown = []
        for name in names:
            cursor.execute(f"SHOW {name}")
            shown.append(cursor.fetchone()[0])
    assert shown == ["30s", "1s", "5s"]
    with connection.cursor() as cursor:  # LOCAL: gone with the transaction
        cursor.execute("SHOW idle_in_transaction_session_timeout")
        assert cursor.fetchone()[0] == "0"


def endless_chunks(sent: threading.Event):
    """chunks() of the endless query; `sent` is set as the query goes to the database."""
    sql = ENDLESS[connection.vendor]

    def note(execute, query, params, many, context):
        if query == sql:
            sent.set()
        return execute(query, params, many, context)

    def chunks():
        with connections["default"].execute_wrapper(note):  # the producer's connection
            yield from encode_chunks((str(n),) for (n,) in sql_rows(sql))

    return chunks


def test_a_running_query_is_cancelled_in_the_database():
    finished, sent = [], threading.Event()
    job = StreamJob(
        b"h\r\n",
        endless_chunks(sent),
        on_finish=lambda outcome, error, size: finished.append(outcome),
    )
    stream = SyncStream(job, IdentityWire())
    iterator = iter(stream)
    next(iterator)
    assert sent.wait(30), "the query went to the database"
    started = time.monotonic()
    iterator.close()
    producer = stream.session.producer
    producer.join(5)
    assert not producer.is_alive()
    assert time.monotonic() - started < 2
    assert finished == [Outcome.CANCELLED]


def test_a_cancel_just_before_the_query_starts_is_not_lost():
    connected = threading.Event()
    cancelled = threading.Event()

    def chunks():
        connections["default"].ensure_connection()
        connected.set()
        cancelled.wait(5)  # the cancel lands between connect and execute
        yield from encode_chunks((str(n),) for (n,) in sql_rows(ENDLESS[connection.vendor]))

    stream = SyncStream(StreamJob(b"h\r\n", chunks), IdentityWire())
    iterator = iter(stream)
    next(iterator)
    assert connected.wait(30)
    producer = stream.session.producer
    producer.cancel()
    cancelled.set()
    started = time.monotonic()
    producer.join(5)
    assert not producer.is_alive(), "the query started after the cancel was still stopped"
    assert time.monotonic() - started < 2
    iterator.close()
