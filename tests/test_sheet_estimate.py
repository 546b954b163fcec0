"""An XLSX run whose row estimate is over a sheet's rows is refused up front, from every
face, and nothing is stored; the preview still shows its rows."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from admin_reports import runs
from admin_reports.background import enqueue_run
from admin_reports.exceptions import InvalidParameters
from admin_reports.models import ReportRun
from admin_reports.preview import run_preview
from admin_reports.registry import registry
from admin_reports.run_request import parse_run_request
from admin_reports.runs import start_run, write_run

from .factories import OrderLineFactory, UserFactory, grant

pytestmark = pytest.mark.django_db(transaction=True)

EARLY, LATE = dt.date(2000, 1, 1), dt.date(2100, 1, 1)
REFUSED = "an Excel sheet holds at most 3 below its header. Choose CSV"


@pytest.fixture
def small_sheet(monkeypatch):
    monkeypatch.setattr(runs, "xlsx_row_limit", lambda: 3)
    OrderLineFactory.create_batch(5)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # the planner's statistics: its estimate is 5
            cursor.execute("ANALYZE shop_orderline, shop_order, shop_product")


def lines(file_format: str):
    spec = registry.get("order_lines")
    return parse_run_request(spec, {"start": EARLY, "end": LATE, "format": file_format})


def staff():
    user = UserFactory()
    grant(user, "admin_reports.run_report", *registry.get("order_lines").permissions)
    return user


def test_an_xlsx_over_the_sheets_rows_is_refused_before_it_starts(small_sheet):
    for start in (
        lambda: start_run(lines("xlsx")),
        lambda: write_run(lines("xlsx"), io.BytesIO()),
        lambda: enqueue_run(lines("xlsx")),
    ):
        with pytest.raises(InvalidParameters, match=REFUSED) as refused:
            start()
        assert refused.value.code == "too_many_rows"
    assert not ReportRun.objects.exists()
    csv_run = write_run(lines("csv"), io.BytesIO())
    assert csv_run.rows == 5, "CSV has no such limit"
    preview = run_preview(lines("xlsx"), user=staff())
    assert len(preview.rows) == 5, "a preview is of rows, whatever the format"


def test_the_endpoint_refuses_it_with_400(small_sheet, client):
    client.force_login(staff())
    url = reverse("admin_reports:download", args=["order_lines"])
    response = client.get(url, {"start": EARLY, "end": LATE, "format": "xlsx"})
    assert response.status_code == 400
    assert REFUSED in response.content.decode()
    assert not ReportRun.objects.exists()


def test_run_report_refuses_it_in_one_line_and_makes_no_file(small_sheet, tmp_path):
    out = tmp_path / "lines.xlsx"
    options = ["--start", "2000-01-01", "--end", "2100-01-01", "--format", "xlsx"]
    with pytest.raises(CommandError, match=REFUSED):
        call_command("run_report", "order_lines", *options, "-o", str(out))
    with pytest.raises(CommandError, match=REFUSED):
        call_command("run_report", "order_lines", *options, "--background")
    assert not out.exists()
    assert not ReportRun.objects.exists()


def test_run_report_estimates_an_xlsx_once(monkeypatch, tmp_path):
    """The command checks the estimate before it makes its file, and the run does not
    count again (on SQLite each estimate is a COUNT of up to ESTIMATE_SECONDS)."""
    OrderLineFactory.create_batch(2)
    estimates = []
    counted = runs.estimate_rows
    monkeypatch.setattr(runs, "estimate_rows", lambda c: estimates.append(c) or counted(c))
    out = tmp_path / "lines.xlsx"
    options = ["--start", "2000-01-01", "--end", "2100-01-01", "--format", "xlsx"]
    call_command("run_report", "order_lines", *options, "-o", str(out), stderr=io.StringIO())
    assert len(estimates) == 1
    assert ReportRun.objects.get().rows == 2
    assert out.read_bytes().startswith(b"PK")
