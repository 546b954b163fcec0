"""
System checks: `manage.py check` fails with every problem of every definition,
and with every ADMIN_REPORTS_* setting entry the app cannot use.

Definition ids are admin_reports.E001 and up (definitions.CHECK_IDS); the settings'
ids are in SETTINGS_CHECK_IDS. docs/checks.md lists them all; ids are never reused.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core import checks

from .compiler import database_problem
from .conf import (
    DEFAULTS,
    PREFIX,
    app_settings,
    dialects_problem,
    reader_problem,
    report_storage,
    signs_urls,
)
from .dates import project_quick_ranges
from .definitions.functions import project_functions
from .definitions.paths import did_you_mean
from .registry import definition_files, registry

# id -> what it is about; definition problems use the other ids (definitions.CHECK_IDS).
SETTINGS_CHECK_IDS: dict[str, str] = {
    "W001": "An ADMIN_REPORTS_DIRS entry is not a directory.",
    "E027": "An ADMIN_REPORTS_FUNCTIONS entry cannot be used.",
    "E028": "An ADMIN_REPORTS_QUICK_RANGES entry cannot be used.",
    "E036": "ADMIN_REPORTS_COPY_READER cannot be used.",
    "E037": "ADMIN_REPORTS_DATABASE is not a key of DATABASES.",
    "E038": "ADMIN_REPORTS_STORAGE is not a key of STORAGES.",
    "E039": "ADMIN_REPORTS_TASK_BACKEND or ADMIN_REPORTS_TASK_QUEUE cannot take background runs.",
    "W002": "Report files would be stored under the current directory (MEDIA_ROOT is not set).",
    "W003": "The tasks backend of background runs has no worker (immediate or dummy).",
    "W004": "ADMIN_REPORTS_STORAGE_REDIRECT is on for a storage without signed URLs.",
    "E055": "ADMIN_REPORTS_CSV_DIALECTS cannot be used.",
    "W005": "A setting looks like one of admin_reports' but is not (a misspelled name).",
    "W006": "ADMIN_REPORTS_DIRS is empty, or one of its directories holds no definition.",
    "W007": "STATIC_ROOT is not set (check --deploy): the report form's script and styles"
    " are not served.",
}


@checks.register("admin_reports")
def check_definitions(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    registry.reload()  # a check always reads the files as they are now
    with registry.checking():
        return [problem.to_check() for problem in registry.problems()]


@checks.register("admin_reports")
def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = [*_check_dirs(), *_check_names()]
    _, errors = project_functions()
    messages += [checks.Error(str(e), hint=e.hint, id="admin_reports.E027") for e in errors]
    _, errors = project_quick_ranges()
    messages += [checks.Error(str(e), hint=e.hint, id="admin_reports.E028") for e in errors]
    if problem := reader_problem():
        hint = "See ADMIN_REPORTS_COPY_READER in docs/settings.md."
        messages.append(checks.Error(problem, hint=hint, id="admin_reports.E036"))
    if problem := database_problem():
        hint = "Name a key of DATABASES, or None: reports read where the router sends reads."
        messages.append(checks.Error(problem, hint=hint, id="admin_reports.E037"))
    if problem := dialects_problem():
        hint = "See ADMIN_REPORTS_CSV_DIALECTS in docs/settings.md; the form starts with CSV."
        messages.append(checks.Error(problem, hint=hint, id="admin_reports.E055"))
    return messages + _check_background()


@checks.register("admin_reports", deploy=True)
def check_static_files(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """With DEBUG off Django serves no static file: collectstatic needs STATIC_ROOT."""
    if not apps.is_installed("django.contrib.staticfiles") or settings.STATIC_ROOT:
        return []
    return [
        checks.Warning(
            "STATIC_ROOT is not set: collectstatic cannot gather the report form's script"
            " and styles, and with DEBUG off nothing serves them (the form then shows no"
            " progress or Cancel button, and its columns cannot be reordered).",
            hint="Set STATIC_ROOT, run collectstatic at each release and serve it"
            " (WhiteNoise or the web server); see docs/deployment.md, Static files.",
            id="admin_reports.W007",
        )
    ]


def settings_errors(*ids: str) -> list[checks.CheckMessage]:
    """The errors among the settings' checks with these ids ("E038"): what a command that
    needs those settings stops at (others' problems are not its business)."""
    wanted = {f"admin_reports.{id}" for id in ids}
    return [m for m in check_settings() if m.is_serious() and m.id in wanted]


def _check_background() -> list[checks.CheckMessage]:
    """The storage of report files and the tasks backend of background runs."""
    messages: list[checks.CheckMessage] = []
    key = app_settings.STORAGE
    if key is not None and key not in settings.STORAGES:
        messages.append(
            checks.Error(
                f"ADMIN_REPORTS_STORAGE is {key!r}, which is not a key of STORAGES"
                f" ({', '.join(sorted(settings.STORAGES))}).",
                hint="Add the storage to STORAGES, or leave the setting out (MEDIA_ROOT).",
                id="admin_reports.E038",
            )
        )
    if key is None and not settings.MEDIA_ROOT:
        messages.append(
            checks.Warning(
                "MEDIA_ROOT is not set: report files would be stored in ./admin_reports of"
                " the directory the server runs in.",
                hint="Set MEDIA_ROOT, or ADMIN_REPORTS_STORAGE to a key of STORAGES.",
                id="admin_reports.W002",
            )
        )
    if problem := _backend_problem():
        hint = "See docs/background.md, Workers."
        messages.append(checks.Error(problem, hint=hint, id="admin_reports.E039"))
    elif problem := _backend_warning():
        hint = "Set TASKS to the database backend or RQ; see docs/background.md, Workers."
        messages.append(checks.Warning(problem, hint=hint, id="admin_reports.W003"))
    if app_settings.STORAGE_REDIRECT and key in (None, *settings.STORAGES):
        messages += _check_redirect()
    return messages


def _check_redirect() -> list[checks.CheckMessage]:
    if signs_urls(report_storage()):
        return []
    return [
        checks.Warning(
            "ADMIN_REPORTS_STORAGE_REDIRECT is on, and report files are in a"
            " FileSystemStorage, which has no signed, short-lived URLs: downloads stream"
            " through the app instead.",
            hint="Turn it off (downloads stream through the app), or keep the files in a"
            " storage that signs its URLs (S3 through django-storages).",
            id="admin_reports.W004",
        )
    ]


# Backends that run no task in a worker: background runs would run inside the request
# that asks for them (immediate), or never (dummy).
NO_WORKER_BACKENDS = {
    "django_tasks.backends.immediate.ImmediateBackend": "runs them inside the web request",
    "django_tasks.backends.dummy.DummyBackend": "never runs them",
}


def _backend_warning() -> str | None:
    from django_tasks import task_backends

    backend = task_backends[app_settings.TASK_BACKEND]
    path = f"{type(backend).__module__}.{type(backend).__qualname__}"
    if path not in NO_WORKER_BACKENDS:
        return None
    given = "TASKS is not set, and its default" if not hasattr(settings, "TASKS") else "The"
    name, does = type(backend).__name__, NO_WORKER_BACKENDS[path]
    return f"{given} backend of background runs ({name}) {does}: no worker takes them."


def _backend_problem() -> str | None:
    from django_tasks import task_backends
    from django_tasks.exceptions import InvalidTaskBackendError

    alias, queue = app_settings.TASK_BACKEND, app_settings.TASK_QUEUE
    try:
        backend = task_backends[alias]
    except InvalidTaskBackendError as exc:
        return f"ADMIN_REPORTS_TASK_BACKEND is {alias!r}, which TASKS cannot give: {exc}"
    queues = getattr(backend, "queues", None)
    if queues and queue not in queues:
        return (
            f"ADMIN_REPORTS_TASK_QUEUE is {queue!r}, which the {alias!r} backend of TASKS"
            f" does not take (its QUEUES: {', '.join(sorted(queues))})."
        )
    return None


def _check_dirs() -> list[checks.CheckMessage]:
    """Each entry of ADMIN_REPORTS_DIRS that gives no definition, by its absolute path (a
    relative one is resolved against the directory the process runs in)."""
    if not app_settings.DIRS:
        return [_no_definition("ADMIN_REPORTS_DIRS is empty: no definition is read.")]
    messages: list[checks.CheckMessage] = []
    for directory in app_settings.DIRS:
        path = Path(directory)
        shown = f"'{path}'" if path.is_absolute() else f"'{path}' ({path.resolve()})"
        if path.is_dir():
            if not definition_files([path]):
                message = f"ADMIN_REPORTS_DIRS contains {shown}, which holds no definition."
                messages.append(_no_definition(message))
            continue
        what = "is not a directory" if path.exists() else "does not exist"
        messages.append(
            checks.Warning(
                f"ADMIN_REPORTS_DIRS contains {shown}, which {what}: no definitions are"
                " read from it.",
                hint="Give directories that hold report definitions (*.yaml, *.yml).",
                id="admin_reports.W001",
            )
        )
    return messages


def _no_definition(message: str) -> checks.Warning:
    return checks.Warning(
        message,
        hint="List the directories of your definitions in ADMIN_REPORTS_DIRS: the *.yaml"
        " and *.yml files under them (subdirectories too) are read.",
        id="admin_reports.W006",
    )


# How a misspelled name of ours may start: ADMIN_REPORT_DIRS, ADMINREPORTS_DIRS...
LOOKALIKE = re.compile(r"^ADMIN_?REPORTS?_?")


def _check_names() -> list[checks.CheckMessage]:
    """A setting named like ours that is none of ours is ignored: say so."""
    known = [PREFIX + name for name in DEFAULTS]
    messages: list[checks.CheckMessage] = []
    for name in dir(settings):
        if name in known or not LOOKALIKE.match(name):
            continue
        guess = PREFIX + LOOKALIKE.sub("", name)
        messages.append(
            checks.Warning(
                f"The setting {name} is not one of admin_reports' settings: it is ignored."
                + did_you_mean(guess, known),
                hint="The settings are listed in docs/settings.md.",
                id="admin_reports.W005",
            )
        )
    return messages
