"""
A compiled report as CSV bytes, chunk by chunk: the one encoder every face uses.

    for chunk in iter_csv(compiled, bom=True):
        out.write(chunk)

The header row comes first, on its own, before the query runs. Rows are read
through a row source (the ORM's server-side cursor by default), formatted by the
report's formatters, and encoded CHUNK_ROWS at a time.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .compiler import CompiledReport
from .conf import app_settings
from .sources import orm_rows

RowSource = Callable[[CompiledReport], Iterable[tuple[Any, ...]]]


class CsvEncoder:
    """Encodes rows of cells into UTF-8 CSV bytes (RFC 4180, CRLF line ends)."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)

    def encode(self, rows: Iterable[list[str]]) -> bytes:
        self.writer.writerows(rows)
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text.encode("utf-8")


def header_bytes(compiled: CompiledReport, *, bom: bool = False) -> bytes:
    data = CsvEncoder().encode([compiled.headers])
    return (codecs.BOM_UTF8 + data) if bom else data


def iter_csv(
    compiled: CompiledReport,
    *,
    bom: bool = False,
    source: RowSource = orm_rows,
    on_rows: Callable[[int, int], None] | None = None,
) -> Iterator[bytes]:
    """The header chunk, then chunks of rows; `on_rows(rows, bytes)` after each chunk."""
    yield header_bytes(compiled, bom=bom)
    encoder = CsvEncoder()
    format_row = compiled.format_row
    chunk_rows = app_settings.CHUNK_ROWS
    batch: list[list[str]] = []
    for row in source(compiled):
        batch.append(format_row(row))
        if len(batch) >= chunk_rows:
            data = encoder.encode(batch)
            if on_rows:
                on_rows(len(batch), len(data))
            batch = []
            yield data
    if batch:
        data = encoder.encode(batch)
        if on_rows:
            on_rows(len(batch), len(data))
        yield data
