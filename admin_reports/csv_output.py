"""
A compiled report as CSV bytes: the one encoder every face uses.

    header = header_bytes(compiled.headers, bom=True)  # sent at once, before the query
    for chunk in body_chunks(compiled):                 # rows, CHUNK_ROWS at a time
        ...
    job = report_job(compiled, bom=True)  # both, for the engine's producer thread

Rows are read through a row source (the ORM's server-side cursor by default),
formatted by the report's formatters and encoded as RFC 4180 CSV in UTF-8. From
the default source, rows come a fetch at a time as columns, and each column is
formatted at once (formats.CellFormatter.column): a call per value costs more than
the rest of the way together. On PostgreSQL, a report job takes the COPY path where
pgcopy.row_path() allows it: the same bytes, formatted and encoded by the database.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .compiler import CompiledReport
from .conf import app_settings
from .engine import StreamJob
from .formats import loaded
from .pgcopy import COPY, copy_chunks, row_path
from .sources import orm_columns, orm_rows

RowSource = Callable[[CompiledReport], Iterable[tuple[Any, ...]]]


# Characters that make csv.writer quote a cell (the delimiter, the quote, line ends).
QUOTED = ('"', ",", "\r", "\n")


class PlainRows(list):
    """Rows of two or more text cells none of which csv.writer would quote."""


class CsvEncoder:
    """Encodes rows of cells into UTF-8 CSV bytes (CRLF line ends)."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)

    def encode(self, rows: Iterable[Sequence[str]]) -> bytes:
        if isinstance(rows, PlainRows) and rows:
            # What csv.writer writes for them, without its look at every character.
            return ("\r\n".join(map(",".join, rows)) + "\r\n").encode("utf-8")
        self.writer.writerows(rows)
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text.encode("utf-8")


def header_bytes(headers: Sequence[str], *, bom: bool = False) -> bytes:
    data = CsvEncoder().encode([headers])
    return (codecs.BOM_UTF8 + data) if bom else data


def encode_chunks(
    rows: Iterable[Sequence[str]], on_rows: Callable[[int, int], None] | None = None
) -> Iterator[bytes]:
    """Rows of text cells as CSV chunks of CHUNK_ROWS rows; on_rows(rows, bytes) after each."""
    encoder = CsvEncoder()
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
    batches: Iterable[list[Sequence[Any]]], on_rows: Callable[[int, int], None] | None = None
) -> Iterator[bytes]:
    """Lists of rows, of any lengths, as CSV chunks of CHUNK_ROWS rows (the last: the rest)."""
    encoder = CsvEncoder()
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
) -> Iterator[bytes]:
    if source is orm_rows:
        return encode_batches(_formatted_batches(compiled), on_rows)
    format_row = compiled.format_row
    return encode_chunks((format_row(row) for row in source(compiled)), on_rows)


def _formatted_batches(compiled: CompiledReport) -> Iterator[list[Sequence[Any]]]:
    """The ORM source's rows, formatted a column at a time."""
    formats = [_column_formatter(format_cell) for format_cell in compiled.formatters]
    for columns in orm_columns(compiled, as_text=True):
        cells = [
            format_column(values) for format_column, values in zip(formats, columns, strict=True)
        ]
        texts = [_plain_texts(column) for column in cells] if len(cells) > 1 else [None]
        if all(column is not None for column in texts):
            yield PlainRows(zip(*texts, strict=True))
        else:
            yield list(zip(*cells, strict=True))


def _plain_texts(cells: list) -> list[str] | None:
    """The column's cells as csv.writer's text of them; None when it would quote one."""
    types = set(map(type, cells))
    if types != {str}:
        # csv.writer writes None as the empty string and other values as their str().
        if type(None) in types:
            cells = ["" if cell is None else str(cell) for cell in cells]
        else:
            cells = list(map(str, cells))
    joined = "\x00".join(cells)
    return None if any(char in joined for char in QUOTED) else cells


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
    **options: Any,
) -> StreamJob:
    """A StreamJob whose producer thread runs the report's query.

    Rows come from `source` when given, else from the path (row_path() when None):
    COPY's chunks, or the ORM's rows.
    """
    chunks: Callable[[], Iterator[bytes]]
    if source is None and (path or row_path(compiled)[0]) == COPY:
        chunks = lambda: copy_chunks(compiled, on_rows)  # noqa: E731
    else:
        row_source = source or orm_rows
        chunks = lambda: body_chunks(compiled, source=row_source, on_rows=on_rows)  # noqa: E731
    return StreamJob(
        header=header_bytes(compiled.headers, bom=bom),
        chunks=chunks,
        using=compiled.queryset.db,
        max_duration=compiled.max_duration,
        **options,
    )
