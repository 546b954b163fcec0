"""
Queue the runs of scheduled presets that are due; run it every few minutes.

    python manage.py run_scheduled_reports                  # from cron or Heroku Scheduler
    python manage.py run_scheduled_reports --dry-run        # say what is due, queue nothing
    python manage.py run_scheduled_reports --now 2026-04-15T08:00   # as if it were then

Idempotent, and safe from several machines at once: each preset's slot is queued
once (schedules.py says how). A preset that cannot run gets a failed run with the
reason; the command says so and exits 0 all the same (one bad preset must not stop
the others, nor make cron mail every few minutes).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import formats, timezone

from ...conf import app_settings
from ...schedules import SlotAction, SlotResult, run_due, site_zone
from .run_report import stop_at_settings_errors


class Command(BaseCommand):
    help = "Queue the background runs of scheduled presets that are due."
    # A broken definition is a failed run of its presets; it must not stop the others.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Say which runs are due; queue nothing."
        )
        parser.add_argument(
            "--now",
            help="Take this moment as now (ISO 8601, e.g. 2026-04-15T08:00; without an offset"
            " in the site's time zone).",
        )
        parser.add_argument(
            "--admin-site",
            default="admin",
            help="The admin site whose changelists evaluate changelist filters (its name).",
        )

    def handle(self, *args: Any, dry_run: bool, now: str | None, **options: Any) -> None:
        moment = parse_now(now) if now else timezone.now()
        if not dry_run and moment > timezone.now() + dt.timedelta(minutes=1):
            raise CommandError(
                f"--now {now} lies in the future: runs queued now for it would not run at"
                " their time. Give --dry-run to see what will be due then."
            )
        stop_at_settings_errors(("E037", "E038", "E039"))  # a slot queued now must run
        try:
            results = run_due(moment, dry_run=dry_run, admin_site=options["admin_site"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        quiet = options["verbosity"] == 0  # from cron: a line only when something happened
        if results and not app_settings.SITE_URL and not dry_run:
            self.stderr.write(
                "Warning: ADMIN_REPORTS_SITE_URL is empty: the e-mails of scheduled runs have"
                " no links."
            )
        for result in results:
            self.stdout.write(describe(result))
        if not results and not quiet:
            self.stdout.write(f"Nothing is due at {when(moment)}.")


def parse_now(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"--now {value!r} is not a date and time such as 2026-04-15T08:00."
        ) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, site_zone())
    return moment


def when(moment: dt.datetime) -> str:
    local = moment.astimezone(site_zone())
    return f"{formats.date_format(local, 'Y-m-d H:i')} {local.tzname()}"


def describe(result: SlotResult) -> str:
    preset, run = result.preset, result.run
    what = f"preset {preset.pk} “{preset}” of {preset.owner}, due {when(result.slot)}"
    if result.action == SlotAction.DUE:
        return f"Due: {what}."
    if result.action == SlotAction.TAKEN:
        return f"Taken by another scheduler: {what}."
    assert run is not None
    if result.action == SlotAction.FAILED:
        return f"Failed: {what}: {result.reason} (run {run.pk})."
    return f"Queued run {run.pk}: {what}."
