"""The report form's Preview in a real browser (Debian's chromium, Playwright) on gunicorn,
as a staff user with the permissions docs/admin.md lists for order_lines: the table
equals the first 100 data rows of the download, the estimate and the dates show, and a
slow preview can be cancelled. Screenshots go to test-artifacts/."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection

from admin_reports.models import ReportRun
from admin_reports.registry import registry
from project.shop.models import OrderLine

from ..factories import OrderFactory, OrderLineFactory, ProductFactory, ReportPresetFactory
from ..waiting import wait_until
from .browser import (
    BERLIN,
    choose_report,
    csv_rows,
    download,
    logged_in,
    screenshot,
    staff_user,
)
from .test_proxies import browser  # noqa: F401  the module's browser fixture

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

# What docs/admin.md says staff need to run order_lines.
LINES_PERMISSIONS = ["admin_reports.run_report", *registry.get("order_lines").permissions]


@pytest.fixture(scope="module")
def server(gunicorn):
    return gunicorn


@pytest.fixture
def page(browser, server):  # noqa: F811
    user = staff_user("previewer", LINES_PERMISSIONS)
    with logged_in(browser, server, user) as page:
        yield page


@pytest.fixture
def lines():
    """130 order lines of one product in January 2026."""
    kite = ProductFactory(sku="TOY-1", name="Kite")
    for n in range(130):
        OrderLineFactory(
            order__placed_at=dt.datetime(2026, 1, 1 + n % 31, 12, n % 60, tzinfo=BERLIN),
            order__status="paid",
            product=kite,
            quantity=n + 1,
            unit_price=Decimal("1.25"),
        )
    return kite


def table(page) -> list[list[str]]:
    header = page.locator("#report-preview-table thead th").all_text_contents()
    rows = [
        row.locator("td").all_text_contents()
        for row in page.locator("#report-preview-table tbody tr").all()
    ]
    return [header, *rows]


def test_the_preview_is_the_first_100_rows_of_the_download(page, server, lines):
    choose_report(page, server.url, action="report_order_lines")
    page.select_option("select[name=quick_range]", "")
    page.fill("#id_start", "2026-01-01")
    page.fill("#id_end", "2026-01-31")
    page.click("#report-preview-button")
    page.wait_for_selector("#report-preview:not([hidden]) #report-preview-table")
    assert page.inner_text("#report-preview-range") == "1 Jan 2026 - 31 Jan 2026, Europe/Berlin"
    assert page.inner_text("#report-preview-estimate").startswith(("130 rows", "about "))
    assert page.inner_text("#report-preview-shown").startswith("the first 100 rows")
    shown = table(page)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "report-form-preview")

    got = download(page, lambda: page.click("#report-download"))
    rows = csv_rows(got.data)
    assert len(rows) == 131
    assert shown == rows[:101], "the header and the first 100 data rows of the file"
    assert ReportRun.objects.count() == 1, "the download is a run; the preview was not"


def test_a_slow_preview_can_be_cancelled(page, server):
    kite = ProductFactory(sku="TOY-9", name="Slow kite")
    # slow_start sums every line before its first row: 10 ms a line, 15 s.
    OrderLineFactory.create_batch(1500, product=kite)
    choose_report(page, server.url, action="report_slow_start")
    page.click("#report-preview-button")
    page.wait_for_selector("#report-preview-waiting:not([hidden])")
    page.click("#report-preview-cancel")
    page.wait_for_selector("#report-preview-waiting:has-text('The preview was cancelled.')")
    assert page.locator("#report-preview").is_hidden()
    gone = "Preview of slow_start cancelled: the client went away."
    assert wait_until(lambda: gone in server.log.read_text(), 30), "the query was stopped"
    assert ReportRun.objects.count() == 0


def test_the_progress_panel_shows_the_share_of_the_estimate(page, server):
    kite = ProductFactory(sku="TOY-8", name="Slow kite")
    # slow_lines: 10 ms a row, 30 s: still running when a busy machine gets to the cancel.
    order = OrderFactory()
    OrderLine.objects.bulk_create(
        OrderLineFactory.build(order=order, product=kite) for _ in range(3000)
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # statistics for the planner's estimate
            cursor.execute("ANALYZE shop_orderline, shop_order, shop_product")
    choose_report(page, server.url, action="report_slow_lines")
    page.click("#report-download")
    share = page.locator("#report-share")
    share.wait_for(state="visible", timeout=30_000)
    assert re.fullmatch(r"\d{1,2}% of about [\d,]+ rows(, about .+ left)?", share.inner_text())
    screenshot(page.locator("#report-progress"), "report-progress-share")
    page.click("#report-cancel")
    page.wait_for_selector("#report-progress[data-status=cancelled]")
    assert share.is_hidden(), "no share once the run has ended"


def test_the_preview_draws_the_reports_chart(page, server):
    kite, ball = ProductFactory(sku="TOY-1", name="Kite"), ProductFactory(sku="TOY-2", name="Ball")
    for day in (3, 4, 5):
        for product, quantity in ((kite, day), (ball, 9 - day)):  # one rises, one falls
            OrderLineFactory(
                order__placed_at=dt.datetime(2026, 1, day, 12, tzinfo=BERLIN),
                order__status="paid",
                product=product,
                quantity=quantity,
                unit_price=Decimal("2.00"),
            )
    choose_report(page, server.url)  # daily_product_sales: revenue per day, a line per SKU
    page.select_option("select[name=quick_range]", "")
    page.fill("#id_start", "2026-01-01")
    page.fill("#id_end", "2026-01-31")
    page.click("#report-preview-button")
    chart = page.locator("#report-preview svg.admin-reports-chart")
    chart.wait_for(state="visible")
    box = chart.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 150
    series = chart.locator("g.series")
    assert sorted(series.evaluate_all("(gs) => gs.map((g) => g.dataset.series)")) == [
        "TOY-1",
        "TOY-2",
    ]
    assert chart.locator("g.series path").count() == 2, "one line per product"
    assert "Revenue by Day" in chart.locator("title").first.text_content()
    assert "6 rows" in page.inner_text("#report-preview figcaption")
    screenshot(page.locator("#report-preview"), "report-preview-chart")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "report-form-daily-sales", full_page=True)


def test_a_picked_preset_shows_what_it_runs_with_in_place_of_the_fields(page, server, lines):
    ReportPresetFactory(
        owner=User.objects.get(username="previewer"),
        name="Kites of 2026 as a workbook",
        report="order_lines",
        range_kind="fixed",
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 1, 31),
        selection_kind="ask",
        options={"bom": False, "format": "xlsx"},
    )
    choose_report(page, server.url, action="report_order_lines")
    page.select_option("select[name=preset]", label="Kites of 2026 as a workbook")
    note = page.locator("#report-preset-runs")
    assert "the fixed dates 2026-01-01 to 2026-01-31" in note.inner_text()
    assert "as Excel workbook (XLSX)" in note.inner_text()
    for field in ("#id_start", "#id_end", "select[name=quick_range]", "input[value=csv]"):
        assert page.locator(field).is_disabled(), field
    got = download(page, lambda: page.click("#report-download"))
    assert got.filename == "order_lines_2026-01-01_2026-01-31.xlsx"
    page.select_option("select[name=preset]", "")
    assert note.is_hidden()
    assert page.locator("#id_start").is_enabled()
