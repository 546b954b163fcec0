"""
A compiled report as an XLSX workbook of one sheet, streamed with flat memory.

    job = xlsx_job(compiled, on_rows=tracker.on_rows)  # a StreamJob, as csv_output's
    xlsx_row_limit()           # 1,048,575: the rows a sheet holds below its header row

The workbook is a zip written as it goes by stream-zip: members with data descriptors
(sizes and checksum after the data) in the 32-bit layout, which Excel opens (its
checks of ZIP64 members, which a zip of unknown size would otherwise need, are known
to be strict). The small parts (content types, relationships, workbook, styles) are
known before the query runs: with the sheet's local header they are the job's header,
sent at once. The sheet's XML follows in the producer thread, deflated as its rows come
a fetch at a time (sources.orm_columns; cells: xlsx_cells), then the zip's directory.

A sheet holds 1,048,576 rows: past xlsx_row_limit() rows below the header the stream
fails with SheetFull, which the run records in words; so does a sheet past the zip's
4 GiB. A failed workbook is cut off, as any failed download (no marker: a zip has no
room for text). A response without gzip gets no heartbeats (a zip takes no blank lines).
"""

from __future__ import annotations

import datetime as dt
import stat
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from xml.sax.saxutils import quoteattr

from django.utils.translation import gettext as _
from stream_zip import ZIP_32, ZipOverflowError, stream_zip

from .compiler import CompiledReport
from .conf import app_settings
from .engine import StreamJob, isal_zlib
from .exceptions import ReportError
from .file_formats import SHEET_ROWS
from .sources import orm_columns
from .xlsx_cells import MAIN, XML_HEAD, SheetColumns

SHEET = "xl/worksheets/sheet1.xml"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
SHEET_NAME_REFUSED = str.maketrans(dict.fromkeys("[]:*?/\\", " "))
ZIP_CHUNK = 64 * 1024


def xlsx_row_limit() -> int:
    """The rows a sheet holds below its header row: more fail the stream (SheetFull)."""
    return SHEET_ROWS - 1


class SheetFull(ReportError):
    """More rows than an XLSX sheet holds; the message says what to do."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            _(
                "An XLSX sheet holds at most %(limit)s rows below its header, and this report"
                " has more. Narrow it (a shorter date range, fewer objects), or download it"
                " as CSV."
            )
            % {"limit": f"{limit:,}"}
        )


class SheetTooLarge(ReportError):
    """A sheet past the 4 GiB a zip member of the layout Excel opens may hold."""

    def __init__(self) -> None:
        super().__init__(
            _(
                "The XLSX sheet grew past 4 GiB, more than the workbook can hold. Narrow the"
                " report, or download it as CSV."
            )
        )


def xlsx_job(
    compiled: CompiledReport,
    *,
    on_rows: Callable[[int, int], None] | None = None,
    **options: Any,
) -> StreamJob:
    """A StreamJob whose producer thread runs the report's query into the workbook."""
    columns = SheetColumns(compiled.headers, compiled.formatters, compiled.tz)
    header_sent = threading.Event()
    sheet = _sheet(compiled, columns, on_rows or _ignore, header_sent)
    zipped = iter(_zipped(_parts(compiled, columns, sheet)))
    # One block a member up to the sheet's local header: stream-zip ends a block there.
    header = b"".join(next(zipped) for _member in range(len(STATIC_PARTS) + 1))
    header_sent.set()

    def chunks() -> Iterator[bytes]:
        try:
            for block in zipped:
                if on_rows is not None:
                    on_rows(0, len(block))
                yield block
        except ZipOverflowError:
            raise SheetTooLarge() from None

    options["marker"] = lambda what: b""
    return StreamJob(
        header=header,
        chunks=chunks,
        using=compiled.queryset.db,
        max_duration=compiled.max_duration,
        filler=b"",
        **options,
    )


def _ignore(rows: int, size: int) -> None:
    """No one counts."""


def _sheet(
    compiled: CompiledReport,
    columns: SheetColumns,
    on_rows: Callable[[int, int], None],
    header_sent: threading.Event,
) -> Iterator[bytes]:
    """The sheet's XML: its head and header row, then each fetch's rows, then its end."""
    yield (
        f'{XML_HEAD}<worksheet xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}">'
        '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2"'
        ' activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
        f"{columns.cols_xml()}<sheetData>{columns.header_row()}"
    ).encode()
    if not header_sent.is_set():
        # The header is made in the request's thread, which must never run the query.
        raise RuntimeError("stream-zip asked for the sheet's rows before its local header.")
    limit, written = xlsx_row_limit(), 0
    for values in orm_columns(compiled, as_text=True):
        count = len(values[0]) if values else 0
        if written + count > limit:
            raise SheetFull(limit)
        yield columns.rows(values, first=written + 2).encode()
        written += count
        on_rows(count, 0)
    yield b"</sheetData></worksheet>"


def _zipped(parts: Iterable[tuple[str, Iterable[bytes]]]) -> Iterable[bytes]:
    modified = dt.datetime.now()  # local time, as a zip has it (Django sets the process's TZ)
    mode = stat.S_IFREG | 0o644
    library = isal_zlib or zlib
    level = min(app_settings.GZIP_LEVEL, 3) if library is not zlib else app_settings.GZIP_LEVEL
    members = ((name, modified, mode, ZIP_32, chunks) for name, chunks in parts)
    return stream_zip(
        members,
        chunk_size=ZIP_CHUNK,
        get_compressobj=lambda: library.compressobj(level, library.DEFLATED, -zlib.MAX_WBITS),
        extended_timestamps=False,
    )


def _parts(
    compiled: CompiledReport, columns: SheetColumns, sheet: Iterator[bytes]
) -> Iterator[tuple[str, Iterable[bytes]]]:
    texts = {**STATIC_PARTS, "xl/workbook.xml": _workbook(compiled.spec.title)}
    texts["xl/styles.xml"] = columns.styles_xml()
    for name in STATIC_PARTS:
        yield name, (texts[name].encode(),)
    yield SHEET, sheet


def sheet_name(title: str) -> str:
    """A report's title as a sheet's name: at most 31 characters, none of []:*?/\\."""
    name = " ".join(str(title).translate(SHEET_NAME_REFUSED).split()).strip("'")
    return name[:31].strip() or "Report"


def _workbook(title: str) -> str:
    return (
        f'{XML_HEAD}<workbook xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}">'
        f'<sheets><sheet name={quoteattr(sheet_name(title))} sheetId="1" r:id="rId1"/>'
        "</sheets></workbook>"
    )


STATIC_PARTS: dict[str, str] = {
    "[Content_Types].xml": (
        f'{XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels"'
        ' ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{OFFICE}.sheet.main+xml"/>'
        f'<Override PartName="/{SHEET}" ContentType="{OFFICE}.worksheet+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{OFFICE}.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        f'{XML_HEAD}<Relationships xmlns="{PACKAGE_RELATIONSHIPS}">'
        f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/officeDocument"'
        ' Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/_rels/workbook.xml.rels": (
        f'{XML_HEAD}<Relationships xmlns="{PACKAGE_RELATIONSHIPS}">'
        f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/worksheet"'
        ' Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{RELATIONSHIPS}/styles" Target="styles.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": "",  # the sheet's name: the report's title
    "xl/styles.xml": "",  # the columns' number formats
}
