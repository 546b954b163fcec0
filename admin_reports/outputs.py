"""
A compiled report in a file format (file_formats): its row path and its job.

    path, why = output_path(compiled, "xlsx")     # ("orm", "...") : what the run records
    job = output_job(compiled, "csv-excel", bom=True, on_rows=tracker.on_rows)
    path, why, sql = explain_output(compiled, "csv")   # run_report --explain

CSV takes the COPY path where pgcopy.row_path() allows it. CSV for Excel and XLSX are
written from the rows' values on the ORM path: COPY gives the database's CSV text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .compiler import CompiledReport
from .csv_output import DIALECTS, report_job
from .engine import StreamJob
from .file_formats import CSV, FILE_FORMATS, XLSX
from .pgcopy import ORM, explain_path, row_path
from .xlsx_output import xlsx_job


def output_path(compiled: CompiledReport, file_format: str = CSV) -> tuple[str, str]:
    """("copy" | "orm", why): the row source a run of `compiled` in `file_format` takes."""
    if file_format == CSV:
        return row_path(compiled)
    name = FILE_FORMATS[file_format].name
    return ORM, f"{name} is written from the rows' values; COPY gives CSV text"


def output_job(
    compiled: CompiledReport,
    file_format: str = CSV,
    *,
    bom: bool = False,
    path: str | None = None,
    on_rows: Callable[[int, int], None] | None = None,
    **options: Any,
) -> StreamJob:
    """The StreamJob of a run of `compiled` in `file_format` (path: output_path()'s)."""
    if file_format == XLSX:
        return xlsx_job(compiled, on_rows=on_rows, **options)
    dialect = DIALECTS[file_format]
    return report_job(compiled, bom=bom, path=path, on_rows=on_rows, dialect=dialect, **options)


def explain_output(compiled: CompiledReport, file_format: str = CSV) -> tuple[str, str, str]:
    """(path, why, SQL) of a run of `compiled` in `file_format` (run_report --explain)."""
    return explain_path(compiled, output_path(compiled, file_format))
