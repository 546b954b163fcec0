"""
Run a report and write its file: CSV, CSV for Excel or XLSX.

    python manage.py run_report daily_product_sales --start 2026-03-01 --end 2026-03-31 \\
        --select 3,7 --output march.csv
    python manage.py run_report order_lines --range last_month --format xlsx -o lines.xlsx
    python manage.py run_report order_lines --explain     # the path it takes, why, its SQL
    python manage.py run_report order_lines --param status=paid --param status=shipped \\
        --param region=3                                  # the definition's parameters
    python manage.py run_report order_lines --range last_month --columns sku,quantity

The same run path as the admin: a ReportRun row records the run, and the engine
runs the query in a producer thread. Progress (rows, rows/s, elapsed) goes to
stderr when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from ...arguments import unknown_names
from ...background import QueueUnavailable, enqueue_run
from ...checks import settings_errors
from ...conf import app_settings
from ...exceptions import (
    InvalidParameters,
    ReportNotFound,
    ReportPermissionDenied,
    RunFailed,
    TooManyStreams,
)
from ...permissions import RUN_PERMISSION
from ...registry import registry, with_directories
from ...run_request import parse_run_request
from ...runs import check_fits, explain, write_run


class Command(BaseCommand):
    help = "Run a report definition and write its file (CSV or XLSX) to a file or to stdout."
    # An invalid definition is named when asked for; another broken file must not stop
    # the reports that are fine (manage.py check lists every problem).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", help="The report's name (its file name without .yaml).")
        parser.add_argument("--start", help="First day, YYYY-MM-DD.")
        parser.add_argument("--end", help="Last day (inclusive), YYYY-MM-DD.")
        parser.add_argument("--range", dest="quick_range", help="A quick range, e.g. last_month.")
        parser.add_argument("--select", help="Primary keys of the selected objects: 3,7,9.")
        parser.add_argument(
            "--on", dest="model", help="Model label of --select when the report has several."
        )
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="A value of one of the report's parameters (its definition's `parameters`);"
            " repeat it for several values: --param status=paid --param status=shipped.",
        )
        parser.add_argument(
            "--columns",
            help="The columns to write, by name, in this order: sku,revenue,day. Default:"
            " every column, as the definition has them.",
        )
        parser.add_argument("--output", "-o", default="-", help="File to write; - for stdout.")
        parser.add_argument(
            "--format",
            dest="file_format",
            help="csv (the default), csv-excel (semicolons, decimal commas, a BOM) or xlsx.",
        )
        parser.add_argument(
            "--bom",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="Start with a UTF-8 BOM (Excel); default: ADMIN_REPORTS_BOM.",
        )
        parser.add_argument(
            "--background",
            action="store_true",
            help="Queue the run for a background worker (the tasks framework) and print its"
            " number; the file goes to the report storage.",
        )
        parser.add_argument(
            "--user",
            help="Username to run --background as (its permissions are checked, it gets the"
            " e-mail and the run); default: none, as the command line.",
        )
        parser.add_argument(
            "--notify",
            action="store_true",
            help="With --background and --user: e-mail the user when the run ends.",
        )
        parser.add_argument(
            "--explain",
            action="store_true",
            help="Run nothing: print the path the rows take (copy or orm), why, and the SQL.",
        )

    def handle(self, *args: Any, name: str, output: str, **options: Any) -> None:
        # The settings a run needs (another definition's problems are not checked).
        needed = ("E037", "E038", "E039") if options["background"] else ("E037",)
        stop_at_settings_errors(needed)
        spec = self._spec(name)
        raw = {
            "range": options["quick_range"],
            "start": options["start"],
            "end": options["end"],
            "select": options["select"],
            "on": options["model"],
            "bom": options["bom"],
            "format": options["file_format"],
            "columns": options["columns"],
        }
        raw.update(_parameters(spec, options["param"]))
        default = _default_range(spec, raw)
        if default:
            raw["range"] = default
        try:
            run_request = parse_run_request(spec, raw, via="cli")
        except InvalidParameters as exc:
            if options["explain"]:  # what it needs does not depend on the run's options
                self.stdout.write(_needs(spec))
            raise CommandError(_option_text(exc)) from None
        if default:
            self.stderr.write(
                f"No dates given: the report's default range {default}"
                f" ({run_request.start} to {run_request.end})."
            )
        if options["explain"]:
            try:
                path, why, sql = explain(run_request)
            except ImproperlyConfigured as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"{spec.name}: {path} path ({why})\n{sql}\n\n{_needs(spec)}")
            return
        try:  # before the output file is made: a refused run leaves none
            check_fits(run_request)
        except InvalidParameters as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if options["background"]:
            self._enqueue(run_request, options["user"], options["notify"])
            return
        if options["user"] or options["notify"]:
            raise CommandError("--user and --notify go with --background.")
        progress = Progress(sys.stderr) if sys.stderr.isatty() else None
        try:
            self._write(run_request, output, progress)
        except RunFailed as exc:
            raise CommandError(f"The report failed: {exc}") from None
        if progress:
            progress.done()

    def _enqueue(self, run_request: Any, username: str | None, notify: bool) -> None:
        user = None
        if username:
            model = get_user_model()
            user = model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()
            if user is None:
                raise CommandError(f"--user: no user is named {username!r}.")
        elif notify:
            raise CommandError("--notify needs --user: the e-mail goes to that user.")
        if notify and user is not None and not getattr(user, "email", ""):
            self.stderr.write(f"Warning: {username} has no e-mail address: no e-mail will come.")
        if notify and not app_settings.SITE_URL:
            self.stderr.write(
                "Warning: ADMIN_REPORTS_SITE_URL is empty: the e-mail's links will have no"
                " address of the site (set it, e.g. https://shop.example.com)."
            )
        try:
            run = enqueue_run(run_request, user=user, notify=notify)
        except (ReportPermissionDenied, TooManyStreams, QueueUnavailable) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Queued run {run.pk} ({run.token}).")

    def _spec(self, name: str) -> Any:
        try:
            with registry.checking():  # the command's error lists a problem, not a log too
                return registry.get(name)
        except ReportNotFound as exc:  # InvalidDefinition too, with its problems
            raise CommandError(with_directories(exc)) from None

    def _write(self, run_request: Any, output: str, progress: Progress | None) -> None:
        on_chunk = progress.show if progress else None
        if output != "-":
            try:
                out = open(output, "wb")  # noqa: SIM115  closed below; refused before a run
            except OSError as exc:
                raise CommandError(f"--output: cannot write {output!r}: {exc.strerror}.") from None
            with out:
                write_run(run_request, out, on_chunk=on_chunk, fits=True)
            return
        self.stdout.flush()
        stream = getattr(self.stdout, "_out", sys.stdout)
        binary = getattr(stream, "buffer", None) or TextOut(stream)
        try:
            write_run(run_request, binary, on_chunk=on_chunk, fits=True)
            binary.flush()
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, as other tools do.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  keeps exit-time flush quiet


def _needs(spec: Any) -> str:
    """What a report reads and what a user needs to run it (run_report --explain)."""
    needs = ", ".join(dict.fromkeys([RUN_PERMISSION, *spec.permissions]))
    lines = [
        f"Reads: {', '.join(spec.reads)}",
        f"Needs: an active staff user with {needs}",
    ]
    for action in spec.action_on:
        lines.append(
            f"On the changelist of {action.label}: on={action.label.lower()}, the rows"
            f" through {action.selection!r}"
        )
    if not spec.action_on:
        lines.append("On no changelist (run it here, or from the endpoint without on=).")
    return "\n".join(lines)


def _default_range(spec: Any, raw: dict[str, Any]) -> str | None:
    """The definition's default quick range, when the command gives no dates."""
    date_range = spec.date_range
    if date_range is None or raw["range"] or raw["start"] or raw["end"]:
        return None
    return date_range.default


def stop_at_settings_errors(ids: tuple[str, ...]) -> None:
    """CommandError naming the errors of these settings' checks, if any."""
    serious = settings_errors(*ids)
    if serious:
        lines = [f"{message.id}: {message.msg}" for message in serious]
        raise CommandError("The settings of admin_reports cannot be used:\n" + "\n".join(lines))


OPTIONS = {
    "range": "--range",
    "start": "--start",
    "end": "--end",
    "select": "--select",
    "on": "--on",
    "bom": "--bom",
    "format": "--format",
    "columns": "--columns",
}


def _option_text(exc: InvalidParameters) -> str:
    message = " ".join(exc.messages)
    field = getattr(exc, "field", None) or ""
    option = OPTIONS.get(field) or (f"--param {field}" if field else None)
    return f"{option}: {message}" if option else message


def _parameters(spec: Any, given: list[str]) -> dict[str, list[str]]:
    """--param name=value options as run request input: name -> its values."""
    values: dict[str, list[str]] = {}
    for item in given:
        name, sign, value = item.partition("=")
        name = name.strip()
        if not sign or not name:
            raise CommandError(f"--param: give NAME=VALUE, not {item!r}.")
        values.setdefault(name, []).append(value)
    unknown = unknown_names(spec, list(values))
    if unknown:
        names = ", ".join(parameter.name for parameter in spec.parameters) or "none"
        raise CommandError(
            f"--param: the report {spec.name} has no parameter {unknown[0]!r}"
            f" (its parameters: {names})."
        )
    return values


class TextOut:
    """A text stream (e.g. a test's StringIO) taking the CSV's bytes."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.stream.write(data.decode("utf-8"))

    def flush(self) -> None:
        self.stream.flush()


class Progress:
    """`rows, rows/s, elapsed` on one terminal line."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.rows = 0
        self.started = self.shown = time.monotonic()

    def show(self, tracker: Any = None, force: bool = False) -> None:
        if tracker is not None:
            self.rows = tracker.rows
        now = time.monotonic()
        if not force and now - self.shown < 0.2:
            return
        self.shown = now
        rows, elapsed = self.rows, max(now - self.started, 1e-9)
        self.stream.write(f"\r{rows:,} rows  {rows / elapsed:,.0f} rows/s  {elapsed:.1f}s elapsed")
        self.stream.flush()

    def done(self) -> None:
        self.show(force=True)
        self.stream.write("\n")
