"""
A compiled report as CSV bytes: the one encoder every face uses.

    header = header_bytes(compiled.headers, bom=True)  # sent at once, before the query
    for chunk in body_chunks(compiled):                 # rows, CHUNK_ROWS at a time
        ...
    job = report_job(compiled, bom=True)  # both, for the engine's producer thread

Rows are read through a row source (the ORM's server-side cursor by default),
formatted by the report's formatters and encoded as RFC 4180 CSV in UTF-8. On
PostgreSQL, a report job takes the COPY path where pgcopy.row_path() allows it:
the same bytes, formatted and encoded by the database.
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
from .pgcopy import COPY, copy_chunks, row_path
from .sources import orm_rows

RowSource = Callable[[CompiledReport], Iterable[tuple[Any, ...]]]


class CsvEncoder:
    """Encodes rows of cells into UTF-8 CSV bytes (CRLF line ends)."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)

    def encode(self, rows: Iterable[Sequence[str]]) -> bytes:
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
            data = encoder.encode(batch)
            batch = []
            if on_rows:
                on_rows(chunk_rows, len(data))
            yield data
    if batch:
        data = encoder.encode(batch)
        if on_rows:
            on_rows(len(batch), len(data))
        yield data


def body_chunks(
    compiled: CompiledReport,
    *,
    source: RowSource = orm_rows,
    on_rows: Callable[[int, int], None] | None = None,
) -> Iterator[bytes]:
    format_row = compiled.format_row
    return encode_chunks((format_row(row) for row in source(compiled)), on_rows)


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
