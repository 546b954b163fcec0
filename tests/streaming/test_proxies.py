"""
Through the things between the server and the user: nginx configured exactly as
docs/deployment.md shows (its nginx block is read from the file), and a real
browser (Debian's chromium, driven by Playwright).
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from playwright.sync_api import sync_playwright

from admin_reports.models import ReportRun, RunStatus

from ..waiting import wait_until
from .conftest import (
    FIRST_BYTE,
    GZIP_GAP,
    SLOW_ENOUGH,
    expected_csv,
    first_row_at,
    free_port,
    wait_for_port,
)
from .http import curl, fetch

pytestmark = pytest.mark.server

NGINX_CONF = """
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        @LOCATION@
    }}
}}
"""

DEPLOYMENT = Path(settings.BASE_DIR) / "docs" / "deployment.md"
DOCUMENTED_UPSTREAM = "http://127.0.0.1:8000"


def documented_location() -> str:
    """The nginx location block of docs/deployment.md, as documented."""
    blocks = re.findall(r"^```nginx\n(.*?)^```", DEPLOYMENT.read_text(), re.DOTALL | re.MULTILINE)
    assert len(blocks) == 1, "docs/deployment.md shows one nginx block"
    assert f"proxy_pass {DOCUMENTED_UPSTREAM};" in blocks[0]
    return blocks[0]


@contextmanager
def nginx(upstream: str, directory: Path):
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    directory.mkdir(exist_ok=True)
    conf = directory / "nginx.conf"
    location = documented_location().replace(DOCUMENTED_UPSTREAM, upstream)
    conf.write_text(
        NGINX_CONF.format(user=user, dir=directory, port=port).replace("@LOCATION@", location)
    )
    process = subprocess.Popen(
        [binary, "-p", str(directory), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process, directory / "error.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGQUIT)
        process.wait(10)


def test_heartbeats_pass_through_nginx(gunicorn, slow_query, tmp_path):
    with nginx(gunicorn.url, tmp_path) as proxy:
        response = fetch(f"{proxy}/test/slow/?{slow_query()}", {"Accept-Encoding": "gzip"})
    assert response.status == 200
    assert response.complete
    assert response.headers["server"].startswith("nginx")
    assert response.first_byte < FIRST_BYTE
    assert response.largest_gap <= GZIP_GAP
    assert first_row_at(response) >= SLOW_ENOUGH, "the query really was slow"
    assert gzip.decompress(response.body) == expected_csv()


CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop in this thread; Django's ORM, used by
    # the tests beside it (never inside it), would refuse to run.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            yield from _launch(playwright)
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _launch(playwright):
    browser = playwright.chromium.launch(
        executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


def download(browser, url: str, directory: Path, cookie: str | None = None):
    """Click a link to `url` and wait for the download to end; (bytes or None, failure)."""
    context = browser.new_context(accept_downloads=True)
    try:
        if cookie:
            name, _, value = cookie.partition("=")
            context.add_cookies([{"name": name, "value": value, "url": url}])
        page = context.new_page()
        # The link sits on a page of the same site, as the admin's do: the endpoint
        # refuses to start a run from another site's page.
        parts = urlsplit(url)
        link_page = f"{parts.scheme}://{parts.netloc}/__download_link__"
        html = f'<a id="go" href="{url}">download</a>'
        page.route(link_page, lambda route: route.fulfill(body=html, content_type="text/html"))
        page.goto(link_page)
        with page.expect_download(timeout=60_000) as info:
            page.click("#go")
        item = info.value
        failure = item.failure()
        if failure is not None:
            return None, failure
        target = directory / item.suggested_filename
        item.save_as(target)
        return target.read_bytes(), None
    finally:
        context.close()


def test_chromium_downloads_the_exact_csv(gunicorn, browser, slow_query, tmp_path):
    started = time.monotonic()
    data, failure = download(browser, f"{gunicorn.url}/test/slow/?{slow_query(delay=3)}", tmp_path)
    assert failure is None
    # A third of the 3 s aimed at, as SLOW_ENOUGH is of the 8 s (the spin's measure varies).
    assert time.monotonic() - started >= 1.0, "heartbeats were sent before the rows"
    assert data == expected_csv()


def test_chromium_marks_a_broken_stream_as_failed(gunicorn, browser, slow_query, tmp_path):
    url = f"{gunicorn.url}/test/slow/?{slow_query(delay=0, rows=20000, fail_at=15000)}"
    data, failure = download(browser, url, tmp_path)
    assert data is None
    assert failure is not None


FAILURES = {
    # The rows flow for 4 s, then the definition's max_duration stops the report.
    "max_duration": "/admin/reports/slow_lines_4s/download/",
    # A database error at row 15,000.
    "query error": "/test/slow/?delay=0&rows=20000&fail_at=15000&spin=1",
}


STREAM_FAILED = "failed while streaming; the download is aborted"
# A stream held up past its deadline (a busy machine, a write to a client slow to read)
# is ended by the watchdog 2 s later: the client's connection is closed, with no marker.
CUT_OFF = "failed: Ran longer than 4 s and was stopped. The client stopped reading"


def stopped_at_the_deadline(server, log_start: int) -> list[bool]:
    """The three runs, each recorded and logged as failed at its deadline; whether the
    watchdog cut each one off."""
    runs = ReportRun.objects.order_by("pk")
    done = wait_until(lambda: runs.filter(finished_at__isnull=False).count() == 3, 30)
    assert done is not None, "the three runs are recorded as ended"
    assert runs.count() == 3, "one run a download"
    log = server.log_text(log_start)
    cut_off = []
    for run in runs:
        assert (run.status, run.error) == (
            RunStatus.FAILED,
            "The report ran longer than 4 s and was stopped.",
        )
        label = f"Report run {run.pk} "
        assert label + STREAM_FAILED in log or label + CUT_OFF in log, "logged as failed"
        cut_off.append(label + CUT_OFF in log)
    return cut_off


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_download_failing_mid_stream_fails_through_nginx(
    failure, gunicorn, browser, slow_lines, session_cookie, tmp_path
):
    log_start = gunicorn.log_size()
    with nginx(gunicorn.url, tmp_path / "nginx") as proxy:
        url = proxy + FAILURES[failure]
        cookie = ["--header", f"Cookie: {session_cookie}"]
        identity = curl(*cookie, "--output", str(tmp_path / "plain.csv"), url)
        compressed = curl(*cookie, "--compressed", "--output", str(tmp_path / "zipped.csv"), url)
        data, browser_failure = download(browser, url, tmp_path, session_cookie)
    assert identity.returncode != 0, "curl must see a cut transfer, not a complete file"
    assert compressed.returncode != 0
    assert data is None
    assert browser_failure is not None, "Chromium marks the download failed"
    partial = (tmp_path / "plain.csv").read_bytes()
    assert partial.count(b"\r\n") > 10, "rows went out before the failure"
    if failure == "max_duration":
        cut_off = stopped_at_the_deadline(gunicorn, log_start)
    else:  # no deadline: each stream ends on the database's error itself
        cut_off = [False] * 3
        assert gunicorn.log_text(log_start).count(STREAM_FAILED) == 3
    if not cut_off[0]:  # the plain download's stream ended it with its marker
        assert partial.rstrip().endswith(b"this file is incomplete.")
    assert "Error handling request" not in gunicorn.log_text(log_start)


def test_a_sync_worker_killed_mid_download_fails_through_nginx(
    fresh_server, slow_lines, session_cookie, tmp_path
):
    server = fresh_server("gunicorn-sync")  # --timeout 5; the report takes 15 s
    with nginx(server.url, tmp_path / "nginx") as proxy:
        url = f"{proxy}/admin/reports/slow_lines/download/"
        result = curl(
            "--header", f"Cookie: {session_cookie}", "--output", str(tmp_path / "a.csv"), url
        )
    assert result.returncode != 0, "curl must see a cut transfer, not a complete file"
    assert (tmp_path / "a.csv").read_bytes().count(b"\r\n") > 10, "rows went out first"
    assert "WORKER TIMEOUT" in server.log_text()


def test_a_link_on_another_site_starts_no_run(gunicorn, browser, session_cookie, slow_lines):
    """A top-level navigation from elsewhere carries the session cookie (SameSite=Lax)."""
    context = browser.new_context(accept_downloads=True)
    try:
        name, _, value = session_cookie.partition("=")
        context.add_cookies([{"name": name, "value": value, "url": gunicorn.url}])
        page = context.new_page()
        page.set_content(
            f'<a id="go" href="{gunicorn.url}/admin/reports/slow_lines/download/">x</a>'
        )
        with page.expect_navigation():
            page.click("#go")
        assert "from another site" in page.content()
    finally:
        context.close()
    assert ReportRun.objects.count() == 0
