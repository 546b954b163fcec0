"""
XLSX and CSV for Excel through a real server (gunicorn, gthread): a workbook whose first
row is seconds away starts at once and never goes quiet for a gzip client; and in a real
browser (Debian's chromium, Playwright), a staff user with the documented permissions
picks each format on the report form and gets the CSV's values.

Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zlib

import openpyxl
import pytest

from admin_reports.models import ReportRun, RunStatus
from project.shop.models import OrderLine

from ..factories import OrderFactory, ProductFactory
from ..waiting import wait_until
from .browser import choose_report, csv_rows, download, logged_in, screenshot, staff_user
from .conftest import FIRST_BYTE, HEARTBEAT_INTERVAL
from .http import fetch
from .test_proxies import browser  # noqa: F401  the module's browser fixture
from .test_report_form_browser import JANUARY, kite  # noqa: F401  its data

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SLOW_LINES = 300  # slow_start reads every line (10 ms each) before its one row: 3 s


@pytest.fixture(scope="module")
def server(gunicorn):
    return gunicorn


def test_a_workbook_whose_row_is_slow_starts_at_once_and_never_goes_quiet(server, session_cookie):
    order, product = OrderFactory(), ProductFactory(sku="SLOW-1")
    OrderLine.objects.bulk_create(
        OrderLine(order=order, product=product, quantity=2, unit_price=1)
        for _ in range(SLOW_LINES)
    )
    url = f"{server.url}/admin/reports/slow_start/download/?format=xlsx"
    response = fetch(url, {"Accept-Encoding": "gzip", "Cookie": session_cookie})

    assert response.status == 200
    assert response.complete
    assert response.headers["content-type"] == XLSX_TYPE
    assert response.headers["content-disposition"] == 'attachment; filename="slow_start.xlsx"'
    assert response.headers["content-encoding"] == "gzip"
    assert response.first_byte < FIRST_BYTE
    assert response.decoded_at(4) < FIRST_BYTE, "the zip's first local header, at once"
    assert response.largest_gap <= HEARTBEAT_INTERVAL + 1
    took = response.arrivals[-1][0]
    assert took >= SLOW_LINES * 0.01 / 2, "the query really was slow"
    assert len(response.arrivals) >= took // (HEARTBEAT_INTERVAL + 1), "heartbeats kept it alive"
    data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(response.body)
    rows = list(openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))
    assert rows == [("Sku", "Units"), ("SLOW-1", 2 * SLOW_LINES)]
    assert wait_until(lambda: ReportRun.objects.get().status == RunStatus.SUCCEEDED, 30)
    assert ReportRun.objects.get().rows == 1


def test_the_form_downloads_xlsx_and_csv_for_excel_with_the_csvs_values(
    browser,  # noqa: F811
    server,
    kite,  # noqa: F811
):
    with logged_in(browser, server, staff_user()) as page:
        choose_report(page, server.url)
        assert page.is_checked("input[name=format][value=csv]"), "en-us starts with CSV"
        page.select_option("select[name=quick_range]", "")
        page.fill("#id_start", JANUARY[0].isoformat())
        page.fill("#id_end", JANUARY[1].isoformat())
        plain = csv_rows(download(page, lambda: page.click("#report-download")).data)
        assert len(plain) == 4  # the header and 3 days of January

        page.check("input[name=format][value=xlsx]")
        screenshot(page.locator("#report-file-format"), "report-form-file-format")
        workbook = download(page, lambda: page.click("#report-download"))
        assert workbook.filename == "daily_product_sales_2026-01-01_2026-01-31.xlsx"
        assert workbook.data is not None, workbook.failure
        sheet = openpyxl.load_workbook(io.BytesIO(workbook.data)).active
        assert [as_csv(row) for row in sheet.iter_rows(values_only=True)] == plain
        assert [type(cell) for cell in next(sheet.iter_rows(min_row=2, values_only=True))] == [
            str,
            str,
            dt.datetime,
            int,
            float,
            int,
        ]

        page.check("input[name=format][value=csv-excel]")
        excel = download(page, lambda: page.click("#report-download"))
        assert excel.filename == "daily_product_sales_2026-01-01_2026-01-31.csv"
        assert excel.data is not None, excel.failure
        assert excel.data.startswith(b"\xef\xbb\xbfSKU;Product;Day;Units;Revenue;Orders\r\n")
        rows = list(csv.reader(io.StringIO(excel.data.decode("utf-8-sig")), delimiter=";"))
        assert rows == [
            plain[0],
            *([*row[:4], row[4].replace(".", ","), row[5]] for row in plain[1:]),
        ]
    formats = [run.parameters.get("format", "csv") for run in ReportRun.objects.order_by("pk")]
    assert formats == ["csv", "xlsx", "csv-excel"]


def as_csv(row: tuple) -> list[str]:
    """A daily_product_sales row of the workbook as the CSV writes it."""
    if isinstance(row[2], dt.datetime):  # a data row: its day, units, revenue, orders
        sku, name, day, units, revenue, orders = row
        return [sku, name, day.date().isoformat(), str(units), f"{revenue:.2f}", str(orders)]
    return list(row)
