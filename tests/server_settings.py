"""Settings of the servers (gunicorn, uvicorn) that the streaming tests start."""

import os

from tests.rq_settings import RQ_APPS, rq_settings
from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, MIDDLEWARE

ROOT_URLCONF = "tests.server_urls"

# The demo's definitions and the test-only slow one.
ADMIN_REPORTS_DIRS = [*ADMIN_REPORTS_DIRS, BASE_DIR / "tests" / "report_defs"]  # noqa: F405

if os.environ.get("GZIP_MIDDLEWARE"):
    # The tests prove report responses survive it: it must leave them alone.
    MIDDLEWARE = ["django.middleware.gzip.GZipMiddleware", *MIDDLEWARE]

# A test of the per-user cap starts a server with MAX_STREAMS_PER_USER=1.
ADMIN_REPORTS_MAX_STREAMS_PER_USER = int(os.environ.get("MAX_STREAMS_PER_USER", "20"))
ADMIN_REPORTS_MAX_STREAMS = 20
# Tests of both row paths start servers with COPY=0 (the ORM path on PostgreSQL too).
ADMIN_REPORTS_COPY = os.environ.get("COPY", "1") == "1"
# A test of stalled clients starts a server with a short send timeout.
ADMIN_REPORTS_SEND_TIMEOUT = float(os.environ.get("SEND_TIMEOUT", "60"))

# Background runs on RQ (tests/streaming/test_rq.py starts Redis and rqworkers with
# TASKS_BACKEND=rq and REDIS_URL); otherwise on the database, as in tests.settings.
if os.environ.get("TASKS_BACKEND") == "rq":
    INSTALLED_APPS = [*INSTALLED_APPS, *RQ_APPS]
    _rq = rq_settings(os.environ["REDIS_URL"])
    TASKS = _rq["TASKS"]
    RQ_QUEUES = _rq["RQ_QUEUES"]
    ADMIN_REPORTS_TASK_QUEUE = _rq["ADMIN_REPORTS_TASK_QUEUE"]

# With the level and logger name: the tests read the servers' logs.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"named": {"format": "{levelname} {name}: {message}", "style": "{"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "named"}},
    "loggers": {"admin_reports": {"handlers": ["console"], "level": "INFO"}},
}

# Small chunks: a slow test report shows its progress row by row.
ADMIN_REPORTS_CHUNK_ROWS = 20
ADMIN_REPORTS_FETCH_ROWS = 20
