"""A definition chooses the quick ranges its form offers (date_range.quick_ranges)."""

import datetime as dt
from io import StringIO

import pytest
from django.contrib.admin import helpers
from django.core.management import CommandError, call_command
from django.urls import reverse

from admin_reports.presets import preset_errors
from admin_reports.registry import load_definition, registry
from admin_reports.run_request import parse_run_request

from .factories import ProductFactory, ReportPresetFactory, UserFactory

pytestmark = pytest.mark.django_db

OFFERING = """\
model: shop.OrderLine
action_on: shop.Product
selection: product
date_range:
  field: order.placed_at
  default: fiscal_year
  quick_ranges: [last_month, fiscal_year]
columns:
  - {name: sku, value: product.sku}
  - {name: units, value: sum(quantity)}
"""


def fiscal_year(today):
    """From 1 July to 30 June."""
    start = dt.date(today.year if today.month >= 7 else today.year - 1, 7, 1)
    return start, dt.date(start.year + 1, 6, 30)


@pytest.fixture
def offering(settings, tmp_path):
    settings.ADMIN_REPORTS_QUICK_RANGES = {"fiscal_year": "tests.test_quick_ranges.fiscal_year"}
    (tmp_path / "offering.yaml").write_text(OFFERING, encoding="utf-8")
    (tmp_path / "everything.yaml").write_text(
        OFFERING.replace("  quick_ranges: [last_month, fiscal_year]\n", ""), encoding="utf-8"
    )
    settings.ADMIN_REPORTS_DIRS = [tmp_path]
    registry.reload()
    assert registry.problems() == []
    return tmp_path


def dropdown(admin_client, report: str) -> list[str]:
    product = ProductFactory()
    response = admin_client.post(
        reverse("admin:shop_product_changelist"),
        {"action": f"report_{report}", "index": 0, helpers.ACTION_CHECKBOX_NAME: [product.pk]},
    )
    assert response.status_code == 200
    field = response.context["form"]["quick_range"]
    return [value for value, _label in field.field.choices]


def test_the_form_offers_the_listed_ranges_and_others_every_one(offering, admin_client):
    assert dropdown(admin_client, "offering") == ["", "last_month", "fiscal_year"]
    everything = dropdown(admin_client, "everything")
    assert {"today", "last_month", "last_year", "fiscal_year"} <= set(everything)


def test_a_range_the_report_does_not_offer_is_refused(offering, client):
    client.force_login(UserFactory(is_superuser=True))
    url = reverse("admin_reports:download", args=["offering"])
    response = client.get(url, {"range": "last_year"})
    assert response.status_code == 400
    assert response.content.decode().rstrip() == (
        "range: 'last_year' is not one of this report's quick ranges; choose one of:"
        " last_month, fiscal_year."
    )
    response = client.get(url, {"range": "last_yaer"})
    assert response.content.decode().rstrip() == (
        "range: Unknown quick range 'last_yaer'; choose one of: last_month, fiscal_year."
    )
    accepted = parse_run_request(registry.get("offering"), {"range": "fiscal_year"})
    assert (accepted.quick_range, accepted.start.month, accepted.end.month) == (
        "fiscal_year",
        7,
        6,
    )


@pytest.mark.parametrize(
    ("quick", "default", "expected"),
    [
        (
            "[last_month, last_quater]",
            "last_month",
            [
                (
                    "E073",
                    "The value of 'date_range.quick_ranges' names 'last_quater', which is not"
                    " a quick range. Did you mean 'last_quarter'?",
                )
            ],
        ),
        (
            "[last_month, last_year]",
            "this_month",
            [
                (
                    "E074",
                    "The value of 'date_range.default' is 'this_month', which"
                    " 'date_range.quick_ranges' does not offer.",
                )
            ],
        ),
    ],
)
def test_offered_ranges_are_checked(tmp_path, quick, default, expected):
    path = tmp_path / "report.yaml"
    path.write_text(
        OFFERING.replace("[last_month, fiscal_year]", quick).replace("fiscal_year", default),
        encoding="utf-8",
    )
    spec, problems = load_definition(path)
    assert spec is None
    assert [(problem.id, problem.message) for problem in problems] == expected


@pytest.mark.parametrize(
    ("quick", "message"),
    [
        (
            "last_year",
            "'last_year' is not one of this report's quick ranges; choose one of:"
            " last_month, fiscal_year.",
        ),
        ("last_yaer", "'last_yaer' is not a quick range; choose one of: last_month, fiscal_year."),
    ],
)
def test_a_preset_or_schedule_of_a_range_the_report_does_not_offer_cannot_run(
    offering, quick, message
):
    preset = ReportPresetFactory(report="offering", range_kind="quick", quick_range=quick)
    assert preset_errors(preset) == {"quick_range": [message]}
    preset.quick_range = "fiscal_year"
    assert preset_errors(preset) == {}
    preset.report = "everything"
    preset.quick_range = "last_year"
    assert preset_errors(preset) == {}


def test_run_report_refuses_a_range_the_report_does_not_offer(offering, time_machine_today):
    with pytest.raises(CommandError) as caught:
        call_command("run_report", "offering", "--range", "this_month", stdout=StringIO())
    assert str(caught.value) == (
        "--range: 'this_month' is not one of this report's quick ranges; choose one of:"
        " last_month, fiscal_year."
    )
    out, err = StringIO(), StringIO()
    call_command("run_report", "offering", "--explain", stdout=out, stderr=err)
    assert "default range fiscal_year (2025-07-01 to 2026-06-30)" in err.getvalue()
