"""
Saved presets, in one place: who sees them, what makes one valid, and the run
request one makes.

    visible_presets(user, "daily_product_sales")     # their own and shared ones
    preset_errors(preset, resolve_filter=...)        # {"quick_range": ["..."], ...} or {}
    preset_problem(preset, user)                     # why it cannot run now, or None
    request = preset_request(preset, resolve_filter=...)   # a RunRequest, or InvalidParameters

A changelist filter can only be checked and evaluated by the changelist's admin,
so the admin hands in `resolve_filter(model, query_string) -> queryset`, which
raises ValidationError when the filter does not apply.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .arguments import arguments_in_words, parse_arguments, stored_arguments, unknown_names
from .compiler import check_date_range
from .dates import quick_ranges
from .definitions.paths import did_you_mean
from .definitions.problems import shown
from .definitions.spec import ReportSpec
from .exceptions import InvalidParameters, ReportNotFound
from .file_formats import CSV, FILE_FORMATS
from .models import ReportPreset, ScheduleKind
from .permissions import refusal
from .registry import registry
from .run_request import (
    RunRequest,
    RunSelection,
    count_of,
    offered_ranges,
    parse_columns,
    parse_date,
    parse_format,
    parse_run_request,
    primary_key,
)

ResolveFilter = Callable[[type[models.Model], str], QuerySet]
OPTIONS = {"bom": bool, "format": str, "arguments": dict, "columns": list}
Kind = ReportPreset.SelectionKind
RangeKind = ReportPreset.RangeKind


class Errors(dict[str, list[str]]):
    def add(self, name: str, message: str) -> None:
        self.setdefault(name, []).append(message)


def visible_presets(user: Any, report: str | None = None) -> QuerySet[ReportPreset]:
    """The presets `user` may see: their own and shared ones (all, for superusers)."""
    presets = ReportPreset.objects.select_related("owner")
    if not user.is_superuser:
        presets = presets.filter(Q(owner=user) | Q(shared=True))
    if report is not None:
        presets = presets.filter(report=report)
    return presets


def preset_errors(
    preset: ReportPreset, resolve_filter: ResolveFilter | None = None
) -> dict[str, list[str]]:
    """Every problem of a preset, by field; empty when it is valid."""
    errors = Errors()
    add = errors.add
    try:
        spec = registry.get(preset.report)
    except ReportNotFound:
        add("report", _report_unknown(preset.report))
        return dict(errors)
    _range_errors(preset, spec, errors)
    _selection_errors(preset, spec, errors, resolve_filter)
    _schedule_errors(preset, spec, errors)
    _options_errors(preset, spec, errors)
    return dict(errors)


def _options_errors(preset: ReportPreset, spec: ReportSpec, errors: Errors) -> None:
    options = preset.options if isinstance(preset.options, dict) else None
    if options is None or any(
        key not in OPTIONS or not isinstance(value, OPTIONS[key]) for key, value in options.items()
    ):
        errors.add(
            "options",
            _(
                'Options must be a mapping such as {"bom": true, "format": "xlsx", "columns":'
                ' ["sku", "day"], "arguments": {"status": "paid"}}.'
            ),
        )
        return
    try:
        parse_format(options.get("format"))
    except InvalidParameters as exc:
        errors.add("options", " ".join(exc.messages))
    _argument_errors(options.get("arguments") or {}, spec, errors)
    if "columns" in options:
        _column_errors(options["columns"], spec, errors)


def _argument_errors(arguments: dict[str, Any], spec: ReportSpec, errors: Errors) -> None:
    """A preset's parameters: each one the report has, each value one it takes now."""
    unknown = unknown_names(spec, list(arguments))
    if unknown:
        errors.add(
            "options",
            _("The report has no parameter %(name)s.") % {"name": shown(unknown[0])}
            + did_you_mean(unknown[0], [parameter.name for parameter in spec.parameters]),
        )
        return
    try:
        parse_arguments(spec, arguments)
    except InvalidParameters as exc:
        parameter = spec.parameter(exc.field or "")
        label = parameter.label if parameter is not None else exc.field
        errors.add("options", f"{label}: {' '.join(exc.messages)}")


def _column_errors(columns: list[Any], spec: ReportSpec, errors: Errors) -> None:
    """The saved columns must still fit the definition (it may have changed since)."""
    try:
        parse_columns(spec, [str(name) for name in columns])
    except InvalidParameters as exc:
        errors.add("options", _("Its columns: %s") % " ".join(exc.messages))


def normalize_preset(preset: ReportPreset) -> None:
    """Clear what the preset's kinds leave unused (dates of a quick range, and so on)."""
    if preset.range_kind != RangeKind.FIXED:
        preset.start = preset.end = None
    if preset.range_kind != RangeKind.QUICK:
        preset.quick_range = ""
    if preset.selection_kind != Kind.SAVED:
        preset.selection_pks = []
    if preset.selection_kind != Kind.FILTER:
        preset.selection_filter = ""
    if preset.schedule == ScheduleKind.NONE:
        preset.schedule_time = None
    if preset.schedule != ScheduleKind.WEEKLY:
        preset.schedule_weekday = None
    if preset.schedule != ScheduleKind.MONTHLY:
        preset.schedule_day = None


def filter_errors(preset: ReportPreset, resolve_filter: ResolveFilter) -> list[str]:
    """The problems of a preset's changelist filter, checked through its changelist."""
    try:
        spec = registry.get(preset.report)
    except ReportNotFound:
        return []  # said by preset_errors
    errors = Errors()
    _selection_errors(preset, spec, errors, resolve_filter)
    return errors.get("selection_filter", [])


def validate_preset(preset: ReportPreset, resolve_filter: ResolveFilter | None = None) -> None:
    """Raise ValidationError (by field) when the preset cannot be saved as it is."""
    errors = preset_errors(preset, resolve_filter)
    if errors:
        raise ValidationError(errors)


def preset_problem(
    preset: ReportPreset, user: Any = None, resolve_filter: ResolveFilter | None = None
) -> str | None:
    """Why a preset cannot run now (for `user`), in one sentence; None when it can."""
    errors = preset_errors(preset, resolve_filter)
    if errors:
        return " ".join(message for messages in errors.values() for message in messages)
    if user is not None:
        refused = refusal(user, registry.get(preset.report))
        if refused is not None and refused.missing:
            return ngettext(
                "You may not run it: it needs the permission %(names)s.",
                "You may not run it: it needs the permissions %(names)s.",
                len(refused.missing),
            ) % {"names": ", ".join(refused.missing)}
        if refused is not None:
            return str(refused)
    return None


def _report_unknown(name: str) -> str:
    return _("No valid report is named %(name)s.") % {"name": shown(name)} + did_you_mean(
        name, registry.specs()
    )


def _range_errors(preset: ReportPreset, spec: ReportSpec, errors: Errors) -> None:
    add = errors.add
    if preset.range_kind not in RangeKind.values:
        add("range_kind", _("Choose a kind of date range."))
        return
    if spec.date_range is None:
        if preset.range_kind != RangeKind.NONE:
            add("range_kind", _("This report has no date range: choose “No date range”."))
        return
    if preset.range_kind == RangeKind.QUICK:
        ranges = offered_ranges(spec)  # a report's own quick_ranges, else every one
        if preset.quick_range not in ranges:
            message = (
                _("%(name)s is not one of this report's quick ranges; choose one of: %(choices)s.")
                if preset.quick_range in quick_ranges()
                else _("%(name)s is not a quick range; choose one of: %(choices)s.")
            )
            add(
                "quick_range",
                message % {"name": shown(preset.quick_range), "choices": ", ".join(ranges)},
            )
        return
    start, end = preset.start, preset.end
    if preset.range_kind == RangeKind.FIXED:
        for name, day in (("start", start), ("end", end)):
            if day is None:
                add(name, _("Fixed dates need a start and an end."))
                continue
            try:
                parse_date(day, name)  # the run request's bounds of a date
            except InvalidParameters as exc:
                add(name, " ".join(exc.messages))
        if "start" in errors or "end" in errors:
            return
    elif spec.date_range.required:
        add("range_kind", _("This report needs a date range."))
        return
    try:
        check_date_range(spec, start, end)
    except ValidationError as exc:
        add("end", " ".join(exc.messages))


def _selection_errors(
    preset: ReportPreset, spec: ReportSpec, errors: Errors, resolve: ResolveFilter | None
) -> None:
    add = errors.add
    kind = preset.selection_kind
    if kind not in Kind.values:
        add("selection_kind", _("Choose how the selection is saved."))
        return
    if kind == Kind.ASK or not spec.action_on:
        return
    actions = spec.actions_by_label
    label = (preset.selection_model or "").lower()
    if label not in actions:
        add(
            "selection_model",
            _("The report runs on %(choices)s, not on %(model)s.")
            % {"choices": ", ".join(sorted(actions)), "model": shown(preset.selection_model)},
        )
        return
    model = actions[label].model
    if kind == Kind.SAVED:
        keys = preset.selection_pks
        if not isinstance(keys, list) or not keys:
            add("selection_pks", _("A saved selection needs a list of keys."))
            return
        try:
            [primary_key(model, str(key)) for key in keys]
        except InvalidParameters as exc:
            add("selection_pks", " ".join(exc.messages))
    elif resolve is not None:
        try:
            resolve(model, preset.selection_filter)
        except ValidationError as exc:
            add("selection_filter", " ".join(exc.messages))


def _schedule_errors(preset: ReportPreset, spec: ReportSpec, errors: Errors) -> None:
    add = errors.add
    kind = preset.schedule
    if kind not in ScheduleKind.values:
        add("schedule", _("Choose how often the preset runs, or “Not scheduled”."))
        return
    if kind == ScheduleKind.NONE:
        return
    if preset.selection_kind == Kind.ASK and spec.action_on:
        add(
            "schedule",
            _(
                "A preset that asks for its selection each time cannot run on a schedule:"
                " save it with its objects or with a changelist filter."
            ),
        )
    if preset.schedule_time is None:
        add("schedule_time", _("A schedule needs a time of day."))
    if kind == ScheduleKind.WEEKLY and preset.schedule_weekday is None:
        add("schedule_weekday", _("A weekly schedule needs a day of the week."))
    if kind == ScheduleKind.MONTHLY and preset.schedule_day is None:
        add("schedule_day", _("A monthly schedule needs a day of the month."))


def preset_selection(
    preset: ReportPreset, resolve_filter: ResolveFilter | None
) -> RunSelection | None:
    """The objects a preset runs on, evaluated now."""
    spec = registry.get(preset.report)
    if preset.selection_kind == Kind.ASK or not spec.action_on:
        return None
    model = apps.get_model(preset.selection_model)
    if preset.selection_kind == Kind.SAVED:
        keys = [str(key) for key in preset.selection_pks]
        pks = [primary_key(model, key) for key in keys]
        return RunSelection(model, pks, keys, count_of(model, len(keys)))
    if resolve_filter is None:
        raise InvalidParameters(_("A changelist filter needs its changelist."), code="filter")
    try:
        objects = resolve_filter(model, preset.selection_filter)
    except ValidationError as exc:
        raise InvalidParameters(" ".join(exc.messages), code="filter") from None
    noun = model._meta.verbose_name_plural
    if preset.selection_filter:
        described = _("all %(noun)s matching the changelist filter %(filter)s") % {
            "noun": noun,
            "filter": preset.selection_filter,
        }
    else:
        described = _("all %(noun)s") % {"noun": noun}
    return RunSelection(model, objects, {"filter": preset.selection_filter}, described)


def preset_data(preset: ReportPreset) -> dict[str, Any]:
    """The preset's dates and options as run request input; InvalidParameters when broken."""
    problem = preset_problem(preset)
    if problem is not None:
        raise InvalidParameters(_("This preset cannot run: %s") % problem, code="preset")
    options = preset.options
    data: dict[str, Any] = {"bom": options.get("bom", False), "format": options.get("format")}
    data.update(options.get("arguments") or {})  # no parameter takes a name above
    if "columns" in options:
        data["columns"] = options["columns"]
    if preset.range_kind == RangeKind.QUICK:
        data["range"] = preset.quick_range
    elif preset.range_kind == RangeKind.FIXED:
        data.update(start=preset.start, end=preset.end)
    return data


def preset_request(
    preset: ReportPreset,
    *,
    resolve_filter: ResolveFilter | None = None,
    today: dt.date | None = None,
    **options: Any,
) -> RunRequest:
    """The run request of a preset, resolved now; InvalidParameters when it cannot run."""
    data = preset_data(preset)
    if preset.selection_kind == Kind.ASK and registry.get(preset.report).action_on:
        raise InvalidParameters(
            _("This preset asks for a selection: pick it on a changelist's report form."),
            code="preset_ask",
        )
    return parse_run_request(
        registry.get(preset.report),
        data,
        selection=preset_selection(preset, resolve_filter),
        today=today or timezone.localdate(),
        preset=preset,
        **options,
    )


def save_preset(
    request: RunRequest,
    owner: Any,
    *,
    name: str,
    shared: bool = False,
    range_kind: str = RangeKind.QUICK,
    selection_kind: str = Kind.SAVED,
    changelist: tuple[type[models.Model], bool, list[str], str] | None = None,
    resolve_filter: ResolveFilter | None = None,
) -> ReportPreset:
    """Save a run request's choices as a preset of `owner`; ValidationError by field.

    `changelist` is (model, across, keys, query string) of the form page's selection:
    "the objects it was saved with" keeps the keys, or the filter after "Select all"
    (an empty filter is every object); "a changelist filter" keeps the filter.
    """
    spec = request.spec
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Give the preset a name.")})
    if ReportPreset.objects.filter(owner=owner, report=spec.name, name=name).exists():
        raise ValidationError(
            {"name": _("You already have a preset of this name for this report.")}
        )
    if spec.date_range is None:
        range_kind = RangeKind.NONE
    elif range_kind == RangeKind.QUICK and not request.quick_range:
        range_kind = RangeKind.FIXED  # custom dates cannot be saved as a quick range
    fixed = range_kind == RangeKind.FIXED
    preset = ReportPreset(
        name=name,
        report=spec.name,
        owner=owner,
        shared=shared,
        range_kind=range_kind,
        quick_range=request.quick_range if range_kind == RangeKind.QUICK else "",
        start=request.start if fixed else None,
        end=request.end if fixed else None,
        options=_options(request),
    )
    if request.arguments:
        preset.options["arguments"] = stored_arguments(spec, request.arguments)
    _save_selection(preset, spec, selection_kind, changelist)
    validate_preset(preset, resolve_filter)
    preset.save()
    return preset


def _options(request: RunRequest) -> dict[str, Any]:
    options: dict[str, Any] = {"bom": request.bom}
    if request.format != CSV:
        options["format"] = request.format
    if request.columns:  # none: every column, as the definition has them when run
        options["columns"] = list(request.columns)
    return options


def _save_selection(
    preset: ReportPreset,
    spec: ReportSpec,
    kind: str,
    changelist: tuple[type[models.Model], bool, list[str], str] | None,
) -> None:
    if changelist is None or not spec.action_on:
        preset.selection_kind = Kind.ASK
        return
    model, across, keys, query_string = changelist
    preset.selection_model = model._meta.label
    if kind == Kind.SAVED and not across:
        preset.selection_kind, preset.selection_pks = Kind.SAVED, list(keys)
    elif kind in (Kind.SAVED, Kind.FILTER):
        preset.selection_kind, preset.selection_filter = Kind.FILTER, query_string
    else:
        preset.selection_kind = Kind.ASK


def describe_preset(preset: ReportPreset) -> str:
    """What a preset runs, in words: "last month (resolved when run), 2 products"."""
    if preset.range_kind == RangeKind.QUICK:
        label = quick_ranges().get(preset.quick_range)
        name = label.label if label else preset.quick_range
        dates = _("%(range)s (resolved when run)") % {"range": str(name).lower()}
    elif preset.range_kind == RangeKind.FIXED:
        dates = _("the fixed dates %(start)s to %(end)s") % {
            "start": preset.start,
            "end": preset.end,
        }
    else:
        dates = _("no date range")
    described = f"{dates}, {describe_selection(preset)}"
    file_format = FILE_FORMATS.get(preset_option(preset, "format") or CSV)
    if file_format is not None and file_format.name != CSV:
        described += ", " + _("as %(format)s") % {"format": file_format.label}
    arguments = _arguments_in_words(preset)
    return f"{described}; {arguments}" if arguments else described


def preset_option(preset: ReportPreset, name: str) -> Any:
    """An entry of the preset's options, or None (options come from the admin's JSON box)."""
    return preset.options.get(name) if isinstance(preset.options, dict) else None


def _arguments_in_words(preset: ReportPreset) -> str:
    arguments = preset_option(preset, "arguments")
    if not arguments:
        return ""
    try:
        spec = registry.get(preset.report)
        return arguments_in_words(spec, parse_arguments(spec, arguments))
    except (ReportNotFound, InvalidParameters):  # a broken preset says so elsewhere
        return ""


def describe_selection(preset: ReportPreset) -> str:
    if preset.selection_kind == Kind.SAVED:
        count = len(preset.selection_pks) if isinstance(preset.selection_pks, list) else 0
        return ngettext("%(count)d saved object", "%(count)d saved objects", count) % {
            "count": count
        }
    if preset.selection_kind == Kind.FILTER:
        if not preset.selection_filter:
            return _("every object of the changelist (no filter), when run")
        return _("the changelist filter %(filter)s, when run") % {
            "filter": preset.selection_filter
        }
    return _("the selection of the page it is picked on")
