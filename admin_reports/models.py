"""
What the app stores: runs (one row per report run, the audit log, shared by every
process through the database) and saved presets.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import dates, timezone
from django.utils.translation import gettext_lazy as _


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running the query")
    STREAMING = "streaming", _("Sending rows")
    STORING = "storing", _("Storing the file")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class RunPath(models.TextChoices):
    COPY = "copy", _("COPY (PostgreSQL)")
    ORM = "orm", _("ORM")


FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class ReportRun(models.Model):
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    report = models.CharField(_("report"), max_length=100, db_index=True)
    title = models.CharField(_("title"), max_length=200, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="report_runs",
        verbose_name=_("user"),
    )
    preset = models.ForeignKey(
        "ReportPreset",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="runs",
        verbose_name=_("preset"),
    )
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=RunStatus, default=RunStatus.QUEUED, db_index=True
    )
    rows = models.BigIntegerField(_("rows"), default=0)
    # How many rows the run will have, estimated as it starts (estimate.py); None: unknown.
    rows_estimate = models.BigIntegerField(_("estimated rows"), null=True, blank=True)
    bytes = models.BigIntegerField(_("bytes"), default=0)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    # Written by the run's tracker while it runs: a run silent for long was lost.
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    # Where the rows came from: PostgreSQL's COPY or the ORM (blank for older runs).
    path = models.CharField(_("path"), max_length=8, choices=RunPath, blank=True)
    # Run by a background worker (tasks framework) into a stored file, not streamed.
    background = models.BooleanField(_("in the background"), default=False)
    # The stored file (a gzip-compressed CSV, an XLSX as it is) in ADMIN_REPORTS_STORAGE;
    # blank: none kept.
    file = models.CharField(_("stored file"), max_length=300, blank=True)
    file_size = models.BigIntegerField(_("stored size"), null=True, blank=True)
    expires_at = models.DateTimeField(_("file expires"), null=True, blank=True)
    # E-mail the user when the run ends (background runs).
    notify = models.BooleanField(_("e-mail when done"), default=False)
    # The site's address, for links in e-mails (from the request that asked for the run).
    site_url = models.CharField(_("site address"), max_length=200, blank=True)
    task_id = models.CharField(_("task id"), max_length=64, blank=True)
    # A scheduled run: the due moment it was queued for. Inserting the row claims the
    # slot: the constraint makes a second scheduler's insert fail (schedules.py).
    schedule_slot = models.DateTimeField(_("scheduled for"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("report run")
        verbose_name_plural = _("report runs")
        permissions = [("run_report", _("Can run reports"))]
        constraints = [
            models.UniqueConstraint(
                fields=["preset", "schedule_slot"],
                condition=models.Q(schedule_slot__isnull=False),
                name="one_run_per_schedule_slot",
            )
        ]

    def __str__(self) -> str:
        return f"{self.title or self.report} #{self.pk}"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def file_expired(self) -> bool:
        """The run's file is past its retention (deleted, or about to be)."""
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def has_file(self) -> bool:
        """A finished run whose stored file can still be downloaded."""
        if self.status != RunStatus.SUCCEEDED or not self.file:
            return False
        return not self.file_expired

    @property
    def duration(self):
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at


class ScheduleKind(models.TextChoices):
    NONE = "", _("Not scheduled")
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


WEEKDAYS = [(number, name) for number, name in dates.WEEKDAYS.items()]  # Monday is 0
# Days 29 to 31 run on the last day of shorter months: "31" is every month's last day.
MONTH_DAYS = [
    *((day, str(day)) for day in range(1, 29)),
    (29, _("29 (or the last day of a shorter month)")),
    (30, _("30 (or the last day of a shorter month)")),
    (31, _("31 (the last day of every month)")),
]
SCHEDULE_FIELDS = ["schedule", "schedule_time", "schedule_weekday", "schedule_day"]


class ReportPreset(models.Model):
    class RangeKind(models.TextChoices):
        QUICK = "quick", _("Quick range, resolved when run")
        FIXED = "fixed", _("Fixed dates")
        NONE = "none", _("No date range")

    class SelectionKind(models.TextChoices):
        SAVED = "saved", _("The objects it was saved with")
        FILTER = "filter", _("A changelist filter, evaluated when run")
        ASK = "ask", _("Ask each time")

    name = models.CharField(_("name"), max_length=100)
    report = models.CharField(_("report"), max_length=100, db_index=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="report_presets",
        verbose_name=_("owner"),
    )
    shared = models.BooleanField(
        _("shared"),
        default=False,
        help_text=_(
            "Other staff who run reports see it; they can run it if they may run its report."
        ),
    )
    range_kind = models.CharField(
        _("date range"), max_length=8, choices=RangeKind, default=RangeKind.QUICK
    )
    quick_range = models.CharField(_("quick range"), max_length=50, blank=True)
    start = models.DateField(_("start"), null=True, blank=True)
    end = models.DateField(_("end"), null=True, blank=True)
    selection_kind = models.CharField(
        _("selection"), max_length=8, choices=SelectionKind, default=SelectionKind.ASK
    )
    selection_model = models.CharField(_("selection model"), max_length=100, blank=True)
    selection_pks = models.JSONField(_("selected keys"), default=list, blank=True)
    selection_filter = models.CharField(
        _("changelist filter"),
        max_length=2000,
        blank=True,
        help_text=_("The changelist's query string, e.g. category__id__exact=3&q=kite."),
    )
    options = models.JSONField(_("options"), default=dict, blank=True)
    schedule = models.CharField(
        _("schedule"),
        max_length=8,
        choices=ScheduleKind,
        default=ScheduleKind.NONE,
        blank=True,
        help_text=_(
            "Run it in the background on its own and e-mail the file to its owner and the"
            " recipients. Its quick range is resolved on the day of each run."
        ),
    )
    schedule_time = models.TimeField(
        _("at"),
        null=True,
        blank=True,
        help_text=_(
            "In the site's time zone. A time the clock skips (the night summer time starts)"
            " runs when the clock goes on; a time it repeats, once, the first time."
        ),
    )
    schedule_weekday = models.PositiveSmallIntegerField(
        _("on the day of the week"),
        choices=WEEKDAYS,
        null=True,
        blank=True,
        help_text=_("Weekly schedules."),
    )
    schedule_day = models.PositiveSmallIntegerField(
        _("on the day of the month"),
        choices=MONTH_DAYS,
        null=True,
        blank=True,
        help_text=_("Monthly schedules; 29 to 31 run on the last day of shorter months."),
    )
    recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="received_report_presets",
        limit_choices_to={"is_active": True, "is_staff": True},
        verbose_name=_("recipients"),
        help_text=_(
            "Active staff who get the file of each scheduled run by e-mail, besides the"
            " owner, and may download it while they may run the report themselves."
        ),
    )
    # When the schedule was last set: a slot before it is never run (a schedule set at
    # 10:00 for 08:00 runs tomorrow, not now).
    schedule_changed_at = models.DateTimeField(
        _("schedule set"), null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["report", "name"]
        verbose_name = _("report preset")
        verbose_name_plural = _("report presets")
        constraints = [
            models.UniqueConstraint(fields=["owner", "report", "name"], name="unique_preset_name")
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is None or set(update_fields) & set(SCHEDULE_FIELDS):
            self._note_schedule_change()
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "schedule_changed_at"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        # Here for ModelForms and imports alike; presets.py holds the rules.
        from .presets import normalize_preset, validate_preset

        normalize_preset(self)
        validate_preset(self)

    @property
    def scheduled(self) -> bool:
        return self.schedule != ScheduleKind.NONE

    def _note_schedule_change(self) -> None:
        """Set schedule_changed_at when the schedule is new or differs from the stored one."""
        schedule = [getattr(self, name) for name in SCHEDULE_FIELDS]
        stored = None
        if self.pk is not None:
            stored = ReportPreset.objects.filter(pk=self.pk).values_list(*SCHEDULE_FIELDS).first()
        if stored is None or list(stored) != schedule:
            self.schedule_changed_at = timezone.now()
