"""
What the browser tests of the admin share: staff users with the documented
permissions, a logged-in page, the changelist steps up to the report form, a
download, and the daily sales a report should give, computed without it.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from project.shop.models import OrderLine

from ..factories import UserFactory, grant

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
BERLIN = ZoneInfo("Europe/Berlin")
PASSWORD = "a-long-browser-password"
VIEWPORT = {"width": 1280, "height": 900}
# What docs/admin.md says staff need to run daily_product_sales, and nothing more.
PERMISSIONS = [
    "admin_reports.run_report",
    "shop.view_product",
    "shop.view_order",
    "shop.view_orderline",
]
REPORT_ACTION = "report_daily_product_sales"


def staff_user(username: str = "browser", permissions: list[str] = PERMISSIONS):
    user = UserFactory(username=username, password=PASSWORD)
    grant(user, *permissions)
    return user


@contextmanager
def logged_in(browser, server, user, **options):
    """A page of a fresh browser context, logged in to the admin as `user`."""
    context = browser.new_context(accept_downloads=True, viewport=VIEWPORT, **options)
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{server.url}/admin/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#site-name")
        yield page
    finally:
        context.close()


def screenshot(target, name: str, **options) -> Path:
    """A screenshot of a page or a locator in test-artifacts/, named after the database."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}-{connection.vendor}.png"
    target.screenshot(path=path, **options)
    return path


def choose_report(
    page, base: str, action: str = REPORT_ACTION, category: str | None = None
) -> None:
    """Select every product on the changelist's page and open the report's form page."""
    page.goto(f"{base}/admin/shop/product/")
    if category:
        page.click(f"#changelist-filter a:text-is('{category}')")
        page.wait_for_url("**category__id__exact=*")
    page.wait_for_selector("input.action-select")
    for box in page.locator("input.action-select").all():
        box.check()
    go_to_form(page, action)


def go_to_form(page, action: str = REPORT_ACTION) -> None:
    """Choose the report in the action dropdown of a changelist with a selection, and Go."""
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    try:
        page.wait_for_selector("#report-form", timeout=30_000)
    except PlaywrightTimeoutError:
        screenshot(page, "no-report-form", full_page=True)
        pytest.fail(f"no report form at {page.url}: {page.inner_text('#content')[:500]}")
    page.wait_for_load_state("load")  # the admin's calendar widgets are set up on load


@dataclass
class Download:
    data: bytes | None
    failure: str | None
    filename: str


def download(page, trigger) -> Download:
    """Run `trigger` and wait for the download it starts to end."""
    with page.expect_download(timeout=60_000) as info:
        trigger()
    item = info.value
    failure = item.failure()
    data = None if failure is not None else Path(item.path()).read_bytes()
    return Download(data, failure, item.suggested_filename)


def csv_rows(data: bytes | None) -> list[list[str]]:
    assert data is not None, "the download failed"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def expected_daily_sales(products, start, end) -> list[list[str]]:
    """daily_product_sales computed in Python from the order lines."""
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


def within_viewport(locator) -> bool:
    """The element is shown whole in the viewport: not past its edges, not cut off by a
    box that scrolls, not under another element."""
    return locator.evaluate(SHOWN_WHOLE)


SHOWN_WHOLE = """(element) => {
  const box = element.getBoundingClientRect();
  const inside = (x, y) => {
    if (x < 0 || y < 0 || x >= window.innerWidth || y >= window.innerHeight) return false;
    const hit = document.elementFromPoint(x, y);
    return hit !== null && (element === hit || element.contains(hit));
  };
  // Near the corners, not on them: rounded corners are not the element's.
  const xs = [box.left + box.width * 0.15, box.right - box.width * 0.15];
  const ys = [box.top + box.height * 0.15, box.bottom - box.height * 0.15];
  return xs.every((x) => ys.every((y) => inside(x, y)))
    && box.left >= 0 && box.top >= 0
    && box.right <= window.innerWidth && box.bottom <= window.innerHeight;
}"""


def scrolls_sideways(page, selector: str = "html") -> bool:
    """The element (the page, by default) is wider than its box: it needs a sideways scroll."""
    return page.locator(selector).evaluate("(e) => e.scrollWidth > e.clientWidth")
