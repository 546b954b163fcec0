"""
PostgreSQL restarts under a download, for real: `pg_ctl restart -m fast` ends every
connection while gunicorn (gthread) streams the slow report.

The download fails (no final chunk, the marker line last), the run's tracker
reconnects and records the end (*failed*, the database's reason), the worker's
threads come back to their baseline, and the next download works. PostgreSQL only,
under scripts/with-postgres (`make test` runs it so): it exports WITH_POSTGRES_PG_CTL,
how to run pg_ctl on its throwaway cluster.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from admin_reports.models import ReportRun, RunStatus
from admin_reports.runs import UNFINISHED
from project.shop.models import OrderLine

from ..factories import OrderFactory, OrderLineFactory, ProductFactory
from .http import fetch
from .test_servers import settled, wait_until

pytestmark = pytest.mark.server

SMALL = 20  # order lines of the product that the short downloads select
URL = "/admin/reports/slow_lines/download/"


@pytest.fixture
def pg_ctl(transactional_db) -> Iterator[list[str]]:
    """The pg_ctl command of the test cluster; this process reconnects after the test."""
    if connection.vendor != "postgresql":
        pytest.skip("restarts PostgreSQL: SQLite has no server to restart")
    command = os.environ.get("WITH_POSTGRES_PG_CTL")
    if not command:
        pytest.skip("WITH_POSTGRES_PG_CTL is not set: run under scripts/with-postgres")
    yield shlex.split(command)
    connection.close()  # a restart ended it: the flush after the test opens a new one


def restart_postgresql(pg_ctl: list[str]) -> None:
    """Restart the cluster (every session is ended), then drop this process's connection."""
    subprocess.run(
        [*pg_ctl, "-m", "fast", "-w", "-t", "60", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    connection.close()  # Django opens a new one at the next query


@pytest.fixture
def small_product(slow_lines) -> int:
    """A product with SMALL order lines: its slow_lines download takes a fraction of a second."""
    order, product = OrderFactory(), ProductFactory()
    OrderLine.objects.bulk_create(
        OrderLineFactory.build(order=order, product=product) for _ in range(SMALL)
    )
    return product.pk


def assert_small_download_works(server, cookie: str, product: int) -> None:
    response = fetch(f"{server.url}{URL}?on=shop.product&select={product}", {"Cookie": cookie})
    assert response.status == 200
    assert response.complete
    assert response.body.count(b"\r\n") == 1 + SMALL, "the header row and every line"
    run = ReportRun.objects.latest("pk")
    succeeded = ReportRun.objects.filter(pk=run.pk, status=RunStatus.SUCCEEDED)
    assert wait_until(succeeded.exists, 30) is not None, "the run is recorded as succeeded"


def test_a_postgresql_restart_fails_the_download_and_the_run_records_it(
    pg_ctl, fresh_server, session_cookie, slow_lines, small_product
):
    server = fresh_server("gunicorn")
    assert_small_download_works(server, session_cookie, small_product)  # warms the pools
    threads, workers = settled(server.threads), server.worker_pids()
    warm_up = ReportRun.objects.latest("pk").pk
    log_start = server.log_size()

    with ThreadPoolExecutor(1) as pool:
        downloading = pool.submit(fetch, f"{server.url}{URL}", {"Cookie": session_cookie})
        streaming = ReportRun.objects.filter(pk__gt=warm_up, rows__gt=0)
        assert wait_until(streaming.exists, 30) is not None, "the rows flow"
        run = streaming.get()
        restart_postgresql(pg_ctl)
        response = downloading.result()

    assert response.status == 200
    assert not response.complete, "a download cut by the restart must not look complete"
    assert response.body.endswith(b"failed (run %d); this file is incomplete.\r\n" % run.pk)
    ended = wait_until(lambda: ReportRun.objects.get(pk=run.pk).status not in UNFINISHED, 60)
    assert ended is not None, "the run was left unfinished a minute after the restart"
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    # What the FETCH met, not the failed reconnect after it (which names the server's socket).
    assert run.error == (
        "The database stopped the report: terminating connection due to administrator command"
    ), run.error
    assert 0 < run.rows < slow_lines + SMALL
    assert run.finished_at is not None
    log = server.log_text(log_start)
    assert f"Could not record the progress of report run {run.pk}; trying again." in log
    assert f"Could not record the end of report run {run.pk}" not in log

    assert server.worker_pids() == workers, "the worker lived through the restart"
    assert wait_until(lambda: server.threads() <= threads, 30) is not None, "threads left"
    assert_small_download_works(server, session_cookie, small_product)
    assert wait_until(lambda: server.threads() <= threads, 30) is not None
