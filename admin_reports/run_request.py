"""
From raw input (a query string, a form, a preset, CLI options) to one validated run request.

    request = parse_run_request(spec, {"range": "last_month", "select": "3,7", "bom": "1"})
    request.start, request.end     # the dates, resolved once, here
    request.params()               # what the compiler takes
    request.format, request.filename   # "csv" (the default), "csv-excel" or "xlsx"

Every face hands what the person typed to `parse_run_request` and renders what
comes back: a RunRequest, or InvalidParameters with a `code`, the input it is
about (`field`) and a message for people. The rules live here once: a quick range
and dates that disagree are refused, dates lie in 0001-01-01..9998-12-31, selected
keys must be keys of the selection's model, the BOM follows ADMIN_REPORTS_BOM
unless the run says otherwise, the file format is one of file_formats.FILE_FORMATS
(the report form starts with the one ADMIN_REPORTS_CSV_DIALECTS gives the language),
chosen columns are the definition's, each once, the always included among them.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, models
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from .arguments import (
    argument_condition,
    arguments_in_words,
    parse_arguments,
    stored_arguments,
)
from .compiler import (
    ReportParams,
    check_date_range,
    chosen_columns,
    column_choices,
    report_database,
)
from .conf import app_settings, dialects_problem
from .dates import quick_ranges
from .definitions.problems import shown
from .definitions.spec import ReportSpec
from .exceptions import InvalidParameters
from .file_formats import CSV, FILE_FORMATS

FIRST_DAY = dt.date(1, 1, 1)
LAST_DAY = dt.date(9998, 12, 31)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TRUE_WORDS = {"1", "true", "on", "yes"}
FALSE_WORDS = {"0", "false", "off", "no"}


@dataclass(frozen=True)
class QuickRangeChoice:
    name: str
    label: str
    start: dt.date
    end: dt.date


def offered_ranges(spec: ReportSpec | None = None) -> dict[str, Any]:
    """The quick ranges a report offers: those its definition lists, else every one."""
    ranges = quick_ranges()
    listed = (
        [name for name, _mark in spec.date_range.quick_ranges] if spec and spec.date_range else []
    )
    if not listed:
        return ranges
    return {name: ranges[name] for name in listed if name in ranges}


def quick_range_choices(
    today: dt.date | None = None, spec: ReportSpec | None = None
) -> list[QuickRangeChoice]:
    """The quick ranges `spec` offers (default: all) with their dates for `today`."""
    today = today or timezone.localdate()
    choices = []
    for name, quick in offered_ranges(spec).items():
        start, end = quick.resolve(today)
        choices.append(QuickRangeChoice(name, str(quick.label), start, end))
    return choices


@dataclass(frozen=True)
class RunSelection:
    """The objects a run is limited to: a queryset of `model`, or its primary keys."""

    model: type[models.Model]
    objects: QuerySet | list[Any]
    saved: list[str] | dict[str, str]  # as stored: keys, or {"filter": query string}
    description: str = ""
    count: int | None = None


@dataclass(frozen=True)
class RunRequest:
    spec: ReportSpec
    start: dt.date | None = None
    end: dt.date | None = None
    quick_range: str = ""
    selection: RunSelection | None = None
    bom: bool = False
    token: uuid.UUID | None = None
    preset: Any = None  # a ReportPreset
    via: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # The definition's parameters given: name -> value, or a list of values (arguments.py).
    arguments: dict[str, Any] = field(default_factory=dict)
    format: str = CSV  # a key of file_formats.FILE_FORMATS
    columns: tuple[str, ...] = ()  # the file's columns, in order; empty: the definition's

    def params(self) -> ReportParams:
        selection = self.selection
        return ReportParams(
            start=self.start,
            end=self.end,
            selection=selection.objects if selection else None,
            selection_model=selection.model if selection else None,
            filters=argument_condition(self.spec, self.arguments),
            columns=self.columns,
        )

    @property
    def filename(self) -> str:
        parts = [self.spec.name, self.start, self.end]
        stem = "_".join(str(part) for part in parts if part)
        return (get_valid_filename(stem) or "report") + FILE_FORMATS[self.format].extension

    def describe(self) -> dict[str, Any]:
        """The parameters as stored in ReportRun.parameters (JSON)."""
        selection = self.selection
        described: dict[str, Any] = {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "quick_range": self.quick_range or None,
            "selection_model": selection.model._meta.label if selection else None,
            "selection": selection.saved if selection else None,
            "bom": self.bom,
        }
        if selection is not None and selection.description:
            described["selection_text"] = selection.description
        if selection is not None and selection.count is not None:
            described["selection_count"] = selection.count
        if self.preset is not None:
            described["preset"] = self.preset.name
        if self.via:
            described["via"] = self.via
        if self.arguments:
            described["arguments"] = stored_arguments(self.spec, self.arguments)
            described["arguments_text"] = arguments_in_words(self.spec, self.arguments)
        if self.format != CSV:
            described["format"] = self.format
        if self.columns:
            described["columns"] = list(self.columns)
        return {**described, **self.extra}


def invalid(message: str, code: str, field: str | None = None) -> InvalidParameters:
    error = InvalidParameters(message, code=code)
    error.field = field
    return error


def parse_run_request(
    spec: ReportSpec,
    data: Mapping[str, Any],
    *,
    selection: RunSelection | None = None,
    today: dt.date | None = None,
    **options: Any,
) -> RunRequest:
    """A RunRequest from raw input, or InvalidParameters (the first problem found).

    `data` keys: range, start, end (YYYY-MM-DD or dates), select ("3,7"), on (a model
    label), bom ("1"/"0"), format ("csv", "csv-excel", "xlsx"), run_token, columns
    ("sku,day" or a list of names), and each of the definition's parameters by its name
    (see arguments.py). A `selection` made by a face (a changelist's) takes the place of
    select/on. `options` (preset, via, extra) are carried as given.
    """
    start, end, quick_range = parse_dates(spec, data, today)
    if selection is None:
        selection = parse_selection(spec, data.get("select"), data.get("on"))
    return RunRequest(
        spec=spec,
        start=start,
        end=end,
        quick_range=quick_range,
        selection=selection,
        bom=parse_bom(data.get("bom")),
        token=parse_token(data.get("run_token")),
        arguments=parse_arguments(spec, data),
        format=parse_format(data.get("format")),
        columns=parse_columns(spec, _given_columns(data)),
        **options,
    )


def parse_dates(
    spec: ReportSpec, data: Mapping[str, Any], today: dt.date | None = None
) -> tuple[dt.date | None, dt.date | None, str]:
    """(start, end, quick range name): a quick range, or dates, checked against the spec."""
    name = text(data.get("range"))
    start = parse_date(data.get("start"), "start")
    end = parse_date(data.get("end"), "end")
    if spec.date_range is None:
        if name or start or end:
            given = "range" if name else "start" if start else "end"  # the option to name
            raise invalid(_("This report has no date range."), "no_range", given)
        return None, None, ""
    if name:
        ranges = offered_ranges(spec)
        if name not in ranges:
            # A project's range that the definition's quick_ranges leaves out is no typo.
            message = (
                _("%(name)s is not one of this report's quick ranges; choose one of: %(choices)s.")
                if name in quick_ranges()
                else _("Unknown quick range %(name)s; choose one of: %(choices)s.")
            )
            raise invalid(
                message % {"name": shown(name), "choices": ", ".join(ranges)},
                "range",
                "range",
            )
        quick = ranges[name]
        resolved = quick.resolve(today or timezone.localdate())
        if (start or end) and (start, end) != resolved:
            raise invalid(
                _(
                    "The dates %(start)s to %(end)s do not match the quick range “%(label)s”"
                    " (%(range_start)s to %(range_end)s). Give a quick range or dates, not both."
                )
                % {
                    "start": start or "…",
                    "end": end or "…",
                    "label": quick.label,
                    "range_start": resolved[0],
                    "range_end": resolved[1],
                },
                "range_mismatch",
                "range",
            )
        start, end = resolved
    try:
        check_date_range(spec, start, end)
    except ValidationError as exc:
        code = exc.code or "dates"
        raise invalid(" ".join(exc.messages), code) from None
    return start, end, name


def parse_date(value: Any, name: str) -> dt.date | None:
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        value = text(value)
        if not value:
            return None
        try:
            if not ISO_DATE.match(value):  # fromisoformat also takes 20260301
                raise ValueError(value)
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise invalid(
                _("%(value)s is not a date in the form YYYY-MM-DD.") % {"value": shown(value)},
                "date",
                name,
            ) from None
    if not FIRST_DAY <= value <= LAST_DAY:
        raise invalid(
            _("Dates must lie between %(first)s and %(last)s.")
            % {"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()},
            "date_out_of_range",
            name,
        )
    return value


def parse_selection(spec: ReportSpec, select: Any, on: Any) -> RunSelection | None:
    """The selection named by primary keys ("3,7") and a model label, checked."""
    given, select, label = select is not None, text(select), text(on).lower()
    if given and not select.strip(", "):
        raise invalid(_("The selection names no object."), "selection", "select")
    if not select:
        if label:
            raise invalid(_("A selection's model needs a selection."), "selection", "on")
        return None
    actions = spec.actions_by_label
    if not actions:
        raise invalid(
            _("The report %(name)s runs on no changelist: it takes no selection.")
            % {"name": shown(spec.name)},
            "selection",
            "select",
        )
    if not label and len(actions) == 1:
        label = next(iter(actions))
    if label not in actions:
        raise invalid(
            _("Name the selection's model, one of: %(choices)s.")
            % {"choices": ", ".join(sorted(actions))},
            "selection_model",
            "on",
        )
    model = actions[label].model
    most = app_settings.MAX_SELECTED
    if most is not None and select.count(",") >= most and len(_keys(select)) > most:
        raise invalid(
            _(
                "At most %(most)s objects can be named by key; filter the changelist and"
                " select all instead."
            )
            % {"most": f"{most:,}"},
            "selection",
            "select",
        )
    keys = [primary_key(model, key) for key in _keys(select)]
    if not keys:
        raise invalid(_("The selection names no object."), "selection", "select")
    return RunSelection(model, keys, [str(key) for key in keys], count_of(model, len(keys)))


def count_of(model: type[models.Model], count: int) -> str:
    """ "12 products": a selection's size in words (the run log, e-mails)."""
    opts = model._meta
    noun = opts.verbose_name if count == 1 else opts.verbose_name_plural
    return f"{count:,} {noun}"


def _keys(select: str) -> list[str]:
    return [key.strip() for key in select.split(",") if key.strip()]


def primary_key(model: type[models.Model], value: str) -> Any:
    """`value` as a primary key of `model`, or InvalidParameters."""
    pk = model._meta.pk
    assert pk is not None
    noun = model._meta.verbose_name
    refusal = invalid(
        _("%(value)s is not a valid key of a %(noun)s.") % {"value": shown(value), "noun": noun},
        "selection",
        "select",
    )
    try:
        key = pk.to_python(value)
    except ValidationError:
        raise refusal from None
    if isinstance(pk, models.IntegerField):  # AutoField and BigAutoField included
        # The range of the database the report reads, where the key goes into the query.
        connection = connections[report_database(model)]
        low, high = connection.ops.integer_field_range(pk.get_internal_type())
        if (low is not None and key < low) or (high is not None and key > high):
            raise refusal
    return key


def _given_columns(data: Mapping[str, Any]) -> Any:
    """Every `columns` value of a query string or form (QueryDict.get has only the last)."""
    if hasattr(data, "getlist"):
        values = data.getlist("columns")
        return values or None
    return data.get("columns")


def parse_columns(spec: ReportSpec, value: Any) -> tuple[str, ...]:
    """The columns named ("sku,units" or a list of names), checked; () for the definition's.

    Not given (None): every column, in the definition's order; given, it must name
    at least one column, each once, and every column that is always included.
    """
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple) else [value]
    # "sku,units", or the form's repeated keys (columns=sku&columns=units), or both.
    names = [name.strip() for item in items for name in str(item).split(",") if name.strip()]
    if not names:
        message = _("Choose at least one column.")
        raise invalid(f"{message} {column_choices(spec)}", "columns", "columns")
    try:
        chosen = tuple(column.name for column in chosen_columns(spec, names))
    except InvalidParameters as exc:
        raise invalid(" ".join(exc.messages), "columns", "columns") from None
    # All of them, as defined, is no choice: the run is stored as one without it.
    return () if chosen == tuple(column.name for column in spec.columns) else chosen


def parse_bom(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = text(value).lower()
    if not word:
        return bool(app_settings.BOM)
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise invalid(_("Give bom as 1 or 0 (or true/false, yes/no, on/off)."), "bom", "bom")


def parse_format(value: Any) -> str:
    """A file format's name (FILE_FORMATS); "csv" when none is given."""
    name = text(value)
    if not name:
        return CSV
    if name not in FILE_FORMATS:
        raise invalid(
            _("Unknown file format %(name)s; choose one of: %(choices)s.")
            % {"name": shown(name), "choices": ", ".join(FILE_FORMATS)},
            "format",
            "format",
        )
    return name


def format_choices() -> list[tuple[str, str]]:
    """(name, label) of every file format, for a form's choice."""
    return [(name, str(file_format.label)) for name, file_format in FILE_FORMATS.items()]


def default_format(language: str | None = None) -> str:
    """The file format a report form starts with: ADMIN_REPORTS_CSV_DIALECTS' entry for
    the language ("de-at", else "de"; default: the active one), else "csv"."""
    dialects = app_settings.CSV_DIALECTS
    if dialects_problem() is not None:
        return CSV  # check E050 says what is wrong
    code = (language or get_language() or "").lower()
    for key in (code, code.split("-")[0]):
        if key in dialects:
            return dialects[key]
    return CSV


def parse_token(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    word = text(value)
    if not word:
        return None
    try:
        return uuid.UUID(word)
    except ValueError:
        raise invalid(_("The run token is not valid."), "token", "run_token") from None


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = value[-1] if value else ""
    return str(value).strip()
