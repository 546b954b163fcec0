"""
The admin flow in a real browser (Debian's chromium, driven by Playwright) against
gunicorn and uvicorn: filter, select, choose the report, pick "last month", download; save a
preset and run it; start a slow run, watch the progress, cancel it.

Screenshots of the form page and the progress panel go to test-artifacts/.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from admin_reports.dates import resolve_quick_range
from admin_reports.models import ReportPreset, ReportRun, RunStatus

from ..factories import CategoryFactory, OrderLineFactory, ProductFactory
from ..waiting import wait_until
from .browser import (
    BERLIN,
    choose_report,
    csv_rows,
    download,
    expected_daily_sales,
    logged_in,
    screenshot,
    staff_user,
)
from .conftest import active_queries, running
from .test_proxies import browser  # noqa: F401  the module's browser fixture

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff():
    return staff_user()


@pytest.fixture
def shop():
    """Sales last month (in Berlin, as the server sees it), and some outside it."""
    start, end = resolve_quick_range("last_month", dt.datetime.now(BERLIN).date())
    toys, books = (
        CategoryFactory(name="Toys", slug="toys"),
        CategoryFactory(name="Books", slug="books"),
    )
    kite = ProductFactory(sku="TOY-1", name="Kite", category=toys)
    ball = ProductFactory(sku="TOY-2", name="Ball", category=toys)
    atlas = ProductFactory(sku="BOO-1", name="Atlas", category=books)
    moments = [
        dt.datetime.combine(start, dt.time(0, 0, 1), BERLIN),
        dt.datetime.combine(start + dt.timedelta(days=3), dt.time(12), BERLIN),
        dt.datetime.combine(end, dt.time(23, 59, 59), BERLIN),
        dt.datetime.combine(
            end + dt.timedelta(days=1), dt.time(0, 0, 1), BERLIN
        ),  # not last month
        dt.datetime.combine(start - dt.timedelta(days=1), dt.time(23, 59), BERLIN),  # nor this
    ]
    for n, at in enumerate(moments):
        for product in (kite, ball, atlas):
            OrderLineFactory(
                order__placed_at=at,
                order__status="paid" if n % 2 else "shipped",
                product=product,
                quantity=n + 1,
                unit_price=Decimal("1.50"),
            )
    return {"start": start, "end": end, "toys": [kite, ball]}


@pytest.fixture(scope="module", params=["gunicorn", "uvicorn"])
def server(request, django_db_setup, tmp_path_factory):
    """The admin served by gunicorn (WSGI) and by uvicorn (ASGI)."""
    log = tmp_path_factory.mktemp("server") / f"{request.param}.log"
    with running(request.param, log) as server:
        yield server


@pytest.fixture
def page(browser, server, staff):  # noqa: F811
    with logged_in(browser, server, staff) as page:
        yield page


def test_report_from_the_changelist_then_from_a_preset(page, server, shop):
    choose_report(page, server.url, category="Toys")
    assert page.inner_text("#report-selection") == "2 products"
    page.select_option("select[name=quick_range]", "last_month")
    screenshot(page, f"report-form-{server.kind}", full_page=True)
    got = download(page, lambda: page.click("#report-download"))
    expected = expected_daily_sales(shop["toys"], shop["start"], shop["end"])
    assert len(expected) == 7  # header, 2 products x 3 days
    assert csv_rows(got.data) == expected
    page.wait_for_selector("#report-progress[data-status=succeeded]")
    screenshot(page.locator("#report-progress"), f"report-done-{server.kind}")
    assert page.inner_text("#report-rows") == "6"

    page.click("#report-save-preset summary")
    page.fill("#id_preset_name", "Toys last month")
    page.select_option("#id_preset_range_kind", "quick")
    page.select_option("#id_preset_selection_kind", "saved")
    page.click("#report-save")
    page.wait_for_selector("text=Saved the preset")
    preset = ReportPreset.objects.get()
    assert (preset.quick_range, preset.selection_kind) == ("last_month", "saved")

    page.goto(f"{server.url}/admin/admin_reports/reportpreset/")
    got = download(page, lambda: page.click("button.preset-run"))
    assert csv_rows(got.data) == expected
    # The run is recorded as succeeded once its last byte is out: after the browser has it.
    succeeded = ReportRun.objects.filter(preset=preset, status=RunStatus.SUCCEEDED)
    assert wait_until(succeeded.exists, 30) is not None
    assert succeeded.count() == 1


def test_a_slow_run_shows_progress_and_can_be_cancelled(page, server):
    product = ProductFactory(sku="SLOW-1", name="Slow")
    OrderLineFactory.create_batch(3000, product=product)  # 10 ms a row: 30 s of query
    choose_report(page, server.url, "report_slow_lines")
    with page.expect_download(timeout=60_000) as info:
        page.click("#report-download")
        page.wait_for_selector("#report-progress:not([hidden])")
        page.wait_for_function(
            "Number(document.querySelector('#report-rows').textContent.replace(/\\D/g, '')) > 0"
        )
        first = int(page.inner_text("#report-rows").replace(",", ""))
        page.wait_for_function(
            f"Number(document.querySelector('#report-rows').textContent.replace(/\\D/g, '')) > {first}"
        )
        screenshot(page.locator("#report-progress"), f"report-progress-{server.kind}")
        page.click("#report-cancel")
        page.wait_for_selector("#report-progress[data-status=cancelled]")
    assert info.value.failure() is not None, "a cancelled download is a failed download"
    run = ReportRun.objects.get(report="slow_lines")
    assert run.status == RunStatus.CANCELLED
    assert 0 < run.rows < 3000
    if connection.vendor == "postgresql":
        gone = wait_until(lambda: active_queries() == 0, 15)
        assert gone is not None, "the query is gone from the database"
