"""
The admin flow in a real browser (Debian's chromium, driven by Playwright) against
gunicorn and uvicorn: filter, select, choose the report, pick "last month", download; save a
preset and run it; start a slow run, watch the progress, cancel it.

Screenshots of the form page and the progress panel go to test-artifacts/.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import connection
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from admin_reports.dates import resolve_quick_range
from admin_reports.models import ReportPreset, ReportRun, RunStatus
from project.shop.models import OrderLine

from ..factories import CategoryFactory, OrderLineFactory, ProductFactory, UserFactory
from .conftest import active_queries, running
from .test_proxies import browser  # noqa: F401  the module's browser fixture

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
BERLIN = ZoneInfo("Europe/Berlin")
PASSWORD = "a-long-browser-password"
PERMISSIONS = [
    "admin_reports.run_report",
    "admin_reports.view_reportrun",
    "admin_reports.view_reportpreset",
    "admin_reports.add_reportpreset",
    "admin_reports.change_reportpreset",
    "shop.view_product",
    "shop.view_order",
    "shop.view_orderline",
]


@pytest.fixture
def staff():
    user = UserFactory(username="browser", password=PASSWORD)
    for name in PERMISSIONS:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


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


def expected_daily_sales(products, start, end) -> list[list[str]]:
    groups = defaultdict(lambda: [0, Decimal(0), set()])
    for line in OrderLine.objects.select_related("order", "product").filter(product__in=products):
        day = line.order.placed_at.astimezone(BERLIN).date()
        if start <= day <= end and line.order.status in ("paid", "shipped"):
            group = groups[(line.product.sku, line.product.name, day)]
            group[0] += line.quantity
            group[1] += line.quantity * line.unit_price
            group[2].add(line.order_id)
    rows = [["SKU", "Product", "Day", "Units", "Revenue", "Orders"]]
    for (sku, name, day), (units, revenue, orders) in sorted(groups.items()):
        rows.append([sku, name, day.isoformat(), str(units), f"{revenue:.2f}", str(len(orders))])
    return rows


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


@pytest.fixture(scope="module", params=["gunicorn", "uvicorn"])
def server(request, django_db_setup, tmp_path_factory):
    """The admin served by gunicorn (WSGI) and by uvicorn (ASGI)."""
    log = tmp_path_factory.mktemp("server") / f"{request.param}.log"
    with running(request.param, log) as server:
        yield server


@pytest.fixture
def page(browser, server, staff):  # noqa: F811
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{server.url}/admin/login/")
    page.fill("#id_username", staff.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    yield page
    context.close()


def choose_report(page, base: str, action: str, category: str | None = None) -> None:
    page.goto(f"{base}/admin/shop/product/")
    if category:
        page.click(f"#changelist-filter a:text-is('{category}')")
        page.wait_for_url("**category__id__exact=*")
    page.wait_for_selector("input.action-select")
    for box in page.locator("input.action-select").all():
        box.check()
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    try:
        page.wait_for_selector("#report-form", timeout=15_000)
    except PlaywrightTimeoutError:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "no-report-form.png", full_page=True)
        pytest.fail(f"no report form at {page.url}: {page.inner_text('#content')[:500]}")


def download(page, trigger) -> tuple[bytes | None, str | None]:
    with page.expect_download(timeout=60_000) as info:
        trigger()
    item = info.value
    failure = item.failure()
    if failure is not None:
        return None, failure
    return Path(item.path()).read_bytes(), None


def test_report_from_the_changelist_then_from_a_preset(page, server, shop):
    ARTIFACTS.mkdir(exist_ok=True)
    choose_report(page, server.url, "report_daily_product_sales", category="Toys")
    assert page.inner_text("#report-selection") == "2 products"
    page.select_option("select[name=quick_range]", "last_month")
    page.screenshot(
        path=ARTIFACTS / f"report-form-{server.kind}-{connection.vendor}.png", full_page=True
    )
    data, failure = download(page, lambda: page.click("#report-download"))
    assert failure is None
    expected = expected_daily_sales(shop["toys"], shop["start"], shop["end"])
    assert len(expected) == 7  # header, 2 products x 3 days
    assert csv_rows(data) == expected
    page.wait_for_selector("#report-progress[data-status=succeeded]")
    page.locator("#report-progress").screenshot(
        path=ARTIFACTS / f"report-done-{server.kind}-{connection.vendor}.png"
    )
    assert page.inner_text("#report-rows") == "6"

    page.fill("#id_preset_name", "Toys last month")
    page.select_option("#id_preset_range_kind", "quick")
    page.select_option("#id_preset_selection_kind", "saved")
    page.click("#report-save")
    page.wait_for_selector("text=Saved the preset")
    preset = ReportPreset.objects.get()
    assert (preset.quick_range, preset.selection_kind) == ("last_month", "saved")

    page.goto(f"{server.url}/admin/admin_reports/reportpreset/")
    data, failure = download(page, lambda: page.click("button.preset-run"))
    assert failure is None
    assert csv_rows(data) == expected
    assert ReportRun.objects.filter(preset=preset, status=RunStatus.SUCCEEDED).count() == 1


def test_a_slow_run_shows_progress_and_can_be_cancelled(page, server):
    ARTIFACTS.mkdir(exist_ok=True)
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
        page.locator("#report-progress").screenshot(
            path=ARTIFACTS / f"report-progress-{server.kind}-{connection.vendor}.png"
        )
        page.click("#report-cancel")
        page.wait_for_selector("#report-progress[data-status=cancelled]")
    assert info.value.failure() is not None, "a cancelled download is a failed download"
    run = ReportRun.objects.get(report="slow_lines")
    assert run.status == RunStatus.CANCELLED
    assert 0 < run.rows < 3000
    if connection.vendor == "postgresql":
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and active_queries():
            time.sleep(0.1)
        assert active_queries() == 0, "the query is gone from the database"
