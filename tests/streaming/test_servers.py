"""
Streaming through real servers: the slow query runs 8 s before its first row.

Each server kind gets the same checks: the first byte at once, no silence longer
than the heartbeat interval and as much again, and the exact CSV, whether the client
takes gzip (decoded by hand and by curl) or not (less the blank lines that keep a
20 s silence alive, when a busy machine makes the query that slow). A failure or a cancel is a failed
download, logged once by us and not again by the server. Servers that cannot show
a failure (HTTP/1.0, gunicorn's sync worker) get one warning; a sync worker killed
at its timeout fails the run.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from admin_reports.models import ReportRun, RunStatus

from ..waiting import settled, wait_until
from .conftest import (
    FIRST_BYTE,
    GZIP_GAP,
    IDENTITY_GAP,
    IDENTITY_HEARTBEAT_INTERVAL,
    SLOW_ENOUGH,
    active_queries,
    expected_csv,
    first_row_at,
    without_identity_heartbeats,
)
from .http import curl, fetch, leave, open_stream

pytestmark = pytest.mark.server


def concurrently(*calls):
    """Run the calls at once on PostgreSQL (pg_sleep costs no CPU), one by one on
    SQLite, where concurrent CPU-bound queries slow each other down several times."""
    if connection.vendor != "postgresql":
        return [function(*args) for function, *args in calls]
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(*call) for call in calls]
        return [future.result() for future in futures]


def test_slow_query_streams_with_heartbeats(server, slow_query, tmp_path):
    url = f"{server.url}/test/slow/?{slow_query()}"
    # curl only decodes: 3 s of heartbeats before the rows are enough for it.
    short = f"{server.url}/test/slow/?{slow_query(delay=3)}"
    zipped, plain, curled = concurrently(
        (fetch, url, {"Accept-Encoding": "gzip, deflate"}),
        (fetch, url),
        (curl, "--compressed", "--output", str(tmp_path / "curl.csv"), short),
    )

    for response in (zipped, plain):
        assert response.status == 200
        assert response.complete, "the terminating chunk arrived"
        assert response.first_byte < FIRST_BYTE
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"] == 'attachment; filename="slow.csv"'
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-accel-buffering"] == "no"
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert zipped.largest_gap <= GZIP_GAP
    assert plain.largest_gap <= IDENTITY_GAP
    first_row = first_row_at(zipped)
    assert first_row >= SLOW_ENOUGH, "the query really was slow"
    heartbeats = sum(1 for at, size in zipped.arrivals[1:] if at < first_row)
    assert heartbeats >= first_row // GZIP_GAP

    assert gzip.decompress(zipped.body) == expected_csv()
    assert without_identity_heartbeats(plain.body) == expected_csv()
    blank_lines = (len(plain.body) - len(expected_csv())) // 2
    assert blank_lines <= plain.arrivals[-1][0] // IDENTITY_HEARTBEAT_INTERVAL
    assert curled.returncode == 0, curled.stderr
    assert (tmp_path / "curl.csv").read_bytes() == expected_csv()


def test_a_query_failing_mid_stream_is_a_failed_download(server, slow_query, tmp_path):
    url = f"{server.url}/test/slow/?{slow_query(delay=0, rows=20000, fail_at=15000)}"
    log_start = server.log_size()
    identity = curl("--output", str(tmp_path / "plain.csv"), url)
    compressed = curl("--compressed", "--output", str(tmp_path / "zipped.csv"), url)
    assert identity.returncode != 0, "curl must see a cut transfer, not a complete file"
    assert compressed.returncode != 0
    partial = (tmp_path / "plain.csv").read_bytes()
    assert partial.startswith(b"n,label\r\n1,zeile-\xc3\xbc-1\r\n")
    assert partial.rstrip().endswith(b"this file is incomplete.")
    assert b"15000,zeile" not in partial
    log = server.log_text(log_start)
    assert log.count("failed while streaming; the download is aborted") == 2
    assert_not_logged_by_the_server(log)


def assert_not_logged_by_the_server(log: str) -> None:
    """What aborts a transfer is not logged again, with a second traceback, by the server."""
    assert "StreamAborted" not in log
    assert "CancelledError" not in log
    assert "Error handling request" not in log
    assert "Exception in ASGI application" not in log


def backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_a_client_that_leaves_stops_the_query(server, slow_query, django_db_blocker):
    postgresql = connection.vendor == "postgresql"
    url = f"{server.url}/test/slow/?{slow_query(delay=30)}"
    log_start = server.log_size()
    with django_db_blocker.unblock():
        fetch(f"{server.url}/test/slow/?{slow_query(delay=0, rows=1)}")  # warm the pools
        threads = settled(server.threads)  # the warm-up's producer thread has ended
        connections_before = backends() if postgresql else 0
        # A browser asks for gzip: heartbeats every second let a WSGI server notice.
        sock = open_stream(url, 20, {"Accept-Encoding": "gzip"})
        if postgresql:
            assert wait_until(lambda: active_queries() == 1, 30) is not None
        else:
            assert wait_until(lambda: server.threads() > threads, 30) is not None
        time.sleep(1)
        left_at = leave(sock)
        assert_departure_noticed(server, threads, left_at, postgresql)
        if postgresql:
            assert wait_until(lambda: backends() == connections_before, 30) is not None
    assert_quietly_cancelled(server.log_text(log_start), "cancelled: the client went away.")


def assert_departure_noticed(server, threads: int, left_at: float, postgresql: bool) -> None:
    """Each measured from the leave, in the order they happen: the query, the thread."""
    if postgresql:
        gone = wait_until(lambda: active_queries() == 0, 10, since=left_at)
        assert gone is not None, "the query is still running"
        assert gone <= 3.0, "the query is gone within 3 s"
    ended = wait_until(lambda: server.threads() <= threads, 10, since=left_at)
    assert ended is not None, "the producer thread is still there"
    assert ended <= 3.5, "the producer thread ended within 3.5 s"


def assert_quietly_cancelled(log: str, reason: str) -> None:
    """A cancel is ours to log, at INFO, without a traceback; the server says nothing."""
    assert re.search(
        rf"^INFO admin_reports\.engine: (?:Report run|Stream) \S+ {re.escape(reason)}$",
        log,
        re.M,
    )
    assert "Traceback" not in log
    assert_not_logged_by_the_server(log)


@pytest.mark.django_db(transaction=True)
def test_a_run_cancelled_on_request_is_a_quietly_failed_download(
    server, session_cookie, slow_lines
):
    log_start = server.log_size()
    url = f"{server.url}/admin/reports/slow_lines/download/"
    headers = {"Accept-Encoding": "gzip", "Cookie": session_cookie}
    with ThreadPoolExecutor(1) as pool:
        fetching = pool.submit(fetch, url, headers)
        streaming = ReportRun.objects.filter(rows__gt=0)
        assert wait_until(streaming.exists, 30) is not None, "the rows flow"
        ReportRun.objects.update(cancel_requested=True)
        response = fetching.result()
    assert response.status == 200
    assert not response.complete, "a cancelled download must not look complete"
    run = ReportRun.objects.get()
    text = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(response.body)
    assert text.endswith(b"was cancelled (run %d); this file is incomplete.\r\n" % run.pk)
    assert wait_until(lambda: ReportRun.objects.get().status == RunStatus.CANCELLED, 30)
    assert_quietly_cancelled(server.log_text(log_start), "cancelled: Cancelled on request.")


@pytest.mark.parametrize("path", ["copy", "orm"])
@pytest.mark.django_db(transaction=True)
def test_a_cancel_stops_the_report_on_either_path_within_2_s(
    path, fresh_server, session_cookie, slow_lines
):
    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's; the ORM path is the one above")
    server = fresh_server("gunicorn", COPY="1" if path == "copy" else "0")
    url = f"{server.url}/admin/reports/slow_lines/download/"
    headers = {"Accept-Encoding": "gzip", "Cookie": session_cookie}
    with ThreadPoolExecutor(1) as pool:
        fetching = pool.submit(fetch, url, headers)
        assert wait_until(ReportRun.objects.filter(rows__gt=0).exists, 30) is not None
        assert wait_until(lambda: active_queries() == 1, 30) is not None
        ReportRun.objects.update(cancel_requested=True)
        asked = time.monotonic()
        gone = wait_until(lambda: active_queries() == 0, 30, since=asked)
        assert gone is not None, "the query is still running"
        assert gone <= 2.0, "the query is gone within 2 s"
        response = fetching.result()
    assert not response.complete, "a cancelled download must not look complete"
    assert wait_until(lambda: ReportRun.objects.get().status == RunStatus.CANCELLED, 30)
    assert ReportRun.objects.get().path == path


def warnings_of(server) -> list[str]:
    return re.findall(r"^WARNING admin_reports: (.*)$", server.log_text(), re.MULTILINE)


def assert_warned_once(server, cause: str) -> None:
    warnings = warnings_of(server)
    assert len(warnings) == 1, warnings
    assert cause in warnings[0]
    assert "a failed download will look complete" in warnings[0]
    assert "proxy_http_version 1.1;" in warnings[0]
    assert "gthread" in warnings[0]


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_downloads_over_http_1_0_warn_once_that_a_failure_looks_complete(
    kind, fresh_server, slow_query
):
    server = fresh_server(kind)
    url = f"{server.url}/test/slow/?{slow_query(delay=0, rows=1)}"
    assert fetch(url).complete
    assert warnings_of(server) == [], "HTTP/1.1 can abort: nothing to warn about"
    for _ in range(2):
        assert fetch(url, version="1.0").body == expected_csv(1)
    assert_warned_once(server, "HTTP/1.0")


def test_the_sync_worker_warns_once_that_a_failure_looks_complete(fresh_server, slow_query):
    server = fresh_server("gunicorn-sync")
    for _ in range(2):
        assert fetch(f"{server.url}/test/slow/?{slow_query(delay=0, rows=1)}").complete
    assert_warned_once(server, "sync worker")


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_at_its_timeout_fails_the_run(fresh_server, session_cookie, slow_lines):
    server = fresh_server("gunicorn-sync")  # --timeout 5; the report takes 15 s
    response = fetch(
        f"{server.url}/admin/reports/slow_lines/download/", {"Cookie": session_cookie}
    )
    assert response.status == 200
    assert response.body.count(b"\r\n") > 10, "rows went out before the worker was killed"
    assert not response.complete, "the client sees a failed download"
    failed = ReportRun.objects.filter(status=RunStatus.FAILED)
    assert wait_until(failed.exists, 30) is not None
    assert "server process stopped" in failed.get().error
    log = server.log_text()
    assert "WORKER TIMEOUT" in log
    assert "cancelled" not in log


def test_a_killed_worker_leaves_no_query_running(fresh_server, slow_query, transactional_db):
    """PostgreSQL drops a query whose client process died (client_connection_check_interval)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's queries run inside the worker: they die with it")
    server = fresh_server("gunicorn")
    baseline = active_queries()
    sock = open_stream(f"{server.url}/test/slow/?{slow_query(delay=120)}", read=1)
    try:
        assert wait_until(lambda: active_queries() > baseline, 20) is not None
        for pid in server.worker_pids():
            os.kill(pid, signal.SIGKILL)
        gone = wait_until(lambda: active_queries() <= baseline, 20)
    finally:
        sock.close()
    assert gone is not None, "the 120 s query was still running 20 s after its worker died"


def test_a_client_without_gzip_that_leaves_is_noticed(gunicorn, slow_query, django_db_blocker):
    """No heartbeat for 20 s without gzip: gunicorn's socket is watched for the client's end."""
    postgresql = connection.vendor == "postgresql"
    url = f"{gunicorn.url}/test/slow/?{slow_query(delay=30)}"
    log_start = gunicorn.log_size()
    with django_db_blocker.unblock():
        fetch(f"{gunicorn.url}/test/slow/?{slow_query(delay=0, rows=1)}")  # warm the pools
        threads = settled(gunicorn.threads)
        sock = open_stream(url, 9)  # identity: just the header row arrives
        if postgresql:
            assert wait_until(lambda: active_queries() == 1, 30) is not None
        else:
            assert wait_until(lambda: gunicorn.threads() > threads, 30) is not None
        time.sleep(1)  # past the first look at the socket: the watch, not the start, sees it
        left_at = leave(sock)
        assert_departure_noticed(gunicorn, threads, left_at, postgresql)
    assert_quietly_cancelled(gunicorn.log_text(log_start), "cancelled: the client went away.")


def closed_by_the_server(sock, timeout: float) -> bool:
    """Whether the server closes the connection within `timeout` (what was sent is read)."""
    deadline = time.monotonic() + timeout
    sock.settimeout(1)
    while time.monotonic() < deadline:
        try:
            if not sock.recv(1 << 20):
                return True
        except TimeoutError:
            continue
        except OSError:
            return True  # reset
    return False


def stalled_client_let_go(server, slow_query, blocker, logged: str, **extra) -> str | None:
    """Open a download of some 60 MB (3 million rows: far more than the socket buffers and
    the queue hold) that reads nothing after the header row; wait until `logged` is in the
    server's log. What still holds on to the client then, or None."""
    log_start = server.log_size()
    with blocker.unblock():
        fetch(f"{server.url}/test/slow/?{slow_query(delay=0, rows=1)}")  # warm the pools
        threads = settled(server.threads)
        sock = open_stream(f"{server.url}/test/slow/?{slow_query(0, 3_000_000, **extra)}", 9)
        with sock:
            assert wait_until(lambda: server.threads() > threads, 30) is not None
            if wait_until(lambda: logged in server.log_text(log_start), 60) is None:
                return f"nothing logged {logged!r} within 60 s"
            # uvicorn's executor keeps its threads: only the connection shows the end there.
            if (
                server.kind == "gunicorn"
                and wait_until(lambda: server.threads() <= threads, 30) is None
            ):
                return "the worker thread is still blocked"
            if not closed_by_the_server(sock, 10):
                return "the connection is still open"
    return None


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_the_deadline_holds_for_a_client_that_stopped_reading(
    kind, fresh_server, slow_query, django_db_blocker
):
    """The worker is blocked writing to a client that reads nothing: the deadline frees it."""
    server = fresh_server(kind)
    logged = "Ran longer than 6 s and was stopped."
    assert (
        stalled_client_let_go(server, slow_query, django_db_blocker, logged, max_duration=6)
        is None
    )


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_a_client_that_reads_nothing_is_let_go_after_the_send_timeout(
    kind, fresh_server, slow_query, django_db_blocker
):
    """No deadline: a write blocked for ADMIN_REPORTS_SEND_TIMEOUT ends the download."""
    server = fresh_server(kind, SEND_TIMEOUT="3")
    logged = "cancelled: The client read nothing for 3 s; its connection is closed."
    assert stalled_client_let_go(server, slow_query, django_db_blocker, logged) is None
    assert_quietly_cancelled(server.log_text(), logged)
