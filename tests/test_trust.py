"""
Files people can trust, through Django's test client: presets that run what they
were saved with, dates that mean what they say, refusals in words, permissions that
are documented and enough, presets validated wherever they are written.
"""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.contrib.admin import helpers
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from admin_reports.models import ReportPreset, ReportRun
from admin_reports.runs import running_runs

from .factories import (
    CategoryFactory,
    OrderLineFactory,
    ProductFactory,
    ReportPresetFactory,
    UserFactory,
    grant,
)
from .test_admin_reports import (
    ACTION,
    HEADER,
    PRODUCTS,
    REPORT_PERMISSIONS,
    body,
    first_step,
    second_step,
)

pytestmark = pytest.mark.django_db(transaction=True)

PRESETS = reverse("admin:admin_reports_reportpreset_changelist")
RUNS = reverse("admin:admin_reports_reportrun_changelist")
MARCH = {"start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture
def shop():
    toys = CategoryFactory(name="Toys", slug="toys")
    products = [
        ProductFactory(sku=f"TOY-{n}", name=f"Toy {n}", category=toys) for n in range(1, 4)
    ]
    at = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    for quantity, product in enumerate(products, start=1):
        OrderLineFactory(
            order__placed_at=at, product=product, quantity=quantity, unit_price=Decimal("2.00")
        )
    return products


@pytest.fixture
def staff(client):
    """A staff user with exactly the documented permissions (docs/admin.md)."""
    user = UserFactory()
    grant(user, *REPORT_PERMISSIONS)
    client.force_login(user)
    return user


def all_rows(products) -> str:
    return HEADER + "".join(
        f"{p.sku},{p.name},2026-03-10,{n},{2 * n}.00,1\r\n" for n, p in enumerate(products, 1)
    )


def run_preset(client, preset):
    return client.post(reverse("admin:admin_reports_reportpreset_run", args=[preset.pk]))


# Case 1: a preset saved after "Select all" (or as a changelist filter) runs those rows.


@pytest.mark.parametrize("kind", ["saved", "filter"])
def test_a_preset_saved_after_select_all_runs_every_object(client, staff, shop, kind):
    page = first_step(client, [shop[0].pk], across=True)
    assert page.context["selection"].description == "all 3 products"
    download = second_step(client, page, _report_step="download", bom="", **MARCH)
    assert body(download) == all_rows(shop)
    second_step(
        client,
        page,
        _report_step="save_preset",
        preset_name="everything",
        preset_range_kind="fixed",
        preset_selection_kind=kind,
        **MARCH,
    )
    preset = ReportPreset.objects.get()
    assert (preset.selection_kind, preset.selection_filter) == ("filter", "")
    assert body(run_preset(client, preset)) == all_rows(shop)


@pytest.mark.parametrize("query", ["", "q=TOY-"])
def test_two_ticked_objects_saved_as_a_changelist_filter_run_the_filter(
    client, staff, shop, query
):
    page = first_step(client, [shop[0].pk, shop[1].pk], query=f"?{query}" if query else "")
    assert page.context["selection"].description == "2 products"
    second_step(
        client,
        page,
        _report_step="save_preset",
        preset_name="search",
        preset_range_kind="fixed",
        preset_selection_kind="filter",
        **MARCH,
    )
    preset = ReportPreset.objects.get()
    assert (preset.selection_kind, preset.selection_filter) == ("filter", query)
    assert body(run_preset(client, preset)) == all_rows(shop), "every product the filter shows"


# Case 2: a quick range with dates that disagree.


def test_the_form_refuses_a_quick_range_with_other_dates(client, staff, shop, time_machine_today):
    page = first_step(client, [shop[0].pk])
    form = page.context["form"]
    assert form["quick_range"].value() == "last_month"
    assert (form["start"].value(), form["end"].value()) == (
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 31),
    ), "a quick range shows its dates"
    response = second_step(
        client,
        page,
        _report_step="download",
        quick_range="last_month",
        start="2026-01-01",
        end="2026-01-31",
    )
    assert response.status_code == 400
    assert "do not match the quick range “Last month”" in response.content.decode()
    assert ReportRun.objects.count() == 0
    custom = second_step(
        client, page, _report_step="download", quick_range="", start="2026-01-01", end="2026-01-31"
    )
    assert custom["Content-Disposition"].endswith('_2026-01-01_2026-01-31.csv"')
    custom.close()


# Case 6: dates the form cannot take are form errors, not 500s.


@pytest.mark.parametrize(
    ("start", "end"), [("2026-01-01", "9999-12-31"), ("9999-12-31", "9999-12-31")]
)
def test_dates_past_9998_are_a_form_error(client, staff, shop, start, end):
    page = first_step(client, [shop[0].pk])
    response = second_step(client, page, _report_step="download", start=start, end=end)
    assert response.status_code == 400
    assert "Dates must lie between 0001-01-01 and 9998-12-31." in response.content.decode()
    validate = second_step(client, page, _report_step="validate", start=start, end=end)
    assert validate.json()["valid"] is False
    assert ReportRun.objects.count() == 0


# Case 7: over the cap, the form page says so before anything starts.


@override_settings(ADMIN_REPORTS_MAX_STREAMS_PER_USER=1)
def test_over_the_cap_the_validate_step_says_why(client, staff, shop, request):
    held = client.get(
        reverse("admin_reports:download", args=["daily_product_sales"]), {**MARCH, "select": "1"}
    )
    request.addfinalizer(held.close)
    page = first_step(client, [shop[0].pk])
    answer = second_step(client, page, _report_step="validate", **MARCH).json()
    assert answer["valid"] is False
    assert answer["refusal"] == "You already have 1 report running. Wait for it to finish."
    refused = second_step(client, page, _report_step="download", **MARCH)
    assert refused.status_code == 429
    assert '<ul class="messagelist">' in refused.content.decode()
    held.close()
    assert not running_runs().exists(), "every run has ended"


# Case 8: saving a preset leaves Download working.


def test_after_saving_a_preset_download_works(client, staff, shop):
    page = first_step(client, [shop[0].pk])
    saved = second_step(
        client,
        page,
        _report_step="save_preset",
        preset_name="kite",
        preset_range_kind="fixed",
        **MARCH,
    )
    assert "Saved the preset “kite”" in saved.content.decode()
    form = saved.context["form"]
    assert form["preset_name"].value() in (None, ""), "the save fields are empty again"
    preset = ReportPreset.objects.get()
    assert form["preset"].value() == preset.pk
    again = second_step(client, saved, _report_step="download", preset=preset.pk, **MARCH)
    assert again.status_code == 200
    assert body(again) == HEADER + f"{shop[0].sku},{shop[0].name},2026-03-10,1,2.00,1\r\n"
    twice = second_step(client, page, _report_step="save_preset", preset_name="kite", **MARCH)
    assert "You already have a preset of this name for this report." in twice.content.decode()


def test_a_deleted_preset_says_so(client, staff, shop):
    preset = ReportPreset.objects.create(
        name="gone", report="daily_product_sales", owner=staff, quick_range="last_month"
    )
    page = first_step(client, [shop[0].pk])
    pk = preset.pk
    preset.delete()
    response = second_step(client, page, _report_step="download", preset=pk)
    assert "The preset you picked no longer exists or is no longer shared with you." in (
        response.content.decode()
    )


# Case 9: the documented permissions are enough; refusals say what is missing.


def test_the_documented_permissions_show_the_lists(client, staff, shop):
    other = UserFactory(username="someone-else")
    ReportRun.objects.create(report="order_lines", user=other)
    mine = ReportRun.objects.create(report="order_lines", user=staff)
    runs = client.get(RUNS)
    assert runs.status_code == 200
    assert list(runs.context["cl"].result_list) == [mine]
    assert "someone-else" not in runs.content.decode(), "the user filter lists only you"
    preset = ReportPresetFactory(owner=staff, products=[shop[0]])
    presets = client.get(PRESETS)
    assert presets.status_code == 200
    assert list(presets.context["cl"].result_list) == [preset]
    assert client.get(reverse("admin:index")).status_code == 200
    edit = client.get(reverse("admin:admin_reports_reportpreset_change", args=[preset.pk]))
    assert edit.status_code == 200
    assert edit.context["has_change_permission"] is True
    assert body(run_preset(client, preset)).startswith(HEADER)


def test_a_missing_permission_is_named_in_the_admin_layout(client, shop):
    user = UserFactory()
    grant(user, "admin_reports.run_report", "shop.view_product", "shop.view_orderline")
    client.force_login(user)
    data = {
        "action": ACTION,
        helpers.ACTION_CHECKBOX_NAME: [shop[0].pk],
        "_report_step": "download",
        **MARCH,
    }
    response = client.post(PRODUCTS, data)
    assert response.status_code == 403
    html = response.content.decode()
    assert '<div id="site-name">' in html
    assert "it needs the permission “Can view order” (shop.view_order)." in html
    preset = ReportPresetFactory(owner=user, products=[shop[0]])
    listing = client.get(PRESETS).content.decode()
    assert "You may not run it: it needs the permission shop.view_order." in listing
    assert reverse("admin:admin_reports_reportpreset_run", args=[preset.pk]) not in listing
    refused = client.post(
        reverse("admin:admin_reports_reportpreset_run", args=[preset.pk]), follow=True
    )
    assert "(shop.view_order)" in refused.content.decode()
    assert ReportRun.objects.count() == 0


def test_the_user_filter_of_a_superuser_lists_users_with_runs(client):
    boss = UserFactory(is_superuser=True)
    ReportRun.objects.create(report="order_lines", user=UserFactory(username="ran-one"))
    UserFactory(username="never-ran")
    client.force_login(boss)
    html = client.get(RUNS).content.decode()
    assert "ran-one" in html
    assert "never-ran" not in html


# Case 11: presets are validated wherever they are written.


def preset_form(**fields):
    data = {
        "name": "p",
        "report": "daily_product_sales",
        "range_kind": "fixed",
        "quick_range": "",
        "start": "2026-03-01",
        "end": "2026-03-31",
        "selection_kind": "ask",
        "selection_model": "",
        "selection_pks": "[]",
        "selection_filter": "",
        "options": "{}",
    }
    return {**data, **fields}


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"start": "2026-03-31", "end": "2026-03-01"}, "The start date is after the end date."),
        ({"report": "daily_sales"}, "No valid report is named &#x27;daily_sales&#x27;."),
        (
            {"range_kind": "quick", "quick_range": "last_mnth"},
            "&#x27;last_mnth&#x27; is not a quick range",
        ),
        (
            {
                "selection_kind": "filter",
                "selection_model": "shop.Product",
                "selection_filter": "nonsense=1",
            },
            "The changelist filter &#x27;nonsense=1&#x27; does not apply to products.",
        ),
        (
            {
                "selection_kind": "saved",
                "selection_model": "shop.Product",
                "selection_pks": '["x"]',
            },
            "&#x27;x&#x27; is not a valid key of a product.",
        ),
        (
            {"selection_kind": "saved", "selection_model": "shop.Order", "selection_pks": "[1]"},
            "The report runs on shop.product, not on &#x27;shop.Order&#x27;.",
        ),
        ({"options": '{"bom": "yes"}'}, "Options must be a mapping such as"),
    ],
)
def test_the_preset_admin_form_validates(client, staff, fields, error):
    response = client.post(reverse("admin:admin_reports_reportpreset_add"), preset_form(**fields))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert ReportPreset.objects.count() == 0


def test_the_preset_admin_form_saves_a_valid_preset(client, staff):
    response = client.post(reverse("admin:admin_reports_reportpreset_add"), preset_form())
    assert response.status_code == 302
    assert ReportPreset.objects.get().owner == staff


def import_presets(client, text: str):
    upload = io.BytesIO(text.encode())
    upload.name = "presets.csv"
    return client.post(
        reverse("admin:admin_reports_reportpreset_import"),
        {"format": "0", "resource": "0", "import_file": upload},
    )


HEAD = "name,report,owner,shared,range_kind,quick_range,start,end,selection_kind,selection_model,selection_pks,selection_filter,options\n"


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ("p,nope,{owner},0,none,,,,ask,,[],,{{}}", "No valid report is named"),
        ("p,order_lines,{owner},0,quick,last_mnth,,,ask,,[],,{{}}", "is not a quick range"),
        (
            "p,order_lines,{owner},0,fixed,,2026-03-31,2026-03-01,ask,,[],,{{}}",
            "The start date is after the end date.",
        ),
        ("p,order_lines,ghost,0,none,,,,ask,,[],,{{}}", "No user is named &#x27;ghost&#x27;."),
    ],
)
def test_an_import_is_validated_with_named_errors(client, row, error):
    boss = UserFactory(is_superuser=True, username="boss")
    client.force_login(boss)
    response = import_presets(client, HEAD + row.format(owner="boss") + "\n")
    assert error in response.content.decode()
    assert ReportPreset.objects.count() == 0


# A run whose process died reads as lost (failed, with the reason), not as running forever.


@pytest.mark.parametrize(
    ("status", "heartbeat_ago", "created_ago", "lost"),
    [
        ("running", 60, 90, True),
        ("streaming", 60, 90, True),
        ("queued", None, 60, True),
        ("running", 2, 90, False),
        ("succeeded", 60, 90, False),
    ],
)
def test_a_silent_run_reads_as_lost(client, staff, status, heartbeat_ago, created_ago, lost):
    now = timezone.now()
    run = ReportRun.objects.create(
        report="order_lines",
        user=staff,
        status=status,
        created_at=now - dt.timedelta(seconds=created_ago),
        heartbeat_at=now - dt.timedelta(seconds=heartbeat_ago) if heartbeat_ago else None,
    )
    answer = client.get(reverse("admin:admin_reports_reportrun_status", args=[run.token])).json()
    if lost:
        assert (answer["status"], answer["finished"]) == ("failed", True)
        assert answer["error"].startswith("Lost: the server process running the report stopped")
    else:
        assert answer["status"] == status
        assert answer["error"] == ""
    client.get(RUNS)
    run.refresh_from_db()
    assert (run.status == "failed") is lost


@pytest.mark.parametrize(
    ("preset_fields", "expected_name"),
    [
        ({"range_kind": "fixed"}, "_2026-03-01_2026-03-31.csv"),
        (
            {"range_kind": "quick", "quick_range": "last_month", "start": None, "end": None},
            "_2026-03-01_2026-03-31.csv",
        ),
    ],
)
def test_a_preset_picked_on_the_form_replaces_the_range_shown(
    client, staff, shop, time_machine_today, preset_fields, expected_name
):
    preset = ReportPresetFactory(owner=staff, **preset_fields)
    page = first_step(client, [shop[0].pk])
    for boxes in (
        {"quick_range": "last_7_days", "start": "2026-04-09", "end": "2026-04-15"},
        {"quick_range": "", "start": "2026-01-01", "end": "2026-01-31"},
    ):
        response = second_step(client, page, _report_step="download", preset=preset.pk, **boxes)
        assert response.status_code == 200, response.content.decode()[:2000]
        assert response["Content-Disposition"].endswith(expected_name + '"')
        assert body(response).endswith(f"{shop[0].sku},{shop[0].name},2026-03-10,1,2.00,1\r\n")


# Presets are imported by their owners only; others' presets do not exist for them.


def test_an_import_never_touches_another_users_preset(client, staff):
    alice = UserFactory(username="alice")
    private = ReportPresetFactory(owner=alice, name="Alice's", shared=False)
    row = "Alice's,daily_product_sales,alice,1,quick,today,,,ask,,[],,{}\n"
    response = import_presets(client, HEAD + row)
    html = response.content.decode()
    assert (
        "You may import only your own presets; this row&#x27;s owner is &#x27;alice&#x27;." in html
    )
    assert "2026-03-01" not in html, "nothing of hers is shown"
    planted = "Planted,daily_product_sales,alice,1,none,,,,ask,,[],,{}\n"
    import_presets(client, HEAD + planted)
    private.refresh_from_db()
    assert (private.shared, private.range_kind) == (False, "fixed")
    assert list(ReportPreset.objects.values_list("name", flat=True)) == ["Alice's"]


def test_an_import_of_ones_own_presets_works(client, staff):
    row = "Mine,daily_product_sales,,0,quick,last_month,,,ask,,[],,{}\n"
    preview = import_presets(client, HEAD + row)
    assert preview.status_code == 200
    assert "errors" not in preview.context or not preview.context["errors"]
    confirm = preview.context["confirm_form"]
    done = client.post(reverse("admin:admin_reports_reportpreset_process_import"), confirm.initial)
    assert done.status_code == 302
    preset = ReportPreset.objects.get()
    assert (preset.name, preset.owner, preset.quick_range) == ("Mine", staff, "last_month")


def test_import_checks_the_changelist_filter(client):
    client.force_login(UserFactory(is_superuser=True, username="boss"))
    row = "f,daily_product_sales,boss,0,quick,last_month,,,filter,shop.Product,[],nonexistent_field=1,{}\n"
    response = import_presets(client, HEAD + row)
    assert "The changelist filter &#x27;nonexistent_field=1&#x27; does not apply to products." in (
        response.content.decode()
    )


def test_view_only_staff_cannot_import_products_in_the_demo(client, staff):
    assert client.get(reverse("admin:shop_product_import")).status_code == 403
    grant(staff, "shop.change_product")
    assert client.get(reverse("admin:shop_product_import")).status_code == 200


def test_a_tampered_selection_is_refused_not_a_500(client, staff, shop):
    data = {"action": ACTION, helpers.ACTION_CHECKBOX_NAME: ["abc"], "_report_step": "download"}
    response = client.post(PRODUCTS, {**data, **MARCH})
    assert response.status_code == 400
    assert "&#x27;abc&#x27; is not a valid key of a product." in response.content.decode()
    assert ReportRun.objects.count() == 0


def test_the_preset_form_clears_what_its_kinds_leave_unused(client, staff):
    fields = preset_form(range_kind="quick", quick_range="last_month", selection_filter="q=x")
    assert client.post(reverse("admin:admin_reports_reportpreset_add"), fields).status_code == 302
    preset = ReportPreset.objects.get()
    assert (preset.start, preset.end, preset.selection_filter) == (None, None, "")
