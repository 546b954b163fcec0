"""
Settings of the benchmark's site: the demo site's, with the path it takes chosen
by the environment and two more ways to export (bench_urls).

    DJANGO_SETTINGS_MODULE=bench_settings BENCH_COPY=0 gunicorn project.wsgi

BENCH_COPY=0 sets ADMIN_REPORTS_COPY = False: every report runs on the ORM path.
BENCH_SQLITE=<file> adds the database alias "sqlite" (the harness's own process
reads the SQLite copy through it while DATABASE_URL names PostgreSQL).
"""

import os

from project.settings import *  # noqa: F403
from project.settings import DATABASES, env_bool

ADMIN_REPORTS_COPY = env_bool("BENCH_COPY", True)
ROOT_URLCONF = "bench_urls"

if os.environ.get("BENCH_SQLITE"):
    DATABASES["sqlite"] = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["BENCH_SQLITE"],
        "OPTIONS": {"timeout": 20},
    }
