"""
The file formats a report downloads as, by name: what every layer needs to know of them.

    FILE_FORMATS["xlsx"].extension        # ".xlsx"
    FILE_FORMATS["csv-excel"].label       # "CSV for Excel (semicolons, decimal commas)"
    content_type_of("march.xlsx")         # the type a response of that file says
    file_format_of("march.csv.gz")        # the CSV's FileFormat

"csv" is the comma-separated file of RFC 4180; "csv-excel" the one Excel opens as
columns where it expects semicolons and decimal commas (German, French, ... settings),
with a UTF-8 byte order mark; "xlsx" an Excel workbook of one sheet, with typed cells.
How each is written is the rows layer's business (csv_output, xlsx_output).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class FileFormat:
    name: str
    label: str | Promise
    extension: str
    content_type: str
    # Whether the bytes shrink under gzip: a stored file is kept gzip-compressed then.
    compressible: bool = True


CSV = "csv"
CSV_EXCEL = "csv-excel"
XLSX = "xlsx"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
# The rows of an XLSX sheet, its header row included (Excel's limit).
SHEET_ROWS = 1_048_576

FILE_FORMATS: dict[str, FileFormat] = {
    CSV: FileFormat(CSV, _("CSV"), ".csv", CSV_TYPE),
    CSV_EXCEL: FileFormat(
        CSV_EXCEL, _("CSV for Excel (semicolons, decimal commas)"), ".csv", CSV_TYPE
    ),
    XLSX: FileFormat(XLSX, _("Excel workbook (XLSX)"), ".xlsx", XLSX_TYPE, compressible=False),
}
# The dialects of CSV: ADMIN_REPORTS_CSV_DIALECTS picks one by language.
CSV_DIALECTS = (CSV, CSV_EXCEL)


def file_format_of(filename: str) -> FileFormat:
    """The file format of a report file, by its extension (a stored ".gz" left aside)."""
    name = filename.removesuffix(".gz").lower()
    for file_format in FILE_FORMATS.values():
        if name.endswith(file_format.extension):
            return file_format
    return FILE_FORMATS[CSV]


def content_type_of(filename: str) -> str:
    """The Content-Type of a report file, by its extension (a stored ".gz" left aside)."""
    return file_format_of(filename).content_type
