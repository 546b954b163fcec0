"""The app's exceptions; each also inherits the Django exception it means."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError


class ReportError(Exception):
    """Base class of the app's errors."""


class ReportNotFound(ReportError, LookupError):
    """No valid definition has this name."""


class InvalidParameters(ReportError, ValidationError):
    """Parameters (dates, selection) a report cannot run with."""


class ReportPermissionDenied(ReportError, PermissionDenied):
    """The user may not run this report."""


class InvalidSetting(ReportError, ImproperlyConfigured):
    """An entry of an ADMIN_REPORTS_* setting the app cannot use; `hint` says what to do."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint
