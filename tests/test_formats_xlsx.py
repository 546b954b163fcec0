"""
XLSX and CSV for Excel, each against the CSV of the same report and data.

The workbook opens with openpyxl and its cells are typed and hold the CSV's values:
numbers (integers, decimals at their places), dates and datetimes in the report's time
zone (across both DST changes), booleans, empty cells and labels, formula-like text as
text. CSV for Excel parses back with csv (delimiter ';') to the CSV's cells with decimal
commas. A sheet past its rows fails the run in words. Run on SQLite and PostgreSQL.
"""

import codecs
import csv
import datetime as dt
import io
import time
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from django.test import override_settings

from admin_reports.compiler import ReportParams, compile_report
from admin_reports.csv_output import body_chunks
from admin_reports.engine import IdentityWire, StreamJob, SyncStream
from admin_reports.estimate import RowEstimate
from admin_reports.exceptions import RunFailed
from admin_reports.formats import (
    BOOLEAN,
    DATE,
    DATETIME,
    DEFAULT_DATE_FORMAT,
    DEFAULT_DATETIME_FORMAT,
    FORMULA_PREFIXES,
    NUMBER,
)
from admin_reports.models import ReportRun, RunStatus
from admin_reports.outputs import output_job
from admin_reports.registry import registry
from admin_reports.run_request import parse_run_request
from admin_reports.runs import write_run
from admin_reports.xlsx_cells import _exact_number, excel_code, inline_strings
from admin_reports.xlsx_output import xlsx_row_limit
from project.shop.models import Product

from .factories import CustomerFactory, OrderLineFactory, ProductFactory
from .test_fast_path import WINDOW, compiled_reports, shop  # noqa: F401  the shared data

# Rows are read in the engine's producer thread, on a connection of its own.
DB = pytest.mark.django_db(transaction=True)


def streamed(compiled, file_format: str) -> bytes:
    """The file a run writes: through the engine, its rows read in a producer thread."""
    job = output_job(compiled, file_format)
    return b"".join(SyncStream(job, IdentityWire(heartbeats=False)))


def csv_cells(compiled) -> list[list[str]]:
    header = ",".join(f'"{header}"' for header in compiled.headers)
    text = header + "\r\n" + b"".join(body_chunks(compiled)).decode()
    return list(csv.reader(io.StringIO(text)))


def sheet_values(data: bytes) -> list[tuple]:
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None, "every member's CRC holds"
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [tuple(row) for row in book.active.iter_rows(values_only=True)]


def same(value, text: str, formatter) -> bool:
    """Whether an XLSX cell holds what the CSV's cell says, with the type of its kind."""
    fmt, kind = formatter.fmt, formatter.kind
    if text == "":
        return value is None
    if text == formatter.empty:  # a NULL's label is text
        return value == text
    if kind == NUMBER:
        return type(value) in (int, float) and Decimal(repr(value)) == Decimal(text)
    if kind in (DATE, DATETIME):
        pattern = (fmt.date or DEFAULT_DATE_FORMAT) if kind == DATE else fmt.datetime
        pattern = pattern or DEFAULT_DATETIME_FORMAT
        if pattern.endswith(" %Z"):  # a local time has no zone name: compare the rest
            pattern, text = pattern[:-3], text.rsplit(" ", 1)[0]
        return isinstance(value, dt.datetime) and value.strftime(pattern) == text
    if kind == BOOLEAN and fmt.true_label is fmt.false_label is None:
        return value is (text == "true")
    guarded = text.startswith("'") and text[1:2] in FORMULA_PREFIXES
    return isinstance(value, str) and value == (text[1:] if guarded else text)


@DB
def test_the_workbook_holds_the_csvs_values_in_typed_cells(shop):  # noqa: F811
    kinds, formulas = set(), 0
    for name, compiled in compiled_reports(shop):
        expected = csv_cells(compiled)
        got = sheet_values(streamed(compiled, "xlsx"))
        assert got[0] == tuple(compiled.headers), name
        assert len(got) == len(expected), name
        for row, texts in zip(got[1:], expected[1:], strict=True):
            for value, text, formatter in zip(row, texts, compiled.formatters, strict=True):
                assert same(value, text, formatter), (name, value, text, formatter.kind)
                kinds.add((formatter.kind, type(value)))
                formulas += isinstance(value, str) and value.startswith("=")
    assert kinds >= {
        (NUMBER, int),
        (NUMBER, float),
        (DATE, dt.datetime),
        (DATETIME, dt.datetime),
        (BOOLEAN, bool),
        ("text", str),
        (NUMBER, type(None)),
    }
    assert formulas, "text that looks like a formula stays text"


@pytest.fixture
def awkward():
    """Order lines whose customers' names need care in XML, CSV and Excel."""
    product = ProductFactory(sku="AWK-1", name="Awkward")
    names = [
        "Semi; colon",
        "A & B <c>",
        " padded ",
        "bell\x07",
        "_x0041_ literal",
        "line\r\nbreak",
        "=HYPERLINK(0)",
    ]
    for index, name in enumerate(names):
        OrderLineFactory(
            product=product,
            order__customer=CustomerFactory(name=name),
            order__placed_at=dt.datetime(2026, 1, 10, 12, index, tzinfo=dt.UTC),
            unit_price=Decimal("1234.50"),
            quantity=index + 1,
        )
    return product


def order_lines(product):
    spec = registry.get("order_lines")
    params = ReportParams(**WINDOW, selection=[product.pk], selection_model=Product)
    return compile_report(spec, params)


@DB
def test_text_that_xml_cannot_hold_as_it_is_is_written_as_excel_writes_it(awkward):
    customers = [row[3] for row in sheet_values(streamed(order_lines(awkward), "xlsx"))[1:]]
    assert customers == [
        "Semi; colon",
        "A & B <c>",
        " padded ",
        "bell_x0007_",  # Excel reads _xHHHH_ as the character; openpyxl leaves it
        "_x005F_x0041_ literal",  # and _x005F_ as an underscore
        "line_x000D_\nbreak",  # XML would read a CR as a line feed
        "=HYPERLINK(0)",
    ]


def test_a_text_is_cut_at_excels_most_characters():
    assert inline_strings(["x" * 40_000, "y"]) == [
        f"<is><t>{'x' * 32_767}</t></is>",
        "<is><t>y</t></is>",
    ]


@DB
def test_csv_for_excel_has_semicolons_decimal_commas_and_a_bom(shop, awkward):  # noqa: F811
    reports = {**dict(compiled_reports(shop)), "awkward": order_lines(awkward)}
    for name, compiled in reports.items():
        data = streamed(compiled, "csv-excel")
        assert data.startswith(codecs.BOM_UTF8), name
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
        expected = csv_cells(compiled)
        numbers = [f.kind == NUMBER for f in compiled.formatters]
        for row in expected[1:]:
            for index, number in enumerate(numbers):
                if number and row[index] != compiled.formatters[index].empty:
                    row[index] = row[index].replace(".", ",")
        assert rows == expected, name
    lines = streamed(reports["awkward"], "csv-excel").decode("utf-8-sig")
    assert ';"Semi; colon";' in lines
    assert ";1234,50;" in lines


@DB
def test_a_sheet_past_its_rows_fails_the_run_in_words(awkward, monkeypatch):
    monkeypatch.setattr("admin_reports.xlsx_output.SHEET_ROWS", 8)  # 7 rows below the header
    # No estimate (or one too low) lets a run start: the writer enforces the sheet's rows.
    monkeypatch.setattr("admin_reports.runs.estimate_rows", lambda compiled: RowEstimate())
    assert xlsx_row_limit() == 7
    spec = registry.get("order_lines")
    data = {"start": "2026-01-01", "end": "2026-01-31", "format": "xlsx"}
    run = write_run(parse_run_request(spec, data), io.BytesIO())
    assert (run.status, run.rows) == (RunStatus.SUCCEEDED, 7), "a full sheet is fine"

    OrderLineFactory(product=awkward, order__placed_at=dt.datetime(2026, 1, 11, tzinfo=dt.UTC))
    with pytest.raises(RunFailed) as failed:
        write_run(parse_run_request(spec, data), io.BytesIO())
    message = (
        "An XLSX sheet holds at most 7 rows below its header, and this report has more."
        " Narrow it (a shorter date range, fewer objects), or download it as CSV."
    )
    assert str(failed.value) == message
    run = ReportRun.objects.latest("pk")
    assert (run.status, run.error) == (RunStatus.FAILED, message)


@pytest.mark.parametrize(
    ("pattern", "code"),
    [
        ("%Y-%m-%d", "yyyy-mm-dd"),
        ("%Y-%m", "yyyy-mm"),
        ("%d.%m.%Y %H:%M", "dd\\.mm\\.yyyy hh:mm"),
        ("%Y-%m-%dT%H:%M:%S", "yyyy-mm-dd\\Thh:mm:ss"),
        ("%d %b %Y", "dd mmm yyyy"),
        ("%M:%S", "mm:ss"),
        ("100%%", "\\1\\0\\0\\%"),
        ("%M", None),  # Excel would show the month
        ("%H:%m", None),  # and minutes
        ("%d.%m.%Y %H:%M:%S.%f (%j/%y)", None),  # no code for microseconds, days of year
        ("%-d.%m.", None),
    ],
)
def test_a_pattern_has_the_number_format_that_shows_its_text(pattern, code):
    assert excel_code(pattern) == code


@override_settings(ADMIN_REPORTS_IDENTITY_HEARTBEAT_INTERVAL=0.05)
def test_a_zip_gets_no_heartbeat_without_gzip_and_its_stream_does_not_spin():
    def rows():
        time.sleep(0.5)  # ten heartbeat intervals of silence
        yield b"the rest"

    stream = SyncStream(StreamJob(b"PK\x03\x04", rows, filler=b""), IdentityWire())
    looks = []
    step = stream.session.step
    stream.session.step = lambda item: looks.append(item) or step(item)  # type: ignore[method-assign]
    assert b"".join(stream) == b"PK\x03\x04the rest", "no blank line in the zip"
    assert len(looks) < 50, "a look an interval, not a busy loop"


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        ("24000000000000000", True),  # two significant digits
        ("-1200000000000000000000", True),
        ("123456789012345", True),
        ("1234567890123456", False),
        ("0.000000000000001234", True),
        ("1.500000000000000000", True),
        ("12345678901234.56", False),
    ],
)
def test_a_number_is_a_number_while_excel_holds_its_significant_digits(text, exact):
    assert _exact_number(text) is exact
