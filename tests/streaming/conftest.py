"""
Real servers for the streaming tests: gunicorn (gthread, --timeout 5), gunicorn's
sync worker (--timeout 5) and uvicorn, started on 127.0.0.1 against the test
database, stopped by their pid.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from admin_reports.conf import DEFAULTS
from project.shop.models import OrderLine

from ..factories import OrderFactory, OrderLineFactory, ProductFactory, UserFactory
from .http import fetch

SLOW_SECONDS = 8.0
ROWS = 3000
STARTUP_TIMEOUT = 30


@dataclass
class Server:
    kind: str
    url: str
    pid: int
    log: Path

    def log_text(self, since: int = 0) -> str:
        """The server's log, from byte `since` (a log_size() taken earlier) on."""
        with open(self.log, "rb") as log:
            log.seek(since)
            return log.read().decode("utf-8", errors="replace")

    def log_size(self) -> int:
        return self.log.stat().st_size

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        pids = [int(pid) for pid in children.read_text().split()] if children.exists() else []
        return pids or [self.pid]

    def threads(self) -> int:
        return sum(len(os.listdir(f"/proc/{pid}/task")) for pid in self.worker_pids())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The test database, as a URL for another process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host = urllib.parse.quote(db["HOST"] or "", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    password = f":{urllib.parse.quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{host}{port}/{db['NAME']}"


def gunicorn_command(port: int, *worker: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "project.wsgi",
        *worker,
        "--workers",
        "1",
        "--timeout",
        "5",
        "--graceful-timeout",
        "3",
        "--bind",
        f"127.0.0.1:{port}",
        "--error-logfile",
        "-",
        "--log-level",
        "info",
    ]


COMMANDS = {
    "gunicorn": lambda port: gunicorn_command(port, "--worker-class", "gthread", "--threads", "8"),
    "gunicorn-sync": lambda port: gunicorn_command(port, "--worker-class", "sync"),
    "uvicorn": lambda port: [
        sys.executable,
        "-m",
        "uvicorn",
        "project.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "info",
        "--timeout-graceful-shutdown",
        "3",
    ],
}


@contextmanager
def running(kind: str, log: Path, gzip_middleware: bool = False, **settings_env: str):
    """A server of `kind`, once it has answered a request; `settings_env` are environment
    variables tests.server_settings reads."""
    port = free_port()
    env = server_env(**settings_env)
    if gzip_middleware:
        env["GZIP_MIDDLEWARE"] = "1"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            COMMANDS[kind](port),
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, process, log)
        wait_for_answer(f"http://127.0.0.1:{port}", log)
        yield Server(kind, f"http://127.0.0.1:{port}", process.pid, log)
    finally:
        stop(process)


def server_env(**settings_env: str) -> dict[str, str]:
    """The environment of a process of the site: the test database, tests.server_settings."""
    return {
        **os.environ,
        **settings_env,
        "DJANGO_SETTINGS_MODULE": "tests.server_settings",
        "DATABASE_URL": database_url(),
        "PYTHONUNBUFFERED": "1",
    }


@contextmanager
def db_worker(log: Path, **settings_env: str):
    """A `manage.py db_worker` process (background runs), stopped by its pid."""
    command = [sys.executable, "manage.py", "db_worker", "--interval", "0.2"]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*command, "--no-startup-delay", "--worker-id", f"test-{log.stem}"],
            cwd=settings.BASE_DIR,
            env=server_env(**settings_env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop(process)


def wait_for_port(port: int, process, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not listen within {STARTUP_TIMEOUT}s: {log.read_text()}")


def wait_for_answer(url: str, log: Path) -> None:
    """Until the server has answered a page: gunicorn's port takes connections while its
    worker still loads the site (a second or more), and the first request would wait for
    it, not for what a test times."""
    try:
        status = fetch(f"{url}/admin/login/", timeout=STARTUP_TIMEOUT).status
    except (OSError, IndexError):  # no answer in time, or a connection closed unanswered
        status = None
    if status != 200:
        raise RuntimeError(f"server did not answer within {STARTUP_TIMEOUT}s: {log.read_text()}")


def stop(process) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


SERVER_KINDS = {
    "gunicorn": ("gunicorn", False),
    "uvicorn": ("uvicorn", False),
    "gunicorn+GZipMiddleware": ("gunicorn", True),
    "uvicorn+GZipMiddleware": ("uvicorn", True),
}


@pytest.fixture(scope="module", params=list(SERVER_KINDS))
def server(request, django_db_setup, tmp_path_factory):
    kind, gzip_middleware = SERVER_KINDS[request.param]
    log = tmp_path_factory.mktemp("server") / f"{request.param}.log"
    with running(kind, log, gzip_middleware) as server:
        yield server


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "gunicorn.log"
    with running("gunicorn", log) as server:
        yield server


@pytest.fixture
def fresh_server(django_db_setup, tmp_path):
    """Start a server of a kind for this test alone: fresh_server("gunicorn-sync"), with
    settings from the environment as tests.server_settings reads them."""
    with ExitStack() as stack:

        def start(kind: str, **settings_env: str) -> Server:
            return stack.enter_context(running(kind, tmp_path / f"{kind}.log", **settings_env))

        yield start


@pytest.fixture
def session_cookie(transactional_db) -> str:
    """A Cookie header that logs a superuser in to the servers' admin."""
    client = Client()
    client.force_login(UserFactory(username="streaming", is_superuser=True))
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


SLOW_LINES = 1500  # the slow_lines reports take 10 ms a row: 15 s in all


@pytest.fixture
def slow_lines(transactional_db) -> int:
    """SLOW_LINES order lines of one order, for the slow_lines reports."""
    order, product = OrderFactory(), ProductFactory()
    OrderLine.objects.bulk_create(
        OrderLineFactory.build(order=order, product=product) for _ in range(SLOW_LINES)
    )
    return SLOW_LINES


@pytest.fixture(scope="session")
def sqlite_spin_steps() -> int:
    """Recursive CTE steps that keep SQLite busy for SLOW_SECONDS of CPU time here."""
    sql = (
        "WITH RECURSIVE spin(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM spin WHERE i < ?)"
        " SELECT count(*) FROM spin"
    )

    def timed(steps: int) -> float:
        # CPU time, not wall time: a busy machine stretches the wall time of the measure
        # (too few steps: a short query later) but hardly the work. The query then takes
        # about SLOW_SECONDS in the server, more when the machine is busy.
        started = time.thread_time()
        db.execute(sql, [steps]).fetchone()
        return time.thread_time() - started

    with sqlite3.connect(":memory:") as db:
        steps, elapsed = 200_000, 0.0
        while elapsed < 0.5:
            steps *= 2
            elapsed = timed(steps)
        # The fastest of three: a core shared with a busy neighbour works slower.
        elapsed = min(elapsed, timed(steps), timed(steps))
    db.close()
    return int(steps * SLOW_SECONDS / elapsed)


@pytest.fixture(scope="session")
def slow_query(sqlite_spin_steps):
    """Query string of the test endpoint: SLOW_SECONDS before the first of ROWS rows."""

    def query(delay: float = SLOW_SECONDS, rows: int = ROWS, **extra) -> str:
        params = {
            "delay": delay,
            "rows": rows,
            "spin": int(sqlite_spin_steps * delay / SLOW_SECONDS),
        }
        return urllib.parse.urlencode({**params, **extra})

    return query


def first_row_at(response) -> float:
    """Seconds until the first row arrived (the header row comes at once)."""
    return response.decoded_at(len(expected_csv(1)))


# The query's duration depends on the machine (SQLite spins the CPU; the spin is measured
# on this machine in CPU time): a third of the aim still shows seconds of silence kept
# alive by heartbeats, and the query's own defects (the spin ignored, no delay) fail it.
SLOW_ENOUGH = SLOW_SECONDS / 3

# The servers' heartbeat intervals (tests.server_settings keeps the defaults).
HEARTBEAT_INTERVAL = DEFAULTS["HEARTBEAT_INTERVAL"]  # gzip: 1 s
IDENTITY_HEARTBEAT_INTERVAL = DEFAULTS["IDENTITY_HEARTBEAT_INTERVAL"]  # 20 s
# The longest silence allowed: a heartbeat is due after the interval, and a busy machine
# wakes the stream late; 2.5 intervals (gzip) still fails a stream silent for the query.
GZIP_GAP = 2.5 * HEARTBEAT_INTERVAL
IDENTITY_GAP = 2 * IDENTITY_HEARTBEAT_INTERVAL
# The header row goes out before the query runs, at once: up to 0.8 s was seen on a busy
# 2-core machine. Below SLOW_ENOUGH: a header held back until the first row fails.
FIRST_BYTE = 2.0


def expected_csv(rows: int = ROWS) -> bytes:
    return b"n,label\r\n" + "".join(f"{n},zeile-ü-{n}\r\n" for n in range(1, rows + 1)).encode()


def without_identity_heartbeats(body: bytes) -> bytes:
    """An identity body less its heartbeats: blank lines after the header row, one for
    each IDENTITY_HEARTBEAT_INTERVAL of silence (a busy machine can make the query that
    slow). A blank line anywhere else stays, and fails a comparison."""
    header, end, rest = body.partition(b"\r\n")
    return header + end + rest.lstrip(b"\r\n")


def active_queries() -> int:
    """Report queries running in the test database (e.g. a COPY or a FETCH from a report's cursor).

    The server's own bookkeeping (a run's progress, a session lookup) is not counted: it comes
    and goes between two polls and would make a count of the report's queries flaky.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND state = 'active' AND pid <> pg_backend_pid()"
            " AND query NOT LIKE %s AND query NOT LIKE %s",
            ['%"admin_reports_reportrun"%', '%"django_session"%'],
        )
        return cursor.fetchone()[0]
