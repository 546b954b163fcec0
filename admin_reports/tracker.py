"""
A run's tracker: a thread with its own database connection that keeps the run's
ReportRun row in step with its stream (status, rows, bytes, heartbeat every
PROGRESS_INTERVAL seconds), stops the stream when someone asked to cancel the run
(from any process: the flag is in the database), and writes the final status when
the stream ends, trying again while the database restarts.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections
from django.utils import timezone
from django.utils.translation import gettext as _

from .compiler import CompiledReport
from .conf import app_settings
from .engine import Outcome, QueryTimeout
from .estimate import estimate_rows
from .exceptions import ReportError
from .models import ReportRun, RunStatus
from .stored import FileKeeper

logger = logging.getLogger("admin_reports.runs")

PROGRESS_INTERVAL = 0.5
FINAL_WRITE_TIMEOUT = 5.0
# The final status is tried again every FINAL_WRITE_RETRY seconds, for at most
# FINAL_WRITE_PERSISTENCE seconds (a database restarting).
FINAL_WRITE_RETRY = 1.0
FINAL_WRITE_PERSISTENCE = 120.0
# Seconds beyond ESTIMATE_SECONDS the end of a run waits for its estimate's thread.
ESTIMATE_GRACE = 5.0

OUTCOMES = {
    Outcome.SUCCEEDED: RunStatus.SUCCEEDED,
    Outcome.FAILED: RunStatus.FAILED,
    Outcome.CANCELLED: RunStatus.CANCELLED,
}


class RunCancelled(ReportError):
    """A run stopped on request (not by the client leaving)."""


class FileNotStored(ReportError):
    """The run's rows were all read, and its file could not be stored."""

    def __init__(self, cause: BaseException) -> None:
        # An OSError says what happened without the server's paths.
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else cause
        super().__init__(_("The file could not be stored: %(reason)s") % {"reason": reason})


def error_text(error: BaseException | None, outcome: Outcome | None) -> str:
    """What the run log and the progress panel say about how a run ended."""
    if outcome is Outcome.CANCELLED and error is None:
        return _("Cancelled: the client went away.")
    if error is None:
        return ""
    if isinstance(error, QueryTimeout):
        return _("The report ran longer than %(seconds)s s and was stopped.") % {
            "seconds": f"{error.seconds:g}"
        }
    if isinstance(error, ImproperlyConfigured):  # a setting (check E036 says so too)
        return str(error)
    if isinstance(error, DatabaseError):  # psycopg's, or psql's (pgcopy.PsqlError)
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return _("The database stopped the report: %(detail)s") % {"detail": detail}
    if isinstance(error, ReportError) or type(error).__module__.startswith("admin_reports"):
        return str(error)
    return _("The report failed with an unexpected error; the server log has the details.")


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class RunTracker:
    """Keeps a ReportRun row in step with its stream, from a thread of its own."""

    def __init__(self, run_pk: int) -> None:
        self.run_pk = run_pk
        self.rows = 0
        self.bytes = 0
        self.control: Any = None
        self.done = threading.Event()
        self.outcome: Outcome | None = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self._failed_writes = 0
        # Keeps the file in the storage (background runs, ADMIN_REPORTS_KEEP_STREAMED).
        self.keeper: FileKeeper | None = None
        # The run's report, whose row count is estimated as it starts (progress panels).
        self.compiled: CompiledReport | None = None
        self.estimating: threading.Thread | None = None

    def on_rows(self, rows: int, size: int) -> None:
        """From the producer thread, after each chunk."""
        self.rows += rows
        self.bytes += size

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self._watch, name=f"admin-reports-run-{self.run_pk}", daemon=True
        )
        self.thread.start()
        if self.compiled is not None and app_settings.ESTIMATE_SECONDS:
            # Its own thread: counting (SQLite) must not hold up the tracker's looks. The
            # tracker waits for it before the run's end is recorded (a count is capped).
            self.estimating = threading.Thread(
                target=self._estimate, name=f"admin-reports-estimate-{self.run_pk}", daemon=True
            )
            self.estimating.start()

    def _estimate(self) -> None:
        assert self.compiled is not None
        try:
            estimate = estimate_rows(self.compiled)
            if estimate.rows is not None and not self.done.is_set():
                self._store(rows_estimate=estimate.rows)
        finally:
            connections.close_all()

    def finish(self, outcome: Outcome, error: BaseException | None, sent: int) -> None:
        self.outcome, self.error = outcome, error
        self.done.set()
        if self.thread is None:  # the stream never started: record the end all the same
            self.start()
        if not _in_event_loop() and self.thread is not None:
            self.thread.join(FINAL_WRITE_TIMEOUT)  # a WSGI thread may wait for the last write

    def _watch(self) -> None:
        try:
            if not self.done.is_set():
                now = timezone.now()
                self._store(status=RunStatus.RUNNING, started_at=now, heartbeat_at=now)
            while not self.done.wait(PROGRESS_INTERVAL):
                status = RunStatus.STREAMING if self.rows else RunStatus.RUNNING
                self._store(
                    status=status, rows=self.rows, bytes=self.bytes, heartbeat_at=timezone.now()
                )
                if self._cancel_requested() and self.control is not None:
                    self.control.stop(RunCancelled(_("Cancelled on request.")))
            if self.estimating is not None:
                self.estimating.join(float(app_settings.ESTIMATE_SECONDS) + ESTIMATE_GRACE)
            self._store_final()
        finally:
            connections.close_all()

    def _store(self, **fields: Any) -> bool:
        """Write to the run's row; False (and a fresh connection next time) on a database
        error: a restarted database must not end the tracking of a run."""
        try:
            ReportRun.objects.filter(pk=self.run_pk).update(**fields)
        except DatabaseError:
            self._failed_writes += 1
            if self._failed_writes == 1:
                logger.warning(
                    "Could not record the progress of report run %s; trying again.",
                    self.run_pk,
                    exc_info=True,
                )
            self._reconnect()
            return False
        self._failed_writes = 0
        return True

    def _cancel_requested(self) -> bool:
        try:
            return ReportRun.objects.filter(pk=self.run_pk, cancel_requested=True).exists()
        except DatabaseError:
            self._reconnect()
            return False

    def _store_final(self) -> None:
        kept = self._keep() if self.keeper is not None else {}
        deadline = time.monotonic() + FINAL_WRITE_PERSISTENCE
        while True:
            now = timezone.now()
            final = {
                "status": OUTCOMES[self.outcome] if self.outcome else RunStatus.FAILED,
                "rows": self.rows,
                "bytes": self.bytes,
                "finished_at": now,
                "heartbeat_at": now,
                "error": error_text(self.error, self.outcome),
            }
            if self._store(**final, **kept):
                return
            if time.monotonic() >= deadline:
                logger.error("Could not record the end of report run %s.", self.run_pk)
                return
            time.sleep(FINAL_WRITE_RETRY)

    def _keep(self) -> dict[str, Any]:
        """Store the kept file of a run that succeeded (the run's fields that say where),
        with signs of life while the storage takes it; a failure fails the run."""
        keeper = self.keeper
        assert keeper is not None
        if self.outcome is not Outcome.SUCCEEDED:
            keeper.discard()
            return {}
        self._store(status=RunStatus.STORING, rows=self.rows, bytes=self.bytes)
        result: dict[str, Any] = {}

        def save() -> None:
            try:
                result.update(keeper.save())
            except Exception as exc:  # a full disk, a storage that refused it
                logger.exception("Could not store the file of report run %s.", self.run_pk)
                result["error"] = exc
            finally:
                connections.close_all()

        saving = threading.Thread(target=save, name=f"admin-reports-store-{self.run_pk}")
        saving.start()
        while saving.is_alive():
            saving.join(PROGRESS_INTERVAL)
            self._store(heartbeat_at=timezone.now())
        if "error" in result:
            self.outcome, self.error = Outcome.FAILED, FileNotStored(result.pop("error"))
        return result

    @staticmethod
    def _reconnect() -> None:
        connection = connections[ReportRun.objects.db]
        try:
            connection.close()
        except DatabaseError:  # a broken connection may fail to close; it is dropped anyway
            connection.connection = None

    def wait(self, timeout: float | None = 10) -> None:
        """Until the final status is written (for the CLI and tests)."""
        if self.thread is not None:
            self.thread.join(timeout)
