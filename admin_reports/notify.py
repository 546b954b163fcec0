"""
E-mails about runs: how a run ended, to its user when they asked for it, and a
scheduled run's file to its preset's recipients.

    notify_end(run)     # after the run's final status is stored; never raises
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.mail import EmailMessage, get_connection
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse

from .conf import app_settings
from .exceptions import ReportNotFound
from .models import ReportRun
from .permissions import may_run
from .registry import registry

logger = logging.getLogger("admin_reports.notify")


def run_url(run: ReportRun, view: str = "change") -> str:
    """The absolute address of a run's page (`view` "change") or file ("file")."""
    try:
        if view == "file":
            path = reverse("admin:admin_reports_reportrun_file", args=[run.token])
        else:
            path = reverse("admin:admin_reports_reportrun_change", args=[run.pk])
    except NoReverseMatch:
        return ""
    return (run.site_url or app_settings.SITE_URL).rstrip("/") + path


def notify_end(run: ReportRun) -> None:
    """E-mail how a run ended to its user, when they asked for it, and the file of a
    scheduled run that succeeded to its preset's recipients (one message each)."""
    user: Any = run.user
    messages = []
    if run.notify and user is not None and getattr(user, "email", None):
        messages.append(_message(run, user, owner=True))
    messages += [_message(run, recipient, owner=False) for recipient in recipients_of(run)]
    if not messages:
        return
    try:
        with get_connection() as connection:
            connection.send_messages(messages)
    except Exception:  # an e-mail that fails must not fail the run
        logger.exception("Could not e-mail the end of report run %s.", run.pk)


def _message(run: ReportRun, user: Any, owner: bool) -> EmailMessage:
    context = {
        "run": run,
        "user": user,
        "owner": owner,  # False: a recipient of the schedule, who cannot see the run log
        "rows_text": f"{run.rows:,}",
        "run_url": run_url(run) if owner else "",
        "file_url": run_url(run, "file") if run.has_file else "",
    }
    subject = render_to_string("admin_reports/email/run_finished_subject.txt", context)
    body = render_to_string("admin_reports/email/run_finished.txt", context)
    return EmailMessage(" ".join(subject.split()), body, None, [user.email])


def recipients_of(run: ReportRun) -> list[Any]:
    """Who gets a scheduled run's file besides its user: the preset's recipients who are
    active staff with an address and may run the report (else they could not download)."""
    preset = run.preset
    if run.schedule_slot is None or preset is None or not run.has_file:
        return []
    try:
        spec = registry.get(run.report)
    except ReportNotFound:
        return []
    users = preset.recipients.filter(is_active=True, is_staff=True).exclude(email="")
    return [user for user in users if user.pk != run.user_id and may_run(user, spec)]
