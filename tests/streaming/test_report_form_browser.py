"""
The report form page in a real browser (Debian's chromium, Playwright) on gunicorn: the
date boxes and the quick range, a refusal over the per-user cap, saving a preset, and
how the page looks at 1280x900 in a time zone other than the server's.

Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from admin_reports.dates import resolve_quick_range
from admin_reports.models import ReportPreset, ReportRun, RunStatus
from project.shop.models import Order, OrderLine

from ..factories import CustomerFactory, OrderLineFactory, ProductFactory
from .browser import (
    BERLIN,
    choose_report,
    csv_rows,
    download,
    expected_daily_sales,
    logged_in,
    screenshot,
    staff_user,
    within_viewport,
)
from .conftest import running
from .test_proxies import browser  # noqa: F401  the module's browser fixture

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

JANUARY = (dt.date(2026, 1, 1), dt.date(2026, 1, 31))
# A time zone other than the server's (Europe/Berlin): the admin would add its
# "Note: You are 6 hours behind server time." under date fields.
BROWSER_ZONE = "America/New_York"
REFUSED = "You already have 1 report running"


def today() -> dt.date:
    return dt.datetime.now(BERLIN).date()


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "gunicorn.log"
    with running("gunicorn", log) as server:
        yield server


@pytest.fixture(scope="module")
def capped(django_db_setup, tmp_path_factory):
    """A server that lets each user run one report at a time."""
    log = tmp_path_factory.mktemp("server") / "gunicorn-capped.log"
    with running("gunicorn", log, MAX_STREAMS_PER_USER="1") as server:
        yield server


@pytest.fixture
def staff():
    return staff_user()


@pytest.fixture
def page(browser, server, staff):  # noqa: F811
    with logged_in(browser, server, staff, timezone_id=BROWSER_ZONE) as page:
        yield page


@pytest.fixture
def kite():
    """A product sold in January 2026, just around it, and last month."""
    kite = ProductFactory(sku="TOY-1", name="Kite")
    start, end = resolve_quick_range("last_month", today())
    moments = [
        (dt.date(2025, 12, 31), dt.time(23, 59, 59)),
        (dt.date(2026, 1, 1), dt.time(0, 0, 1)),
        (dt.date(2026, 1, 15), dt.time(12)),
        (dt.date(2026, 1, 31), dt.time(23, 59, 59)),
        (dt.date(2026, 2, 1), dt.time(0, 0, 1)),
        (start, dt.time(9)),
        (end, dt.time(18)),
    ]
    for n, (day, time) in enumerate(moments):
        OrderLineFactory(
            order__placed_at=dt.datetime.combine(day, time, BERLIN),
            order__status="shipped",
            product=kite,
            quantity=n + 1,
            unit_price=Decimal("2.50"),
        )
    return kite


def dates(page) -> tuple[str, str, str]:
    return (
        page.input_value("select[name=quick_range]"),
        page.input_value("#id_start"),
        page.input_value("#id_end"),
    )


def test_typed_dates_win_over_the_quick_range(page, server, kite):
    choose_report(page, server.url)
    start, end = resolve_quick_range("last_month", today())
    assert dates(page) == ("last_month", start.isoformat(), end.isoformat())
    notes = page.get_by_text("hours behind server time")
    assert notes.count() == 2, "the admin's note, as the browser is 6 hours behind"
    assert not any(note.is_visible() for note in notes.all()), "but not shown for days"

    page.select_option("select[name=quick_range]", "last_7_days")
    week = resolve_quick_range("last_7_days", today())
    assert dates(page) == ("last_7_days", week[0].isoformat(), week[1].isoformat())

    # A day picked in the admin's calendar is an edit too.
    page.click(".field-start .date-icon")
    page.click(".calendarbox:visible td:not(.selected) a >> nth=0")
    assert page.input_value("select[name=quick_range]") == ""

    page.select_option("select[name=quick_range]", "last_month")
    page.fill("#id_start", JANUARY[0].isoformat())
    page.fill("#id_end", JANUARY[1].isoformat())
    assert dates(page) == ("", *(day.isoformat() for day in JANUARY))
    screenshot(page, "report-form-custom-dates", full_page=True)

    got = download(page, lambda: page.click("#report-download"))
    assert got.filename == "daily_product_sales_2026-01-01_2026-01-31.csv"
    expected = expected_daily_sales([kite], *JANUARY)
    assert len(expected) == 4  # header, 3 days of January
    assert csv_rows(got.data) == expected

    # The progress panel shows up where it can be seen, with what it counts.
    panel = page.locator("#report-progress")
    page.wait_for_selector("#report-progress[data-status=succeeded]")
    assert within_viewport(panel)
    assert page.inner_text("#report-rows") == "3"
    assert page.inner_text("#report-bytes").endswith("bytes")
    assert page.inner_text("#report-elapsed").endswith(" s")
    screenshot(page, "report-form-after-download")
    screenshot(panel, "report-progress-done")


def test_after_saving_a_preset_the_form_downloads(page, server, kite):
    # As on a plain-HTTP host other than localhost, where browsers have no randomUUID.
    page.add_init_script("delete Crypto.prototype.randomUUID")
    choose_report(page, server.url)
    save = page.locator("#report-save-preset summary")
    name = page.locator("#id_preset_name")
    assert name.is_hidden(), "Save as preset starts collapsed"
    save.click()
    assert name.is_visible()
    save.click()
    assert name.is_hidden(), "and collapses again"
    save.click()
    screenshot(page.locator("#report-save-preset"), "report-form-save-preset")

    downloads = []
    page.on("download", lambda item: downloads.append(item))
    name.fill("Kite last month")
    with page.expect_navigation():
        name.press("Enter")
    page.wait_for_selector("text=Saved the preset")
    assert not downloads, "Enter in the preset name saves, it does not download"
    preset = ReportPreset.objects.get()
    assert (preset.name, preset.quick_range) == ("Kite last month", "last_month")
    assert page.input_value("#id_preset") == str(preset.pk)
    assert page.input_value("#id_preset_name") == ""
    screenshot(page, "report-form-preset-saved", full_page=True)

    got = download(page, lambda: page.click("#report-download"))
    expected = expected_daily_sales([kite], *resolve_quick_range("last_month", today()))
    assert csv_rows(got.data) == expected
    assert page.locator(".errorlist").count() == 0
    assert ReportRun.objects.get().preset == preset


def test_a_preset_deleted_meanwhile_is_named(page, server, staff, kite):
    preset = ReportPreset.objects.create(
        name="Gone soon",
        report="daily_product_sales",
        owner=staff,
        range_kind="quick",
        quick_range="last_month",
        selection_kind="ask",
    )
    choose_report(page, server.url)
    page.select_option("#id_preset", str(preset.pk))
    preset.delete()
    with page.expect_navigation():
        page.click("#report-download")
    screenshot(page, "report-form-preset-gone", full_page=True)
    assert page.get_by_text(
        "The preset you picked no longer exists or is no longer shared with you."
    ).is_visible()
    assert page.get_by_text("Select a valid choice").count() == 0
    assert not ReportRun.objects.exists()


@pytest.fixture
def slow_product():
    """A product with 3000 order lines: slow_lines takes 30 s over it (10 ms a row)."""
    product = ProductFactory(sku="SLOW-1", name="Slow")
    order = Order.objects.create(
        customer=CustomerFactory(), placed_at=dt.datetime.now(BERLIN), status="paid"
    )
    OrderLine.objects.bulk_create(
        OrderLine(order=order, product=product, quantity=1, unit_price=Decimal(1))
        for _ in range(3000)
    )
    return product


def test_over_the_per_user_cap_the_page_says_so_and_stops(browser, capped, staff, slow_product):  # noqa: F811
    with logged_in(browser, capped, staff) as page:
        choose_report(page, capped.url, "report_slow_lines")
        with page.expect_download(timeout=60_000) as slow:
            page.click("#report-download")
            page.wait_for_selector("#report-progress[data-status=streaming]")

        second = page.context.new_page()
        status_polls = []

        def count_polls(request) -> None:
            if "/reportrun/status/" in request.url:
                status_polls.append(request.url)

        second.on("request", count_polls)
        choose_report(second, capped.url)

        # The check before the download refuses: nothing starts, nothing is polled.
        second.click("#report-download")
        refusal = second.locator("ul.messagelist#report-refusal li.error")
        refusal.wait_for()
        assert REFUSED in refusal.inner_text()
        assert second.locator("#report-progress").is_hidden()
        assert not status_polls
        screenshot(second, "report-form-refused", full_page=True)

        # The download itself refused (the cap reached between the check and the start):
        # the refusal page comes into the hidden frame, and the panel stops at once.
        second.route("**/admin/shop/product/**", pass_the_check)
        second.click("#report-download")
        second.wait_for_selector("#report-progress[data-status=refused]", state="attached")
        assert REFUSED in refusal.inner_text()
        assert second.locator("#report-progress").is_hidden(), "no panel: nothing started"
        polled = len(status_polls)
        second.wait_for_timeout(3000)  # four poll intervals: none may come
        assert len(status_polls) == polled
        screenshot(second.locator("#content-main"), "report-form-refused-in-frame")

        page.click("#report-cancel")
        page.wait_for_selector("#report-progress[data-status=cancelled]")
        assert slow.value.failure() is not None
    assert ReportRun.objects.get().status == RunStatus.CANCELLED


def pass_the_check(route) -> None:
    """Answer the form's check as if the cap were not reached; send the rest on."""
    if route.request.method == "POST" and b'name="_report_step"\r\n\r\nvalidate' in (
        route.request.post_data_buffer or b""
    ):
        route.fulfill(json={"valid": True, "errors": {}, "refusal": None})
    else:
        route.continue_()
