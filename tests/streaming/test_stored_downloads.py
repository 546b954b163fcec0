"""Through real servers: stored files resume with curl -C -, and the stream caps hold
across two server processes (counted in the database)."""

from __future__ import annotations

import gzip
import io

import pytest
from django.contrib.auth import get_user_model

from admin_reports.background import enqueue_run, execute_run
from admin_reports.models import ReportRun, RunStatus
from admin_reports.registry import registry
from admin_reports.run_request import parse_run_request
from admin_reports.runs import write_run
from admin_reports.stored import report_storage

from ..factories import OrderLineFactory
from ..waiting import wait_until
from .http import curl, leave, open_stream

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

DATA = {"start": "2000-01-01", "end": "2100-01-01"}


def stored_run(user) -> ReportRun:
    """A finished background run of `user` with a file of a few hundred KiB."""
    OrderLineFactory.create_batch(3000)
    request = parse_run_request(registry.get("order_lines"), DATA)
    run = enqueue_run(request, user=user)
    assert execute_run(run.pk) == RunStatus.SUCCEEDED
    run.refresh_from_db()
    return run


def test_curl_resumes_a_dropped_download_byte_exactly(gunicorn, session_cookie, tmp_path):
    run = stored_run(get_user_model().objects.get(username="streaming"))
    out = io.BytesIO()
    write_run(parse_run_request(registry.get("order_lines"), DATA), out)
    expected = out.getvalue()
    assert len(expected) > 200_000
    url = f"{gunicorn.url}/admin/admin_reports/reportrun/file/{run.token}/"
    cookie = ["--cookie", session_cookie]
    target = tmp_path / "order_lines.csv"
    target.write_bytes(expected[:123_457])  # what a dropped connection left
    resumed = curl(*cookie, "--fail", "-C", "-", "-o", str(target), url)
    assert resumed.returncode == 0, resumed.stderr
    assert target.read_bytes() == expected
    # A gzip client resumes the stored bytes themselves.
    with report_storage().open(run.file, "rb") as stored:
        raw = stored.read()
    part = tmp_path / "order_lines.csv.gz"
    part.write_bytes(raw[: len(raw) // 3])
    headers = ["-H", "Accept-Encoding: gzip"]
    resumed = curl(*cookie, *headers, "--fail", "-C", "-", "-o", str(part), url)
    assert resumed.returncode == 0, resumed.stderr
    assert part.read_bytes() == raw
    assert gzip.decompress(raw) == expected


def test_a_cap_holds_across_two_server_processes(
    fresh_server, session_cookie, slow_lines, tmp_path
):
    first = fresh_server("gunicorn", MAX_STREAMS_PER_USER="1")
    second = fresh_server("gunicorn", MAX_STREAMS_PER_USER="1")
    path = "/admin/reports/slow_lines/download/"
    headers = {"Accept-Encoding": "gzip", "Cookie": session_cookie}
    sock = open_stream(f"{first.url}{path}", 20, headers)
    try:
        running = ReportRun.objects.filter(status__in=[RunStatus.RUNNING, RunStatus.STREAMING])
        assert wait_until(running.exists, 30) is not None
        refused = curl(
            "--cookie",
            session_cookie,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            f"{second.url}{path}",
        )
        assert refused.stdout == b"429", "the other process counts the first one's stream"
    finally:
        leave(sock)
    ended = ReportRun.objects.filter(status=RunStatus.CANCELLED)
    assert wait_until(ended.exists, 30) is not None
    # The status line is enough (the report takes 15 s): however long a busy server
    # takes to send it.
    assert status_of(f"{second.url}{path}", headers) == 200, "once the first ended, it starts"


def status_of(url: str, headers: dict[str, str]) -> int:
    """The status of a GET, read as soon as it arrives; then the client leaves."""
    sock = open_stream(url, 0, headers)
    head = b""
    try:
        while b"\r\n" not in head:
            data = sock.recv(4096)
            if not data:
                break
            head += data
    finally:
        leave(sock)
    return int(head.split(b" ", 2)[1])
