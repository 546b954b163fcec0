"""
The library's four reports (docs/example-library.md) against the same reports
computed in plain Python (expected.py), row by row and cell by cell, through the
path a download takes: the ORM path everywhere, and on PostgreSQL the path the
report takes there (COPY where the cells allow it).

The data (data.py) crosses the spring DST change in Europe/Berlin.
"""

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command

from admin_reports.compiler import ReportParams, compile_report
from admin_reports.csv_output import report_job
from admin_reports.pgcopy import COPY, ORM, row_path
from admin_reports.registry import check_compiles, load_definition

from . import expected
from .data import build_library
from .expected import all_loans
from .models import Book, Branch, Loan

pytestmark = pytest.mark.django_db

DEFS = Path(__file__).parent / "report_defs"
# Reports 2 to 4 use syntax of the same issue built alongside (range.*, where:, having:,
# label(), windows, rank(), column names as values: C; duration(), days(): B).


WINTER_TO_SPRING = (dt.date(2026, 2, 1), dt.date(2026, 4, 30))
MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
EVERYTHING = (dt.date(2026, 1, 1), dt.date(2026, 5, 31))


@pytest.fixture
def library(settings):
    assert settings.TIME_ZONE == "Europe/Berlin"
    return build_library()


def spec_of(name: str):
    spec, problems = load_definition(DEFS / f"{name}.yaml")
    assert [str(problem) for problem in problems] == []
    assert [str(problem) for problem in check_compiles(spec)] == []
    return spec


def downloads(spec, params: ReportParams, vendor: str) -> dict[str, bytes]:
    """The file's bytes by row path: the ORM's, and on PostgreSQL the one it takes there."""
    compiled = compile_report(spec, params)
    paths = [ORM]
    if vendor == "postgresql":
        path, why = row_path(compiled)
        assert path == COPY, why  # every cell of these reports has an SQL format
        paths.append(path)
    files = {}
    for path in paths:
        job = report_job(compiled, path=path)
        files[path] = job.header + b"".join(job.chunks())
    return files


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8")


def assert_file(data: bytes, rows: list[list[str]], close: dict[str, Decimal] | None = None):
    """`data` holds `rows`, cell for cell; in the columns of `close`, numbers within that."""
    got = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert got[0] == rows[0]
    assert len(got) == len(rows), f"{len(got) - 1} rows, expected {len(rows) - 1}"
    near = {rows[0].index(name): within for name, within in (close or {}).items()}
    for index, (row, want) in enumerate(zip(got[1:], rows[1:], strict=True), start=1):
        for column, (cell, expected_cell) in enumerate(zip(row, want, strict=True)):
            if column in near:
                difference = abs(Decimal(cell) - Decimal(expected_cell))
                assert difference <= near[column], (index, rows[0][column], cell, expected_cell)
            else:
                assert cell == expected_cell, (index, rows[0][column], row, want)
    if not close:
        assert data == as_csv(rows)  # CRLF line ends, quoting as Python's csv, no BOM


def run(spec, vendor: str, start, end, selection=None, model=None) -> dict[str, bytes]:
    params = ReportParams(start=start, end=end, selection=selection, selection_model=model)
    return downloads(spec, params, vendor)


# -- the data itself: what the reports below rely on ------------------------------------


def test_the_data_holds_the_edges_the_reports_are_tested_on(library):
    loans = all_loans()
    assert len(loans) == 329
    assert sum(loan.returned_at is None for loan in loans) >= 30
    late = [loan for loan in loans if expected.is_overdue(loan, dt.date(2026, 5, 31))]
    assert sum(loan.returned_at is not None for loan in late) >= 30
    genres = {loan.book.genre for loan in loans}
    assert "poetry" not in genres
    assert "atlas" in genres
    assert "atlas" not in Book.Genre.values
    assert all(loan.fee == 0 for loan in loans if loan.book.genre == "children")
    assert any(loan.fee.as_tuple().exponent == -2 and loan.fee % 1 for loan in loans)
    fees = {genre: sum(loan.fee for loan in loans if loan.book.genre == genre) for genre in genres}
    assert fees["mystery"] == fees["history"] > 0
    dst = dt.datetime(2026, 3, 29, 1, tzinfo=dt.UTC)
    assert any(loan.borrowed_at < dst < loan.returned_at for loan in loans if loan.returned_at)
    returned = [loan for loan in loans if loan.returned_at]
    assert any(loan.returned_at < loan.borrowed_at for loan in returned)


# -- 1. loans per branch and month --------------------------------------------------------


def test_branch_monthly_loans_over_every_branch(library, vendor):
    rows = expected.branch_monthly_loans(all_loans(), *WINTER_TO_SPRING)
    for data in run(spec_of("branch_monthly_loans"), vendor, *WINTER_TO_SPRING).values():
        assert_file(data, rows)
    months = {row[1] for row in rows[1:]}
    assert months == {"2026-02", "2026-03", "2026-04"}
    assert [row[0] for row in rows[1:]].count("'=Harbour") == 3
    assert sum(int(row[2]) for row in rows[1:]) > 200


def test_branch_monthly_loans_counts_local_months(library, vendor):
    """A loan at local midnight of 1 March counts in March, one a microsecond before in
    February; 31 March 23:59:59 (summer time) in March, midnight after it in April."""
    central = library.branches["Central"]
    spec = spec_of("branch_monthly_loans")
    loans = [loan for loan in all_loans() if loan.branch == central]
    rows = expected.branch_monthly_loans(loans, *WINTER_TO_SPRING)
    for data in run(spec, vendor, *WINTER_TO_SPRING, [central.pk], Branch).values():
        assert_file(data, rows)
    only_edges = [loan for loan in loans if loan.fee in (Decimal("0.01"), Decimal("0.99"))]
    assert {expected.local(loan.borrowed_at).strftime("%Y-%m") for loan in only_edges} >= {
        "2026-02",
        "2026-03",
    }


def test_branch_monthly_loans_of_selected_branches_in_march(library, vendor):
    chosen = [library.branches["Süd"], library.branches["=Harbour"]]
    loans = [loan for loan in all_loans() if loan.branch in chosen]
    rows = expected.branch_monthly_loans(loans, *MARCH)
    files = run(spec_of("branch_monthly_loans"), vendor, *MARCH, [b.pk for b in chosen], Branch)
    for data in files.values():
        assert_file(data, rows)
    assert [row[:2] for row in rows[1:]] == [["'=Harbour", "2026-03"], ["Süd", "2026-03"]]


def test_branch_monthly_loans_of_selected_loans(library, vendor):
    """On the Loan changelist: the rows are the selected loans'."""
    chosen = [loan for loan in all_loans() if loan.pk % 3 == 0]
    rows = expected.branch_monthly_loans(chosen, *WINTER_TO_SPRING)
    pks = [loan.pk for loan in chosen]
    for data in run(
        spec_of("branch_monthly_loans"), vendor, *WINTER_TO_SPRING, pks, Loan
    ).values():
        assert_file(data, rows)


@pytest.mark.django_db(transaction=True)  # the command reads in a thread of its own
def test_branch_monthly_loans_from_run_report(library, settings, tmp_path):
    """Loaded from ADMIN_REPORTS_DIRS as a project loads it, run by the command."""
    settings.ADMIN_REPORTS_DIRS = [DEFS]
    output = tmp_path / "out.csv"
    start, end = WINTER_TO_SPRING
    call_command(
        "run_report", "branch_monthly_loans", "--no-bom", "--start", str(start),
        "--end", str(end), "--output", str(output),
    )  # fmt: skip
    assert_file(output.read_bytes(), expected.branch_monthly_loans(all_loans(), start, end))


# -- 2. loans of the selected books, with days borrowed ----------------------------------


def test_book_loans_with_days_borrowed(library, vendor):
    """Days are whole 24-hour days, truncated toward zero: 47.5 hours across the DST
    change are 1, a return 36 hours before the loan is -1; an open loan's is empty."""
    titles = ["Rain, Again", "Glass Houses", "World Atlas 1998", "The Cell"]
    chosen = [library.books[title] for title in titles]
    loans = [loan for loan in all_loans() if loan.book in chosen]
    rows = expected.book_loans(loans, *MARCH)
    cells = [row[1:] for row in rows]
    assert ["Sam", "2026-03-28 12:00:00", "2026-03-30 12:30:00", "1"] in cells
    assert ["Li Wei", "2026-03-12 13:00:00", "2026-03-11 01:00:00", "-1"] in cells
    assert any(row[3] == row[4] == "" for row in rows[1:])
    files = run(spec_of("book_loans"), vendor, *MARCH, [book.pk for book in chosen], Book)
    for data in files.values():
        assert_file(data, rows)


# -- 3. overdue loans at the end of the range --------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"), [(dt.date(2026, 3, 1), dt.date(2026, 5, 10)), EVERYTHING, MARCH]
)
def test_overdue_loans(library, vendor, start, end):
    """A datetime compared with range.end - 21 days compares its local date (borrowed on
    a day more than 21 days before the range's last day); 21 days are 21 x 24 hours, on
    both sides of the DST change, on the ORM and the COPY path alike (the COPY session is
    in the report's zone, the ORM's in UTC): a loan borrowed on 20 March at 11:00 CET is
    due on 10 April at 12:00 CEST."""
    rows = expected.overdue_loans(all_loans(), start, end)
    assert len(rows) > 10
    assert any(row[5] == "still out" for row in rows[1:])
    assert any(row[5] != "still out" for row in rows[1:])
    if end == EVERYTHING[1]:
        assert ["Central", "Chiara", "Small Numbers", "2026-03-20 11:00:00"] in [
            row[:4] for row in rows
        ]
        assert ["2026-04-10 12:00:00", "still out"] in [row[4:] for row in rows]
    for data in run(spec_of("overdue_loans"), vendor, start, end).values():
        assert_file(data, rows)


# -- 4. revenue and share per genre -----------------------------------------------------


@pytest.mark.parametrize("branches", [None, ["Central", "Süd"]])
def test_genre_revenue_with_share_and_rank(library, vendor, branches):
    """Share: revenue over the sum of the rows shown (after having), divided as the
    language divides (6 places) and shown with 4. Rank: SQL's RANK over revenue,
    descending (ties share)."""
    loans = all_loans()
    selection = None
    if branches:
        chosen = [library.branches[name] for name in branches]
        loans = [loan for loan in loans if loan.branch in chosen]
        selection = [branch.pk for branch in chosen]
    rows = expected.genre_revenue(loans, *EVERYTHING)
    genres = [row[0] for row in rows[1:]]
    assert "atlas" in genres
    assert "Children's books" not in genres
    assert "Poetry" not in genres
    if branches is None:
        ranks = {row[0]: row[3] for row in rows[1:]}
        assert ranks["Mystery"] == ranks["History"]
        assert sorted(map(int, ranks.values())) != list(range(1, len(ranks) + 1))
    files = run(spec_of("genre_revenue"), vendor, *EVERYTHING, selection, selection and Branch)
    for data in files.values():
        assert_file(data, rows)
