"""The app's exceptions; each also inherits the Django exception it means."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError


class ReportError(Exception):
    """Base class of the app's errors."""


class ReportNotFound(ReportError, LookupError):
    """No valid definition has this name."""


class InvalidDefinition(ReportNotFound, ImproperlyConfigured):
    """A definition that did not validate; `problems` says why."""

    def __init__(self, name: str, problems: Iterable[Any]) -> None:
        self.name = name
        self.problems = list(problems)
        super().__init__(
            f"The report definition {name!r} is invalid:\n"
            + "\n".join(str(problem) for problem in self.problems)
        )


class InvalidParameters(ReportError, ValidationError):
    """Parameters (dates, selection, options) a report cannot run with.

    `code` says which rule refused them and `field` which input ("start", "select", ...).
    """

    field: str | None = None


class ReportPermissionDenied(ReportError, PermissionDenied):
    """The user may not run this report; `missing` names the permissions they lack."""

    def __init__(self, message: str, missing: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.missing = list(missing)


class TooManyStreams(ReportError):
    """Over the per-process or per-user cap of running report streams."""

    status_code = 429


class RunFailed(ReportError):
    """A run that did not succeed; the message says why, in words for people."""


class InvalidSetting(ReportError, ImproperlyConfigured):
    """An entry of an ADMIN_REPORTS_* setting the app cannot use; `hint` says what to do."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def in_words(error: Exception) -> str:
    """An error's message for people: a ValidationError's messages (InvalidParameters'
    too) joined, any other error's text."""
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)
