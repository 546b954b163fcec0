"""
Report files kept in a storage: every background run writes one, and a streamed run
keeps a copy when ADMIN_REPORTS_KEEP_STREAMED is on.

    keeper = FileKeeper(stored_name(run.token, "march.csv"))   # .../march.csv.gz
    keeper.write(header); keeper.write(chunk) ...       # from the producer thread
    fields = keeper.save()    # {"file": name, "file_size": ..., "expires_at": ...}

A CSV is kept compressed with gzip (the deflate of gzip downloads) and named so
(`march.csv.gz`); an XLSX, a zip already, as it is (`march.xlsx`). A file is written to
a temporary file first and handed to the storage once complete, so a failed run leaves
nothing behind and any storage (local, S3) takes it. The storage is
settings.STORAGES[ADMIN_REPORTS_STORAGE], or a FileSystemStorage in
MEDIA_ROOT/admin_reports.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from .conf import app_settings, report_storage
from .engine import GzipWire
from .file_formats import file_format_of
from .models import ReportRun, RunStatus

logger = logging.getLogger("admin_reports.stored")

# Bytes read from a storage at a time when a download streams a file.
READ_SIZE = 256 * 1024


def stored_name(token: uuid.UUID, filename: str, when: dt.datetime | None = None) -> str:
    """Where a run's file goes: by day, under the run's token (not guessable); ".gz" after
    the name of a file kept gzip-compressed."""
    when = when or timezone.now()
    base = get_valid_filename(filename) or "report.csv"
    suffix = ".gz" if file_format_of(base).compressible else ""
    return f"{when:%Y/%m/%d}/{token.hex}/{base}{suffix}"


def expiry(now: dt.datetime | None = None) -> dt.datetime | None:
    days = app_settings.RETENTION_DAYS
    if days is None:
        return None
    return (now or timezone.now()) + dt.timedelta(days=float(days))


class FileKeeper:
    """Writes a run's file into a temporary file (gzip-compressed when its name ends in
    .gz), and stores it once complete."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.temp = tempfile.TemporaryFile(prefix="admin-reports-")  # noqa: SIM115  closed in save/discard
        self.wire = GzipWire() if name.endswith(".gz") else None

    def write(self, data: bytes) -> None:
        """From the producer thread; the bytes of the file, in order."""
        self.temp.write(self.wire.data(data) if self.wire is not None else data)

    def save(self) -> dict[str, Any]:
        """Store the file; the run's fields that describe it."""
        try:
            if self.wire is not None:
                self.temp.write(self.wire.end())
            compressed = self.temp.tell()
            self.temp.seek(0)
            name = report_storage().save(self.name, File(self.temp, name=self.name))
        finally:
            self.temp.close()
        return {
            "file": name,
            "file_size": compressed,
            "expires_at": expiry(),
        }

    def discard(self) -> None:
        self.temp.close()


def file_gone(run: ReportRun) -> tuple[str, int] | None:
    """Why a run has no file to download, in words, and the HTTP status that says it;
    None when it has one."""
    if run.has_file:
        return None
    if not run.finished:
        return _("This run has not finished: its file is not ready yet."), 404
    if run.status != RunStatus.SUCCEEDED:
        return _("This run did not succeed: it has no file."), 404
    if run.file_expired:
        assert run.expires_at is not None
        when = date_format(timezone.localtime(run.expires_at), "DATETIME_FORMAT")
        return _("The file of this run expired on %(when)s and was deleted.") % {"when": when}, 410
    if run.background or run.file_size is not None:
        return missing_file_text(), 410
    return _("This run kept no file: it was streamed to the browser."), 404


def missing_file_text() -> str:
    return _(
        "The file of this run is no longer in the storage (deleted, or kept where this"
        " server cannot read it). Run the report again."
    )


def expired_runs() -> Iterator[ReportRun]:
    """Runs whose stored file is past its expiry, oldest first."""
    runs = ReportRun.objects.exclude(file="").filter(expires_at__lte=timezone.now())
    return runs.order_by("expires_at").only("pk", "file", "expires_at").iterator()


def forget_file(run: ReportRun) -> None:
    """Delete a run's stored file (one already gone is no error); the run stays."""
    storage = report_storage()
    with contextlib.suppress(FileNotFoundError):
        storage.delete(run.file)
    if isinstance(storage, FileSystemStorage):
        _remove_empty_folders(storage, run.file)
    ReportRun.objects.filter(pk=run.pk, file=run.file).update(file="")


def _remove_empty_folders(storage: FileSystemStorage, name: str) -> None:
    """The run's folder and its day's, month's, year's, once empty (another run's file
    written there at the same moment keeps its folder: rmdir fails on it)."""
    root = os.path.abspath(storage.location)
    folder = os.path.dirname(os.path.abspath(storage.path(name)))
    while folder.startswith(root + os.sep):
        try:
            os.rmdir(folder)
        except OSError:  # not empty, or gone
            return
        folder = os.path.dirname(folder)


def signed_url(name: str, filename: str) -> str:
    """The storage's own URL of a file (S3: signed, short-lived, named `filename`, and
    `filename.gz` when kept gzip-compressed)."""
    storage = report_storage()
    expires = app_settings.STORAGE_REDIRECT_EXPIRES
    gzipped = name.endswith(".gz")
    kept_as = f"{filename}.gz" if gzipped else filename
    content_type = "application/gzip" if gzipped else file_format_of(name).content_type
    parameters = {
        "ResponseContentDisposition": f'attachment; filename="{kept_as}"',
        "ResponseContentType": content_type,
    }
    try:  # django-storages' S3Storage.url(name, parameters, expire)
        return storage.url(name, parameters=parameters, expire=expires)  # type: ignore[call-arg]
    except TypeError:
        return storage.url(name)
