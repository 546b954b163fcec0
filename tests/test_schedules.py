"""Scheduled presets: slots in the site's time zone across DST changes, what is due, one
run per slot (also with two schedulers at once), the owner's permissions, recipients'
e-mails and downloads, and the admin's schedule fields."""

import datetime as dt
import gzip
import io
import logging
import threading
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.test import override_settings
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from admin_reports import schedules
from admin_reports.models import ReportPreset, ReportRun, RunStatus
from admin_reports.schedules import (
    SlotAction,
    describe_schedule,
    due,
    latest_slot,
    next_slot,
    run_due,
)
from admin_reports.stored import report_storage

from . import test_admin_reports as admin_flow
from .factories import ReportPresetFactory, UserFactory, grant
from .test_admin_reports import REPORT_PERMISSIONS, body
from .test_background import work

BERLIN = ZoneInfo("Europe/Berlin")
LONG_AGO = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
transactional = pytest.mark.django_db(transaction=True)
shop, staff = admin_flow.shop, admin_flow.staff  # the admin flow's fixtures


def berlin(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def schedule(kind="daily", time="08:00", weekday=None, day=None) -> ReportPreset:
    return ReportPreset(
        schedule=kind,
        schedule_time=dt.time.fromisoformat(time),
        schedule_weekday=weekday,
        schedule_day=day,
    )


def runner(**fields):
    user = UserFactory(**fields)
    grant(user, *REPORT_PERMISSIONS)
    return user


def scheduled(owner, products, *, since=LONG_AGO, **fields) -> ReportPreset:
    """A preset of daily_product_sales on `products`, daily at 08:00 unless `fields` say."""
    fields = {"schedule": "daily", "schedule_time": dt.time(8), **fields}
    preset = ReportPresetFactory(owner=owner, products=products, **fields)
    ReportPreset.objects.filter(pk=preset.pk).update(schedule_changed_at=since)
    preset.refresh_from_db()
    return preset


def command(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("run_scheduled_reports", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# Slots: the local time of day in the site's time zone (Europe/Berlin), in UTC.


@pytest.mark.parametrize(
    ("preset", "now", "latest", "upcoming"),
    [
        (schedule(), berlin(2026, 4, 15, 12), berlin(2026, 4, 15, 8), berlin(2026, 4, 16, 8)),
        (schedule(), berlin(2026, 4, 15, 8), berlin(2026, 4, 15, 8), berlin(2026, 4, 16, 8)),
        # Weekly on Monday; 15 April 2026 is a Wednesday.
        (
            schedule("weekly", weekday=0),
            berlin(2026, 4, 15, 12),
            berlin(2026, 4, 13, 8),
            berlin(2026, 4, 20, 8),
        ),
        # Monthly on the 31st: the last day of shorter months.
        (
            schedule("monthly", day=31),
            berlin(2026, 3, 15, 12),
            berlin(2026, 2, 28, 8),
            berlin(2026, 3, 31, 8),
        ),
        (
            schedule("monthly", day=31),
            berlin(2026, 4, 1, 12),
            berlin(2026, 3, 31, 8),
            berlin(2026, 4, 30, 8),
        ),
        (
            schedule("monthly", day=30),
            berlin(2028, 2, 10),
            berlin(2028, 1, 30, 8),
            berlin(2028, 2, 29, 8),  # a leap year
        ),
        (
            schedule("monthly", day=15),
            berlin(2026, 4, 15, 7),
            berlin(2026, 3, 15, 8),
            berlin(2026, 4, 15, 8),
        ),
    ],
)
def test_slots_are_the_local_time_on_the_schedules_days(preset, now, latest, upcoming):
    assert latest_slot(preset, now) == latest
    assert next_slot(preset, now) == upcoming
    assert latest_slot(preset, now).tzinfo is dt.UTC


def test_08_00_stays_08_00_local_across_both_changes_of_the_clock():
    preset = schedule()
    assert next_slot(preset, berlin(2026, 3, 28, 9)) == utc(2026, 3, 29, 6)  # CEST: +2
    assert next_slot(preset, berlin(2026, 3, 27, 9)) == utc(2026, 3, 28, 7)  # CET: +1
    assert next_slot(preset, berlin(2026, 10, 24, 9)) == utc(2026, 10, 25, 7)  # CET again


# Berlin, 29 March 2026: at 02:00 CET the clock goes on to 03:00 CEST (01:00 UTC).
@pytest.mark.parametrize("time", ["02:00", "02:30", "02:59", "03:00"])
def test_a_time_the_clock_skips_runs_when_the_clock_goes_on(time):
    preset = schedule(time=time)
    assert next_slot(preset, berlin(2026, 3, 28, 12)) == utc(2026, 3, 29, 1)
    assert latest_slot(preset, utc(2026, 3, 29, 1, 5)) == utc(2026, 3, 29, 1)
    assert latest_slot(preset, utc(2026, 3, 29, 0, 59)).astimezone(BERLIN).day == 28
    assert next_slot(preset, utc(2026, 3, 29, 1)).astimezone(BERLIN).day == 30, "once a day"


# Berlin, 25 October 2026: at 03:00 CEST the clock goes back to 02:00 CET (01:00 UTC), so
# 02:30 happens twice: at 00:30 UTC and at 01:30 UTC.
def test_a_time_the_clock_repeats_runs_once_the_first_time():
    preset = schedule(time="02:30")
    first, second = utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)
    assert next_slot(preset, berlin(2026, 10, 24, 12)) == first
    assert latest_slot(preset, first + dt.timedelta(minutes=5)) == first
    assert latest_slot(preset, second + dt.timedelta(minutes=5)) == first, "the same slot"
    assert next_slot(preset, first) == utc(2026, 10, 26, 1, 30), "next: the next day, CET"


@pytest.mark.parametrize(
    ("preset", "words"),
    [
        (schedule(), "Daily at 08:00"),
        (schedule("weekly", "17:30", weekday=4), "Weekly on Friday at 17:30"),
        (schedule("monthly", day=1), "Monthly on day 1 at 08:00"),
        (schedule("monthly", day=31), "Monthly on the last day at 08:00"),
        (ReportPreset(), ""),
    ],
)
def test_a_schedule_in_words(preset, words):
    assert describe_schedule(preset) == words


# What is due.


@pytest.mark.django_db
def test_due_from_its_time_not_before_the_schedule_was_set(shop):
    owner = runner()
    preset = scheduled(owner, [shop["kite"]], since=berlin(2026, 4, 15, 7))
    assert due(berlin(2026, 4, 15, 7, 59)) == [], "the 14th's slot came before it was set"
    assert due(berlin(2026, 4, 15, 8)) == [(preset, berlin(2026, 4, 15, 8))]
    assert due(berlin(2026, 4, 18, 9)) == [(preset, berlin(2026, 4, 18, 8))], "the latest only"


@pytest.mark.django_db
def test_a_slot_missed_longer_than_the_catch_up_window_is_skipped(shop):
    preset = scheduled(runner(), [shop["kite"]], schedule="weekly", schedule_weekday=0)
    wednesday = berlin(2026, 4, 15, 12)  # Monday's 08:00 is 52 hours ago
    assert due(wednesday) == []
    with override_settings(ADMIN_REPORTS_SCHEDULE_CATCH_UP=72):
        assert due(wednesday) == [(preset, berlin(2026, 4, 13, 8))]
    with override_settings(ADMIN_REPORTS_SCHEDULE_CATCH_UP=None):
        assert due(wednesday) == [(preset, berlin(2026, 4, 13, 8))]


@pytest.mark.django_db
def test_a_departed_owners_presets_do_not_run(shop):
    owner = runner()
    scheduled(owner, [shop["kite"]])
    owner.is_active = False
    owner.save()
    assert due(berlin(2026, 4, 15, 9)) == []


@pytest.mark.django_db
def test_the_schedule_set_time_moves_with_the_schedule_only(time_machine, shop):
    time_machine.move_to(berlin(2026, 4, 1, 12), tick=False)
    preset = ReportPresetFactory(
        products=[shop["kite"]], schedule="daily", schedule_time=dt.time(8)
    )
    assert preset.schedule_changed_at == berlin(2026, 4, 1, 12)
    time_machine.move_to(berlin(2026, 4, 2, 12), tick=False)
    preset.name = "renamed"
    preset.save()
    preset.refresh_from_db()
    assert preset.schedule_changed_at == berlin(2026, 4, 1, 12)
    preset.schedule_time = dt.time(9)
    preset.save()
    preset.refresh_from_db()
    assert preset.schedule_changed_at == berlin(2026, 4, 2, 12)


# Queuing: one run per slot.


@transactional
def test_a_due_slot_is_queued_once_with_its_quick_range_resolved_on_its_day(shop):
    owner = runner()
    preset = scheduled(owner, [shop["kite"]], range_kind="quick", quick_range="last_month")
    (result,) = run_due(berlin(2026, 4, 1, 8, 3))
    assert result.action == SlotAction.ENQUEUED
    run = result.run
    assert (run.status, run.background, run.notify, run.user) == ("queued", True, True, owner)
    assert (run.preset, run.schedule_slot) == (preset, berlin(2026, 4, 1, 8))
    assert (run.parameters["start"], run.parameters["end"]) == ("2026-03-01", "2026-03-31")
    assert run.parameters["via"] == "schedule"
    assert DBTaskResult.objects.filter(id=run.task_id).exists()
    assert run_due(berlin(2026, 4, 1, 8, 8)) == [], "queued already"
    work()
    run.refresh_from_db()
    assert (run.status, run.rows) == (RunStatus.SUCCEEDED, 1), run.error


@transactional
@override_settings(ADMIN_REPORTS_MAX_BACKGROUND_PER_USER=1)
def test_scheduled_runs_are_not_refused_for_the_per_user_cap(shop):
    owner = runner()
    scheduled(owner, [shop["kite"]])
    scheduled(owner, [shop["ball"]])
    results = run_due(berlin(2026, 4, 15, 8, 5))
    assert [result.action for result in results] == [SlotAction.ENQUEUED] * 2
    assert ReportRun.objects.filter(status=RunStatus.QUEUED).count() == 2


@transactional
def test_the_command_says_what_it_queued_and_is_idempotent(shop):
    preset = scheduled(runner(), [shop["kite"]])
    out, err = command("--now", "2026-04-15T08:05")
    run = ReportRun.objects.get()
    assert out == (
        f"Queued run {run.pk}: preset {preset.pk} “{preset}” of {preset.owner}, due"
        " 2026-04-15 08:00 CEST.\n"
    )
    assert "ADMIN_REPORTS_SITE_URL is empty" in err
    out, _err = command("--now", "2026-04-15T08:10")
    assert out == "Nothing is due at 2026-04-15 08:10 CEST.\n"
    assert ReportRun.objects.count() == 1


@transactional
@override_settings(ADMIN_REPORTS_SITE_URL="https://shop.example")
def test_dry_run_queues_nothing(shop):
    preset = scheduled(runner(), [shop["kite"]])
    out, err = command("--dry-run", "--now", "2026-04-15T06:05:00+00:00")
    assert (
        out
        == f"Due: preset {preset.pk} “{preset}” of {preset.owner}, due 2026-04-15 08:00 CEST.\n"
    )
    assert err == ""
    assert not ReportRun.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["--now", "tomorrow"],
            "--now 'tomorrow' is not a date and time such as 2026-04-15T08:00.",
        ),
        (["--admin-site", "nope"], "No admin site is named 'nope'."),
    ],
)
def test_the_command_refuses_bad_options_in_words(args, error):
    with pytest.raises(CommandError, match=error):
        command(*args)


@transactional
def test_the_command_runs_a_skipped_time_once_when_the_clock_goes_on(time_machine, shop):
    time_machine.move_to(berlin(2026, 3, 28, 12), tick=False)
    since = berlin(2026, 3, 28, 12)
    scheduled(runner(), [shop["kite"]], since=since, schedule_time=dt.time(2, 30))
    time_machine.move_to(utc(2026, 3, 29, 0, 55), tick=False)
    assert command()[0] == "Nothing is due at 2026-03-29 01:55 CET.\n"
    time_machine.move_to(utc(2026, 3, 29, 1, 2), tick=False)
    assert "due 2026-03-29 03:00 CEST." in command()[0]
    time_machine.move_to(utc(2026, 3, 29, 1, 7), tick=False)
    assert command()[0] == "Nothing is due at 2026-03-29 03:07 CEST.\n"
    assert ReportRun.objects.get().schedule_slot == utc(2026, 3, 29, 1)


@transactional
def test_the_command_runs_a_repeated_time_once(time_machine, shop):
    time_machine.move_to(berlin(2026, 10, 24, 12), tick=False)
    since = berlin(2026, 10, 24, 12)
    scheduled(runner(), [shop["kite"]], since=since, schedule_time=dt.time(2, 30))
    time_machine.move_to(utc(2026, 10, 25, 0, 35), tick=False)
    assert "due 2026-10-25 02:30 CEST." in command()[0]
    time_machine.move_to(utc(2026, 10, 25, 1, 35), tick=False)  # 02:35 again, CET
    assert command()[0] == "Nothing is due at 2026-10-25 02:35 CET.\n"
    assert ReportRun.objects.get().schedule_slot == utc(2026, 10, 25, 0, 30)


@transactional
def test_two_schedulers_at_once_queue_each_slot_once(shop, monkeypatch):
    presets = [scheduled(runner(), [shop["kite"]]) for _ in range(3)]
    both_saw_it_due = threading.Barrier(2, timeout=60)
    found_due = schedules.due

    def due_then_wait(now):
        slots = found_due(now)
        both_saw_it_due.wait()  # both claim every slot: neither has inserted a row yet
        return slots

    monkeypatch.setattr(schedules, "due", due_then_wait)
    results, errors = [], []

    def scheduler() -> None:
        try:
            results.extend(run_due(berlin(2026, 4, 15, 8, 1)))
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    actions = sorted(result.action for result in results)
    assert actions == [SlotAction.ENQUEUED] * 3 + [SlotAction.TAKEN] * 3
    for preset in presets:
        (run,) = ReportRun.objects.filter(preset=preset)
        assert run.schedule_slot == berlin(2026, 4, 15, 8)
    assert DBTaskResult.objects.count() == 3


# A preset that cannot run: a failed run in the run log, its owner e-mailed.


@transactional
def test_an_owner_without_the_permission_gets_a_failed_run_and_an_e_mail(shop, caplog):
    owner = UserFactory(email="ann@example.com")
    grant(owner, "admin_reports.run_report", "shop.view_product")
    preset = scheduled(owner, [shop["kite"]])
    with caplog.at_level(logging.WARNING, logger="admin_reports.schedules"):
        out, _err = command("--now", "2026-04-15T08:05")
    run = ReportRun.objects.get()
    reason = "You may not run it: it needs the permissions shop.view_order, shop.view_orderline."
    assert out == (
        f"Failed: preset {preset.pk} “{preset}” of {owner}, due 2026-04-15 08:00 CEST:"
        f" {reason} (run {run.pk}).\n"
    )
    assert (run.status, run.user, run.preset) == (RunStatus.FAILED, owner, preset)
    assert run.error == f"The scheduled run could not start: {reason}"
    assert not DBTaskResult.objects.exists()
    assert reason in caplog.text
    (message,) = mail.outbox
    assert (message.to, message.subject) == (
        ["ann@example.com"],
        "Your report “Daily sales by product” failed",
    )
    assert "It failed: The scheduled run could not start: You may not run it" in message.body
    assert command("--now", "2026-04-15T08:10")[0].startswith("Nothing is due"), "once a slot"


@transactional
def test_a_broken_preset_gets_a_failed_run(shop):
    preset = scheduled(runner(), [shop["kite"]])
    ReportPreset.objects.filter(pk=preset.pk).update(report="daily_sales")  # renamed since
    (result,) = run_due(berlin(2026, 4, 15, 8, 5))
    assert result.action == SlotAction.FAILED
    assert result.run.error == (
        "The scheduled run could not start: No valid report is named 'daily_sales'."
        " Did you mean 'daily_product_sales'?"
    )


@transactional
@override_settings(
    TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["other"]}}
)
def test_a_backend_that_refuses_the_task_fails_the_scheduled_run_in_words(shop):
    scheduled(runner(), [shop["kite"]])
    (result,) = run_due(berlin(2026, 4, 15, 8, 5))
    assert result.action == SlotAction.FAILED
    assert result.reason.startswith("The run could not be queued: Queue 'default' is not valid")
    assert ReportRun.objects.get().status == RunStatus.FAILED
    assert run_due(berlin(2026, 4, 15, 8, 10)) == [], "its slot is taken all the same"


# Recipients: the e-mail, and the download through the admin.


@transactional
@override_settings(ADMIN_REPORTS_SITE_URL="https://shop.example")
def test_recipients_get_the_file_and_may_download_it(client, shop):
    owner = runner(email="ann@example.com")
    bob = runner(email="bob@example.com")
    carol = UserFactory(email="carol@example.com")  # runs reports, may not run this one
    grant(carol, "admin_reports.run_report")
    dave = runner(email="dave@example.com")  # not a recipient
    preset = scheduled(owner, [shop["kite"]])
    preset.recipients.set([bob, carol])
    (result,) = run_due(berlin(2026, 4, 15, 8, 5))
    work()
    run = ReportRun.objects.get(pk=result.run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    file_url = reverse("admin:admin_reports_reportrun_file", args=[run.token])
    to_owner, to_bob = sorted(mail.outbox, key=lambda message: message.to)
    assert to_owner.to == ["ann@example.com"]
    assert to_owner.subject == "Your report “Daily sales by product” is ready"
    assert f"https://shop.example/admin/admin_reports/reportrun/{run.pk}/change/" in to_owner.body
    assert to_bob.to == ["bob@example.com"]
    assert to_bob.subject == "The report “Daily sales by product” is ready"
    assert f"https://shop.example{file_url}" in to_bob.body
    assert f"You get it as a recipient of this preset of {owner}." in to_bob.body
    assert "run log" not in to_bob.body, "a recipient does not see the owner's run log"
    due_line = f"Scheduled run of the preset “{preset}”, due April 15, 2026, 8 a.m."
    assert due_line in to_owner.body
    assert due_line in to_bob.body

    client.force_login(bob)
    download = client.get(file_url)
    assert download.status_code == 200
    with report_storage().open(run.file, "rb") as stored:
        assert body(download).encode() == gzip.decompress(stored.read())
    client.force_login(carol)
    assert client.get(file_url).status_code == 403, "recipients still need the permissions"
    client.force_login(dave)
    assert client.get(file_url).status_code == 404, "not a recipient: no such run"
    preset.recipients.remove(bob)
    client.force_login(bob)
    assert client.get(file_url).status_code == 404


@transactional
def test_a_changelist_filter_is_evaluated_for_the_owner_when_the_run_runs(shop):
    scheduled(
        runner(),
        None,
        selection_kind="filter",
        selection_model="shop.Product",
        selection_filter=f"category__id__exact={shop['toys'].pk}",
    )
    (result,) = run_due(berlin(2026, 4, 15, 8, 5))
    assert result.run.parameters["admin_site"] == "admin"
    work()
    run = ReportRun.objects.get()
    assert (run.status, run.rows) == (RunStatus.SUCCEEDED, 2), run.error  # kite and ball


# The admin: the Schedule fieldset, its rules in words, the list's next run.


def preset_form(kite, **fields):
    data = {
        "name": "p",
        "report": "daily_product_sales",
        "range_kind": "quick",
        "quick_range": "last_month",
        "selection_kind": "saved",
        "selection_model": "shop.Product",
        "selection_pks": f'["{kite.pk}"]',
        "selection_filter": "",
        "options": "{}",
        "schedule": "daily",
        "schedule_time": "08:00",
    }
    return {**data, **fields}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"schedule": "weekly"}, "schedule_weekday", "A weekly schedule needs a day of the week."),
        ({"schedule": "monthly"}, "schedule_day", "A monthly schedule needs a day of the month."),
        ({"schedule_time": ""}, "schedule_time", "A schedule needs a time of day."),
        (
            {"selection_kind": "ask"},
            "schedule",
            "A preset that asks for its selection each time cannot run on a schedule: save it"
            " with its objects or with a changelist filter.",
        ),
    ],
)
def test_the_preset_form_checks_the_schedule(client, staff, shop, fields, field, error):
    response = client.post(
        reverse("admin:admin_reports_reportpreset_add"), preset_form(shop["kite"], **fields)
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [error]
    assert not ReportPreset.objects.exists()


@pytest.mark.django_db
def test_recipients_are_active_staff(client, staff, shop):
    outsider = UserFactory(is_staff=False)
    response = client.post(
        reverse("admin:admin_reports_reportpreset_add"),
        preset_form(shop["kite"], recipients=[outsider.pk]),
    )
    assert response.context["adminform"].form.errors["recipients"] == [
        "Only active staff members can receive scheduled reports; the user with the id"
        f" {outsider.pk} is not one."
    ]
    colleague = UserFactory()
    response = client.post(
        reverse("admin:admin_reports_reportpreset_add"),
        preset_form(
            shop["kite"], schedule="weekly", schedule_weekday="0", recipients=[colleague.pk]
        ),
    )
    assert response.status_code == 302
    preset = ReportPreset.objects.get()
    assert list(preset.recipients.all()) == [colleague]
    assert (preset.schedule, preset.schedule_weekday, preset.schedule_day) == ("weekly", 0, None)
    assert preset.schedule_changed_at is not None


@pytest.mark.django_db
def test_the_form_has_a_schedule_fieldset_and_the_list_the_next_run(client, staff, shop):
    page = client.get(reverse("admin:admin_reports_reportpreset_add"))
    (_main, schedule_set) = page.context["adminform"].fieldsets
    assert schedule_set[0] == "Schedule"
    assert schedule_set[1]["fields"] == [
        "schedule",
        "schedule_time",
        "schedule_weekday",
        "schedule_day",
        "recipients",
    ]
    assert "Times are in the site's time zone, Europe/Berlin." in page.content.decode()
    scheduled(staff, [shop["kite"]], schedule="weekly", schedule_weekday=0)
    listing = client.get(reverse("admin:admin_reports_reportpreset_changelist")).content.decode()
    assert '<br><span class="quiet preset-schedule">Weekly on Monday at 08:00, next ' in listing


@pytest.mark.django_db
def test_the_command_refuses_a_future_now_and_stays_quiet_for_cron(time_machine):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    time_machine.move_to(dt.datetime(2026, 4, 15, 8, 0, tzinfo=dt.UTC), tick=False)
    with pytest.raises(CommandError, match="lies in the future"):
        call_command("run_scheduled_reports", "--now", "2026-04-16T08:00", stdout=io.StringIO())
    out = io.StringIO()
    call_command("run_scheduled_reports", "--dry-run", "--now", "2026-04-16T08:00", stdout=out)
    assert out.getvalue().startswith("Nothing is due")
    out = io.StringIO()
    call_command("run_scheduled_reports", "-v", "0", stdout=out)
    assert out.getvalue() == "", "nothing due, nothing said: cron mails only news"
