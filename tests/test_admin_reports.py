"""The admin flow through Django's test client: actions, form, presets, runs, permissions."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.admin import helpers
from django.test import override_settings
from django.urls import reverse

from admin_reports.models import ReportPreset, ReportRun, RunStatus
from admin_reports.runs import UNFINISHED, running_runs
from project.shop.models import Product

from .factories import (
    CategoryFactory,
    OrderLineFactory,
    ProductFactory,
    ReportPresetFactory,
    UserFactory,
    grant,
)
from .waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

PRODUCTS = reverse("admin:shop_product_changelist")
ACTION = "report_daily_product_sales"
HEADER = "SKU,Product,Day,Units,Revenue,Orders\r\n"
REPORT_PERMISSIONS = [
    "admin_reports.run_report",
    "shop.view_order",
    "shop.view_orderline",
    "shop.view_product",
]


@pytest.fixture
def shop():
    toys = CategoryFactory(name="Toys", slug="toys")
    kite = ProductFactory(sku="TOY-1", name="Kite", category=toys)
    ball = ProductFactory(sku="TOY-2", name="Ball", category=toys)
    book = ProductFactory(sku="BOO-1", name="Atlas")
    at = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    for product, quantity in [(kite, 2), (ball, 1), (book, 5)]:
        OrderLineFactory(
            order__placed_at=at, product=product, quantity=quantity, unit_price=Decimal("2.00")
        )
    return {"kite": kite, "ball": ball, "book": book, "toys": toys}


@pytest.fixture
def staff(client):
    user = UserFactory()
    grant(user, *REPORT_PERMISSIONS)
    client.force_login(user)
    return user


def first_step(client, pks, query="", across=False):
    data = {"action": ACTION, "index": 0, helpers.ACTION_CHECKBOX_NAME: pks}
    if across:
        data["select_across"] = "1"
    return client.post(f"{PRODUCTS}{query}", data)


def second_step(client, response, **fields):
    """POST the report form page back, as its Download or Save button does."""
    data = dict(response.context["hidden_fields"])
    data[helpers.ACTION_CHECKBOX_NAME] = [
        value
        for name, value in response.context["hidden_fields"]
        if name == helpers.ACTION_CHECKBOX_NAME
    ]
    data.update({"action": response.context["action_name"], **fields})
    query = response.context["selection"].query_string
    return client.post(f"{PRODUCTS}?{query}" if query else PRODUCTS, data)


def body(response) -> str:
    data = b"".join(response.streaming_content).decode()
    response.close()
    return data


def test_actions_list_the_reports_a_user_may_run(client, staff):
    response = client.get(PRODUCTS)
    choices = dict(response.context["action_form"].fields["action"].choices)
    assert choices[ACTION] == "Report: Daily sales by product"
    # These read customers and regions too, which this user may not view.
    assert "report_order_lines" not in choices
    assert "report_region_monthly" not in choices
    grant(staff, "shop.view_customer", "shop.view_region")
    staff = type(staff).objects.get(pk=staff.pk)  # a fresh permission cache
    client.force_login(staff)
    choices = dict(client.get(PRODUCTS).context["action_form"].fields["action"].choices)
    assert choices["report_order_lines"] == "Report: Order lines"
    assert choices["report_region_monthly"] == "Report: Monthly revenue by region"


def test_a_user_without_permission_sees_no_report_action(client):
    user = UserFactory()
    grant(user, "shop.view_product", "shop.view_order", "shop.view_orderline")
    client.force_login(user)
    response = client.get(PRODUCTS)
    assert response.status_code == 200
    assert "report_" not in response.content.decode()


def test_a_forged_post_gets_403_and_starts_nothing(client, shop):
    user = UserFactory()
    grant(user, "shop.view_product")
    client.force_login(user)
    response = first_step(client, [shop["kite"].pk])
    assert response.status_code == 403
    data = {
        "action": ACTION,
        helpers.ACTION_CHECKBOX_NAME: [shop["kite"].pk],
        "_report_step": "download",
        "start": "2026-03-01",
        "end": "2026-03-31",
    }
    assert client.post(PRODUCTS, data).status_code == 403
    assert client.post(PRODUCTS, {**data, "action": "report_nope"}).status_code == 404
    assert ReportRun.objects.count() == 0


def test_first_post_renders_the_form_page(client, staff, shop):
    response = first_step(client, [shop["kite"].pk, shop["ball"].pk])
    assert response.status_code == 200
    assert response.templates[0].name == "admin/admin_reports/report_form.html"
    assert response.context["selection"].description == "2 products"
    html = response.content.decode()
    assert '<div class="breadcrumbs">' in html
    assert 'class="vDateField' in html, "admin date widgets"
    assert response.context["form"]["quick_range"].initial == "last_month"


def test_download_streams_the_csv_and_records_the_run(client, staff, shop):
    page = first_step(client, [shop["kite"].pk, shop["ball"].pk])
    response = second_step(
        client, page, _report_step="download", start="2026-03-01", end="2026-03-31"
    )
    assert response["Content-Disposition"] == (
        'attachment; filename="daily_product_sales_2026-03-01_2026-03-31.csv"'
    )
    assert (
        body(response)
        == HEADER + "TOY-1,Kite,2026-03-10,2,4.00,1\r\nTOY-2,Ball,2026-03-10,1,2.00,1\r\n"
    )
    # The stream waits 5 s at most for the run's end to be recorded; a busy machine's
    # can come later.
    ended = ReportRun.objects.exclude(status__in=UNFINISHED)
    assert wait_until(ended.exists, 30) is not None
    run = ReportRun.objects.get()
    assert (run.report, run.user, run.status, run.rows) == (
        "daily_product_sales",
        staff,
        RunStatus.SUCCEEDED,
        2,
    )
    assert run.parameters["selection"] == [str(shop["kite"].pk), str(shop["ball"].pk)]
    assert run.parameters["selection_count"] == 2
    assert run.bytes > 0
    assert run.started_at <= run.finished_at


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"start": "2026-03-31", "end": "2026-03-01"}, "The start date is after the end date."),
        (
            {"start": "2024-01-01", "end": "2026-03-01"},
            "The range spans 791 days; this report allows at most 400.",
        ),
        ({"start": "", "end": ""}, "This report needs a date range."),
        ({"start": "31.03.2026", "end": "2026-04-01"}, "Enter a valid date."),
    ],
)
def test_invalid_forms_show_errors_and_start_nothing(client, staff, shop, fields, error):
    page = first_step(client, [shop["kite"].pk])
    response = second_step(client, page, _report_step="download", **fields)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert ReportRun.objects.count() == 0


def test_validate_step_answers_json(client, staff, shop):
    page = first_step(client, [shop["kite"].pk])
    bad = second_step(client, page, _report_step="validate", start="2026-03-31", end="2026-03-01")
    assert bad.json()["valid"] is False
    good = second_step(client, page, _report_step="validate", quick_range="last_month")
    assert good.json() == {"valid": True, "errors": {}, "refusal": None}
    assert ReportRun.objects.count() == 0


def test_select_across_carries_the_filters_not_the_keys(client, staff, shop):
    query = f"?category__id__exact={shop['toys'].pk}"
    page = first_step(client, [shop["kite"].pk], query=query, across=True)
    assert page.context["selection"].description == "all 2 products matching: Category: Toys"
    assert [name for name, _ in page.context["hidden_fields"]] == [
        "select_across",
        "_selected_action",
    ]
    response = second_step(
        client, page, _report_step="download", start="2026-03-01", end="2026-03-31"
    )
    assert (
        body(response)
        == HEADER + "TOY-1,Kite,2026-03-10,2,4.00,1\r\nTOY-2,Ball,2026-03-10,1,2.00,1\r\n"
    )


def test_select_across_100000_products(client, staff, shop):
    Product.objects.bulk_create(
        Product(sku=f"BULK-{n:06d}", name=f"Bulk {n}", category=shop["toys"], price=1)
        for n in range(100_000)
    )
    query = "?q=BULK"
    page = first_step(
        client,
        [Product.objects.filter(sku__startswith="BULK").first().pk],
        query=query,
        across=True,
    )
    assert page.context["selection"].description == "all 100,000 products matching: search “BULK”"
    assert len(page.context["hidden_fields"]) == 2
    response = second_step(
        client, page, _report_step="download", start="2026-03-01", end="2026-03-31"
    )
    assert response.status_code == 200
    assert body(response) == HEADER  # no sales for the bulk products, and no error


def test_save_as_preset_and_run_it_from_the_preset_list(client, staff, shop, time_machine_today):
    page = first_step(client, [shop["kite"].pk])
    response = second_step(
        client,
        page,
        _report_step="save_preset",
        quick_range="last_month",
        preset_name="Kites last month",
        preset_range_kind="quick",
        preset_selection_kind="saved",
    )
    assert response.status_code == 200
    preset = ReportPreset.objects.get()
    assert (preset.name, preset.owner, preset.range_kind, preset.quick_range) == (
        "Kites last month",
        staff,
        "quick",
        "last_month",
    )
    assert preset.selection_pks == [str(shop["kite"].pk)]
    run = client.post(reverse("admin:admin_reports_reportpreset_run", args=[preset.pk]))
    assert run["Content-Disposition"] == (
        'attachment; filename="daily_product_sales_2026-03-01_2026-03-31.csv"'
    ), "last month of the frozen today, 15 April 2026"
    assert body(run) == HEADER + "TOY-1,Kite,2026-03-10,2,4.00,1\r\n"
    assert ReportRun.objects.get().preset == preset


def test_a_quick_range_preset_moves_with_today(client, staff, shop, time_machine):
    preset = ReportPreset.objects.create(
        name="p",
        report="daily_product_sales",
        owner=staff,
        range_kind="quick",
        quick_range="last_month",
        selection_kind="saved",
        selection_model="shop.Product",
        selection_pks=[shop["kite"].pk],
    )
    url = reverse("admin:admin_reports_reportpreset_run", args=[preset.pk])
    time_machine.move_to(dt.datetime(2026, 5, 2, 12, tzinfo=dt.UTC), tick=False)
    assert body(client.post(url)) == HEADER, "April has no sales"
    time_machine.move_to(dt.datetime(2026, 4, 1, 12, tzinfo=dt.UTC), tick=False)
    assert body(client.post(url)).endswith("TOY-1,Kite,2026-03-10,2,4.00,1\r\n")


def test_a_filter_preset_evaluates_the_changelist_filter_when_run(client, staff, shop):
    preset = ReportPresetFactory(
        owner=staff,
        selection_kind="filter",
        selection_model="shop.Product",
        selection_filter=f"category__id__exact={shop['toys'].pk}",
    )
    response = client.post(reverse("admin:admin_reports_reportpreset_run", args=[preset.pk]))
    assert (
        body(response)
        == HEADER + "TOY-1,Kite,2026-03-10,2,4.00,1\r\nTOY-2,Ball,2026-03-10,1,2.00,1\r\n"
    )


def test_presets_are_private_unless_shared(client, staff, shop):
    other = UserFactory()
    mine = ReportPreset.objects.create(name="mine", report="daily_product_sales", owner=staff)
    shared = ReportPreset.objects.create(
        name="shared", report="daily_product_sales", owner=other, shared=True
    )
    private = ReportPreset.objects.create(
        name="private", report="daily_product_sales", owner=other
    )
    grant(staff, "admin_reports.view_reportpreset", "admin_reports.change_reportpreset")
    listing = client.get(reverse("admin:admin_reports_reportpreset_changelist"))
    assert set(listing.context["cl"].result_list) == {mine, shared}
    assert (
        client.get(
            reverse("admin:admin_reports_reportpreset_change", args=[private.pk])
        ).status_code
        == 302
    )
    form_page = first_step(client, [shop["kite"].pk])
    assert set(form_page.context["form"].fields["preset"].queryset) == {mine, shared}
    run = client.post(reverse("admin:admin_reports_reportpreset_run", args=[private.pk]))
    assert run.status_code == 404
    edit = client.get(reverse("admin:admin_reports_reportpreset_change", args=[shared.pk]))
    assert edit.status_code == 200
    assert edit.context["has_change_permission"] is False, "shared presets are read-only to others"


def test_a_broken_preset_says_why(client, staff):
    grant(staff, "admin_reports.view_reportpreset")
    preset = ReportPreset.objects.create(name="old", report="removed_report", owner=staff)
    listing = client.get(reverse("admin:admin_reports_reportpreset_changelist"))
    assert (
        '<span class="preset-broken">No valid report is named &#x27;removed_report&#x27;.'
        in listing.content.decode()
    )
    response = client.post(
        reverse("admin:admin_reports_reportpreset_run", args=[preset.pk]), follow=True
    )
    assert (
        "This preset cannot run: No valid report is named &#x27;removed_report&#x27;."
        in response.content.decode()
    )
    assert ReportRun.objects.count() == 0


def test_presets_export_and_import(client, staff):
    grant(
        staff,
        "admin_reports.view_reportpreset",
        "admin_reports.add_reportpreset",
        "admin_reports.change_reportpreset",
    )
    from admin_reports.preset_transfer import ReportPresetResource

    ReportPreset.objects.create(
        name="p1", report="order_lines", owner=staff, quick_range="last_7_days"
    )
    dataset = ReportPresetResource().export()
    assert dataset.dict[0]["owner"] == staff.username
    ReportPreset.objects.all().delete()
    result = ReportPresetResource().import_data(dataset, dry_run=False)
    assert not result.has_errors()
    assert ReportPreset.objects.get().owner == staff


def test_runs_are_private_and_read_only(client, staff):
    other = UserFactory()
    mine = ReportRun.objects.create(report="order_lines", user=staff)
    theirs = ReportRun.objects.create(report="order_lines", user=other)
    grant(staff, "admin_reports.view_reportrun")
    listing = client.get(reverse("admin:admin_reports_reportrun_changelist"))
    assert list(listing.context["cl"].result_list) == [mine]
    status = reverse("admin:admin_reports_reportrun_status", args=[mine.token])
    assert client.get(status).json()["status"] == "queued"
    assert (
        client.get(
            reverse("admin:admin_reports_reportrun_status", args=[theirs.token])
        ).status_code
        == 404
    )
    cancel = reverse("admin:admin_reports_reportrun_cancel", args=[mine.token])
    assert client.get(cancel).status_code == 405
    assert client.post(cancel).json()["cancel_requested"] is True
    assert (
        client.post(
            reverse("admin:admin_reports_reportrun_cancel", args=[theirs.token])
        ).status_code
        == 404
    )
    theirs.refresh_from_db()
    assert theirs.cancel_requested is False


@override_settings(ADMIN_REPORTS_MAX_STREAMS_PER_USER=1)
def test_over_the_cap_the_admin_shows_a_message(client, staff, shop, request):
    page = first_step(client, [shop["kite"].pk])
    held = second_step(client, page, _report_step="download", start="2026-03-01", end="2026-03-31")
    request.addfinalizer(held.close)
    refused = second_step(
        client, page, _report_step="download", start="2026-03-01", end="2026-03-31"
    )
    assert refused.status_code == 429
    assert "You already have 1 report running" in refused.content.decode()
    assert ReportRun.objects.count() == 1
    held.close()
    assert not running_runs().exists(), "every run has ended"


def test_the_form_page_template_follows_the_admin_override_chain(client, staff, shop):
    response = first_step(client, [shop["kite"].pk])
    assert response.template_name == [
        "admin/admin_reports/shop/product/report_form.html",
        "admin/admin_reports/shop/report_form.html",
        "admin/admin_reports/report_form.html",
    ]


def test_import_export_and_report_actions_share_the_product_changelist(client, shop):
    client.force_login(UserFactory(is_superuser=True))
    response = client.get(PRODUCTS)
    html = response.content.decode()
    assert reverse("admin:shop_product_import") in html
    assert reverse("admin:shop_product_export") in html
    assert "Report: Daily sales by product" in html


def test_a_preset_whose_filter_no_longer_applies_says_so(client, staff, shop):
    grant(staff, "admin_reports.view_reportpreset")
    preset = ReportPresetFactory(
        owner=staff,
        selection_kind="filter",
        selection_model="shop.Product",
        selection_filter="colour__exact=red",
    )
    url = reverse("admin:admin_reports_reportpreset_run", args=[preset.pk])
    response = client.post(url, follow=True)
    assert response.status_code == 200
    assert (
        "The changelist filter &#x27;colour__exact=red&#x27; does not apply to products."
        in response.content.decode()
    )
    assert ReportRun.objects.count() == 0
