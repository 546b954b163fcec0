"""
Background runs: enqueued on Django's tasks framework, run by a worker into a stored file.

    run = enqueue_run(request, user=request.user, notify=True, site_url="https://...")
    # a worker (manage.py db_worker, an RQ worker) calls tasks.run_report(run.pk):
    execute_run(run.pk)

The run's row is written when it is enqueued (status "queued", the parameters resolved
then: "last month" is the month before the day it was asked for). The worker takes a
queued run once, checks the user's permissions again (as the user who asked), rebuilds
the same run request, and runs it through the same row sources and encoder as a
download; the CSV goes gzip-compressed into the storage (stored.py). Progress, cancel
and the lost-run rule are the ones of streamed runs (tracker.RunTracker). The user gets an
e-mail when it ends if they asked for one.
"""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .arguments import unknown_names
from .conf import app_settings
from .engine import IdentityWire, StreamAborted, SyncStream
from .exceptions import (
    InvalidParameters,
    ReportError,
    ReportNotFound,
    TooManyStreams,
    in_words,
)
from .models import ReportRun, RunStatus
from .notify import notify_end
from .permissions import refusal
from .registry import registry
from .run_request import RunRequest, RunSelection, parse_run_request, primary_key
from .runs import check_fits, create_run, mark_lost, run_handle
from .selection import changelist_queryset, site_named, user_request

logger = logging.getLogger("admin_reports.background")

WAITING = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.STREAMING, RunStatus.STORING)


class QueueUnavailable(ReportError):
    """The run could not be handed to the tasks framework (its backend refused it)."""


def check_may_enqueue(request: RunRequest, user: Any, capped: bool = True) -> None:
    """Raise what would refuse a background run (permission, the per-user cap)."""
    check_fits(request)
    if user is None:  # the command line
        return
    refused = refusal(user, request.spec)
    if refused is not None:
        raise refused
    most = app_settings.MAX_BACKGROUND_PER_USER
    if most is None or not capped:
        return
    waiting = ReportRun.objects.filter(user=user.pk, background=True, status__in=WAITING)
    if waiting.count() >= most:
        raise TooManyStreams(
            ngettext(
                "You already have %(count)d report waiting or running in the background."
                " Wait for it to finish.",
                "You already have %(count)d reports waiting or running in the background."
                " Wait for one to finish.",
                most,
            )
            % {"count": most}
        )


def enqueue_run(
    request: RunRequest,
    *,
    user: Any = None,
    notify: bool = False,
    site_url: str = "",
    admin_site: str = "admin",
    capped: bool = True,
    **fields: Any,
) -> ReportRun:
    """Check, record the run as queued and hand it to the tasks framework.

    `user` None is the command line. Refusals are raised before anything is stored;
    QueueUnavailable when the backend refused the task (the run is recorded as failed).
    `capped` False: not refused for MAX_BACKGROUND_PER_USER (a schedule's run); `fields`
    go to the run's row (schedule_slot).
    """
    check_may_enqueue(request, user, capped)
    run = create_run(
        request,
        user,
        background=True,
        notify=notify,
        site_url=app_settings.SITE_URL or site_url,
        **fields,
    )
    if isinstance(run.parameters.get("selection"), dict):  # a changelist filter: which admin
        run.parameters["admin_site"] = admin_site
        run.save(update_fields=["parameters"])
    transaction.on_commit(lambda: _enqueue(run), using=ReportRun.objects.db)
    if run.status == RunStatus.FAILED:
        raise QueueUnavailable(run.error)
    return run


def queued_message(run: ReportRun) -> str:
    """What the person who queued a run is told."""
    if run.notify and run.user is not None and getattr(run.user, "email", None):
        return _(
            "The report “%(title)s” runs in the background (run %(number)s). You will get an"
            " e-mail when it is ready; its file will be here in the run log too."
        ) % {"title": run.title or run.report, "number": run.pk}
    return _(
        "The report “%(title)s” runs in the background (run %(number)s). Its file will be"
        " here in the run log when it is ready."
    ) % {"title": run.title or run.report, "number": run.pk}


def _enqueue(run: ReportRun) -> None:
    try:
        # Imported here: the tasks framework validates the task against the default
        # backend when the module is first imported, which fails like enqueue() would.
        from .tasks import run_report

        task = run_report.using(
            backend=app_settings.TASK_BACKEND, queue_name=app_settings.TASK_QUEUE
        )
        result = task.enqueue(run.pk)
    except Exception as exc:  # the backend's own errors: Redis down, an unknown queue...
        logger.exception("Could not queue report run %s.", run.pk)
        run.status = RunStatus.FAILED
        run.finished_at = timezone.now()
        run.error = _("The run could not be queued: %(reason)s") % {"reason": exc}
        run.save(update_fields=["status", "finished_at", "error"])
        return
    run.task_id = str(result.id)[:64]
    ReportRun.objects.filter(pk=run.pk).update(task_id=run.task_id)


def execute_run(run_pk: int) -> str:
    """The worker's side: run a queued run to its stored file; its final status."""
    mark_lost()  # a run of a worker that died reads as lost from here on
    now = timezone.now()
    claimed = ReportRun.objects.filter(pk=run_pk, background=True, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    run = ReportRun.objects.filter(pk=run_pk).select_related("user", "preset").first()
    if run is None:
        return "missing"
    if not claimed:  # cancelled while queued, or taken already (a task delivered twice)
        return run.status
    if run.cancel_requested:
        return _end(run, RunStatus.CANCELLED, _("Cancelled on request before it started."))
    try:
        request = rebuild_request(run)
    except (ReportError, InvalidParameters, ValidationError) as exc:
        return _end(run, RunStatus.FAILED, in_words(exc))
    handle = run_handle(run, request, keep=True)
    stream = iter(SyncStream(handle.job, IdentityWire(heartbeats=False)))
    try:
        for _chunk in stream:  # the producer writes the file; the bytes here are a copy
            pass
    except StreamAborted:
        pass  # the tracker records why
    finally:  # also when the task queue stops the task (RQ's job timeout): it goes on up
        stream.close()  # type: ignore[attr-defined]
        handle.tracker.wait(timeout=None)
        run.refresh_from_db()
        notify_end(run)
    return run.status


def _end(run: ReportRun, status: str, error: str) -> str:
    now = timezone.now()
    ReportRun.objects.filter(pk=run.pk).update(
        status=status, error=error, finished_at=now, heartbeat_at=now
    )
    run.refresh_from_db()
    notify_end(run)
    return run.status


def rebuild_request(run: ReportRun) -> RunRequest:
    """The run request of a stored run, as the user who asked for it may run it now."""
    parameters = run.parameters
    user = run.user
    if user is None and parameters.get("via") != "cli":
        raise ReportError(_("The user who asked for this run no longer exists."))
    try:
        spec = registry.get(run.report)
    except ReportNotFound as exc:
        raise ReportError(str(exc)) from None
    if user is not None:
        refused = refusal(user, spec)
        if refused is not None:
            raise refused
    data = {key: parameters.get(key) for key in ("start", "end", "bom", "format")}
    arguments = parameters.get("arguments") or {}
    unknown = unknown_names(spec, list(arguments))
    if unknown:  # run without it, the report would give rows the run did not ask for
        raise ReportError(
            _("The report no longer has the parameter %(name)s.") % {"name": unknown[0]}
        )
    data.update(arguments)  # checked again: a region may be gone
    data["columns"] = parameters.get("columns")  # absent: every column, as defined
    return parse_run_request(
        spec,
        data,
        selection=_selection(run, user),
        preset=run.preset,
        via=parameters.get("via", ""),
    )


def _selection(run: ReportRun, user: Any) -> RunSelection | None:
    parameters = run.parameters
    label, saved = parameters.get("selection_model"), parameters.get("selection")
    if not label or saved is None:
        return None
    model = apps.get_model(label)
    description = parameters.get("selection_text", "")
    if isinstance(saved, list):
        keys = [primary_key(model, str(key)) for key in saved]
        return RunSelection(model, keys, [str(key) for key in saved], description, len(keys))
    if user is None:
        raise ReportError(_("A changelist filter needs the user who chose it."))
    site = site_named(parameters.get("admin_site", "admin"))
    modeladmin = site.get_model_admin(model)
    objects = changelist_queryset(modeladmin, user_request(user, run.site_url), saved["filter"])
    return RunSelection(model, objects, saved, description)
