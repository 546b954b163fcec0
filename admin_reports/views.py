"""
The download endpoint: one report run, streamed as CSV (or CSV for Excel, or XLSX: format=).

    GET /admin/reports/<name>/download/?start=2026-03-01&end=2026-03-31&select=3,7&on=shop.product
    GET /admin/reports/<name>/download/?range=last_month&select=3,7&bom=0

Staff only; every request is permission-checked on the server. Bad parameters
get 400 with the reason, a missing permission 403 naming it, too many running
reports 429, and nothing starts. Refusals are plain text, or the admin's page
for a browser.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from .exceptions import (
    InvalidParameters,
    ReportNotFound,
    ReportPermissionDenied,
    TooManyStreams,
)
from .registry import registry, with_directories
from .responses import stream_csv
from .run_request import parse_run_request
from .runs import open_stream


@never_cache
@require_http_methods(["GET", "POST"])  # a HEAD would run the whole report for nothing
@staff_member_required
def download(request: HttpRequest, name: str) -> HttpResponseBase:
    try:
        spec = registry.get(name)
    except ReportNotFound as exc:  # InvalidDefinition too, with its problems
        # The server's directories are shown while developing only, as Django's 404 does.
        message = with_directories(exc) if settings.DEBUG else str(exc)
        return refusal_response(request, message, 404)
    if from_another_site(request):
        message = _(
            "A report does not start from another site's page: open it from this site's admin."
        )
        return refusal_response(request, message, 403)
    data = request.POST if request.method == "POST" else request.GET
    try:
        run_request = parse_run_request(spec, data, via="endpoint")
        handle = open_stream(run_request, user=request.user)
    except ReportPermissionDenied as exc:
        return refusal_response(request, str(exc), 403)
    except TooManyStreams as exc:
        return refusal_response(request, str(exc), exc.status_code)
    except InvalidParameters as exc:
        message = " ".join(exc.messages)
        return refusal_response(request, f"{exc.field}: {message}" if exc.field else message, 400)
    return stream_csv(request, handle.job, handle.filename, release=handle.release)


def from_another_site(request: HttpRequest) -> bool:
    """Whether a browser sent this request from another site's page (a link, a form).

    Session cookies go along with a top-level GET from anywhere (SameSite=Lax), so a
    GET that starts a run checks where it came from: the browser's Sec-Fetch-Site,
    else the Referer. A request without either (curl, a bookmark) is the user's own.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    referer = request.headers.get("Referer")
    if referer:
        return urlsplit(referer).netloc != request.get_host()
    return False


def refusal_response(
    request: HttpRequest,
    message: str,
    status: int,
    *,
    html: bool | None = None,
    admin_site: Any = None,
) -> HttpResponse:
    """The reason, as an admin page for a browser and as plain text for other clients."""
    if html is None:
        html = "text/html" in request.headers.get("Accept", "")
    if not html:
        return HttpResponse(
            message + "\n", status=status, content_type="text/plain; charset=utf-8"
        )
    site = admin_site or admin.site
    context = {
        **site.each_context(request),
        "title": _("This report cannot run"),
        "message": message,
        "back_url": request.get_full_path() if request.method == "POST" else None,
    }
    response = TemplateResponse(
        request, "admin/admin_reports/refused.html", context, status=status
    )
    return response.render()
