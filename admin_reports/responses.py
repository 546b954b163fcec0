"""
HTTP responses that stream CSV through the engine, on WSGI and ASGI alike.

    response = stream_csv(request, job, filename="daily_sales_2026-03-01_2026-03-31.csv")

The response is gzip-encoded by the engine when the client accepts gzip (so
heartbeats leave the file intact and GZipMiddleware leaves it alone), says
`attachment`, and must not be cached or buffered by a proxy. Over a stream cap,
TooManyStreams is raised before anything starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse
from django.utils.http import content_disposition_header

from .engine import AsyncStream, GzipWire, IdentityWire, StreamJob, SyncStream
from .runs import slots

ACCEPTS_GZIP = re.compile(r"\bgzip\b")


def wire_for(request: HttpRequest):
    if ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", "")):
        return GzipWire()
    return IdentityWire()


def stream_csv(
    request: HttpRequest,
    job: StreamJob,
    filename: str,
    release: Callable[[], None] | None = None,
) -> StreamingHttpResponse:
    """The streaming response; takes a stream slot unless given one (`release`)."""
    if release is None:
        user = getattr(request, "user", None)
        release = slots.acquire(getattr(user, "pk", None))
    try:
        wire = wire_for(request)
        stream_class = AsyncStream if isinstance(request, ASGIRequest) else SyncStream
        body = stream_class(job, wire, release)
        response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    except BaseException:
        release()
        raise
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each chunk on at once
    response["X-Report-Run"] = job.run_id
    response["Vary"] = "Accept-Encoding"
    if wire.content_encoding:
        # Set by us, so GZipMiddleware leaves the response alone.
        response["Content-Encoding"] = wire.content_encoding
    return response
