"""
Scheduled presets: a preset that runs itself in the background, daily, weekly or
monthly at a time of day in the site's time zone (settings.TIME_ZONE), and e-mails
its file to its owner and its recipients.

    next_slot(preset, now)            # when it runs next (aware, UTC), or None
    due_slot(preset, now)             # the slot to run now, or None
    results = run_due(now)            # what `manage.py run_scheduled_reports` does
    describe_schedule(preset)         # "Weekly on Monday at 08:00"

A slot is the moment a schedule is due. The clock's changes are taken so: a time the
clock skips (02:30 on the night summer time starts) runs when the clock goes on
(03:00); a time it shows twice (02:30 when it ends) runs once, the first time.

What is due: for each scheduled preset, its latest slot at or before now, if that
slot is after the schedule was set and within ADMIN_REPORTS_SCHEDULE_CATCH_UP hours
(a scheduler down for a while runs the latest missed slot once, not every missed
one). Inserting the run's row claims the slot: a unique constraint on (preset,
slot) makes a second scheduler's insert fail, so two schedulers at once never run
a slot twice, and a scheduler run twice runs it once.

The run is the owner's: their permissions are checked now and again by the worker.
A preset that cannot run (it is broken, or its owner may not run its report) gets a
failed run with the reason in the run log, and its owner an e-mail.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from .background import enqueue_run
from .conf import app_settings
from .exceptions import InvalidParameters, ReportNotFound, ReportPermissionDenied, in_words
from .models import ReportPreset, ReportRun, RunStatus, ScheduleKind
from .notify import notify_end
from .presets import preset_problem, preset_request
from .registry import registry
from .selection import filter_resolver, site_named, user_request

logger = logging.getLogger("admin_reports.schedules")

# How far to look for a slot: a monthly schedule's slots are at most 31 days apart.
HORIZON_DAYS = 40


class SlotAction:
    ENQUEUED = "enqueued"
    FAILED = "failed"  # recorded as a failed run: the preset could not run
    TAKEN = "taken"  # another scheduler claimed the slot first
    DUE = "due"  # --dry-run: would be enqueued


@dataclass(frozen=True)
class SlotResult:
    preset: ReportPreset
    slot: dt.datetime
    action: str
    run: ReportRun | None = None
    reason: str = ""


def site_zone() -> dt.tzinfo:
    return timezone.get_default_timezone()


def runs_on(preset: ReportPreset, day: dt.date) -> bool:
    """Whether the schedule has a slot on the local `day`."""
    if preset.schedule == ScheduleKind.DAILY:
        return True
    if preset.schedule == ScheduleKind.WEEKLY:
        return day.weekday() == preset.schedule_weekday
    if preset.schedule == ScheduleKind.MONTHLY and preset.schedule_day:
        last = calendar.monthrange(day.year, day.month)[1]
        return day.day == min(preset.schedule_day, last)
    return False


def local_moment(day: dt.date, time: dt.time, zone: dt.tzinfo) -> dt.datetime:
    """`time` on `day` in `zone`, in UTC: the first of a repeated time, and the end of the
    gap for a time the clock skips."""
    wall = dt.datetime.combine(day, time.replace(tzinfo=None))
    first = wall.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # it exists (fold 0 is its first occurrence when the clock repeats it)
    # In a gap: fold=1 maps it before the jump, fold=0 after; the jump lies between.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(dt.UTC)
    high = first
    while high - low > dt.timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) > wall:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def _slots(preset: ReportPreset, now: dt.datetime, step: int) -> Iterator[dt.datetime]:
    """The preset's slots from the local day of `now`, going back (-1) or on (1)."""
    if not preset.scheduled or preset.schedule_time is None:
        return
    zone = site_zone()
    today = now.astimezone(zone).date()
    for offset in range(HORIZON_DAYS):
        try:
            day = today + dt.timedelta(days=offset * step)
        except OverflowError:
            return
        if runs_on(preset, day):
            yield local_moment(day, preset.schedule_time, zone)


def latest_slot(preset: ReportPreset, now: dt.datetime) -> dt.datetime | None:
    """The preset's last slot at or before `now` (UTC), or None."""
    return next((slot for slot in _slots(preset, now, -1) if slot <= now), None)


def next_slot(preset: ReportPreset, now: dt.datetime) -> dt.datetime | None:
    """The preset's first slot after `now` (UTC), or None."""
    return next((slot for slot in _slots(preset, now, 1) if slot > now), None)


def due_slot(preset: ReportPreset, now: dt.datetime) -> dt.datetime | None:
    """The slot to run now: the latest, unless it came before the schedule was set or
    is older than the catch-up window; None when nothing is due (claimed or not)."""
    slot = latest_slot(preset, now)
    if slot is None:
        return None
    if preset.schedule_changed_at is not None and slot < preset.schedule_changed_at:
        return None
    hours = app_settings.SCHEDULE_CATCH_UP
    if hours is not None and now - slot > dt.timedelta(hours=hours):
        return None
    return slot


def scheduled_presets() -> QuerySet[ReportPreset]:
    """Presets with a schedule whose owner is active (a departed owner's do not run)."""
    return (
        ReportPreset.objects.exclude(schedule=ScheduleKind.NONE)
        .filter(owner__is_active=True)
        .select_related("owner")
        .order_by("pk")
    )


def due(now: dt.datetime) -> list[tuple[ReportPreset, dt.datetime]]:
    """(preset, slot) of every due slot no run has claimed yet."""
    found = []
    for preset in scheduled_presets():
        slot = due_slot(preset, now)
        if slot is not None:
            found.append((preset, slot))
    if not found:
        return []
    claimed = set(
        ReportRun.objects.filter(
            preset__in=[preset for preset, _slot in found],
            schedule_slot__in=[slot for _preset, slot in found],
        ).values_list("preset_id", "schedule_slot")
    )
    return [(p, slot) for p, slot in found if (p.pk, slot.astimezone(dt.UTC)) not in claimed]


def run_due(
    now: dt.datetime | None = None, *, dry_run: bool = False, admin_site: str = "admin"
) -> list[SlotResult]:
    """Queue the run of every due slot (`dry_run`: only say which); what happened to each.

    `admin_site` names the admin whose changelists evaluate changelist filters.
    """
    now = now or timezone.now()
    site = site_named(admin_site)  # ValidationError when there is none of that name
    results = []
    for preset, slot in due(now):
        if dry_run:
            results.append(SlotResult(preset, slot, SlotAction.DUE))
        else:
            results.append(run_slot(preset, slot, site))
    return results


def run_slot(preset: ReportPreset, slot: dt.datetime, site: Any) -> SlotResult:
    """Claim the slot and queue its run (or record why it cannot run)."""
    try:
        with transaction.atomic(using=ReportRun.objects.db):
            run, reason = _claim(preset, slot, site)
    except IntegrityError:  # the row of this preset and slot exists: taken meanwhile
        return SlotResult(preset, slot, SlotAction.TAKEN)
    run.refresh_from_db()  # a backend that refused the task failed it on commit
    if run.status == RunStatus.FAILED:
        reason = reason or run.error
        logger.warning(
            "The scheduled run %s of preset %s (%s) failed: %s", run.pk, preset.pk, preset, reason
        )
        return SlotResult(preset, slot, SlotAction.FAILED, run, reason)
    logger.info("Queued the scheduled run %s of preset %s (%s).", run.pk, preset.pk, preset)
    return SlotResult(preset, slot, SlotAction.ENQUEUED, run)


def _claim(preset: ReportPreset, slot: dt.datetime, site: Any) -> tuple[ReportRun, str]:
    owner = preset.owner
    resolve = filter_resolver(site, user_request(owner, app_settings.SITE_URL))
    reason = preset_problem(preset, owner, resolve)
    if reason is None:
        try:
            request = preset_request(
                preset,
                resolve_filter=resolve,
                today=slot.astimezone(site_zone()).date(),
                via="schedule",
            )
            run = enqueue_run(
                request,
                user=owner,
                notify=True,
                admin_site=site.name,
                capped=False,  # one run per preset and slot is its own limit
                schedule_slot=slot,
            )
            return run, ""
        except (InvalidParameters, ReportNotFound, ReportPermissionDenied) as exc:
            reason = in_words(exc)
    return _failed_run(preset, slot, reason), reason


def _failed_run(preset: ReportPreset, slot: dt.datetime, reason: str) -> ReportRun:
    """The run log's record of a slot that could not run; its owner is e-mailed."""
    try:
        title = registry.get(preset.report).title
    except ReportNotFound:
        title = ""
    now = timezone.now()
    run = ReportRun.objects.create(
        report=preset.report,
        title=title,
        user=preset.owner,
        preset=preset,
        parameters={"preset": preset.name, "via": "schedule"},
        status=RunStatus.FAILED,
        error=_("The scheduled run could not start: %(reason)s") % {"reason": reason},
        finished_at=now,
        heartbeat_at=now,
        background=True,
        notify=True,
        site_url=app_settings.SITE_URL,
        schedule_slot=slot,
    )
    transaction.on_commit(lambda: notify_end(run), using=ReportRun.objects.db)
    return run


def received_runs(user: Any) -> Q:
    """The runs `user` receives as a recipient: scheduled runs of presets listing them."""
    presets = ReportPreset.objects.filter(recipients=user.pk)
    return Q(schedule_slot__isnull=False, preset__in=presets)


def describe_schedule(preset: ReportPreset) -> str:
    """The schedule in words: "Weekly on Monday at 08:00"; "" when there is none."""
    if not preset.scheduled or preset.schedule_time is None:
        return ""
    at = preset.schedule_time.strftime("%H:%M")
    if preset.schedule == ScheduleKind.WEEKLY and preset.schedule_weekday is not None:
        day = preset.get_schedule_weekday_display()
        return _("Weekly on %(day)s at %(time)s") % {"day": day, "time": at}
    if preset.schedule == ScheduleKind.MONTHLY and preset.schedule_day:
        if preset.schedule_day >= 31:
            return _("Monthly on the last day at %(time)s") % {"time": at}
        return _("Monthly on day %(day)d at %(time)s") % {"day": preset.schedule_day, "time": at}
    return _("Daily at %(time)s") % {"time": at}
