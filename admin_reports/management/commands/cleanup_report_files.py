"""
Delete the stored report files past ADMIN_REPORTS_RETENTION_DAYS, and fail the runs
whose process died (no sign of life for runs.LOST_AFTER seconds).

    python manage.py cleanup_report_files              # from cron, e.g. hourly
    python manage.py cleanup_report_files --dry-run    # list what it would delete

Safe to run at any time and from several machines at once: a file already gone is
no error, and a run keeps its row (the audit log) with its file marked expired.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ...runs import mark_lost
from ...stored import expired_runs, forget_file


class Command(BaseCommand):
    help = "Delete report files past their retention, and fail runs whose process died."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="List the files; delete nothing."
        )

    def handle(self, *args: Any, dry_run: bool, **options: Any) -> None:
        deleted = 0
        for run in expired_runs():
            if dry_run:
                self.stdout.write(f"run {run.pk}: {run.file}")
            else:
                forget_file(run)
            deleted += 1
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(f"{verb} {deleted} expired report file(s).")
        if not dry_run:
            lost = mark_lost()
            if lost:
                self.stdout.write(f"Marked {lost} lost run(s) as failed.")
