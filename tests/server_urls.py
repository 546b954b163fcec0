"""
The demo's URLs plus test-only streaming endpoints, for the servers tests start.

/test/slow/?delay=8&rows=3000[&spin=N][&fail_at=K][&max_duration=S]
    n,label rows from a query that runs `delay` seconds (PostgreSQL: pg_sleep;
    SQLite: a recursive CTE of `spin` steps) before its first row, and fails
    with a database error at row `fail_at` when given; stopped after S seconds.
"""

from django.db import connection
from django.urls import path

from admin_reports.csv_output import encode_chunks
from admin_reports.engine import StreamJob
from admin_reports.responses import stream_csv
from project.urls import urlpatterns as project_urlpatterns

from .rows import sql_rows

POSTGRESQL = """
WITH slow AS MATERIALIZED (SELECT pg_sleep(%s) AS z)
SELECT n, 'zeile-ü-' || (n / CASE WHEN n = %s THEN 0 ELSE 1 END)
FROM slow, generate_series(1, %s) AS n
"""

SQLITE = """
WITH RECURSIVE
    spin(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM spin WHERE i < %s),
    slow AS MATERIALIZED (SELECT count(*) AS c FROM spin),
    nums(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM nums WHERE n < %s)
SELECT n, 'zeile-ü-' || CASE WHEN n = %s THEN abs(-9223372036854775808) ELSE n END
FROM slow, nums
"""


def slow(request):
    get = request.GET
    rows, fail_at = int(get.get("rows", 1000)), int(get.get("fail_at", 0))
    if connection.vendor == "postgresql":
        sql, params = POSTGRESQL, [float(get.get("delay", 0)), fail_at, rows]
    else:
        sql, params = SQLITE, [int(get.get("spin", 1)), rows, fail_at]
    max_duration = float(get["max_duration"]) if "max_duration" in get else None
    job = StreamJob(
        header=b"n,label\r\n",
        chunks=lambda: encode_chunks((str(n), label) for n, label in sql_rows(sql, params)),
        max_duration=max_duration,
    )
    return stream_csv(request, job, "slow.csv")


urlpatterns = [path("test/slow/", slow), *project_urlpatterns]
