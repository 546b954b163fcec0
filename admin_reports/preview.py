"""
A look at a report before it runs: its first rows, as the file will have them, and
how many rows the whole file will have.

    preview = run_preview(run_request, user=request.user, client=client_watch(request))
    preview.headers, preview.rows   # the first PREVIEW_ROWS rows, cells as in the CSV
    preview.estimate                # RowEstimate: "about 1,234,000 rows"
    preview.range_text              # "1 Oct 2026 - 31 Oct 2026, Europe/Berlin"

The rows come from the report's compiled query with a LIMIT, read and formatted as a
download's ORM path reads and formats them, so they equal the first data rows of
the download. The query runs in the engine's producer thread: it is stopped at
ADMIN_REPORTS_PREVIEW_TIMEOUT (or the report's max_duration, if shorter), and when
the client leaves (gunicorn; under ASGI and runserver it runs on to its time cap).
A preview is checked like a run (permissions, the stream caps) but stores nothing:
it is not a ReportRun.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from .charts import ChartSVG, render_chart
from .clients import ClientWatch
from .compiler import CompiledReport, compile_report
from .conf import app_settings
from .engine import IdentityWire, QueryTimeout, StreamAborted, StreamJob, SyncStream
from .estimate import RowEstimate, estimate_rows
from .exceptions import ReportError, in_words
from .run_request import RunRequest
from .runs import check_may_start
from .sources import orm_columns


class PreviewFailed(ReportError):
    """The preview did not finish: its time cap, a database error, a cancel."""


@dataclass
class Preview:
    headers: list[str]
    rows: list[list[str]]  # formatted cells, the first PREVIEW_ROWS rows
    values: list[tuple[Any, ...]] = field(default_factory=list)  # the rows read, unformatted
    estimate: RowEstimate = field(default_factory=RowEstimate)
    range_text: str = ""
    seconds: float = 0.0
    more: bool = False  # whether the report has rows beyond those shown
    chart: ChartSVG | None = None  # the definition's chart, of the rows read


def run_preview(
    request: RunRequest,
    *,
    user: Any,
    client: ClientWatch | None = None,
    read: int | None = None,
) -> Preview:
    """The preview of `request` for `user`; refusals as for a run, PreviewFailed after.

    `read`: rows to read (default PREVIEW_ROWS, or CHART_ROWS for a report with a chart)."""
    check_may_start(request, user, fits=False)  # a preview is of rows, in any format
    shown = app_settings.PREVIEW_ROWS
    if read is None and request.spec.chart is not None:
        read = app_settings.CHART_ROWS
    compiled = compile_report(request.spec, request.params())
    timeout = float(app_settings.PREVIEW_TIMEOUT)
    if compiled.max_duration:
        timeout = min(timeout, compiled.max_duration)
    # One row beyond what is read tells whether there are more.
    limited = replace(compiled, queryset=compiled.queryset[: max(shown, read or 0) + 1])
    found: list[tuple[Any, ...]] = []
    estimates: list[RowEstimate] = []

    def chunks() -> Iterator[bytes]:
        for columns in orm_columns(limited):
            found.extend(zip(*columns, strict=True))
        estimates.append(_estimate(compiled, found, limited))
        yield from ()

    started = time.monotonic()
    job = StreamJob(
        header=b"",
        chunks=chunks,
        using=compiled.queryset.db,
        max_duration=timeout,
        name=f"Preview of {request.spec.name}",
    )
    stream = SyncStream(job, IdentityWire(heartbeats=False), client=client)
    try:
        for _chunk in stream:
            pass
    except StreamAborted as exc:
        raise PreviewFailed(_failure(exc.__cause__)) from None
    read = max(shown, read or 0)
    values = found[:read]
    estimate = estimates[0] if estimates else RowEstimate()
    return Preview(
        headers=list(compiled.headers),
        rows=[compiled.format_row(row) for row in values[:shown]],
        values=values,
        estimate=estimate,
        range_text=range_in_words(request),
        seconds=time.monotonic() - started,
        more=len(found) > shown,
        chart=_chart(compiled, values, cut=len(found) > read, estimate=estimate),
    )


def _chart(
    compiled: CompiledReport,
    values: list[tuple[Any, ...]],
    *,
    cut: bool,
    estimate: RowEstimate,
) -> ChartSVG | None:
    chart = compiled.spec.chart
    if chart is None:
        return None
    # The rows have the columns chosen for the run: a chart names those it misses.
    svg = render_chart(chart, compiled.columns, values, every_column=compiled.spec.columns)
    if cut:  # the chart is of the rows read, not of the whole report
        svg.caption = _("%(caption)s Drawn from the first %(read)s rows of %(all)s.") % {
            "caption": svg.caption,
            "read": f"{len(values):,}",
            "all": estimate,
        }
    return svg


def _estimate(
    compiled: CompiledReport, found: list[tuple[Any, ...]], limited: CompiledReport
) -> RowEstimate:
    limit = limited.queryset.query.high_mark
    if limit is not None and len(found) < limit:  # all the rows came: counted
        return RowEstimate(len(found), exact=True)
    estimate = estimate_rows(compiled)
    if estimate.rows is not None and estimate.rows < len(found):
        return RowEstimate(len(found))  # the planner guessed fewer rows than were read
    return estimate


def _failure(error: BaseException | None) -> str:
    if isinstance(error, QueryTimeout):
        return _(
            "The preview was stopped after %(seconds)s s. The report may still run as a"
            " download or in the background."
        ) % {"seconds": f"{error.seconds:g}"}
    if not isinstance(error, Exception):  # no error: cancelled (the client left)
        return _("The preview was cancelled.")
    return _("The preview failed: %(reason)s") % {"reason": in_words(error)}


def range_in_words(request: RunRequest) -> str:
    """ "1 Oct 2026 - 31 Oct 2026, Europe/Berlin"; empty for a report without dates."""
    if request.start is None or request.end is None:
        return ""
    start = formats.date_format(request.start, "j M Y")
    end = formats.date_format(request.end, "j M Y")
    return f"{start} - {end}, {timezone.get_current_timezone_name()}"
