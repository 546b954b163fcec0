"""
From a validated spec and run parameters to one queryset: pure, no request.

    compiled = compile_report(spec, ReportParams(start=date(2026, 3, 1), end=date(2026, 3, 31),
                                                 selection=[3, 7], selection_model=Product))
    compiled.headers                    # ["SKU", "Product", "Day", ...]
    compiled.columns                    # their ColumnSpecs (ReportParams.columns: a choice)
    for row in compiled.queryset:       # tuples, in column order
        compiled.format_row(row)        # ["TOY-101", "Kite", "2026-03-01", ...]

The queryset reads from ADMIN_REPORTS_DATABASE when it is set (a replica), else from
where the project's routers send reads of the report's model: report_database().
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, router
from django.db.models import FilteredRelation, Q, QuerySet, Value
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .conf import app_settings
from .dates import datetime_bounds
from .definitions.paths import did_you_mean
from .definitions.problems import HINT_CHARS, cut, shown
from .definitions.runvalues import Unbound, bind
from .definitions.spec import ColumnSpec, ReportSpec
from .exceptions import InvalidParameters
from .formats import Formatter, formatter_for


@dataclass(frozen=True)
class ReportParams:
    """What varies between runs of one report."""

    start: dt.date | None = None  # inclusive
    end: dt.date | None = None  # inclusive
    # Objects of `selection_model` (a queryset or primary keys) the rows are limited to.
    selection: QuerySet | Iterable[Any] | None = None
    selection_model: type[models.Model] | None = None
    filters: Q = field(default_factory=Q)  # extra conditions over the report's model
    tz: ZoneInfo | None = None  # default: the active time zone
    # The columns of the file by name, in their order; empty: the definition's, in order.
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompiledReport:
    spec: ReportSpec
    params: ReportParams
    queryset: QuerySet  # values_list() in column order
    headers: list[str]
    formatters: list[Formatter]
    tz: ZoneInfo
    max_duration: float | None = None  # seconds; the producer stops the query after it
    columns: tuple[ColumnSpec, ...] = ()  # the file's columns, in its order
    aliases: tuple[str, ...] = ()  # their names in the query (values_list), in that order

    def format_row(self, row: Sequence[Any]) -> list[str]:
        return [
            format_cell(value) for format_cell, value in zip(self.formatters, row, strict=True)
        ]


def compile_report(
    spec: ReportSpec, params: ReportParams | None = None, *, using: str | None = None
) -> CompiledReport:
    """Build the report's queryset; InvalidParameters when `params` do not fit the spec.

    `using`: the database to read (default: report_database()).
    """
    params = params or ReportParams()
    tz = params.tz or timezone.get_current_timezone()
    using = using or report_database(spec.model)
    defined, spec = spec, _bound(spec, params, tz)
    queryset = spec.model._default_manager.db_manager(using).all()
    queryset = _joined(queryset, spec).filter(spec.filters)
    queryset = queryset.filter(_date_condition(spec, params, tz, using))
    queryset = queryset.filter(_selection_condition(spec, params, using)).filter(params.filters)
    queryset = queryset.filter(spec.where)
    columns = chosen_columns(spec, params.columns)
    aliases = {column.name: f"c{index}" for index, column in enumerate(spec.columns)}
    selected = tuple(aliases[column.name] for column in columns)
    queryset = _select(queryset, spec, aliases, selected)
    queryset = queryset.order_by(*_ordering(spec, aliases, queryset))
    fields = [queryset.query.annotations[alias].output_field for alias in selected]
    formatters = [
        formatter_for(output, column.format, tz)
        for output, column in zip(fields, columns, strict=True)
    ]
    max_duration = spec.max_duration or app_settings.MAX_DURATION
    headers = [column.label for column in columns]
    return CompiledReport(
        defined, params, queryset, headers, formatters, tz, max_duration, columns, selected
    )


def _bound(spec: ReportSpec, params: ReportParams, tz: ZoneInfo) -> ReportSpec:
    """`spec` with the run's values (range.start, now()...) in place of their placeholders."""
    now = timezone.now()
    values = {
        "range.start": params.start,
        "range.end": params.end,
        "now": now,
        "today": now.astimezone(tz).date(),
    }
    try:
        return replace(
            spec,
            columns=tuple(replace(c, expression=bind(c.expression, values)) for c in spec.columns),
            joins=tuple(replace(j, condition=bind(j.condition, values)) for j in spec.joins),
            where=bind(spec.where, values),
            having=bind(spec.having, values),
        )
    except Unbound as exc:
        raise InvalidParameters(
            _("This report needs a date range: it uses %(name)s.") % {"name": exc.args[0]},
            code="required",
        ) from None


def chosen_columns(spec: ReportSpec, names: Sequence[str]) -> tuple[ColumnSpec, ...]:
    """The columns `names` names, in that order (none: all, as defined).

    InvalidParameters for an unknown name, a name given twice, or a column left out
    that every run has (ReportSpec.always_included).
    """
    if not names:
        return spec.columns
    by_name = {column.name: column for column in spec.columns}
    choices = column_choices(spec)
    seen: set[str] = set()
    for name in names:
        if name not in by_name:
            raise InvalidParameters(
                _("Unknown column %(name)s.") % {"name": shown(name)}
                + did_you_mean(name, list(by_name))
                + " "
                + choices,
                code="columns",
            )
        if name in seen:
            message = _("The column %(name)s is named twice.") % {"name": shown(name)}
            raise InvalidParameters(f"{message} {choices}", code="columns")
        seen.add(name)
    missing = [name for name in spec.always_included if name not in seen]
    if missing:
        message = ngettext(
            "The column %(names)s is always included: keep it in the list.",
            "The columns %(names)s are always included: keep them in the list.",
            len(missing),
        ) % {"names": ", ".join(missing)}
        raise InvalidParameters(f"{message} {choices}", code="columns")
    return tuple(by_name[name] for name in names)


def report_database(model: type[models.Model]) -> str:
    """The alias reports on `model` read from: ADMIN_REPORTS_DATABASE, else the router's.

    ImproperlyConfigured when the setting names no database (check E037 says so too).
    """
    problem = database_problem()
    if problem:
        raise ImproperlyConfigured(problem)
    return app_settings.DATABASE or router.db_for_read(model)


def database_problem() -> str | None:
    """What is wrong with ADMIN_REPORTS_DATABASE, if anything (check E037)."""
    alias = app_settings.DATABASE
    if alias is None or (isinstance(alias, str) and alias in connections):
        return None
    return (
        f"ADMIN_REPORTS_DATABASE is {shown(alias)}, which is not a key of DATABASES;"
        f" choose one of: {', '.join(connections)}."
    )


def _joined(queryset: QuerySet, spec: ReportSpec) -> QuerySet:
    relations = {
        join.name: FilteredRelation(join.lookup, condition=join.condition)
        for join in spec.joins
        if join.condition is not None
    }
    return queryset.alias(**relations) if relations else queryset


def column_choices(spec: ReportSpec) -> str:
    """ "Columns: sku, day, units (sku, day always included).": what a run can name."""
    text = _("Columns: %(names)s") % {"names": ", ".join(c.name for c in spec.columns)}
    if spec.always_included:
        names = ", ".join(spec.always_included)
        text += " " + _("(%(names)s always included)") % {"names": names}
    return cut(text, HINT_CHARS) + "."


def _select(
    queryset: QuerySet, spec: ReportSpec, aliases: dict[str, str], selected: tuple[str, ...]
) -> QuerySet:
    """Every column's expression, the `selected` ones in the result, in their order.

    The columns left out stay in the query: their joins keep the rows the whole
    report has (a reverse relation repeats rows, a filtered join drops some), and
    the ordering may name them."""
    expressions = {aliases[c.name]: c.expression for c in spec.columns}
    if not spec.is_aggregate:
        return queryset.annotate(**expressions).values_list(*selected)
    keys = {aliases[c.name]: c.expression for c in spec.columns if c.is_key}
    # With no grouping column, group by a constant: one row for the whole range.
    grouped = queryset.values(**(keys or {"_all": Value(1)}))
    # After the grouping: aggregates, and windows (over the groups, or over the rows).
    aggregates = {aliases[c.name]: c.expression for c in spec.columns if not c.is_key}
    return grouped.annotate(**aggregates).filter(spec.having).values_list(*selected)


def _ordering(spec: ReportSpec, aliases: dict[str, str], queryset: QuerySet) -> list[str]:
    """The definition's order, completed to a total one: the same data, the same file."""
    ordering = [
        f"-{aliases[name[1:]]}" if name.startswith("-") else aliases[name]
        for name in spec.order_by
    ]
    ordered = {name.removeprefix("-") for name in spec.order_by}
    if spec.is_aggregate:
        # One row per combination of the grouping columns, so together they tell any two
        # rows apart. Without a grouping column the report is one row: nothing to add.
        keys = [c for c in spec.columns if c.is_key]
        return ordering + [aliases[c.name] for c in keys if c.name not in ordered]
    # One row per object: its primary key, which values_list() leaves out of the output.
    ordering.append("pk")
    if _repeats_rows(queryset):
        # The rows of one object differ only in their columns; rows equal in every column
        # are equal in the file too.
        ordering += [aliases[c.name] for c in spec.columns if c.name not in ordered]
    return ordering


def _repeats_rows(queryset: QuerySet) -> bool:
    """Whether the query joins a relation that can give one object several rows."""
    return any(
        join_field is not None and (join_field.one_to_many or join_field.many_to_many)
        for join_field in (
            getattr(join, "join_field", None) for join in queryset.query.alias_map.values()
        )
    )


def check_date_range(spec: ReportSpec, start: dt.date | None, end: dt.date | None) -> bool:
    """Whether the report is limited to dates; InvalidParameters when they do not fit."""
    date_range = spec.date_range
    if date_range is None or (start is None and end is None):
        if date_range is not None and date_range.required:
            raise InvalidParameters(_("This report needs a date range."), code="required")
        return False
    if start is None or end is None:
        raise InvalidParameters(_("Give both a start and an end date."), code="incomplete")
    if start > end:
        raise InvalidParameters(_("The start date is after the end date."), code="order")
    days = (end - start).days + 1
    if date_range.max_days is not None and days > date_range.max_days:
        raise InvalidParameters(
            _("The range spans %(days)d days; this report allows at most %(max)d.")
            % {"days": days, "max": date_range.max_days},
            code="too_long",
        )
    return True


def _date_condition(spec: ReportSpec, params: ReportParams, tz: ZoneInfo, using: str) -> Q:
    start, end = params.start, params.end
    date_range = spec.date_range
    if not check_date_range(spec, start, end) or date_range is None:
        return Q()
    if start is None or end is None:  # check_date_range refuses one without the other
        return Q()
    bounds: dict[str, dt.date | dt.datetime | None]
    if date_range.is_datetime:
        # SQLite (and MySQL) get datetimes converted to the connection's zone in Python.
        stored_in = connections[using].timezone
        since, until = datetime_bounds(start, end, tz, zones=[stored_in] if stored_in else [])
        bounds = {"gte": since, "lt": until}
    else:
        bounds = {"gte": start, "lte": end}
    # A bound beyond what can be stored (None) leaves nothing out: it is dropped.
    return Q(
        **{
            f"{date_range.lookup}__{lookup}": value
            for lookup, value in bounds.items()
            if value is not None
        }
    )


def _selection_condition(spec: ReportSpec, params: ReportParams, using: str) -> Q:
    if params.selection_model is None:
        if params.selection is not None:
            raise InvalidParameters(_("A selection needs its model."), code="selection")
        return Q()
    action = spec.action_for(params.selection_model)
    if action is None:
        raise InvalidParameters(
            _("This report does not run on %(model)s.")
            % {"model": params.selection_model._meta.verbose_name_plural},
            code="selection",
        )
    selection = params.selection
    if isinstance(selection, QuerySet):
        # A subquery of the report's query, read where the report reads: a changelist's
        # queryset is on its own database (Django refuses subqueries across databases).
        selection = selection.using(using).values("pk")
    return Q(**{f"{action.selection}__in": selection if selection is not None else []})
