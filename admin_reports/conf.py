"""
The app's settings, each named ``ADMIN_REPORTS_<NAME>`` in the project's settings.

    from admin_reports.conf import app_settings

    app_settings.DIRS  # -> list of directories holding YAML report definitions

Values are read once and cached; the cache is dropped when a test changes a
setting with ``override_settings``. Nothing else in the app reads our names
from ``django.conf.settings``. docs/settings.md describes each.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.core.signals import setting_changed

from .file_formats import CSV_DIALECTS

PREFIX = "ADMIN_REPORTS_"

DEFAULTS: dict[str, Any] = {
    # Directories searched for report definitions (*.yaml, *.yml).
    "DIRS": [],
    # Extra expression functions and aggregates: name -> dotted path or FunctionSpec.
    "FUNCTIONS": {},
    # Extra quick date ranges: name -> dotted path of f(today) -> (start, end).
    "QUICK_RANGES": {},
    # Fields no report may read, as "app_label.Model.field" (the user model's password
    # is always among them).
    "FORBIDDEN_FIELDS": [],
    # Prefix text cells starting with = + - @ (or tab, CR) with ' so that
    # spreadsheets do not run them as formulas.
    "CSV_ESCAPE_FORMULAS": True,
    # Start downloads with a UTF-8 byte order mark, so that Excel reads UTF-8; a run's
    # own choice (the form's checkbox, run_report --bom) takes precedence.
    "BOM": True,
    # The file format the report form starts with, by the active language's code ("de-at",
    # else "de"): "csv" (commas, decimal points) or "csv-excel" (semicolons, decimal
    # commas: what Excel splits into columns where these languages are spoken). A
    # language not listed starts with "csv".
    "CSV_DIALECTS": dict.fromkeys(
        [
            *("cs", "da", "de", "es", "fi", "fr", "hu", "id", "it", "nb", "nl"),
            *("nn", "pl", "pt", "ro", "ru", "sk", "sl", "sv", "tr", "uk"),
        ],
        "csv-excel",
    ),
    # PostgreSQL: stream the rows of reports whose cells SQL can format identically
    # through COPY (docs/definitions.md says which); False: every report reads rows
    # through the ORM.
    "COPY": True,
    # What reads the COPY path's rows: "psql" (a child process, rows read in C), "psycopg"
    # (in the serving process), or "auto": psql when it is on the PATH.
    "COPY_READER": "auto",
    # The database alias report queries read from (None: the report model's router).
    "DATABASE": None,
    # Rows fetched from the database cursor at a time.
    "FETCH_ROWS": 2000,
    # Rows encoded into one chunk of CSV (a chunk is what the producer queues).
    "CHUNK_ROWS": 500,
    # Seconds without a byte after which a gzip response sends an empty flush.
    "HEARTBEAT_INTERVAL": 1.0,
    # Seconds without a byte after which an identity response sends a blank line.
    "IDENTITY_HEARTBEAT_INTERVAL": 20.0,
    # Bytes of CSV the producer may queue ahead of the client.
    "QUEUE_BYTES": 4 * 1024 * 1024,
    # Deflate level of gzip responses (zlib 1-9, ISA-L 0-3): 1 is fast and still shrinks
    # CSV about 4 times.
    "GZIP_LEVEL": 1,
    # Report streams running at once in one process, and for one user.
    "MAX_STREAMS": 8,
    "MAX_STREAMS_PER_USER": 2,
    # Seconds a report may run before it is stopped (None: no limit); a definition's
    # max_duration takes precedence.
    "MAX_DURATION": None,
    # PostgreSQL: seconds a report's transaction may wait, idle, for a client that
    # stopped reading before the database ends it (None: no limit).
    "IDLE_TRANSACTION_TIMEOUT": 60.0,
    # Seconds a download's write may stay blocked on a client that reads nothing before
    # its connection is closed and the run cancelled (None: no limit); gunicorn and ASGI.
    "SEND_TIMEOUT": 60.0,
    # Objects a download may name by key (select=3,7,...); a changelist's "select all"
    # runs on its filter instead and has no such limit (None: no limit).
    "MAX_SELECTED": 10_000,
    # Seconds a row estimate may take (SQLite counts the rows; PostgreSQL asks the
    # planner): past them the estimate is "unknown".
    "ESTIMATE_SECONDS": 2.0,
    # Rows the report form's Preview shows, and seconds it may run before it is stopped.
    "PREVIEW_ROWS": 100,
    "PREVIEW_TIMEOUT": 30.0,
    # Rows the preview reads to draw a report's chart (the table shows PREVIEW_ROWS).
    "CHART_ROWS": 2000,
    # Background runs and stored files (docs/background.md).
    # The key of settings.STORAGES that keeps report files; None: a FileSystemStorage in
    # MEDIA_ROOT/admin_reports.
    "STORAGE": None,
    # Days a stored file is kept (None: forever); cleanup_report_files deletes the rest.
    "RETENTION_DAYS": 7,
    # Send downloads of stored files to the storage's own (signed, short-lived) URL,
    # instead of streaming them through the app (S3 through django-storages).
    "STORAGE_REDIRECT": False,
    # Seconds a signed URL of STORAGE_REDIRECT stays valid.
    "STORAGE_REDIRECT_EXPIRES": 300,
    # Keep a copy of every streamed download in the storage as well.
    "KEEP_STREAMED": False,
    # The tasks framework's backend (a key of settings.TASKS) and queue of background runs.
    "TASK_BACKEND": "default",
    "TASK_QUEUE": "default",
    # Background runs one user may have queued or running at once (None: no limit).
    "MAX_BACKGROUND_PER_USER": 10,
    # Hours after its time a scheduled preset's missed run still runs (a scheduler that
    # was down); older slots are skipped (None: the latest missed one runs, however old).
    "SCHEDULE_CATCH_UP": 24,
    # The site's address for links in e-mails, e.g. "https://shop.example.com"; default:
    # the address the run was asked for at (a run from the command line needs it).
    "SITE_URL": "",
}


class AppSettings:
    def __init__(self, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in self.defaults:
            raise AttributeError(f"Invalid admin_reports setting: {name!r}")
        if name not in self._cache:
            self._cache[name] = getattr(settings, PREFIX + name, self.defaults[name])
        return self._cache[name]

    def reload(self) -> None:
        self._cache.clear()


app_settings = AppSettings(DEFAULTS)


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(PREFIX):
        app_settings.reload()


setting_changed.connect(_reload)


# ADMIN_REPORTS_COPY_READER's values (pgcopy: "auto" takes psql when it is on the PATH).
COPY_READERS = ("auto", "psql", "psycopg")


def reader_problem() -> str | None:
    """What is wrong with ADMIN_REPORTS_COPY_READER, if anything (check E036)."""
    setting = app_settings.COPY_READER
    if setting not in COPY_READERS:
        return (
            f"ADMIN_REPORTS_COPY_READER is {setting!r}; choose one of: {', '.join(COPY_READERS)}."
        )
    if setting == "psql" and psql_path() is None:
        return (
            "ADMIN_REPORTS_COPY_READER is 'psql', and no psql is on the PATH"
            " (Debian: apt-get install postgresql-client)."
        )
    return None


LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]+)*$")


def dialects_problem() -> str | None:
    """What is wrong with ADMIN_REPORTS_CSV_DIALECTS, if anything (check E055)."""
    dialects = app_settings.CSV_DIALECTS
    if not isinstance(dialects, dict):
        return f"ADMIN_REPORTS_CSV_DIALECTS is {dialects!r}, not a dict."
    for key, value in dialects.items():
        if not isinstance(key, str) or not LANGUAGE_CODE.match(key):
            return (
                f"ADMIN_REPORTS_CSV_DIALECTS has the key {key!r}, which is not a language"
                " code in lower case such as 'de' or 'de-at'."
            )
        if value not in CSV_DIALECTS:
            return (
                f"ADMIN_REPORTS_CSV_DIALECTS[{key!r}] is {value!r}; choose one of:"
                f" {', '.join(CSV_DIALECTS)}."
            )
    return None


def psql_path() -> str | None:
    """Where psql is, for the COPY path's child process (None: not on the PATH, or not on
    a POSIX system, whose pipes the reader needs)."""
    return shutil.which("psql") if os.name == "posix" else None


def report_storage() -> Storage:
    """The storage of report files: STORAGES[ADMIN_REPORTS_STORAGE], or a
    FileSystemStorage in MEDIA_ROOT/admin_reports."""
    key = app_settings.STORAGE
    if key is not None:
        return storages[key]
    location = os.path.join(settings.MEDIA_ROOT or "", "admin_reports")
    return FileSystemStorage(location=location)


def signs_urls(storage: Storage) -> bool:
    """Whether a storage has URLs of its own (S3's, signed): not FileSystemStorage's,
    which point into MEDIA_URL, public and permanent."""
    return type(storage).url is not FileSystemStorage.url
