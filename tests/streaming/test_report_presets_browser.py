"""
Presets, runs and permissions in a real browser (Debian's chromium, Playwright) on
gunicorn: staff with only the documented permissions use the preset and run lists; a
permission missing is named; "Select all" on the demo's 48 products, downloaded and
saved as a preset that gives the same rows.

Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command

from admin_reports.dates import resolve_quick_range
from admin_reports.models import ReportPreset, ReportRun, RunStatus
from project.shop.models import Product

from ..factories import OrderLineFactory, ProductFactory
from ..waiting import wait_until
from .browser import (
    BERLIN,
    PERMISSIONS,
    csv_rows,
    download,
    expected_daily_sales,
    go_to_form,
    logged_in,
    screenshot,
    scrolls_sideways,
    staff_user,
    within_viewport,
)
from .conftest import running
from .test_proxies import browser  # noqa: F401  the module's browser fixture

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

PRESETS = "/admin/admin_reports/reportpreset/"
RUNS = "/admin/admin_reports/reportrun/"


def last_month() -> tuple[dt.date, dt.date]:
    return resolve_quick_range("last_month", dt.datetime.now(BERLIN).date())


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "gunicorn.log"
    with running("gunicorn", log) as server:
        yield server


def sell(products, start: dt.date, end: dt.date) -> None:
    """Sales on the first and last day of start..end, and the day after it."""
    days = [start, end, end + dt.timedelta(days=1)]
    for n, product in enumerate(products):
        for day in days:
            OrderLineFactory(
                order__placed_at=dt.datetime.combine(day, dt.time(12), BERLIN),
                order__status="paid",
                product=product,
                quantity=n % 5 + 1,
                unit_price=Decimal("3.20"),
            )


def saved_preset(owner, name: str, products) -> ReportPreset:
    return ReportPreset.objects.create(
        name=name,
        report="daily_product_sales",
        owner=owner,
        range_kind="quick",
        quick_range="last_month",
        selection_kind="saved",
        selection_model="shop.Product",
        selection_pks=[product.pk for product in products],
    )


def test_the_documented_permissions_are_enough(browser, server):  # noqa: F811
    staff, other = staff_user(), staff_user("other")
    kite = ProductFactory(sku="TOY-1", name="Kite")
    sell([kite], *last_month())
    preset = saved_preset(staff, "Kite last month", [kite])
    saved_preset(other, "Other's private one", [kite])
    shared = saved_preset(other, "Other's shared one", [kite])
    ReportPreset.objects.filter(pk=shared.pk).update(shared=True)
    ReportRun.objects.create(report="daily_product_sales", title="Other's run", user=other)
    with logged_in(browser, server, staff) as page:
        response = page.goto(server.url + PRESETS)
        assert response.status == 200
        names = page.locator("#result_list .field-name").all_inner_texts()
        assert sorted(names) == ["Kite last month", "Other's shared one"]
        row = page.locator("#result_list tr", has_text="Kite last month")
        screenshot(page, "preset-list", full_page=True)
        got = download(page, row.locator("button.preset-run").click)
        assert csv_rows(got.data) == expected_daily_sales([kite], *last_month())
        # The server waits at most 5 s for the run's end to be written before its last
        # byte: on a busy machine it can be written after the browser has the file.
        succeeded = ReportRun.objects.filter(user=staff, status=RunStatus.SUCCEEDED)
        assert wait_until(succeeded.exists, 30) is not None

        response = page.goto(server.url + RUNS)
        assert response.status == 200
        runs = page.locator("#result_list tbody tr")
        assert runs.count() == 1, "their own runs only"
        assert "Succeeded" in runs.inner_text()

        # Their own preset: they may change and delete it.
        response = page.goto(f"{server.url}{PRESETS}{preset.pk}/change/")
        assert response.status == 200
        assert page.locator("input[name=_save]").is_visible()
        response = page.goto(f"{server.url}{PRESETS}{preset.pk}/delete/")
        assert response.status == 200
        assert page.locator("#content form input[type=submit]").is_visible()
    assert ReportRun.objects.get(user=staff).preset == preset


def test_the_preset_list_shows_run_whole_at_1280_px(browser, server):  # noqa: F811
    staff = staff_user()
    kite = ProductFactory(sku="TOY-1", name="Kite")
    saved_preset(staff, "Kite last month", [kite])
    weekly = saved_preset(staff, "Kite weekly", [kite])  # a schedule and its next run
    ReportPreset.objects.filter(pk=weekly.pk).update(
        schedule="weekly", schedule_weekday=2, schedule_time=dt.time(8)
    )
    with logged_in(browser, server, staff) as page:
        page.goto(server.url + PRESETS)
        run = page.locator("#result_list button.preset-run").first
        run.wait_for()
        screenshot(page, "preset-list-scheduled", full_page=True)
        assert within_viewport(run)
        assert "Weekly on Wednesday at 08:00, next" in page.locator("#result_list").inner_text()
        assert not scrolls_sideways(page)
        assert not scrolls_sideways(page, "#changelist .results")


def test_a_missing_permission_is_named(browser, server):  # noqa: F811
    staff = staff_user("no-orders", [p for p in PERMISSIONS if p != "shop.view_order"])
    kite = ProductFactory(sku="TOY-1", name="Kite")
    saved_preset(staff, "Kite, but no orders", [kite])
    with logged_in(browser, server, staff) as page:
        page.goto(server.url + PRESETS)
        row = page.locator("#result_list tr", has_text="Kite, but no orders")
        assert "shop.view_order" in row.locator(".field-state").inner_text()
        assert row.locator("button.preset-run").count() == 0
        screenshot(page, "preset-list-not-runnable", full_page=True)

        # The action is not offered; a POST naming it anyway is refused with the reason.
        page.goto(f"{server.url}/admin/shop/product/")
        with page.expect_navigation() as answer:
            page.evaluate(POST_ACTION, {"action": "report_daily_product_sales", "pk": kite.pk})
        screenshot(page, "report-refused", full_page=True)
        assert answer.value.status == 403
        assert page.locator("#site-name").is_visible()
        assert page.inner_text(".breadcrumbs").startswith("Home")
        assert "shop.view_order" in page.inner_text("#content")
    assert not ReportRun.objects.exists()


# A changelist POST as the action form would send it, CSRF token from the cookie.
POST_ACTION = """({action, pk}) => {
  const form = document.createElement("form");
  form.method = "post";
  const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
  const fields = {csrfmiddlewaretoken: token, action, _selected_action: pk, index: "0"};
  for (const [name, value] of Object.entries(fields)) {
    const input = document.createElement("input");
    Object.assign(input, {type: "hidden", name, value});
    form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
}"""


def test_select_all_demo_products_download_and_run_as_a_preset(browser, server):  # noqa: F811
    call_command("loaddata", "demo_shop", verbosity=0)
    products = list(Product.objects.order_by("sku"))
    assert len(products) == 48
    sell(products[::7], *last_month())  # on every page of the changelist
    expected = expected_daily_sales(products, *last_month())
    assert len(expected) == 1 + 7 * 2

    with logged_in(browser, server, staff_user()) as page:
        # What the README says of the demo: filtered, "Select all 45 products"...
        page.goto(f"{server.url}/admin/shop/product/?active__exact=1")
        page.check("#action-toggle")
        assert page.locator("text=Select all 45 products").is_visible()
        # ...and unfiltered, "Select all 48 products" (20 a page).
        page.goto(f"{server.url}/admin/shop/product/")
        assert page.locator("input.action-select").count() == 20
        page.check("#action-toggle")
        page.click("text=Select all 48 products")
        page.wait_for_selector("text=All 48 selected")
        go_to_form(page)
        assert page.inner_text(".report-selection") == "Selected: all 48 products"
        got = download(page, lambda: page.click("#report-download"))
        assert csv_rows(got.data) == expected

        page.click("#report-save-preset summary")
        page.fill("#id_preset_name", "All products last month")
        with page.expect_navigation():
            page.click("#report-save")
        page.wait_for_selector("text=Saved the preset")

        page.goto(server.url + PRESETS)
        got = download(page, lambda: page.click("button.preset-run"))
        assert csv_rows(got.data) == expected, "the preset runs on all products"
    preset = ReportPreset.objects.get()
    assert (preset.selection_kind, preset.selection_filter) == ("filter", "")
    # A run is recorded as succeeded once its last byte is out: after the browser has it.
    runs = ReportRun.objects.filter(status=RunStatus.SUCCEEDED)
    assert wait_until(lambda: runs.count() == 2, 30) is not None
    assert sorted(run.rows for run in runs) == [14, 14]
