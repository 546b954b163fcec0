"""
A compiled report as CSV bytes: the one encoder every face uses.

    header = header_bytes(compiled.headers, bom=True)  # sent at once, before the query
    for chunk in body_chunks(compiled):                 # rows, CHUNK_ROWS at a time
        ...
    job = report_job(compiled, bom=True)  # both, for the engine's producer thread
    job = report_job(compiled, dialect=EXCEL)  # semicolons, decimal commas, a BOM

Rows are read through a row source (the ORM's server-side cursor by default),
formatted by the report's formatters and encoded as RFC 4180 CSV in UTF-8. From
the default source, rows come a fetch at a time as columns, and each column is
formatted at once (formats.CellFormatter.column): a call per value costs more than
the rest of the way together. On PostgreSQL, a report job takes the COPY path where
pgcopy.row_path() allows it: the same bytes, formatted and encoded by the database.

A dialect other than the default (EXCEL: the CSV that Excel opens as columns where it
expects semicolons and decimal commas) takes the ORM path: its cells are the default
ones, with a decimal comma in the numbers' (formats.CellFormatter.kind), and csv.writer
quotes a cell that holds the delimiter.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .compiler import CompiledReport
from .conf import app_settings
from .engine import StreamJob
from .formats import NUMBER, loaded
from .pgcopy import COPY, copy_chunks, row_path
from .sources import orm_columns, orm_rows

RowSource = Callable[[CompiledReport], Iterable[tuple[Any, ...]]]


@dataclass(frozen=True)
class CsvDialect:
    delimiter: str = ","
    decimal_comma: bool = False
    bom: bool | None = None  # None: as the run says; True: always

    @property
    def quoted(self) -> tuple[str, ...]:
        """Characters that make csv.writer quote a cell (the delimiter, the quote, line ends)."""
        return ('"', self.delimiter, "\r", "\n")


COMMAS = CsvDialect()
EXCEL = CsvDialect(";", decimal_comma=True, bom=True)
# By file format name (file_formats.CSV_DIALECTS).
DIALECTS = {"csv": COMMAS, "csv-excel": EXCEL}
QUOTED = COMMAS.quoted


class PlainRows(list):
    """Rows of two or more text cells none of which csv.writer would quote."""


class CsvEncoder:
    """Encodes rows of cells into UTF-8 CSV bytes (CRLF line ends)."""

    def __init__(self, delimiter: str = ",") -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, delimiter=delimiter)
        self.delimiter = delimiter

    def encode(self, rows: Iterable[Sequence[str]]) -> bytes:
        if isinstance(rows, PlainRows) and rows:
            # What csv.writer writes for them, without its look at every character.
            text = "\r\n".join(map(self.delimiter.join, rows))
            return (text + "\r\n").encode("utf-8")
        self.writer.writerows(rows)
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text.encode("utf-8")


def header_bytes(headers: Sequence[str], *, bom: bool = False, delimiter: str = ",") -> bytes:
    data = CsvEncoder(delimiter).encode([headers])
    return (codecs.BOM_UTF8 + data) if bom else data


def encode_chunks(
    rows: Iterable[Sequence[str]],
    on_rows: Callable[[int, int], None] | None = None,
    delimiter: str = ",",
) -> Iterator[bytes]:
    """Rows of text cells as CSV chunks of CHUNK_ROWS rows; on_rows(rows, bytes) after each."""
    encoder = CsvEncoder(delimiter)
    chunk_rows = app_settings.CHUNK_ROWS
    batch: list[Sequence[str]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk_rows:
            yield _encoded(encoder, batch, on_rows)
            batch = []
    if batch:
        yield _encoded(encoder, batch, on_rows)


def encode_batches(
    batches: Iterable[list[Sequence[Any]]],
    on_rows: Callable[[int, int], None] | None = None,
    delimiter: str = ",",
) -> Iterator[bytes]:
    """Lists of rows, of any lengths, as CSV chunks of CHUNK_ROWS rows (the last: the rest)."""
    encoder = CsvEncoder(delimiter)
    chunk_rows = app_settings.CHUNK_ROWS
    pending: list[Sequence[Any]] = []
    plain = False
    for batch in batches:
        plain = isinstance(batch, PlainRows) and (plain or not pending)
        pending = pending + batch if pending else batch
        while len(pending) >= chunk_rows:
            yield _encoded(encoder, _rows(pending[:chunk_rows], plain), on_rows)
            pending = pending[chunk_rows:]
    if pending:
        yield _encoded(encoder, _rows(pending, plain), on_rows)


def _rows(rows: list[Sequence[Any]], plain: bool) -> list[Sequence[Any]]:
    return PlainRows(rows) if plain else rows


def _encoded(
    encoder: CsvEncoder, rows: list[Sequence[Any]], on_rows: Callable[[int, int], None] | None
) -> bytes:
    data = encoder.encode(rows)
    if on_rows:
        on_rows(len(rows), len(data))
    return data


def body_chunks(
    compiled: CompiledReport,
    *,
    source: RowSource = orm_rows,
    on_rows: Callable[[int, int], None] | None = None,
    dialect: CsvDialect = COMMAS,
) -> Iterator[bytes]:
    delimiter = dialect.delimiter
    if source is orm_rows:
        return encode_batches(_formatted_batches(compiled, dialect), on_rows, delimiter)
    format_row: Callable[[Sequence[Any]], list[str]] = compiled.format_row
    if dialect.decimal_comma:
        format_row = _with_decimal_commas(compiled)
    return encode_chunks((format_row(row) for row in source(compiled)), on_rows, delimiter)


def _formatted_batches(
    compiled: CompiledReport, dialect: CsvDialect = COMMAS
) -> Iterator[list[Sequence[Any]]]:
    """The ORM source's rows, formatted a column at a time."""
    formats = [_column_formatter(format_cell) for format_cell in compiled.formatters]
    if dialect.decimal_comma:
        formats = [
            _commas_in(format_column, format_cell)
            for format_column, format_cell in zip(formats, compiled.formatters, strict=True)
        ]
    quoted = dialect.quoted
    for columns in orm_columns(compiled, as_text=True):
        cells = [
            format_column(values) for format_column, values in zip(formats, columns, strict=True)
        ]
        texts = [_plain_texts(column, quoted) for column in cells] if len(cells) > 1 else [None]
        if all(column is not None for column in texts):
            yield PlainRows(zip(*texts, strict=True))
        else:
            yield list(zip(*cells, strict=True))


def _commas_in(format_column: Callable[[list], list], format_cell: Any) -> Callable[[list], list]:
    """A number column's formatter, with a decimal comma in its cells; others as they are."""
    if getattr(format_cell, "kind", None) != NUMBER:
        return format_column
    empty = format_cell.empty  # an empty label is text: it keeps its points

    def with_commas(values: list) -> list:
        return [
            cell.replace(".", ",") if type(cell) is str and cell != empty else cell
            for cell in format_column(values)
        ]

    return with_commas


def _with_decimal_commas(compiled: CompiledReport) -> Callable[[Sequence[Any]], list[str]]:
    """compiled.format_row, with a decimal comma in the number columns' cells."""
    empties = {
        index: getattr(format_cell, "empty", "")
        for index, format_cell in enumerate(compiled.formatters)
        if getattr(format_cell, "kind", None) == NUMBER
    }

    def format_row(row: Sequence[Any]) -> list[str]:
        cells = compiled.format_row(row)
        for index, empty in empties.items():
            if cells[index] != empty:
                cells[index] = cells[index].replace(".", ",")
        return cells

    return format_row


def _plain_texts(cells: list, quoted: tuple[str, ...] = QUOTED) -> list[str] | None:
    """The column's cells as csv.writer's text of them; None when it would quote one."""
    types = set(map(type, cells))
    if types != {str}:
        # csv.writer writes None as the empty string and other values as their str().
        if type(None) in types:
            cells = ["" if cell is None else str(cell) for cell in cells]
        else:
            cells = list(map(str, cells))
    joined = "\x00".join(cells)
    return None if any(char in joined for char in quoted) else cells


def _column_formatter(format_cell: Callable[[Any], str]) -> Callable[[list], list]:
    column = getattr(format_cell, "column", None)
    if column is not None:
        return column
    # A formatter set on a CompiledReport by hand: one call per value, as format_row.
    return lambda values: list(map(format_cell, loaded(values)))


def report_job(
    compiled: CompiledReport,
    *,
    bom: bool = False,
    source: RowSource | None = None,
    path: str | None = None,
    on_rows: Callable[[int, int], None] | None = None,
    dialect: CsvDialect = COMMAS,
    **options: Any,
) -> StreamJob:
    """A StreamJob whose producer thread runs the report's query.

    Rows come from `source` when given, else from the path (row_path() when None):
    COPY's chunks, or the ORM's rows; another dialect's always from the ORM's.
    """
    chunks: Callable[[], Iterator[bytes]]
    copy = dialect == COMMAS and source is None
    if copy and (path or row_path(compiled)[0]) == COPY:
        chunks = lambda: copy_chunks(compiled, on_rows)  # noqa: E731
    else:
        row_source = source or orm_rows
        chunks = lambda: body_chunks(  # noqa: E731
            compiled, source=row_source, on_rows=on_rows, dialect=dialect
        )
    bom = bom if dialect.bom is None else dialect.bom
    return StreamJob(
        header=header_bytes(compiled.headers, bom=bom, delimiter=dialect.delimiter),
        chunks=chunks,
        using=compiled.queryset.db,
        max_duration=compiled.max_duration,
        **options,
    )
