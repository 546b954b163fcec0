"""
The one run path, used by the admin and by `manage.py run_report`: a ReportRun
row per run, kept up to date while the engine streams.

    handle = start_run(spec, params, user=request.user, bom=True)
    response = stream_csv(request, handle.job, filename)              # the admin
    for chunk in SyncStream(handle.job, IdentityWire(heartbeats=False)):  # the CLI
        ...

A watcher thread, with its own database connection, writes the run's status,
rows and bytes every PROGRESS_INTERVAL seconds, and stops the stream when
someone asked to cancel the run (from any process: the flag is in the
database). The final status is written when the stream ends.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.utils import timezone

from .compiler import CompiledReport, ReportParams, compile_report
from .csv_output import report_job
from .definitions.spec import ReportSpec
from .engine import Outcome, RunCancelled, StreamJob
from .models import ReportPreset, ReportRun, RunStatus

logger = logging.getLogger("admin_reports.runs")

PROGRESS_INTERVAL = 0.5
FINAL_WRITE_TIMEOUT = 5.0

OUTCOMES = {
    Outcome.SUCCEEDED: RunStatus.SUCCEEDED,
    Outcome.FAILED: RunStatus.FAILED,
    Outcome.CANCELLED: RunStatus.CANCELLED,
}


def describe_params(params: ReportParams, **extra: Any) -> dict[str, Any]:
    """The parameters of a run, as stored in ReportRun.parameters (JSON)."""
    selection = params.selection
    if selection is not None and not hasattr(selection, "query"):
        selection = [str(pk) for pk in selection]
    elif selection is not None:
        selection = "queryset"
    return {
        "start": params.start.isoformat() if params.start else None,
        "end": params.end.isoformat() if params.end else None,
        "selection_model": params.selection_model._meta.label if params.selection_model else None,
        "selection": selection,
        **extra,
    }


@dataclass(frozen=True)
class RunHandle:
    run: ReportRun
    job: StreamJob
    tracker: RunTracker


def start_run(
    spec: ReportSpec,
    params: ReportParams,
    *,
    user=None,
    preset: ReportPreset | None = None,
    bom: bool = False,
    token: uuid.UUID | None = None,
    parameters: dict[str, Any] | None = None,
) -> RunHandle:
    """Compile (InvalidParameters before anything is stored), record the run, build its job."""
    compiled = compile_report(spec, params)
    run = ReportRun.objects.create(
        token=token or uuid.uuid4(),
        report=spec.name,
        title=spec.title,
        user=user if getattr(user, "pk", None) else None,
        preset=preset,
        parameters=parameters or describe_params(params, bom=bom),
    )
    return run_job(run, compiled, bom=bom)


def run_job(run: ReportRun, compiled: CompiledReport, *, bom: bool) -> RunHandle:
    tracker = RunTracker(run.pk)
    job = report_job(
        compiled,
        bom=bom,
        on_rows=tracker.on_rows,
        run_id=str(run.pk),
        on_start=tracker.start,
        on_finish=tracker.finish,
    )
    tracker.control = job.control
    return RunHandle(run, job, tracker)


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
        self.control = None
        self.done = threading.Event()
        self.outcome: Outcome | None = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def on_rows(self, rows: int, size: int) -> None:
        """From the producer thread, after each chunk."""
        self.rows += rows
        self.bytes += size

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self._watch, name=f"admin-reports-run-{self.run_pk}", daemon=True
        )
        self.thread.start()

    def finish(self, outcome: Outcome, error: BaseException | None, sent: int) -> None:
        self.outcome, self.error = outcome, error
        self.done.set()
        if self.thread is None:  # the stream never started: record the end all the same
            self.start()
        if not _in_event_loop():  # a WSGI thread may wait the few ms of the last write
            self.thread.join(FINAL_WRITE_TIMEOUT)

    def _watch(self) -> None:
        runs = ReportRun.objects.filter(pk=self.run_pk)
        try:
            if not self.done.is_set():
                runs.update(status=RunStatus.RUNNING, started_at=timezone.now())
            while not self.done.wait(PROGRESS_INTERVAL):
                status = RunStatus.STREAMING if self.rows else RunStatus.RUNNING
                runs.update(status=status, rows=self.rows, bytes=self.bytes)
                if runs.filter(cancel_requested=True).exists() and self.control is not None:
                    self.control.stop(RunCancelled("Cancelled on request."))
            runs.update(
                status=OUTCOMES[self.outcome],
                rows=self.rows,
                bytes=self.bytes,
                finished_at=timezone.now(),
                error=self._error_text(),
            )
        except Exception:
            logger.exception("Could not record the progress of report run %s", self.run_pk)
        finally:
            connections.close_all()

    def _error_text(self) -> str:
        if self.outcome is Outcome.CANCELLED and self.error is None:
            return "Cancelled: the client went away."
        if self.error is None:
            return ""
        return f"{type(self.error).__name__}: {self.error}"

    def wait(self, timeout: float = 10) -> None:
        """Until the final status is written (for the CLI and tests)."""
        if self.thread is not None:
            self.thread.join(timeout)
