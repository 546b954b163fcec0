"""
Soak: many downloads at once through gunicorn (gthread), with disconnects, a
PostgreSQL restart and a worker killed in the middle.

    make soak        # scripts/with-postgres .venv/bin/python bench/soak.py [--downloads 200]

Against the throwaway PostgreSQL of scripts/with-postgres (it is filled here), it
generates orders, starts gunicorn (2 gthread workers of 8 threads), logs four staff
users in, and takes one reference file per report. Then 8 clients run the downloads,
mixed across reports, users, gzip and identity; one in five leaves after the first
bytes. After a third of them PostgreSQL is restarted, after two thirds one worker is
killed (SIGKILL). It prints the downloads completed byte-correct, refused (429),
left, failed; the runs by final status (none may stay running); and threads,
database connections and worker RSS before and after.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import http.cookiejar
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import children, django_setup, gunicorn, manage, proc_kib, session_cookie

USERS = ["soak1", "soak2", "soak3", "soak4"]
PASSWORD = "soak-password-1"
REPORTS = {
    "order_lines": "start=2026-01-01&end=2026-12-31&on=shop.product&select=",
    "daily_product_sales": "start=2026-01-01&end=2026-12-31&on=shop.product&select=",
    "region_monthly": "start=2026-01-01&end=2026-12-31",
}


def threads(master: int) -> int:
    return sum(len(os.listdir(f"/proc/{pid}/task")) for pid in children(master))


def rss_mib(master: int) -> float:
    return sum(proc_kib(pid) for pid in children(master)) / 1024


def backends() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def get(port: int, path: str, cookie: str, gzipped: bool, leave: bool) -> tuple[str, bytes]:
    """("done", body) / ("refused", b"") / ("left", b"") / ("failed", partial body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Cookie": cookie, "Accept-Encoding": "gzip" if gzipped else "identity"}
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        if response.status == 429:
            response.read()
            return "refused", b""
        if response.status != 200:
            return f"status {response.status}", response.read()
        if leave:
            response.read(10)
            conn.sock.shutdown(socket.SHUT_RDWR)
            return "left", b""
        body = response.read()  # IncompleteRead when the transfer is cut
        return "done", gzip.decompress(body) if gzipped else body
    except (http.client.IncompleteRead, ConnectionError, OSError, EOFError) as exc:
        return "failed", getattr(exc, "partial", b"")
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--downloads", type=int, default=200)
    parser.add_argument("--lines", type=int, default=30_000)
    options = parser.parse_args()
    if not os.environ.get("WITH_POSTGRES_PG_CTL"):
        sys.exit("Run under scripts/with-postgres: the soak restarts its PostgreSQL.")
    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput")
    manage("loaddata", "demo_shop")
    manage(
        "generate_demo_data", "--lines", str(options.lines), "--seed", "1", "--end", "2026-06-30"
    )
    django_setup()
    from django.contrib.auth import get_user_model

    from admin_reports.models import ReportRun
    from admin_reports.runs import LOST_AFTER, mark_lost
    from project.shop.models import Product

    for username in USERS:
        get_user_model().objects.create_superuser(username, f"{username}@example.com", PASSWORD)
    keys = ",".join(str(pk) for pk in Product.objects.values_list("pk", flat=True)[:20])
    paths = {name: f"/admin/reports/{name}/download/?{query}" for name, query in REPORTS.items()}
    paths = {name: path + keys if path.endswith("=") else path for name, path in paths.items()}

    with gunicorn(
        workers=2,
        threads=8,
        log=Path("/tmp/admin-reports-soak.log"),
        options=("--log-level", "warning"),
    ) as server:
        port, base = server.port, server.base
        time.sleep(2)
        cookies = {user: session_cookie(base, user, PASSWORD) for user in USERS}
        reference = {}
        for name, path in paths.items():
            outcome, body = get(port, path, cookies[USERS[0]], False, False)
            assert outcome == "done", (name, outcome, body[:200])
            reference[name] = body
        warm_pools(port, paths["region_monthly"], cookies[USERS[1]])
        before = {
            "threads": threads(server.process.pid),
            "connections": backends(),
            "rss": rss_mib(server.process.pid),
        }
        ReportRun.objects.all().delete()

        rng = random.Random(1)
        plan = [
            (rng.choice(list(paths)), rng.choice(USERS), rng.random() < 0.5, rng.random() < 0.2)
            for _ in range(options.downloads)
        ]
        counts: Counter = Counter()
        lock = threading.Lock()

        def one(task):
            name, user, gzipped, leave = task
            outcome, body = get(port, paths[name], cookies[user], gzipped, leave)
            if outcome == "done" and body != reference[name]:
                outcome = "done but WRONG"
            with lock:
                counts[outcome] += 1

        with ThreadPoolExecutor(8) as pool:
            for index, task in enumerate(plan):
                pool.submit(one, task)
                if index == len(plan) // 3:
                    time.sleep(1)
                    pg_ctl = shlex.split(os.environ["WITH_POSTGRES_PG_CTL"])
                    subprocess.run(
                        [*pg_ctl, "-m", "fast", "-w", "restart"], check=True, capture_output=True
                    )
                    print("PostgreSQL restarted", flush=True)
                if index == 2 * len(plan) // 3:
                    time.sleep(1)
                    victim = server.workers()[0]
                    os.kill(victim, signal.SIGKILL)
                    print(f"worker {victim} killed", flush=True)
        # The replaced worker's pool starts empty: warm it as the baseline's was.
        warm_pools(port, paths["region_monthly"], cookies[USERS[1]])
        print(f"waiting {LOST_AFTER + 5:.0f} s for silent runs to read as lost", flush=True)
        time.sleep(LOST_AFTER + 5)
        from django.db import connection

        connection.close()  # the restart ended this process's connection
        mark_lost()
        statuses = Counter(ReportRun.objects.values_list("status", flat=True))
        lost = ReportRun.objects.filter(error__startswith="Lost").count()
        after = {
            "threads": threads(server.process.pid),
            "connections": backends(),
            "rss": rss_mib(server.process.pid),
        }
    print(f"downloads: {dict(sorted(counts.items()))}")
    print("  (a 500 is a request that came while PostgreSQL was restarting)")
    print(f"runs by status: {dict(statuses)} (lost: {lost})")
    print(
        f"threads {before['threads']} -> {after['threads']} (pools warmed before both),"
        f" database connections {before['connections']} -> {after['connections']},"
        f" worker RSS {before['rss']:.1f} -> {after['rss']:.1f} MiB (both workers)"
    )
    problems = {
        "a completed download was not byte-correct": counts["done but WRONG"],
        "runs left unfinished": sum(
            statuses.get(s, 0) for s in ("running", "streaming", "queued")
        ),
        "threads above the baseline": after["threads"] > before["threads"],
        "database connections above the baseline": after["connections"] > before["connections"],
        "worker RSS grew by 50 MiB or more": after["rss"] - before["rss"] >= 50,
    }
    for problem, present in problems.items():
        if present:
            print(f"FAILED: {problem}")
    sys.exit(1 if any(problems.values()) else 0)


def warm_pools(port: int, path: str, cookie: str) -> None:
    """Fill both workers' thread pools (gthread starts threads as requests need them,
    and keeps them): threads are then compared with a pool as full before as after."""
    with ThreadPoolExecutor(16) as pool:
        for _ in range(32):
            pool.submit(get, port, path, cookie, True, False)


if __name__ == "__main__":
    main()
