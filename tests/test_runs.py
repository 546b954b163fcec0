"""The run path: run rows written by the watcher, cancel through the database."""

import datetime as dt
import time
import uuid

import pytest
from django.conf import settings
from django.db import DatabaseError, OperationalError
from django.db.models import QuerySet
from django.test import override_settings

from admin_reports import tracker
from admin_reports.engine import IdentityWire, StreamAborted, SyncStream
from admin_reports.exceptions import InvalidParameters, RunFailed
from admin_reports.models import ReportRun, RunStatus
from admin_reports.registry import registry
from admin_reports.run_request import RunRequest
from admin_reports.runs import start_run, write_run

from .factories import OrderLineFactory
from .waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

EARLY, LATE = dt.date(2000, 1, 1), dt.date(2100, 1, 1)
TOKEN = uuid.UUID("12345678-1234-5678-1234-567812345678")
SLOW_DIRS = [*settings.ADMIN_REPORTS_DIRS, settings.BASE_DIR / "tests" / "report_defs"]


def drain(stream):
    pieces = []
    try:
        for piece in stream:
            pieces.append(piece)
    except StreamAborted as exc:
        return b"".join(pieces), exc
    return b"".join(pieces), None


def test_a_run_row_records_the_run():
    OrderLineFactory.create_batch(3)
    handle = start_run(RunRequest(registry.get("order_lines"), EARLY, LATE))
    assert handle.run.status == RunStatus.QUEUED
    data, aborted = drain(SyncStream(handle.job, IdentityWire(heartbeats=False)))
    assert aborted is None
    handle.tracker.wait(30)  # the stream waits for the end's record 5 s at most
    run = ReportRun.objects.get(pk=handle.run.pk)
    assert run.status == RunStatus.SUCCEEDED
    assert run.rows == 3 == data.count(b"\r\n") - 1
    assert run.bytes == len(data), "the file's size"
    assert run.error == ""
    assert run.finished_at >= run.started_at


@override_settings(ADMIN_REPORTS_DIRS=SLOW_DIRS)
def test_a_cancel_requested_in_the_database_stops_the_run():
    OrderLineFactory.create_batch(400)  # 400 rows x 10 ms: 4 s of query
    handle = start_run(RunRequest(registry.get("slow_lines")))
    stream = SyncStream(handle.job, IdentityWire())
    iterator = iter(stream)
    next(iterator)
    running = ReportRun.objects.filter(
        pk=handle.run.pk, status__in=[RunStatus.RUNNING, RunStatus.STREAMING]
    )
    assert wait_until(running.exists, 30) is not None, "the watcher has recorded the start"
    ReportRun.objects.filter(pk=handle.run.pk).update(cancel_requested=True)
    started = time.monotonic()
    data, aborted = drain(iterator)
    # Four looks of the watcher (every PROGRESS_INTERVAL, 0.5 s); the query had seconds left.
    assert time.monotonic() - started < 2.0
    assert isinstance(aborted, StreamAborted), "a cancelled download must not look complete"
    assert data.endswith(b"this file is incomplete.\r\n")
    handle.tracker.wait()
    run = ReportRun.objects.get(pk=handle.run.pk)
    assert run.status == RunStatus.CANCELLED
    assert run.error == "Cancelled on request."
    assert not handle.job.control._session.producer.is_alive()


def test_a_failed_run_keeps_the_error():
    OrderLineFactory()
    handle = start_run(RunRequest(registry.get("order_lines"), EARLY, LATE))
    handle.job.chunks = lambda: (_ for _ in ()).throw(RuntimeError("the database went away"))
    data, aborted = drain(SyncStream(handle.job, IdentityWire()))
    handle.tracker.wait()
    run = ReportRun.objects.get(pk=handle.run.pk)
    assert isinstance(aborted, StreamAborted)
    assert data.endswith(b"the report failed (run %d); this file is incomplete.\r\n" % run.pk)
    assert run.status == RunStatus.FAILED
    # Words for people: the class name and the details stay in the server log.
    assert run.error == (
        "The report failed with an unexpected error; the server log has the details."
    )


def test_a_database_error_is_told_in_words():
    OrderLineFactory()
    handle = start_run(RunRequest(registry.get("order_lines"), EARLY, LATE))
    error = DatabaseError("canceling statement due to statement timeout\nCONTEXT: ...")
    handle.job.chunks = lambda: (_ for _ in ()).throw(error)
    drain(SyncStream(handle.job, IdentityWire()))
    handle.tracker.wait()
    run = ReportRun.objects.get(pk=handle.run.pk)
    assert run.error == (
        "The database stopped the report: canceling statement due to statement timeout"
    )


def test_a_run_token_is_used_once():
    spec = registry.get("order_lines")
    first = start_run(RunRequest(spec, EARLY, LATE, token=TOKEN))
    with pytest.raises(InvalidParameters, match=r"This run was started already\."):
        start_run(RunRequest(spec, EARLY, LATE, token=TOKEN))
    assert list(ReportRun.objects.values_list("pk", flat=True)) == [first.run.pk]
    first.job.control.stop(RuntimeError("not streamed"))


def test_write_run_writes_the_file_and_raises_in_words(tmp_path, monkeypatch):
    OrderLineFactory.create_batch(2)
    path = tmp_path / "out.csv"
    with open(path, "wb") as out:
        run = write_run(RunRequest(registry.get("order_lines"), EARLY, LATE), out)
    assert run.status == RunStatus.SUCCEEDED
    assert path.read_bytes().count(b"\r\n") == 3

    def broken(*args, **kwargs):
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr("admin_reports.csv_output.body_chunks", broken)
    monkeypatch.setattr("admin_reports.csv_output.copy_chunks", broken)  # PostgreSQL
    with open(path, "wb") as out, pytest.raises(RunFailed) as caught:
        write_run(RunRequest(registry.get("order_lines"), EARLY, LATE), out)
    assert str(caught.value) == (
        "The database stopped the report: server closed the connection unexpectedly"
    )
    assert ReportRun.objects.latest("pk").status == RunStatus.FAILED


def test_the_tracker_outlives_a_database_that_goes_away(monkeypatch, caplog):
    """Writes that fail (a restarting database) are tried again: the end is recorded."""
    monkeypatch.setattr(tracker, "FINAL_WRITE_RETRY", 0.05)
    failures = {"left": 3}
    update = QuerySet.update

    def flaky_update(self, **fields):
        if self.model is ReportRun and failures["left"]:
            failures["left"] -= 1
            raise OperationalError("server closed the connection unexpectedly")
        return update(self, **fields)

    monkeypatch.setattr(QuerySet, "update", flaky_update)
    OrderLineFactory.create_batch(2)
    handle = start_run(RunRequest(registry.get("order_lines"), EARLY, LATE))
    data, aborted = drain(SyncStream(handle.job, IdentityWire(heartbeats=False)))
    handle.tracker.wait()
    assert aborted is None
    assert failures["left"] == 0, "the writes did fail"
    run = ReportRun.objects.get(pk=handle.run.pk)
    assert (run.status, run.rows, run.bytes) == (RunStatus.SUCCEEDED, 2, len(data))
    assert "trying again" in caplog.text
