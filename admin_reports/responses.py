"""
HTTP responses that stream CSV through the engine, on WSGI and ASGI alike.

    response = stream_csv(request, job, filename="daily_sales_2026-03-01_2026-03-31.csv")

The response is gzip-encoded by the engine when the client accepts gzip (so
heartbeats leave the file intact and GZipMiddleware leaves it alone), says
`attachment`, and must not be cached or buffered by a proxy. Over a stream cap,
TooManyStreams is raised before anything starts.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Callable

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse
from django.utils.http import content_disposition_header

from .clients import ClientWatch
from .engine import AsyncStream, GzipWire, IdentityWire, StreamJob, SyncStream
from .runs import slots

ACCEPTS_GZIP = re.compile(r"\bgzip\b")


def client_watch(request: HttpRequest) -> ClientWatch | None:
    """A watch on the client's socket where the WSGI server hands it over (gunicorn)."""
    sock = request.META.get("gunicorn.socket")
    return ClientWatch(sock) if isinstance(sock, socket.socket) else None


def wire_for(request: HttpRequest) -> GzipWire | IdentityWire:
    if ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", "")):
        return GzipWire()
    return IdentityWire()


# A deployment problem, logged on the app's own logger, once a process.
logger = logging.getLogger("admin_reports")
CANNOT_ABORT = (
    "%s. Fix: `proxy_http_version 1.1;` in nginx (any proxy: HTTP/1.1 to the app), and"
    " gunicorn's gthread worker or an ASGI server such as uvicorn; see admin-reports'"
    " docs/deployment.md, When a report fails. (Logged once a process.)"
)
_warned = threading.Lock()  # taken by the one warning, never released


def cannot_abort(request: HttpRequest) -> str | None:
    """Why a failed download would look complete on this server, or None."""
    meta = request.META
    if isinstance(request, ASGIRequest):
        protocol = "HTTP/" + request.scope.get("http_version", "1.1")
    else:
        protocol = meta.get("SERVER_PROTOCOL", "")
    if protocol == "HTTP/1.0":
        return (
            "Report downloads come over HTTP/1.0, where a response ends when its connection"
            " closes: a failed download will look complete to the client"
        )
    if str(meta.get("SERVER_SOFTWARE", "")).startswith("gunicorn/") and not meta.get(
        "wsgi.multithread"
    ):
        return (
            "gunicorn's sync worker serves report downloads: it is killed at --timeout even"
            " while one streams, and behind a proxy speaking HTTP/1.0 (nginx's default)"
            " a failed download will look complete to the client"
        )
    return None


def warn_if_cannot_abort(request: HttpRequest) -> None:
    reason = cannot_abort(request)
    if reason and _warned.acquire(blocking=False):
        logger.warning(CANNOT_ABORT, reason)


def stream_csv(
    request: HttpRequest,
    job: StreamJob,
    filename: str,
    release: Callable[[], None] | None = None,
) -> StreamingHttpResponse:
    """The streaming response; takes a stream slot unless given one (`release`)."""
    warn_if_cannot_abort(request)
    if release is None:
        user = getattr(request, "user", None)
        release = slots.acquire(getattr(user, "pk", None))
    try:
        wire = wire_for(request)
        if isinstance(request, ASGIRequest):
            body: AsyncStream | SyncStream = AsyncStream(job, wire, release)
        else:
            body = SyncStream(job, wire, release, client_watch(request))
        response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
    except BaseException:
        release()
        raise
    response["Content-Disposition"] = content_disposition_header(True, filename) or ""
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each chunk on at once
    response["X-Report-Run"] = job.stream_id
    response["Vary"] = "Accept-Encoding"
    if wire.content_encoding:
        # Set by us, so GZipMiddleware leaves the response alone.
        response["Content-Encoding"] = wire.content_encoding
    return response
