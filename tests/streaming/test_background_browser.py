"""
Background runs in a real browser (Debian's chromium, Playwright) on gunicorn, with a
real `manage.py db_worker` beside it: staff with only the documented permissions queue
a run from the report form, follow it in the run log, and download the stored file;
a worker killed mid-run leaves no run running.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
from decimal import Decimal

import pytest
from django.test import override_settings

from admin_reports import runs
from admin_reports.background import enqueue_run
from admin_reports.models import ReportRun, RunStatus
from admin_reports.registry import registry
from admin_reports.run_request import parse_run_request
from admin_reports.runs import write_run

from ..factories import OrderLineFactory, ProductFactory, UserFactory
from ..test_runs import SLOW_DIRS
from ..waiting import wait_until
from .browser import (
    choose_report,
    csv_rows,
    download,
    expected_daily_sales,
    logged_in,
    screenshot,
    staff_user,
)
from .conftest import db_worker
from .redis_queue import redis_server, rq_workers
from .test_proxies import browser  # noqa: F401  the module's browser fixture

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

JANUARY = (dt.date(2026, 1, 1), dt.date(2026, 1, 31))


@pytest.fixture
def server(gunicorn):
    return gunicorn


@pytest.fixture
def worker(django_db_setup, tmp_path):
    log = tmp_path / "worker.log"
    with db_worker(log) as process:
        yield process, log


@pytest.fixture(params=["db", "rq"])
def site(request, django_db_setup, tmp_path, fresh_server):
    """The admin and a worker of each backend: gunicorn and db_worker, or gunicorn on
    RQ and an rqworker on a real redis-server. Yields (server, worker's log)."""
    if request.param == "db":
        server = request.getfixturevalue("gunicorn")
        with db_worker(tmp_path / "worker.log"):
            yield server, tmp_path / "worker.log"
        return
    (tmp_path / "redis").mkdir()
    with redis_server(tmp_path / "redis") as url:
        server = fresh_server("gunicorn", TASKS_BACKEND="rq", REDIS_URL=url)
        with rq_workers(tmp_path, url, "rq-a") as (rq_worker,):
            yield server, rq_worker.log


@pytest.fixture
def kites():
    kite, ball = ProductFactory(sku="TOY-1", name="Kite"), ProductFactory(sku="TOY-2")
    for day in range(1, 32, 3):
        at = dt.datetime(2026, 1, day, 12, tzinfo=dt.UTC)
        for product in (kite, ball):
            OrderLineFactory(
                order__placed_at=at, order__status="paid", product=product, unit_price=Decimal(2)
            )
    return [kite, ball]


def test_staff_queue_a_run_and_download_its_file_from_the_run_log(
    browser,  # noqa: F811
    site,
    kites,
):
    server, worker_log = site
    staff = staff_user()  # browser@example.com
    with logged_in(browser, server, staff) as page:
        choose_report(page, server.url)
        page.select_option("select[name=quick_range]", "")
        page.fill("#id_start", JANUARY[0].isoformat())
        page.fill("#id_end", JANUARY[1].isoformat())
        page.check("#id_notify")
        page.click("#report-background")
        page.wait_for_selector("ul.messagelist li.success")
        assert "runs in the background" in page.inner_text("ul.messagelist")
        run = ReportRun.objects.get()
        assert page.url.endswith(f"/admin/admin_reports/reportrun/{run.pk}/change/")
        assert (run.user, run.background, run.notify) == (staff, True, True)

        # The run's page follows it live and offers the file once stored.
        page.wait_for_selector("#report-progress[data-status=succeeded]", timeout=60_000)
        page.wait_for_selector("#report-file-link", state="visible")
        assert "runs in the background" in page.inner_text("ul.messagelist"), "kept on reload"
        assert page.locator("#report-cancel").is_hidden()
        assert page.inner_text("#report-rows") == str(ReportRun.objects.get().rows)
        screenshot(page, "run-page-succeeded", full_page=True)
        page.goto(f"{server.url}/admin/admin_reports/reportrun/")
        link = page.locator("a.run-download")
        assert link.count() == 1
        screenshot(page, "run-log-download", full_page=True)
        got = download(page, link.click)
    assert got.failure is None
    assert got.filename == "daily_product_sales_2026-01-01_2026-01-31.csv"
    assert csv_rows(got.data) == expected_daily_sales(kites, *JANUARY)
    streamed = io.BytesIO()
    spec = registry.get("daily_product_sales")
    keys = ",".join(str(kite.pk) for kite in kites)
    data = {"start": JANUARY[0], "end": JANUARY[1], "select": keys, "bom": "1"}
    write_run(parse_run_request(spec, data), streamed)
    assert got.data == streamed.getvalue(), "the stored file is the streamed one, byte for byte"
    # The e-mail (on the console backend) is sent after the run's end is recorded.
    ready = f"It is ready: {len(got.data.splitlines()) - 1} rows."
    assert wait_until(lambda: ready in worker_log.read_text(), 30) is not None, "e-mailed"
    text = worker_log.read_text()
    assert "To: browser@example.com" in text
    assert f"{server.url}/admin/admin_reports/reportrun/file/{run.token}/" in text


def test_a_queued_run_is_cancelled_from_its_page(browser, server, kites):  # noqa: F811
    staff = staff_user()
    with logged_in(browser, server, staff) as page:
        choose_report(page, server.url)
        page.click("#report-background")  # no worker runs: the run stays queued
        page.wait_for_selector("#report-progress[data-status=queued]")
        page.click("#report-cancel")
        page.wait_for_selector("#report-progress[data-status=cancelled]")
        assert page.inner_text("#report-error") == "Cancelled on request before it started."
        assert page.locator("#report-cancel").is_hidden()
    run = ReportRun.objects.get()
    assert (run.status, run.started_at) == (RunStatus.CANCELLED, None)


@override_settings(ADMIN_REPORTS_DIRS=SLOW_DIRS)
def test_a_worker_killed_mid_run_leaves_no_run_running(worker, monkeypatch, slow_lines):
    process, _log = worker
    user = UserFactory(is_superuser=True)
    run = enqueue_run(parse_run_request(registry.get("slow_lines"), {}), user=user)
    working = ReportRun.objects.filter(
        pk=run.pk, status__in=[RunStatus.RUNNING, RunStatus.STREAMING]
    )
    assert wait_until(working.exists, 60) is not None, "the worker took the run"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
    monkeypatch.setattr(runs, "LOST_AFTER", 3.0)
    lost = wait_until(lambda: runs.mark_lost() or not working.exists(), 30)
    assert lost is not None
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("Lost: the server process running the report stopped")
    assert not ReportRun.objects.filter(status__in=runs.UNFINISHED).exists()
