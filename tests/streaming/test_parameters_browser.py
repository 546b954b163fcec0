"""
Run-time parameters on the report form in a real browser (Debian's chromium, Playwright)
on gunicorn, as staff with the documented permissions: order statuses and a region
picked on order_lines narrow the download to the rows an ORM count of its own gives,
and a preset saved from the form keeps them.

Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from admin_reports.dates import resolve_quick_range
from admin_reports.models import ReportPreset, ReportRun
from project.shop.models import OrderLine

from ..factories import CustomerFactory, OrderLineFactory, ProductFactory, RegionFactory
from .browser import BERLIN, choose_report, csv_rows, download, logged_in, screenshot, staff_user
from .test_proxies import browser  # noqa: F401  the module's browser fixture

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

# What docs/admin.md says staff need to run order_lines, and nothing more.
PERMISSIONS = [
    "admin_reports.run_report",
    "shop.view_product",
    "shop.view_order",
    "shop.view_orderline",
    "shop.view_customer",
    "shop.view_region",
]
STATUSES = ["pending", "paid", "shipped", "refunded", "cancelled"]


@pytest.fixture(scope="module")
def server(gunicorn):
    return gunicorn


@pytest.fixture
def page(browser, server):  # noqa: F811
    with logged_in(browser, server, staff_user(permissions=PERMISSIONS)) as page:
        yield page


@pytest.fixture
def shop():
    """Lines of every status in two regions over the last week, and one before it."""
    north, south = RegionFactory(code="N", name="North"), RegionFactory(code="S", name="South")
    customers = [CustomerFactory(region=north), CustomerFactory(region=south)]
    products = [ProductFactory(sku=f"TOY-{n}") for n in range(3)]
    start, _end = last_week()
    for n in range(40):
        day = start + dt.timedelta(days=n % 7) if n % 10 else start - dt.timedelta(days=1)
        OrderLineFactory(
            order__customer=customers[n % 2],
            order__status=STATUSES[n % 5],
            order__placed_at=dt.datetime.combine(day, dt.time(12), BERLIN),
            product=products[n % 3],
            quantity=1 + n % 4,
            unit_price=Decimal("2.50"),
        )
    return north, south


def last_week() -> tuple[dt.date, dt.date]:
    return resolve_quick_range("last_7_days", dt.datetime.now(BERLIN).date())


def expected_rows(statuses: list[str], region) -> int:
    """order_lines' rows in the last 7 days for these statuses and region, by the ORM."""
    start, end = last_week()
    since = dt.datetime.combine(start, dt.time(), BERLIN)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), BERLIN)
    return OrderLine.objects.filter(
        order__placed_at__gte=since,
        order__placed_at__lt=until,
        order__status__in=statuses,
        order__customer__region=region,
    ).count()


def test_picked_statuses_and_region_narrow_the_download_and_a_preset_keeps_them(
    page, server, shop
):
    north, _south = shop
    choose_report(page, server.url, action="report_order_lines")
    fieldset = page.locator("#report-parameters")
    assert fieldset.locator("h2").inner_text() == "Narrow the rows"
    page.get_by_label("Paid").check()
    page.get_by_label("Shipped").check()
    page.select_option("#id_param_region", label="North")
    screenshot(fieldset, "report-form-parameters")

    got = download(page, lambda: page.click("#report-download"))
    rows = csv_rows(got.data)
    header, body = rows[0], rows[1:]
    expected = expected_rows(["paid", "shipped"], north)
    assert 0 < expected < OrderLine.objects.count()
    assert len(body) == expected
    status, region = header.index("Status"), header.index("Region")
    assert {(row[status], row[region]) for row in body} <= {
        ("paid", "North"),
        ("shipped", "North"),
    }
    page.wait_for_selector("#report-progress[data-status=succeeded]")
    run = ReportRun.objects.get()
    assert run.parameters["arguments"] == {"status": ["paid", "shipped"], "region": str(north.pk)}

    page.click("#report-save-preset summary")
    page.fill("#id_preset_name", "North, paid or shipped")
    with page.expect_navigation():
        page.press("#id_preset_name", "Enter")
    page.wait_for_selector("text=Saved the preset")
    preset = ReportPreset.objects.get()
    assert preset.options["arguments"] == {"status": ["paid", "shipped"], "region": str(north.pk)}
    # The page comes back with the choices it had, and the preset picked.
    assert page.get_by_label("Paid").is_checked()
    assert page.get_by_label("Shipped").is_checked()
    assert not page.get_by_label("Pending").is_checked()
    assert page.input_value("#id_param_region") == str(north.pk)
    assert page.input_value("#id_preset") == str(preset.pk)
    screenshot(page, "report-form-parameters-preset-saved", full_page=True)

    # The preset's values run while it is picked: the boxes are disabled, and the page
    # says what the preset runs with.
    assert page.get_by_label("Paid").is_disabled()
    assert page.locator("#id_param_region").is_disabled()
    assert "Paid, Shipped" in page.inner_text("#report-preset-runs")
    again = download(page, lambda: page.click("#report-download"))
    assert csv_rows(again.data) == rows
    assert page.locator(".errorlist").count() == 0
