"""
The COPY path and the ORM path behave alike in the engine: heartbeats through a
silent start, a cancel that stops the query within 2 s, the deadline (statement
timeout), and a query failing mid-stream. Each run records its path.
"""

import itertools
import time
import zlib

import pytest
from django.conf import settings
from django.test import override_settings

from admin_reports.compiler import compile_report
from admin_reports.engine import GzipWire, IdentityWire, QueryTimeout, StreamAborted, SyncStream
from admin_reports.exceptions import RunFailed
from admin_reports.models import ReportRun, RunPath, RunStatus
from admin_reports.pgcopy import copy_chunks
from admin_reports.registry import registry
from admin_reports.run_request import RunRequest
from admin_reports.runs import start_run, write_run
from project.shop.models import OrderLine

from .factories import OrderFactory, OrderLineFactory, ProductFactory
from .streaming.conftest import active_queries

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("test_definitions"),
]

TEST_DIRS = [*settings.ADMIN_REPORTS_DIRS, settings.BASE_DIR / "tests" / "report_defs"]


@pytest.fixture
def test_definitions():
    with override_settings(ADMIN_REPORTS_DIRS=TEST_DIRS):
        yield


@pytest.fixture(params=[RunPath.ORM, RunPath.COPY])
def path(request, settings, vendor):
    if request.param == RunPath.COPY and vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    settings.ADMIN_REPORTS_COPY = request.param == RunPath.COPY
    return request.param


def lines(count: int, **fields) -> list[OrderLine]:
    order, product = OrderFactory(), ProductFactory()
    return OrderLine.objects.bulk_create(
        OrderLineFactory.build(order=order, product=product, **fields) for _ in range(count)
    )


def drain(iterator) -> tuple[list[tuple[float, bytes]], StreamAborted | None]:
    arrivals = []
    try:
        for piece in iterator:
            arrivals.append((time.monotonic(), piece))
    except StreamAborted as exc:
        return arrivals, exc
    return arrivals, None


def wait_until(condition, timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.02)
    return None


def test_a_silent_start_is_kept_alive_by_heartbeats(path, settings):
    settings.ADMIN_REPORTS_HEARTBEAT_INTERVAL = 0.2
    lines(150, quantity=2)  # 150 lines x 10 ms before the one row
    handle = start_run(RunRequest(registry.get("slow_start")))
    started = time.monotonic()
    arrivals, aborted = drain(SyncStream(handle.job, GzipWire()))
    assert aborted is None
    body = zlib.decompressobj(16 + zlib.MAX_WBITS)
    decoded = [(at, body.decompress(piece)) for at, piece in arrivals]
    first_row = [at for at, text in decoded if text][1]  # the header row comes first
    assert first_row - started >= 1.0, "the query really was silent"
    # An empty flush decodes to nothing (5 bytes with zlib, 6 with ISA-L).
    heartbeats = [at for at, text in decoded if not text and at < first_row]
    assert len(heartbeats) >= 3
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(arrivals)]
    assert max(gaps) < 1.0
    assert b"".join(text for _, text in decoded).endswith(b",300\r\n")
    handle.tracker.wait()
    run = ReportRun.objects.get()
    assert (run.path, run.status, run.rows) == (path, RunStatus.SUCCEEDED, 1)


def test_a_cancel_stops_the_query_within_2_s(path, vendor):
    lines(1000)  # 10 s of query
    handle = start_run(RunRequest(registry.get("slow_lines")))
    stream = SyncStream(handle.job, IdentityWire())
    iterator = iter(stream)
    next(iterator)
    if vendor == "postgresql":
        assert wait_until(lambda: active_queries() == 1, 30) is not None
    time.sleep(0.5)
    ReportRun.objects.filter(pk=handle.run.pk).update(cancel_requested=True)
    started = time.monotonic()
    _, aborted = drain(iterator)
    producer = stream.session.producer
    producer.join(5)
    assert not producer.is_alive()
    assert time.monotonic() - started < 2.0
    assert isinstance(aborted, StreamAborted)
    if vendor == "postgresql":
        assert wait_until(lambda: active_queries() == 0, 30) is not None, "the query is gone"
    handle.tracker.wait()
    run = ReportRun.objects.get()
    assert (run.path, run.status) == (path, RunStatus.CANCELLED)


def test_the_deadline_stops_a_run_with_rows_flowing(path, settings):
    settings.ADMIN_REPORTS_CHUNK_ROWS = settings.ADMIN_REPORTS_FETCH_ROWS = 20
    lines(1000)  # 10 s of query; at most 4
    started = time.monotonic()
    with open("/dev/null", "wb") as out, pytest.raises(RunFailed) as caught:
        write_run(RunRequest(registry.get("slow_lines_4s")), out)
    assert time.monotonic() - started < 4 + 2.0
    assert str(caught.value) == "The report ran longer than 4 s and was stopped."
    run = ReportRun.objects.get()
    assert (run.path, run.status) == (path, RunStatus.FAILED)
    assert run.rows > 10, "rows flowed before the deadline"


def test_statement_timeout_ends_copy_as_the_deadline_does(vendor):
    if vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    lines(300)  # 3 s of query; at most 0.5 s
    compiled = compile_report(registry.get("slow_lines"))
    compiled = type(compiled)(**{**compiled.__dict__, "max_duration": 0.5})
    with pytest.raises(QueryTimeout, match=r"longer than 0\.5 s"):
        b"".join(copy_chunks(compiled))


def test_a_query_failing_mid_stream_fails_the_download(path, vendor):
    if vendor != "postgresql":
        pytest.skip("SQLite makes an overflowing integer a float, without an error")
    lines(3000, quantity=1)
    lines(1, quantity=7)
    lines(10, quantity=1)
    handle = start_run(RunRequest(registry.get("failing_lines")))
    arrivals, aborted = drain(SyncStream(handle.job, IdentityWire()))
    assert isinstance(aborted, StreamAborted), "a failed download must not look complete"
    data = b"".join(piece for _, piece in arrivals)
    assert data.count(b",-16\r\n") > 1000, "rows went out before the failure"
    assert data.endswith(b"this file is incomplete.\r\n")
    handle.tracker.wait()
    run = ReportRun.objects.get()
    assert (run.path, run.status) == (path, RunStatus.FAILED)
    assert run.error == "The database stopped the report: bigint out of range"
