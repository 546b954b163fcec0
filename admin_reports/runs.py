"""
The one run path, used by every face: a ReportRun row per run, kept up to date
while the engine streams.

    request = parse_run_request(spec, request.GET)          # see run_request.py
    handle = open_stream(request, user=request.user)        # an HTTP face: a stream slot
    response = stream_csv(request, handle.job, handle.filename, release=handle.release)

    write_run(parse_run_request(spec, options), out)       # the CLI: into a file

Refusals come as exceptions with a message for people, before anything is stored:
ReportPermissionDenied (naming the missing permissions), TooManyStreams (a cap),
InvalidParameters (a token already used). Each run's RunTracker (tracker.py) keeps
its row in step with the stream and stops it when someone asked to cancel the run.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import IntegrityError, connections, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .compiler import CompiledReport, compile_report
from .conf import app_settings
from .engine import IdentityWire, Outcome, StreamAborted, StreamJob, SyncStream
from .estimate import estimate_rows
from .exceptions import InvalidParameters, RunFailed, TooManyStreams
from .file_formats import XLSX
from .models import ReportRun, RunStatus
from .notify import notify_end
from .outputs import explain_output, output_job, output_path
from .permissions import refusal
from .run_request import RunRequest
from .stored import FileKeeper, stored_name
from .tracker import RunTracker, error_text
from .xlsx_output import xlsx_row_limit

logger = logging.getLogger("admin_reports.runs")

# A run whose tracker gave no sign of life for this long is lost: its process died.
LOST_AFTER = 30.0
UNFINISHED = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.STREAMING, RunStatus.STORING)


def too_many(user_count: int | None = None) -> TooManyStreams:
    """The refusal of a cap: the site's (no count) or the user's (their running reports)."""
    if user_count is None:
        return TooManyStreams(_("Too many reports are running right now. Try again in a minute."))
    return TooManyStreams(
        ngettext(
            "You already have %(count)d report running. Wait for it to finish.",
            "You already have %(count)d reports running. Wait for one to finish.",
            user_count,
        )
        % {"count": user_count}
    )


class StreamSlots:
    """Counts streams without a run (stream_csv of a job of your own) in this process.

    Runs are counted in the database instead, across processes: running_runs().
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.total = 0
        self.per_user: Counter = Counter()

    def refusal(self, user_key: Any) -> TooManyStreams | None:
        """Why a stream cannot start now, or None (nothing is taken)."""
        if self.total >= app_settings.MAX_STREAMS:
            return too_many()
        if self.per_user[user_key] >= app_settings.MAX_STREAMS_PER_USER:
            return too_many(self.per_user[user_key])
        return None

    def acquire(self, user_key: Any) -> Callable[[], None]:
        """Take a slot or raise TooManyStreams; returns the release function (idempotent)."""
        with self.lock:
            refused = self.refusal(user_key)
            if refused is not None:
                raise refused
            self.total += 1
            self.per_user[user_key] += 1
        released = threading.Event()

        def release() -> None:
            with self.lock:
                if released.is_set():
                    return
                released.set()
                self.total -= 1
                self.per_user[user_key] -= 1
                if not self.per_user[user_key]:
                    del self.per_user[user_key]

        return release


slots = StreamSlots()


@dataclass(frozen=True)
class RunHandle:
    run: ReportRun
    job: StreamJob
    tracker: RunTracker
    filename: str
    release: Callable[[], None] | None = None


def _check_permission(request: RunRequest, user: Any) -> None:
    """ReportPermissionDenied when `user` (None: the command line) may not run it."""
    refused = refusal(user, request.spec) if user is not None else None
    if refused is not None:
        raise refused


def check_may_start(request: RunRequest, user: Any = None, *, fits: bool = True) -> None:
    """Raise what would refuse this run (permission, a stream cap, a file format it would
    not fit: `fits`), storing nothing."""
    _check_permission(request, user)
    if fits:
        check_fits(request)
    if user is not None:
        refused = cap_refusal(_user_key(user))
        if refused is not None:
            raise refused


def check_fits(request: RunRequest, compiled: CompiledReport | None = None) -> None:
    """InvalidParameters when the row estimate says the file format cannot hold the report
    (an XLSX sheet's rows); the writer enforces the limit anyway (SheetFull)."""
    if request.format != XLSX:
        return
    compiled = compiled or compile_report(request.spec, request.params())
    estimate = estimate_rows(compiled)
    most = xlsx_row_limit()
    if estimate.rows is not None and estimate.rows > most:
        raise InvalidParameters(
            _(
                "This report has %(estimate)s; an Excel sheet holds at most %(most)s below"
                " its header. Choose CSV, or narrow the date range or the selection."
            )
            % {"estimate": estimate, "most": f"{most:,}"},
            code="too_many_rows",
        )


# A background run that no worker has taken yet: it waits, however long, and is not lost.
WAITING_FOR_A_WORKER = Q(background=True, status=RunStatus.QUEUED)


def _signs_of_life() -> tuple[Q, Q]:
    """(alive, silent): a sign of life within LOST_AFTER seconds (or, with none yet, a run
    created within them), and its opposite."""
    since = timezone.now() - dt.timedelta(seconds=LOST_AFTER)
    alive = Q(heartbeat_at__gte=since) | Q(heartbeat_at__isnull=True, created_at__gte=since)
    silent = Q(heartbeat_at__lt=since) | Q(heartbeat_at__isnull=True, created_at__lt=since)
    return alive, silent


def running_runs() -> QuerySet[ReportRun]:
    """The runs at work now, in every process and on every machine: streams not ended,
    background runs a worker has taken; not queued background runs, not lost runs."""
    alive, _silent = _signs_of_life()
    unfinished = ReportRun.objects.filter(alive, status__in=UNFINISHED)
    return unfinished.exclude(WAITING_FOR_A_WORKER)


def cap_refusal(user_key: Any) -> TooManyStreams | None:
    """Why one more stream may not start: ADMIN_REPORTS_MAX_STREAMS (the site's) or
    MAX_STREAMS_PER_USER, counted in the database."""
    runs = running_runs()
    if runs.count() >= app_settings.MAX_STREAMS:
        return too_many()
    if user_key is not None:
        theirs = runs.filter(user=user_key).count()
        if theirs >= app_settings.MAX_STREAMS_PER_USER:
            return too_many(theirs)
    return None


def start_run(request: RunRequest, *, user: Any = None, fits: bool = False) -> RunHandle:
    """Check, record the run and build its job; refusals are raised before anything is stored.

    `user` None is the command line (no permission check); otherwise the user's
    permissions are checked here, whatever the face. `fits`: the caller has run
    check_fits() already (an XLSX's row estimate can take ADMIN_REPORTS_ESTIMATE_SECONDS).
    """
    _check_permission(request, user)
    compiled = compile_report(request.spec, request.params())
    if not fits:
        check_fits(request, compiled)
    return _record(request, user, compiled)


def _record(request: RunRequest, user: Any, compiled: CompiledReport | None = None) -> RunHandle:
    """Compile, store the run row and build its job (the checks are the caller's)."""
    compiled = compiled or compile_report(request.spec, request.params())
    run = create_run(request, user, path=output_path(compiled, request.format)[0])
    keep = app_settings.KEEP_STREAMED
    return run_handle(run, request, compiled, keep=keep)


def create_run(request: RunRequest, user: Any, **fields: Any) -> ReportRun:
    """Store the run's row; InvalidParameters when its token was used already."""
    token = request.token or uuid.uuid4()
    if ReportRun.objects.filter(token=token).exists():
        raise InvalidParameters(_("This run was started already."), code="token")
    try:
        return ReportRun.objects.create(
            token=token,
            report=request.spec.name,
            title=request.spec.title,
            user=user if getattr(user, "pk", None) else None,
            preset=request.preset,
            parameters=request.describe(),
            **fields,
        )
    except IntegrityError:  # the same token, twice at once
        if request.token is None:  # a fresh token: another constraint (a schedule's slot)
            raise
        raise InvalidParameters(_("This run was started already."), code="token") from None


def run_handle(
    run: ReportRun, request: RunRequest, compiled: CompiledReport | None = None, keep: bool = False
) -> RunHandle:
    """The job of a stored run, tracked on its row; `keep`: store the file too."""
    compiled = compiled or compile_report(request.spec, request.params())
    if not run.path:  # a background run's path is known once its worker compiled it
        run.path = output_path(compiled, request.format)[0]
        ReportRun.objects.filter(pk=run.pk).update(path=run.path)
    tracker = RunTracker(run.pk)
    tracker.compiled = compiled
    if keep:
        tracker.keeper = FileKeeper(stored_name(run.token, request.filename, run.created_at))
    job = output_job(
        compiled,
        request.format,
        bom=request.bom,
        path=run.path or None,
        on_rows=tracker.on_rows,
        stream_id=str(run.pk),
        name=f"Report run {run.pk}",
        marker=lambda what: (
            f"\r\n# admin-reports: the report {what} (run {run.pk}); this file is incomplete.\r\n"
        ).encode(),
        on_start=tracker.start,
        on_finish=tracker.finish,
    )
    if tracker.keeper is not None:
        job.chunks = _kept(job.chunks, job.header, tracker.keeper)
    tracker.control = job.control
    tracker.bytes = len(job.header)  # the size of the file, BOM and header row included
    return RunHandle(run, job, tracker, request.filename)


def _kept(
    chunks: Callable[[], Iterator[bytes]], header: bytes, keeper: FileKeeper
) -> Callable[[], Iterator[bytes]]:
    """The job's chunks, written to `keeper` too as the producer makes them."""

    def kept() -> Iterator[bytes]:
        keeper.write(header)
        for chunk in chunks():
            keeper.write(chunk)
            yield chunk

    return kept


def explain(request: RunRequest) -> tuple[str, str, str]:
    """(path, why, SQL) of a run of `request`, run or stored nothing (run_report --explain)."""
    return explain_output(compile_report(request.spec, request.params()), request.format)


def open_stream(request: RunRequest, *, user: Any) -> RunHandle:
    """start_run() within the stream caps, counted in the database (TooManyStreams)."""
    _check_permission(request, user)  # a missing permission says so before any cap
    compiled = compile_report(request.spec, request.params())
    check_fits(request, compiled)
    using = ReportRun.objects.db
    with transaction.atomic(using=using):
        _lock_caps(using)
        refused = cap_refusal(_user_key(user))
        if refused is not None:
            raise refused
        handle = _record(request, user, compiled)
    return RunHandle(handle.run, handle.job, handle.tracker, handle.filename, _no_slot)


def _no_slot() -> None:
    """A run's stream holds no slot of this process: it counts while its row says so."""


# Serializes "count the running runs, then add one" across processes (PostgreSQL); on
# SQLite a write transaction does, where it begins IMMEDIATE (the demo's settings).
CAPS_LOCK = 0x61646D72  # "admr"


def _lock_caps(using: str) -> None:
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CAPS_LOCK])


class Writable(Protocol):
    def write(self, data: bytes, /) -> Any: ...


def write_run(
    request: RunRequest,
    out: Writable,
    *,
    user: Any = None,
    on_chunk: Callable[[RunTracker], None] | None = None,
    fits: bool = False,
) -> ReportRun:
    """Run to completion into `out` (no heartbeats); RunFailed with the reason otherwise.
    `fits`: check_fits() has passed (start_run)."""
    handle = start_run(request, user=user, fits=fits)
    chunks = iter(SyncStream(handle.job, IdentityWire(heartbeats=False)))
    try:
        for chunk in chunks:
            out.write(chunk)
            if on_chunk is not None:
                on_chunk(handle.tracker)
    except StreamAborted as exc:
        raise RunFailed(error_text(exc.__cause__, Outcome.FAILED)) from None
    finally:
        chunks.close()  # type: ignore[attr-defined]
        handle.tracker.wait()
    handle.run.refresh_from_db()
    return handle.run


def _user_key(user: Any) -> Any:
    return getattr(user, "pk", None)


def request_cancel(run: ReportRun) -> None:
    """Ask a run to stop, from any process: a running one stops within tracker.PROGRESS_INTERVAL
    (its tracker reads the flag); a queued background run is cancelled here and now."""
    if run.finished:
        return
    ReportRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    now = timezone.now()
    cancelled = ReportRun.objects.filter(
        pk=run.pk, background=True, status=RunStatus.QUEUED
    ).update(
        status=RunStatus.CANCELLED,
        finished_at=now,
        error=_("Cancelled on request before it started."),
    )
    if cancelled:
        notify_end(ReportRun.objects.get(pk=run.pk))


def mark_lost(runs: QuerySet[ReportRun] | None = None) -> int:
    """Fail the unfinished runs (of `runs`) silent for LOST_AFTER seconds; how many.

    A lost run ends at its last sign of life; its user gets the e-mail they asked for
    (once: the process that records the end sends it)."""
    runs = ReportRun.objects.all() if runs is None else runs
    _alive, silent = _signs_of_life()
    found = runs.filter(silent, status__in=UNFINISHED).exclude(WAITING_FOR_A_WORKER)
    lost = 0
    for pk, notify in found.values_list("pk", "notify"):
        ended = ReportRun.objects.filter(pk=pk, status__in=UNFINISHED).update(
            status=RunStatus.FAILED,
            finished_at=Coalesce(F("heartbeat_at"), F("created_at")),
            error=_(
                "Lost: the server process running the report stopped without recording its end"
                " (no sign of life for %(seconds)d s)."
            )
            % {"seconds": LOST_AFTER},
        )
        lost += ended
        if ended and notify:
            notify_end(ReportRun.objects.get(pk=pk))
    return lost
