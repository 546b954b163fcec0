"""
HTTP responses that stream report files through the engine, on WSGI and ASGI alike.

    response = stream_csv(request, job, filename="daily_sales_2026-03-01_2026-03-31.csv")
    response = stream_csv(request, job, filename="daily_sales.xlsx")  # its type follows

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
import zlib
from collections.abc import Callable

from django.core.handlers.asgi import ASGIRequest
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.utils.http import content_disposition_header, http_date

from .clients import ClientWatch
from .conf import app_settings, report_storage, signs_urls
from .engine import AsyncStream, GzipWire, IdentityWire, StreamJob, SyncStream
from .file_formats import content_type_of
from .models import ReportRun
from .runs import slots
from .stored import READ_SIZE, signed_url

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
    """The streaming response of a report file (CSV or XLSX: its Content-Type follows the
    filename's extension); takes a stream slot unless given one (`release`)."""
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
        response = StreamingHttpResponse(body, content_type=content_type_of(filename))
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


# Stored files ------------------------------------------------------------

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def stored_file_response(request: HttpRequest, run: ReportRun) -> HttpResponseBase:
    """A stored run's file, with Range support (a dropped download resumes).

    A CSV is kept gzip-compressed (its name ends in .gz): a client that accepts gzip
    gets those bytes as they are (Content-Encoding: gzip; a range is of them), any
    other client the CSV decompressed as it goes (a range is of the CSV). An XLSX is
    kept and sent as it is. ADMIN_REPORTS_STORAGE_REDIRECT sends the client to the
    storage's own URL instead.
    """
    kept_gzipped = run.file.endswith(".gz")
    filename = run.file.rsplit("/", 1)[-1].removesuffix(".gz")
    storage = report_storage()
    if app_settings.STORAGE_REDIRECT and signs_urls(storage):
        return HttpResponseRedirect(signed_url(run.file, filename))  # never to MEDIA_URL
    accepts = bool(ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", "")))
    gzipped = kept_gzipped and accepts
    as_kept = gzipped or not kept_gzipped
    total = int(run.file_size or 0) if as_kept else run.bytes
    etag = f'"{run.token.hex}-{"gzip" if gzipped else filename.rsplit(".", 1)[-1]}"'
    last_modified = http_date((run.finished_at or run.created_at).timestamp())
    span = _requested_span(request, total, etag, last_modified)
    if span is None:
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{total}"
        return refused
    first, last = span
    opened = storage.open(run.file, "rb")
    body = _raw(opened, first, last) if as_kept else _decompressed(opened, first, last)
    status = 206 if (first, last) != (0, total - 1) else 200
    response = StreamingHttpResponse(body, status=status, content_type=content_type_of(filename))
    response._resource_closers.append(opened.close)  # type: ignore[attr-defined]  # unread too
    response["Content-Length"] = str(max(last - first + 1, 0))
    if status == 206:
        response["Content-Range"] = f"bytes {first}-{last}/{total}"
    if gzipped:
        response["Content-Encoding"] = "gzip"  # set by us: GZipMiddleware leaves it alone
    response["Content-Disposition"] = content_disposition_header(True, filename) or ""
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Last-Modified"] = last_modified
    response["Vary"] = "Accept-Encoding"
    response["Cache-Control"] = "private, no-cache"
    response["X-Report-Run"] = str(run.pk)
    return response


def _requested_span(
    request: HttpRequest, total: int, etag: str, last_modified: str
) -> tuple[int, int] | None:
    """(first, last) byte to send; the whole file unless a valid single Range asks for
    less; None when the range lies outside the file (416)."""
    whole = (0, total - 1)
    header = request.headers.get("Range", "").strip()
    if_range = request.headers.get("If-Range", "").strip()
    if not header or (if_range and if_range not in (etag, last_modified)):
        return whole  # no range, or the file changed since: the whole file again
    match = RANGE.match(header.replace(" ", ""))
    if match is None or match.group(1) == match.group(2) == "":
        return whole  # several ranges or another unit: allowed to ignore, and we do
    first_text, last_text = match.groups()
    if first_text == "":  # the last N bytes
        length = int(last_text)
        return (max(total - length, 0), total - 1) if length and total else None
    first = int(first_text)
    last = min(int(last_text), total - 1) if last_text else total - 1
    if first >= total or last < first:
        return None
    return first, last


def _raw(opened, first: int, last: int):
    """Bytes first..last of a stored file, as they are."""
    try:
        opened.seek(first)
        left = last - first + 1
        while left > 0:
            data = opened.read(min(READ_SIZE, left))
            if not data:
                raise OSError("The stored file is shorter than recorded.")
            left -= len(data)
            yield data
    finally:
        opened.close()


def _decompressed(opened, first: int, last: int):
    """Bytes first..last of the CSV in a stored gzip file (skipping up to `first`)."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    position, left = 0, last - first + 1
    try:
        while left > 0:
            data = opened.read(READ_SIZE)
            if not data:
                raise OSError("The stored file is shorter than recorded.")
            data = inflate.decompress(data)
            start = max(first - position, 0)
            position += len(data)
            if start < len(data):
                piece = data[start : start + left]
                left -= len(piece)
                yield piece
    finally:
        opened.close()
