"""Background runs: enqueued on the tasks framework (the database backend), run by a
worker into a stored file that is exactly the streamed file."""

import datetime as dt
import gzip
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.core import checks, mail
from django.core.management import call_command
from django.db import connection, connections
from django.db.models import F
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from admin_reports import runs
from admin_reports.background import QueueUnavailable, enqueue_run, execute_run
from admin_reports.exceptions import ReportPermissionDenied, TooManyStreams
from admin_reports.models import ReportRun, RunStatus
from admin_reports.registry import registry
from admin_reports.run_request import parse_run_request
from admin_reports.runs import request_cancel, write_run
from admin_reports.stored import report_storage

from .factories import OrderLineFactory, ProductFactory, UserFactory, grant
from .test_runs import SLOW_DIRS
from .waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

EARLY, LATE = "2000-01-01", "2100-01-01"


def runner(**fields):
    """A staff user who may run order_lines."""
    user = UserFactory(**fields)
    grant(user, "admin_reports.run_report", *registry.get("order_lines").permissions)
    return user


def work() -> None:
    """What `manage.py db_worker --batch` does: run every queued task, then return."""
    Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    ).run()


def stored_csv(run: ReportRun) -> bytes:
    with report_storage().open(run.file, "rb") as stored:
        return gzip.decompress(stored.read())


def streamed_csv(data: dict) -> bytes:
    out = io.BytesIO()
    write_run(parse_run_request(registry.get("order_lines"), data), out)
    return out.getvalue()


def test_a_queued_run_is_stored_exactly_as_the_streamed_file():
    products = ProductFactory.create_batch(3)
    OrderLineFactory.create_batch(40, product=products[0])
    OrderLineFactory.create_batch(30, product=products[1])
    OrderLineFactory.create_batch(20, product=products[2])  # not selected
    data = {"start": EARLY, "end": LATE, "select": f"{products[0].pk},{products[1].pk}"}
    user = runner()
    run = enqueue_run(parse_run_request(registry.get("order_lines"), data), user=user)
    assert run.status == RunStatus.QUEUED
    assert run.background
    assert DBTaskResult.objects.filter(id=run.task_id).exists(), "the task is in the queue"
    work()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.rows == 70
    expected = streamed_csv(data)
    assert stored_csv(run) == expected
    assert run.bytes == len(expected)
    assert run.file_size == report_storage().size(run.file)
    assert run.file.endswith("order_lines_2000-01-01_2100-01-01.csv.gz")
    assert run.token.hex in run.file, "file names are not guessable"
    assert run.path == ("copy" if connection.vendor == "postgresql" else "orm")
    assert run.expires_at - run.finished_at == pytest.approx(
        dt.timedelta(days=7), abs=dt.timedelta(seconds=60)
    )


def test_the_permissions_are_checked_again_when_the_run_starts():
    OrderLineFactory.create_batch(3)
    user = runner(email="ann@example.com")
    spec = registry.get("order_lines")
    request = parse_run_request(spec, {"start": EARLY, "end": LATE})
    run = enqueue_run(request, user=user, notify=True, site_url="https://shop.example/")
    user.user_permissions.clear()  # taken away while the run waits in the queue
    work()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "You may not run the report “Order lines”" in run.error
    assert not run.file
    (message,) = mail.outbox
    assert message.to == ["ann@example.com"]
    assert message.subject == "Your report “Order lines” failed"
    assert "You may not run the report" in message.body
    assert f"https://shop.example/admin/admin_reports/reportrun/{run.pk}/change/" in message.body


def test_a_user_who_may_not_run_the_report_cannot_queue_it():
    user = UserFactory()
    request = parse_run_request(registry.get("order_lines"), {"start": EARLY, "end": LATE})
    with pytest.raises(ReportPermissionDenied):
        enqueue_run(request, user=user)
    assert not ReportRun.objects.exists()
    assert not DBTaskResult.objects.exists()


def test_the_ready_e_mail_links_the_file():
    OrderLineFactory.create_batch(2)
    user = runner(email="bob@example.com")
    request = parse_run_request(registry.get("order_lines"), {"start": EARLY, "end": LATE})
    run = enqueue_run(request, user=user, notify=True, site_url="https://shop.example/")
    work()
    run.refresh_from_db()
    (message,) = mail.outbox
    assert message.subject == "Your report “Order lines” is ready"
    assert "It is ready: 2 rows." in message.body
    assert f"https://shop.example/admin/admin_reports/reportrun/file/{run.token}/" in message.body


def test_no_e_mail_unless_asked_for():
    OrderLineFactory.create_batch(2)
    request = parse_run_request(registry.get("order_lines"), {"start": EARLY, "end": LATE})
    enqueue_run(request, user=runner(email="c@example.com"))
    work()
    assert mail.outbox == []


def test_a_queued_run_cancelled_never_starts():
    OrderLineFactory.create_batch(2)
    request = parse_run_request(registry.get("order_lines"), {"start": EARLY, "end": LATE})
    run = enqueue_run(request, user=runner(email="eve@example.com"), notify=True)
    request_cancel(run)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.error == "Cancelled on request before it started."
    (message,) = mail.outbox
    assert message.subject == "Your report “Order lines” was cancelled"
    work()
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.started_at is None
    assert not run.file


@override_settings(ADMIN_REPORTS_DIRS=SLOW_DIRS)
def test_a_running_background_run_is_cancelled_within_2_s():
    OrderLineFactory.create_batch(600)  # 600 rows x 10 ms: 6 s of query
    user = runner()
    grant(user, *registry.get("slow_lines").permissions)
    run = enqueue_run(parse_run_request(registry.get("slow_lines"), {}), user=user)

    def take() -> None:  # a worker's thread: its connection is its own to close
        try:
            execute_run(run.pk)
        finally:
            connections.close_all()

    worker = threading.Thread(target=take)
    worker.start()
    try:
        # The tracker has looked once: past the claim (a cancel at the claim is one
        # "before it started").
        running = ReportRun.objects.filter(
            pk=run.pk,
            status__in=[RunStatus.RUNNING, RunStatus.STREAMING],
            heartbeat_at__gt=F("started_at"),
        )
        assert wait_until(running.exists, 30) is not None
        request_cancel(run)
        asked = timezone.now()
        worker.join(60)
    finally:
        worker.join(60)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.error == "Cancelled on request."
    assert (run.finished_at - asked).total_seconds() < 4.0, "stopped on the tracker's look"
    assert not run.file, "a cancelled run keeps no file"


def test_a_run_taken_twice_runs_once():
    OrderLineFactory.create_batch(2)
    request = parse_run_request(registry.get("order_lines"), {"start": EARLY, "end": LATE})
    run = enqueue_run(request, user=runner())
    assert execute_run(run.pk) == RunStatus.SUCCEEDED
    first = ReportRun.objects.get(pk=run.pk)
    assert execute_run(run.pk) == RunStatus.SUCCEEDED, "a second delivery changes nothing"
    assert ReportRun.objects.get(pk=run.pk).finished_at == first.finished_at


def test_a_deleted_user_fails_the_run():
    request = parse_run_request(registry.get("order_lines"), {"start": EARLY, "end": LATE})
    user = runner()
    run = enqueue_run(request, user=user)
    user.delete()
    work()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error == "The user who asked for this run no longer exists."


@override_settings(ADMIN_REPORTS_MAX_BACKGROUND_PER_USER=2)
def test_a_user_has_at_most_the_cap_waiting():
    request = parse_run_request(registry.get("order_lines"), {"start": EARLY, "end": LATE})
    user = runner()
    enqueue_run(request, user=user)
    enqueue_run(request, user=user)
    with pytest.raises(TooManyStreams, match="already have 2 reports waiting"):
        enqueue_run(request, user=user)
    enqueue_run(request, user=runner())  # another user's runs are theirs


@override_settings(
    TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["other"]}}
)
def test_a_backend_that_refuses_the_task_fails_the_run_in_words():
    request = parse_run_request(registry.get("order_lines"), {"start": EARLY, "end": LATE})
    with pytest.raises(QueueUnavailable, match="could not be queued"):
        enqueue_run(request, user=runner())
    run = ReportRun.objects.get()
    assert run.status == RunStatus.FAILED
    assert "Queue 'default' is not valid for backend" in run.error


def test_a_changelist_filter_is_evaluated_by_the_worker_as_the_user_sees_it():
    from django.contrib import admin

    from admin_reports.selection import changelist_queryset, user_request
    from project.shop.models import Product

    toys, tools = ProductFactory(category__name="Toys"), ProductFactory(category__name="Tools")
    OrderLineFactory.create_batch(3, product=toys)
    OrderLineFactory.create_batch(2, product=tools)
    user = runner()
    grant(user, "shop.view_product")
    query = f"category__id__exact={toys.category_id}"
    modeladmin = admin.site.get_model_admin(Product)
    objects = changelist_queryset(modeladmin, user_request(user), query)
    from admin_reports.run_request import RunSelection

    selection = RunSelection(Product, objects, {"filter": query}, "all 1 product")
    request = parse_run_request(
        registry.get("order_lines"), {"start": EARLY, "end": LATE}, selection=selection
    )
    run = enqueue_run(request, user=user)
    assert run.parameters["admin_site"] == "admin"
    work()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.rows == 3


def test_expired_files_are_deleted_and_the_run_stays(time_machine):
    OrderLineFactory.create_batch(2)
    request = parse_run_request(registry.get("order_lines"), {"start": EARLY, "end": LATE})
    run = enqueue_run(request, user=runner())
    work()
    run.refresh_from_db()
    name = run.file
    assert report_storage().exists(name)
    out = io.StringIO()
    call_command("cleanup_report_files", stdout=out)
    assert "Deleted 0 expired report file(s)." in out.getvalue()
    assert report_storage().exists(name)
    time_machine.move_to(run.expires_at + dt.timedelta(seconds=1))
    assert not ReportRun.objects.get(pk=run.pk).has_file
    out = io.StringIO()
    call_command("cleanup_report_files", "--dry-run", stdout=out)
    assert f"run {run.pk}: {name}" in out.getvalue()
    assert report_storage().exists(name)
    call_command("cleanup_report_files", stdout=io.StringIO())
    assert not report_storage().exists(name)
    assert not (Path(report_storage().location) / name).parent.exists(), "no empty folder left"
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.file == ""
    call_command("cleanup_report_files", stdout=out)  # again: nothing left, no error


def test_a_worker_that_dies_leaves_no_run_running(monkeypatch):
    request = parse_run_request(registry.get("order_lines"), {"start": EARLY, "end": LATE})
    run = enqueue_run(request, user=runner(email="dee@example.com"), notify=True)
    # What a worker killed mid-run leaves: a run that started and then went silent.
    old = timezone.now() - dt.timedelta(seconds=runs.LOST_AFTER + 1)
    ReportRun.objects.filter(pk=run.pk).update(
        status=RunStatus.STREAMING, started_at=old, heartbeat_at=old
    )
    waiting = enqueue_run(request, user=runner())
    ReportRun.objects.filter(pk=waiting.pk).update(created_at=old)
    call_command("cleanup_report_files", stdout=io.StringIO())
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("Lost: the server process running the report stopped")
    assert run.finished_at == old, "it ended at its last sign of life"
    (message,) = mail.outbox
    assert message.subject == "Your report “Order lines” failed"
    assert "It failed: Lost: the server process" in message.body
    call_command("cleanup_report_files", stdout=io.StringIO())
    assert len(mail.outbox) == 1, "one e-mail, whoever records the end again"
    waiting.refresh_from_db()
    assert waiting.status == RunStatus.QUEUED, "a run waiting for a worker is not lost"


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_the_storage_and_the_tasks_backend_are_checked():
    from admin_reports.checks import check_settings

    assert not {"admin_reports.E038", "admin_reports.E039"} & set(ids(check_settings()))
    with override_settings(ADMIN_REPORTS_STORAGE="reports"):
        (error,) = [m for m in check_settings() if m.id == "admin_reports.E038"]
    assert error.msg.startswith("ADMIN_REPORTS_STORAGE is 'reports', which is not a key")
    with override_settings(MEDIA_ROOT=""):
        assert "admin_reports.W002" in ids(check_settings())
    with override_settings(ADMIN_REPORTS_TASK_QUEUE="reports"):
        (error,) = [m for m in check_settings() if m.id == "admin_reports.E039"]
    assert "does not take (its QUEUES: default)" in error.msg
    with override_settings(ADMIN_REPORTS_TASK_BACKEND="elsewhere"):
        (error,) = [m for m in check_settings() if m.id == "admin_reports.E039"]
    assert error.msg.startswith("ADMIN_REPORTS_TASK_BACKEND is 'elsewhere'")


def test_a_backend_that_takes_only_the_reports_queue_takes_the_task():
    """The task is made on the queue of the settings: a backend whose QUEUES leave out
    "default" takes it (a backend checks a task's queue when the task is made)."""
    code = (
        "import django; django.setup();"
        "from admin_reports.tasks import run_report;"
        "print(run_report.queue_name, run_report.backend)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.reports_queue_settings"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["reports", "default"]


def test_backends_without_a_worker_and_unsigned_redirects_are_checked():
    from admin_reports.checks import check_settings

    assert not {"admin_reports.W003", "admin_reports.W004"} & set(ids(check_settings()))
    immediate = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    with override_settings(TASKS=immediate):
        (warning,) = [m for m in check_settings() if m.id == "admin_reports.W003"]
    assert warning.msg == (
        "The backend of background runs (ImmediateBackend) runs them inside the web request:"
        " no worker takes them."
    )
    dummy = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    with override_settings(TASKS=dummy):
        (warning,) = [m for m in check_settings() if m.id == "admin_reports.W003"]
    assert "(DummyBackend) never runs them" in warning.msg
    with override_settings(ADMIN_REPORTS_STORAGE_REDIRECT=True):
        (error,) = [m for m in check_settings() if m.id == "admin_reports.W004"]
    assert "FileSystemStorage, which has no signed, short-lived URLs" in error.msg
    assert error.level == checks.WARNING, "downloads stream instead: nothing stops"
