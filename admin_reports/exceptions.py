"""The app's exceptions; each also inherits the Django exception it means."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError


class ReportError(Exception):
    """Base class of the app's errors."""


class ReportNotFound(ReportError, LookupError):
    """No valid definition has this name."""


class InvalidDefinition(ReportError, ImproperlyConfigured):
    """A definition that did not validate; `problems` says why."""

    def __init__(self, name: str, problems) -> None:
        self.name = name
        self.problems = list(problems)
        super().__init__(
            f"The report definition {name!r} is invalid:\n"
            + "\n".join(str(problem) for problem in self.problems)
        )


class InvalidParameters(ReportError, ValidationError):
    """Parameters (dates, selection) a report cannot run with."""


class ReportPermissionDenied(ReportError, PermissionDenied):
    """The user may not run this report."""
