"""
Run a report and write its CSV.

    python manage.py run_report daily_product_sales --start 2026-03-01 --end 2026-03-31 \\
        --select 3,7 --output march.csv

The same run path as the admin: a ReportRun row records the run, and the engine
runs the query in a producer thread. Progress (rows, rows/s, elapsed) goes to
stderr when stderr is a terminal.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import date

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ...compiler import ReportParams
from ...dates import quick_ranges, resolve_quick_range
from ...engine import IdentityWire, StreamAborted, SyncStream
from ...exceptions import ReportNotFound
from ...registry import registry
from ...runs import describe_params, start_run


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date in the form YYYY-MM-DD.") from None


def primary_keys(value: str) -> list[str]:
    keys = [key.strip() for key in value.split(",") if key.strip()]
    if not keys:
        raise CommandError("--select needs at least one primary key.")
    return keys


class Command(BaseCommand):
    help = "Run a report definition and write its CSV to a file or to stdout."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The report's name (its file name without .yaml).")
        parser.add_argument("--start", type=iso_date, help="First day, YYYY-MM-DD.")
        parser.add_argument("--end", type=iso_date, help="Last day (inclusive), YYYY-MM-DD.")
        parser.add_argument("--range", dest="quick_range", help="A quick range, e.g. last_month.")
        parser.add_argument(
            "--select", type=primary_keys, help="Primary keys of the selected objects: 3,7,9."
        )
        parser.add_argument(
            "--on", dest="model", help="Model label of --select when the report has several."
        )
        parser.add_argument("--output", "-o", default="-", help="File to write; - for stdout.")
        parser.add_argument("--bom", action="store_true", help="Start with a UTF-8 BOM (Excel).")

    def handle(self, *args, name, start, end, quick_range, select, model, output, bom, **options):
        spec = self._spec(name)
        if quick_range:
            if start or end:
                raise CommandError("Give either --range or --start/--end, not both.")
            if quick_range not in quick_ranges():
                raise CommandError(
                    f"Unknown --range {quick_range!r}; choose one of: " + ", ".join(quick_ranges())
                )
            start, end = resolve_quick_range(quick_range)
        params = ReportParams(
            start=start,
            end=end,
            selection=select,
            selection_model=self._selection_model(spec, select, model),
        )
        try:
            handle = start_run(
                spec, params, bom=bom, parameters=describe_params(params, bom=bom, via="cli")
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        progress = Progress(sys.stderr, handle.tracker) if sys.stderr.isatty() else None
        chunks = iter(SyncStream(handle.job, IdentityWire(heartbeats=False)))
        try:
            self._write(chunks, output, progress)
        except StreamAborted as exc:
            raise CommandError(f"The report failed: {exc.__cause__}") from None
        finally:
            chunks.close()
            handle.tracker.wait()
        if progress:
            progress.done()

    def _spec(self, name):
        try:
            return registry.get(name)
        except ReportNotFound as exc:
            problems = [p for p in registry.problems() if p.mark.file and p.mark.file.stem == name]
            if problems:
                raise CommandError(
                    f"The report definition {name!r} is invalid:\n"
                    + "\n".join(str(problem) for problem in problems)
                ) from None
            raise CommandError(str(exc)) from None

    def _selection_model(self, spec, select, label):
        if select is None:
            if label:
                raise CommandError("--on only makes sense with --select.")
            return None
        actions = spec.actions_by_label
        if not actions:
            raise CommandError(f"The report {spec.name!r} has no action_on: --select needs one.")
        if label is None:
            if len(actions) > 1:
                raise CommandError("--select needs --on, one of: " + ", ".join(sorted(actions)))
            return next(iter(actions.values())).model
        if label.lower() not in actions:
            raise CommandError(f"--on must be one of: {', '.join(sorted(actions))}.")
        return actions[label.lower()].model

    def _write(self, chunks, output: str, progress) -> None:
        if output != "-":
            with open(output, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    if progress:
                        progress.show()
            return
        self.stdout.flush()
        stream = getattr(self.stdout, "_out", sys.stdout)
        binary = getattr(stream, "buffer", None)
        try:
            for chunk in chunks:
                if binary is not None:
                    binary.write(chunk)
                else:
                    stream.write(chunk.decode("utf-8"))
                if progress:
                    progress.show()
            (binary or stream).flush()
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, as other tools do.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  keeps exit-time flush quiet


class Progress:
    """`rows, rows/s, elapsed` on one terminal line."""

    def __init__(self, stream, tracker) -> None:
        self.stream = stream
        self.tracker = tracker
        self.started = self.shown = time.monotonic()

    def show(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.shown < 0.2:
            return
        self.shown = now
        rows, elapsed = self.tracker.rows, max(now - self.started, 1e-9)
        self.stream.write(f"\r{rows:,} rows  {rows / elapsed:,.0f} rows/s  {elapsed:.1f}s elapsed")
        self.stream.flush()

    def done(self) -> None:
        self.show(force=True)
        self.stream.write("\n")
