"""
The file format from every face: parsed once (a clear refusal naming the choices), the
form's choice and where it starts (ADMIN_REPORTS_CSV_DIALECTS, check E055), format= on
the endpoint, run_report --format, kept in presets and background runs, with names,
content types and stored files that follow it.
"""

import io

import openpyxl
import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.urls import reverse
from django.utils import translation

from admin_reports.checks import check_settings
from admin_reports.exceptions import InvalidParameters
from admin_reports.models import ReportRun, RunStatus
from admin_reports.presets import describe_preset, preset_data, preset_errors, save_preset
from admin_reports.registry import registry
from admin_reports.run_request import default_format, parse_run_request
from admin_reports.stored import report_storage

from . import test_admin_reports as admin_flow
from .test_admin_reports import HEADER, first_step, second_step
from .test_background import work

shop, staff = admin_flow.shop, admin_flow.staff  # the admin flow's fixtures

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MARCH = {"start": "2026-03-01", "end": "2026-03-31"}
KITE_ROW = ("TOY-1", "Kite", "2026-03-10", 2, 4.0, 1)
DB = pytest.mark.django_db(transaction=True)


def sales(data: dict | None = None):
    return parse_run_request(registry.get("daily_product_sales"), {**MARCH, **(data or {})})


def kite_rows(data: bytes) -> list[tuple]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    rows = list(book.active.iter_rows(values_only=True))
    return [rows[0], *((*row[:2], row[2].date().isoformat(), *row[3:]) for row in rows[1:])]


def test_a_run_request_takes_a_format_and_names_the_choices():
    assert (sales().format, sales().filename) == (
        "csv",
        "daily_product_sales_2026-03-01_2026-03-31.csv",
    )
    xlsx = sales({"format": "xlsx"})
    assert xlsx.filename == "daily_product_sales_2026-03-01_2026-03-31.xlsx"
    assert xlsx.describe()["format"] == "xlsx"
    assert "format" not in sales().describe(), "the default is not stored"
    assert sales({"format": "csv-excel"}).filename.endswith(".csv")
    with pytest.raises(InvalidParameters) as refused:
        sales({"format": "pdf"})
    assert refused.value.messages == [
        "Unknown file format 'pdf'; choose one of: csv, csv-excel, xlsx."
    ]
    assert (refused.value.code, refused.value.field) == ("format", "format")


def test_the_form_starts_with_the_languages_dialect(settings):
    assert default_format("de") == default_format("de-at") == "csv-excel"
    assert default_format("en-us") == "csv"
    settings.ADMIN_REPORTS_CSV_DIALECTS = {"de": "csv-excel", "de-ch": "csv", "en-gb": "csv-excel"}
    assert (default_format("de-ch"), default_format("de-de"), default_format("en-gb")) == (
        "csv",
        "csv-excel",
        "csv-excel",
    )
    with translation.override("en-gb"):
        assert default_format() == "csv-excel", "the active language by default"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            {"de": "semicolons"},
            "ADMIN_REPORTS_CSV_DIALECTS['de'] is 'semicolons'; choose one of: csv, csv-excel.",
        ),
        (
            {"German": "csv"},
            "ADMIN_REPORTS_CSV_DIALECTS has the key 'German', which is not a language code in lower case such as 'de' or 'de-at'.",
        ),
        (["de"], "ADMIN_REPORTS_CSV_DIALECTS is ['de'], not a dict."),
    ],
)
def test_a_dialects_setting_that_cannot_be_used_is_e050(setting, message):
    with override_settings(ADMIN_REPORTS_CSV_DIALECTS=setting):
        errors = [m for m in check_settings() if m.id == "admin_reports.E055"]
        assert errors == [
            checks.Error(
                message,
                hint="See ADMIN_REPORTS_CSV_DIALECTS in docs/settings.md; the form starts with CSV.",
                id="admin_reports.E055",
            )
        ]
        assert default_format("de") == "csv"


@DB
def test_the_endpoint_takes_format(client, line):
    client.force_login(admin_flow.UserFactory(is_superuser=True))
    url = reverse("admin_reports:download", args=["daily_product_sales"])
    xlsx = client.get(url, {**MARCH, "format": "xlsx"}, HTTP_ACCEPT_ENCODING="gzip")
    assert xlsx["Content-Type"] == XLSX_TYPE
    assert xlsx["Content-Disposition"] == (
        'attachment; filename="daily_product_sales_2026-03-01_2026-03-31.xlsx"'
    )
    assert xlsx["Content-Encoding"] == "gzip", "heartbeats for gzip clients, as for CSV"
    excel = client.get(url, {**MARCH, "format": "csv-excel", "bom": "0"})
    assert excel["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        b"".join(excel.streaming_content)
        == (
            "\ufeffSKU;Product;Day;Units;Revenue;Orders\r\nTOY-1;Kite;2026-03-10;2;7,00;1\r\n"
        ).encode()
    ), "CSV for Excel always has its BOM"
    refused = client.get(url, {**MARCH, "format": "pdf"})
    assert refused.status_code == 400
    assert refused.content == (
        b"format: Unknown file format 'pdf'; choose one of: csv, csv-excel, xlsx.\n"
    )
    for response in (xlsx, excel):
        response.close()
    assert [run.parameters.get("format") for run in ReportRun.objects.order_by("pk")] == [
        "xlsx",
        "csv-excel",
    ]


@DB
def test_run_report_writes_each_format(line, tmp_path):
    target = tmp_path / "march.xlsx"
    call_command(
        "run_report", "daily_product_sales", *_dates(), "--format", "xlsx", "-o", str(target)
    )
    assert kite_rows(target.read_bytes())[1] == ("TOY-1", "Kite", "2026-03-10", 2, 7.0, 1)
    out = io.StringIO()
    call_command(
        "run_report", "daily_product_sales", *_dates(), "--format", "csv-excel", stdout=out
    )
    assert out.getvalue().endswith("TOY-1;Kite;2026-03-10;2;7,00;1\r\n")
    with pytest.raises(CommandError, match=r"^--format: Unknown file format 'ods'; choose one of"):
        call_command("run_report", "daily_product_sales", *_dates(), "--format", "ods")
    assert ReportRun.objects.get(parameters__format="xlsx").path == "orm"


def _dates() -> list[str]:
    return ["--start", MARCH["start"], "--end", MARCH["end"]]


@DB
def test_a_preset_keeps_its_format(staff):
    preset = save_preset(sales({"format": "csv-excel"}), staff, name="For Excel")
    assert preset.options == {"bom": True, "format": "csv-excel"}
    assert preset_data(preset)["format"] == "csv-excel"
    assert describe_preset(preset).endswith(", as CSV for Excel (semicolons, decimal commas)")
    plain = save_preset(sales(), staff, name="Plain")
    assert plain.options == {"bom": True}, "the default is not stored"
    preset.options = {"format": "pdf"}
    assert preset_errors(preset) == {
        "options": ["Unknown file format 'pdf'; choose one of: csv, csv-excel, xlsx."]
    }


@DB
def test_the_form_downloads_and_queues_the_chosen_format(client, staff, shop):
    page = first_step(client, [shop["kite"].pk])
    field = page.context["form"]["format"]
    assert field.value() == "csv", "en-us starts with CSV"
    assert 'value="csv-excel"' in str(field)
    form = {"quick_range": "", **MARCH, "format": "xlsx"}
    download = second_step(client, page, _report_step="download", **form)
    assert download["Content-Type"] == XLSX_TYPE
    streamed = b"".join(download.streaming_content)
    assert kite_rows(streamed) == [tuple(HEADER.strip().split(",")), KITE_ROW]

    second_step(client, page, _report_step="background", **form)
    work()
    run = ReportRun.objects.get(background=True)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.file.endswith("/daily_product_sales_2026-03-01_2026-03-31.xlsx"), "kept as it is"
    with report_storage().open(run.file, "rb") as kept:
        stored = kept.read()
    assert run.file_size == run.bytes == len(stored)
    url = reverse("admin:admin_reports_reportrun_file", args=[run.token])
    for encoding in ("gzip", ""):
        response = client.get(url, HTTP_ACCEPT_ENCODING=encoding)
        assert response["Content-Type"] == XLSX_TYPE
        assert "Content-Encoding" not in response
        assert response["Content-Disposition"].endswith('.xlsx"')
        assert b"".join(response.streaming_content) == stored
    assert kite_rows(stored) == kite_rows(streamed)
    part = client.get(url, HTTP_RANGE="bytes=4-9")
    assert (part.status_code, b"".join(part.streaming_content)) == (206, stored[4:10])
