"""
Memory and speed of streaming a big report through gunicorn (gthread).

    scripts/with-postgres .venv/bin/python bench/stream_memory.py [--lines 2000000]

Against the database of DATABASE_URL (a throwaway one: it is filled here), it
generates the order lines, starts gunicorn with one gthread worker, logs in as a
staff user, downloads the order_lines report over the whole range, and prints:
the rows and bytes received, the worker's RSS before the request and its peak
during it (VmHWM, reset before the request), and the time, next to the anchor
measured in the same run: PostgreSQL's own COPY of the same SQL to /dev/null.
"""

from __future__ import annotations

import argparse
import datetime
import http.cookiejar
import os
import sys
import time
import urllib.request

from harness import django_setup, gunicorn, login, manage, proc_kib, reset_peak


def download(url: str, opener) -> tuple[int, int, float, float]:
    """(bytes, rows, seconds to the first byte, seconds in all)."""
    started = time.monotonic()
    size = rows = 0
    first = None
    with opener.open(url) as response:
        while chunk := response.read(1 << 16):
            first = first or time.monotonic() - started
            size += len(chunk)
            rows += chunk.count(b"\n")
    return size, rows - 1, first, time.monotonic() - started


def copy_anchor(sql: str) -> float:
    """Seconds for PostgreSQL's COPY (query) TO STDOUT of the same SQL, read by psycopg."""
    django_setup()
    from django.db import connection

    started = time.monotonic()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy,
    ):
        for _ in copy:
            pass
    return time.monotonic() - started


def report_sql() -> str:
    django_setup()
    from django.db import connection

    from admin_reports.compiler import ReportParams, compile_report
    from admin_reports.registry import registry

    compiled = compile_report(
        registry.get("order_lines"),
        ReportParams(
            start=datetime.date(2000, 1, 1),
            end=datetime.date(2100, 1, 1),
        ),
    )
    sql, params = compiled.queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        return cursor.mogrify(sql, params)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=2_000_000)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Run under scripts/with-postgres: DATABASE_URL must be a throwaway PostgreSQL.")

    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput")
    manage("loaddata", "demo_shop")
    print(
        manage("generate_demo_data", "--lines", str(args.lines), "--seed", "1", "--reset").strip()
    )
    manage(
        "shell",
        "-c",
        (
            "from django.contrib.auth.models import User; "
            "User.objects.filter(username='bench').delete(); "
            "User.objects.create_superuser('bench', 'bench@example.com', 'bench-password')"
        ),
    )

    with gunicorn(workers=1, threads=4, options=("--timeout", "30")) as server:
        worker = server.workers()[0]
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        login(server.base, opener)
        url = f"{server.base}/admin/reports/order_lines/download/?start=2000-01-01&end=2100-01-01"
        download(url.replace("2000-01-01", "2100-01-01"), opener)  # warm up: imports, caches
        before = proc_kib(worker)
        reset_peak(worker)
        size, rows, first, seconds = download(url, opener)
        peak = proc_kib(worker, "VmHWM")
    anchor = copy_anchor(report_sql())
    print(f"rows: {rows:,}  bytes: {size:,}")
    print(
        f"worker RSS before: {before / 1024:.1f} MiB  peak during: {peak / 1024:.1f} MiB"
        f"  growth: {(peak - before) / 1024:.1f} MiB"
    )
    print(f"first byte: {first:.3f} s  download: {seconds:.1f} s  ({rows / seconds:,.0f} rows/s)")
    print(f"anchor, COPY of the same SQL: {anchor:.1f} s")
    print(f"ratio download/COPY: {seconds / anchor:.1f}")


if __name__ == "__main__":
    main()
