"""
Column choice on the report form in a real browser (Debian's chromium, Playwright) on
gunicorn, as a staff user with the permissions docs/admin.md lists: two columns
unticked and one moved up with the keyboard give a file of exactly those columns in
that order, with the full download's values; a preset saved so keeps the choice when
it is picked again on a fresh form.

Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from admin_reports.dates import resolve_quick_range
from admin_reports.models import ReportPreset

from ..factories import OrderLineFactory, ProductFactory
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
from .test_proxies import browser  # noqa: F401  the module's browser fixture

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

HEADERS = ["SKU", "Product", "Day", "Units", "Revenue", "Orders"]
# Units and Orders unticked, Revenue moved up twice (past Units, then Day).
CHOSEN = ["SKU", "Product", "Revenue", "Day"]


@pytest.fixture(scope="module")
def server(gunicorn):
    return gunicorn


@pytest.fixture
def products():
    """Two products sold on three days of last month (the report's default range)."""
    start, end = last_month()
    products = [ProductFactory(sku="TOY-1", name="Kite"), ProductFactory(sku="TOY-2", name="Ball")]
    for n, day in enumerate([start, start + dt.timedelta(days=3), end]):
        for product in products:
            OrderLineFactory(
                order__placed_at=dt.datetime.combine(day, dt.time(12), BERLIN),
                order__status="paid",
                product=product,
                quantity=n + 1,
                unit_price=Decimal("2.40"),
            )
    return products


@pytest.fixture
def page(products, browser, server):  # noqa: F811
    with logged_in(browser, server, staff_user()) as page:
        yield page


def last_month() -> tuple[dt.date, dt.date]:
    return resolve_quick_range("last_month", dt.datetime.now(BERLIN).date())


def listed(page) -> list[tuple[str, bool]]:
    """(label, ticked) of each column, in the list's order."""
    pairs = page.locator(".report-column").evaluate_all(
        """(items) => items.map((item) => [
          item.querySelector("label").textContent.trim(),
          item.querySelector("input[type=checkbox]").checked,
        ])"""
    )
    return [tuple(pair) for pair in pairs]


def downloaded(page) -> list[list[str]]:
    rows = csv_rows(download(page, lambda: page.click("#report-download")).data)
    page.wait_for_selector("#report-progress[data-status=succeeded]")
    return rows


def test_unticked_and_moved_columns_shape_the_file_and_the_preset_keeps_them(
    products, page, server
):
    choose_report(page, server.url)
    full = downloaded(page)
    assert full == expected_daily_sales(products, *last_month())
    assert full[0] == HEADERS
    assert len(full) == 7

    always = page.locator(".report-column-always input[type=checkbox]")
    assert always.count() == 3, "an aggregate report's grouping columns stay"
    assert all(box.is_checked() and box.is_disabled() for box in always.all())
    page.get_by_label("Units", exact=True).uncheck()
    page.get_by_label("Orders", exact=True).uncheck()
    up = page.get_by_role("button", name="Move Revenue up")
    up.focus()
    page.keyboard.press("Enter")
    page.keyboard.press(" ")  # the focus stays on the button as it moves
    assert up.evaluate("(button) => document.activeElement === button")
    assert page.inner_text("[data-column-status]") == "Revenue moved to position 3 of 6."
    assert listed(page) == [
        ("SKU", True), ("Product", True), ("Revenue", True), ("Day", True),
        ("Units", False), ("Orders", False),
    ]  # fmt: skip
    screenshot(page.locator("#report-columns-module"), "report-form-columns")

    chosen = downloaded(page)
    indexes = [HEADERS.index(header) for header in CHOSEN]
    assert chosen == [[row[index] for index in indexes] for row in full]

    page.click("#report-save-preset summary")
    page.fill("#id_preset_name", "Revenue first")
    with page.expect_navigation():
        page.press("#id_preset_name", "Enter")
    page.wait_for_selector("text=Saved the preset")
    preset = ReportPreset.objects.get()
    assert preset.options["columns"] == ["sku", "product", "revenue", "day"]

    # A fresh form lists every column; picking the preset shows (and locks) its choice.
    choose_report(page, server.url)
    assert listed(page) == [(header, True) for header in HEADERS]
    page.select_option("#id_preset", str(preset.pk))
    assert listed(page) == [(header, header in CHOSEN) for header in [*CHOSEN, "Units", "Orders"]]
    assert page.get_by_label("Units", exact=True).is_disabled(), "the preset's choice runs"
    assert page.locator("#report-columns-preset").is_visible()
    screenshot(page.locator("#report-columns-module"), "report-form-columns-preset")
    assert downloaded(page) == chosen
    page.select_option("#id_preset", "")
    assert listed(page) == [(header, True) for header in HEADERS], "the list as it was"
    assert page.get_by_label("Units", exact=True).is_enabled()
