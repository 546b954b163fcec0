"""
Background runs on RQ (django-tasks-rq): a real redis-server and real `manage.py rqworker`
processes on the test database, set up as docs/background.md says. Two workers share
the queued runs; a worker killed mid-run loses its run (and only it); a cancel stops a
run that a worker is running.
"""

from __future__ import annotations

import gzip
import io
import os
import signal
import time

import pytest
from django.db.models import F
from django.test import override_settings
from django.utils import timezone
from django_tasks import task_backends

from admin_reports import runs
from admin_reports.background import enqueue_run
from admin_reports.models import ReportRun, RunStatus
from admin_reports.registry import registry
from admin_reports.run_request import parse_run_request
from admin_reports.runs import request_cancel, write_run
from admin_reports.stored import report_storage
from project.shop.models import OrderLine

from ..factories import OrderFactory, OrderLineFactory, ProductFactory, UserFactory
from ..rq_settings import QUEUE, rq_settings
from ..test_runs import SLOW_DIRS
from ..waiting import wait_until
from .redis_queue import idle_workers, kill_worker, redis_server, rq_workers

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

# The slow_lines report takes 10 ms a row.
SHORT = 60  # rows of a short run: 0.6 s
LONG = 1500  # 15 s: a run that is still running when a test acts on it
SHARED_FIRST = 600  # 6 s: long enough that the other worker takes the next runs


@pytest.fixture
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def on_rq(redis_url):
    """This process enqueues onto RQ (the workers' settings) and knows slow_lines."""
    with override_settings(**rq_settings(redis_url), ADMIN_REPORTS_DIRS=SLOW_DIRS):
        yield


@pytest.fixture
def workers(django_db_setup, on_rq, redis_url, tmp_path):
    with rq_workers(tmp_path, redis_url, "rq-a", "rq-b") as started:
        yield started


def lines_of(*counts: int) -> list:
    """A product for each count, with that many order lines."""
    order, products = OrderFactory(), ProductFactory.create_batch(len(counts))
    OrderLine.objects.bulk_create(
        OrderLineFactory.build(order=order, product=product)
        for product, count in zip(products, counts, strict=True)
        for _ in range(count)
    )
    return products


def queue(user, product) -> ReportRun:
    request = parse_run_request(registry.get("slow_lines"), {"select": str(product.pk)})
    return enqueue_run(request, user=user)


def stored_csv(run: ReportRun) -> bytes:
    with report_storage().open(run.file, "rb") as stored:
        return gzip.decompress(stored.read())


def streamed_csv(product) -> bytes:
    out = io.BytesIO()
    write_run(parse_run_request(registry.get("slow_lines"), {"select": str(product.pk)}), out)
    return out.getvalue()


def taken_by(run: ReportRun) -> list[str]:
    """The names of the RQ workers that took the run's task (RQ's own record of it).

    Deduplicated: while RQ moves a finished job from "started" to "finished", its
    result lists the worker once for the saved result and once as the job's worker.
    """
    return list(dict.fromkeys(task_backends["default"].get_result(run.task_id).worker_ids))


def unfinished(*queued: ReportRun):
    return ReportRun.objects.filter(pk__in=[run.pk for run in queued], status__in=runs.UNFINISHED)


def test_two_workers_share_the_queued_runs(workers):
    # The first run holds the worker that takes it for 6 s: the other worker takes the
    # short ones meanwhile, however late a busy machine lets it look at the queue.
    products = lines_of(SHARED_FIRST, *(SHORT + 10 * n for n in range(5)))
    user = UserFactory(is_superuser=True)
    queued = [queue(user, product) for product in products]
    assert all(run.status == RunStatus.QUEUED for run in queued)
    expected = [streamed_csv(product) for product in products]  # while the workers run
    assert wait_until(lambda: not unfinished(*queued).exists(), 120) is not None
    names = set()
    for run, csv in zip(queued, expected, strict=True):
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert stored_csv(run) == csv
        (name,) = taken_by(run)  # taken once
        names.add(name)
    assert names == {"rq-a", "rq-b"}, "each worker took some of the runs"


def test_a_worker_killed_mid_run_loses_its_run_and_the_other_finishes(workers, monkeypatch):
    long, *short = lines_of(LONG, SHORT, SHORT, SHORT)
    user = UserFactory(is_superuser=True)
    lost, *others = [queue(user, product) for product in (long, *short)]
    working = ReportRun.objects.filter(
        pk=lost.pk, status__in=[RunStatus.RUNNING, RunStatus.STREAMING]
    )
    assert wait_until(working.exists, 60) is not None, "a worker took the long run"
    (name,) = taken_by(lost)
    killed, survivor = sorted(workers, key=lambda worker: worker.name != name)
    kill_worker(killed)

    # Lost after 3 s of silence, for the killed worker's run only: the other worker's
    # runs keep the real 30 s (a busy machine can hold a work horse up for seconds).
    monkeypatch.setattr(runs, "LOST_AFTER", 3.0)
    its_run = ReportRun.objects.filter(pk=lost.pk)
    assert wait_until(lambda: runs.mark_lost(its_run) or not working.exists(), 60) is not None
    lost.refresh_from_db()
    assert lost.status == RunStatus.FAILED
    assert lost.error.startswith("Lost: the server process running the report stopped")
    assert not lost.file
    assert wait_until(lambda: not unfinished(*others).exists(), 120) is not None
    for run in others:
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert taken_by(run) == [survivor.name]
    assert not ReportRun.objects.filter(status__in=runs.UNFINISHED).exists()
    assert survivor.process.poll() is None, "the other worker lives on"


def test_a_running_run_is_cancelled_within_2_s(workers, redis_url):
    (product,) = lines_of(LONG)
    run = queue(UserFactory(is_superuser=True), product)
    # The tracker has looked once: past the claim (a cancel at the claim is one
    # "before it started").
    running = ReportRun.objects.filter(
        pk=run.pk,
        status__in=[RunStatus.RUNNING, RunStatus.STREAMING],
        heartbeat_at__gt=F("started_at"),
    )
    assert wait_until(running.exists, 60) is not None
    request_cancel(run)
    asked, asked_at = timezone.now(), time.monotonic()
    cancelled = ReportRun.objects.filter(pk=run.pk, status=RunStatus.CANCELLED)
    assert wait_until(cancelled.exists, 30, since=asked_at) is not None
    run.refresh_from_db()
    assert run.error == "Cancelled on request."
    assert (run.finished_at - asked).total_seconds() < 4.0, "stopped on the tracker's look"
    assert not run.file, "a cancelled run keeps no file"
    (name,) = taken_by(run)
    assert wait_until(lambda: name in idle_workers(redis_url), 30) is not None, (
        "its worker waits for the next run"
    )


def test_a_worker_stopped_with_sigterm_finishes_its_run_first(workers):
    (product,) = lines_of(4 * SHORT)
    run = queue(UserFactory(is_superuser=True), product)
    working = ReportRun.objects.filter(
        pk=run.pk, status__in=[RunStatus.RUNNING, RunStatus.STREAMING]
    )
    assert wait_until(working.exists, 60) is not None
    for worker in workers:  # the rqworker processes, not their work horse: a deploy
        os.kill(worker.process.pid, signal.SIGTERM)
    assert wait_until(lambda: all(w.process.poll() is not None for w in workers), 60) is not None
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.rows == 4 * SHORT


def test_a_run_stopped_by_rqs_job_timeout_fails_with_the_reason(workers, redis_url):
    (product,) = lines_of(LONG)
    short_timeout = rq_settings(redis_url)["RQ_QUEUES"]
    short_timeout[QUEUE]["DEFAULT_TIMEOUT"] = 3  # RQ's default is 180 s
    user = UserFactory(is_superuser=True, email="timed@example.com")
    request = parse_run_request(registry.get("slow_lines"), {"select": str(product.pk)})
    with override_settings(RQ_QUEUES=short_timeout):  # the enqueuer sets a job's timeout
        run = enqueue_run(request, user=user, notify=True)
    assert wait_until(lambda: not unfinished(run).exists(), 60) is not None
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("The run was stopped by JobTimeoutException:"), run.error
    assert "timeout" in run.error.lower()

    def e_mailed() -> bool:  # the console e-mail backend, in the worker's log
        return any("It failed: The run was stopped by" in w.log.read_text() for w in workers)

    assert wait_until(e_mailed, 30) is not None, "the failure is e-mailed, as asked"


def test_runs_queued_from_a_preset_and_the_command_line_run_on_rq(workers, client):
    from django.core.management import call_command
    from django.urls import reverse

    from ..factories import ReportPresetFactory

    (product,) = lines_of(SHORT)
    user = UserFactory(username="ann", is_superuser=True)
    client.force_login(user)
    preset = ReportPresetFactory(
        owner=user,
        report="slow_lines",
        range_kind="none",
        selection_kind="saved",
        selection_model="shop.Product",
        selection_pks=[str(product.pk)],
    )
    url = reverse("admin:admin_reports_reportpreset_background", args=[preset.pk])
    assert client.post(url).status_code == 302
    out = io.StringIO()
    call_command(
        "run_report", "slow_lines", f"--select={product.pk}", "--background", "--user=ann",
        stdout=out,
    )  # fmt: skip
    queued = list(ReportRun.objects.order_by("pk"))
    assert [run.parameters["via"] for run in queued] == ["preset", "cli"]
    assert wait_until(lambda: not unfinished(*queued).exists(), 120) is not None
    with_bom = streamed_csv(product)  # ADMIN_REPORTS_BOM; a preset's own option: none
    expected_files = [with_bom.removeprefix(b"\xef\xbb\xbf"), with_bom]
    for run, expected in zip(queued, expected_files, strict=True):
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert stored_csv(run) == expected
        assert taken_by(run)[0] in {"rq-a", "rq-b"}


def test_a_run_cancelled_while_queued_on_rq_never_starts(on_rq, redis_url, tmp_path):
    (product,) = lines_of(SHORT)
    run = queue(UserFactory(is_superuser=True), product)  # no worker yet: it waits in Redis
    request_cancel(run)
    with rq_workers(tmp_path, redis_url, "rq-late"):
        result = task_backends["default"].get_result(run.task_id)
        assert wait_until(lambda: (result.refresh(), result.is_finished)[1], 60) is not None
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.started_at is None, "the worker took the task and left the run alone"
    assert not run.file


def test_rq_checks_the_permissions_again_when_it_takes_the_run(on_rq, redis_url, tmp_path):
    from admin_reports.permissions import RUN_PERMISSION

    from ..factories import grant

    (product,) = lines_of(SHORT)
    user = UserFactory()
    grant(user, RUN_PERMISSION, *registry.get("slow_lines").permissions)
    run = queue(user, product)  # no worker yet: it waits in Redis
    user.user_permissions.clear()  # taken away while the run waits
    with rq_workers(tmp_path, redis_url, "rq-late"):
        assert wait_until(lambda: not unfinished(run).exists(), 60) is not None
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "You may not run the report" in run.error
    assert not run.file
