"""
The validated, frozen form of a report definition.

A ReportSpec is built only by `validation.validate_definition`; everything in it
has been checked against the installed models. The compiler turns it into a
queryset for given parameters.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models import Q

from .problems import Mark


class ColumnKind(enum.Enum):
    FIELD = "field"  # a field path
    COMPUTED = "computed"  # an expression over fields, no aggregate
    AGGREGATE = "aggregate"  # contains an aggregate


@dataclass(frozen=True)
class ColumnFormat:
    decimals: int | None = None
    date: str | None = None
    datetime: str | None = None
    true_label: str | None = None
    false_label: str | None = None
    empty_label: str = ""


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    label: str
    value: str  # the expression as written
    expression: Any  # a Django expression (F, Func, Aggregate, ...)
    kind: ColumnKind
    format: ColumnFormat
    mark: Mark
    always: bool = False  # `always: true`: staff cannot leave it out of a run
    window: bool = False  # its value has a window (over=, rank()): computed after grouping

    @property
    def is_aggregate(self) -> bool:
        return self.kind is ColumnKind.AGGREGATE

    @property
    def is_key(self) -> bool:
        """Whether an aggregate report groups its rows by this column."""
        return not self.is_aggregate and not self.window


@dataclass(frozen=True)
class JoinSpec:
    name: str
    path: str  # the relation path as written
    lookup: str  # the ORM path, e.g. "order__customer"
    condition: Q | None  # compiled to FilteredRelation when set
    model: type[models.Model]


@dataclass(frozen=True)
class ActionSpec:
    model: type[models.Model]  # the changelist's model
    selection: str  # ORM path from the report's model to it; "pk" for the model itself

    @property
    def label(self) -> str:
        return self.model._meta.label


@dataclass(frozen=True)
class DateRangeSpec:
    field: str  # as written
    lookup: str  # ORM path
    is_datetime: bool
    required: bool = True
    default: str | None = None  # a quick range name, see admin_reports.dates
    default_mark: Mark | None = None  # where `default` is written
    max_days: int | None = None
    # The quick ranges its form offers, with their marks; empty: every one of the project's.
    quick_ranges: tuple[tuple[str, Mark], ...] = ()


class ChartType(enum.Enum):
    LINE = "line"
    BAR = "bar"  # grouped bars


@dataclass(frozen=True)
class ChartSpec:
    """A chart of an aggregate report: `y` columns over `x`, one line or bar per series."""

    type: ChartType
    x: str  # a grouping column's name
    y: tuple[str, ...]  # aggregate columns' names
    series: str | None = None  # a grouping column whose values split the rows
    title: str = ""
    y_marks: tuple[Mark, ...] = ()  # where each y is written, for the registry's check
    # How each y's values of rows sharing a point make the point's: "sum", "min", "max",
    # or None (an average, a distinct count, a ratio: they do not add up). () is all "sum".
    y_combine: tuple[str | None, ...] = ()

    @property
    def combines(self) -> tuple[str | None, ...]:
        """y_combine, one for each y ("sum" where it was not given)."""
        return self.y_combine or ("sum",) * len(self.y)

    @property
    def names(self) -> tuple[str, ...]:
        """Every column the chart reads."""
        return (self.x, *self.y, *([self.series] if self.series else []))


class ParameterKind(enum.Enum):
    CHOICE = "choice"  # one of the field's choices
    RELATION = "relation"  # an object of the related model, given by its key
    NUMBER = "number"
    TEXT = "text"


@dataclass(frozen=True)
class ParameterSpec:
    """A value staff give when they run the report, bound to one lookup of one field."""

    name: str
    label: str
    help: str
    path: str  # as written
    lookup: str  # the ORM path, e.g. "order__customer__region"
    operator: str  # the Django lookup the value goes to: "exact", "in", "gte", "icontains"...
    kind: ParameterKind
    # The field that checks a value: the field itself, or for a relation the related
    # model's field the foreign key points to (its primary key, or `to_field`).
    field: Any
    model: type[models.Model] | None = None  # a relation's model
    multiple: bool = False
    required: bool = False
    default: tuple[str, ...] = ()  # as text: the form's initial value
    mark: Mark | None = None

    @property
    def condition_key(self) -> str:
        """The keyword of the condition's Q: "order__status__in"."""
        return f"{self.lookup}__{self.operator}"


@dataclass(frozen=True)
class ReportSpec:
    name: str
    title: str
    description: str
    model: type[models.Model]
    columns: tuple[ColumnSpec, ...]
    joins: tuple[JoinSpec, ...] = ()
    filters: Q = field(default_factory=Q)
    where: Q = field(default_factory=Q)  # conditions over rows, may read run values
    having: Q = field(default_factory=Q)  # conditions over an aggregate report's groups
    parameters: tuple[ParameterSpec, ...] = ()  # given at run time, see ParameterSpec
    action_on: tuple[ActionSpec, ...] = ()
    date_range: DateRangeSpec | None = None
    order_by: tuple[str, ...] = ()  # column names, "-" for descending
    # What the definition itself needs: view on every model it reads, plus its own
    # `permissions` (running any report also needs admin_reports.run_report).
    permissions: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()  # labels of the models it reads (run_report --explain)
    max_duration: int | None = None  # seconds
    source: Mark | None = None
    chart: ChartSpec | None = None

    @property
    def is_aggregate(self) -> bool:
        return any(column.is_aggregate for column in self.columns)

    @property
    def headers(self) -> list[str]:
        return [column.label for column in self.columns]

    @property
    def always_included(self) -> tuple[str, ...]:
        """The columns every run has: those marked `always`, and an aggregate report's
        grouping columns (its rows are their groups: leaving one out would regroup the
        report into another)."""
        grouped = self.is_aggregate
        return tuple(
            column.name for column in self.columns if column.always or (grouped and column.is_key)
        )

    @property
    def actions_by_label(self) -> dict[str, ActionSpec]:
        """The actions by lowercase model label, e.g. "shop.product"."""
        return {action.label.lower(): action for action in self.action_on}

    def parameter(self, name: str) -> ParameterSpec | None:
        return next((p for p in self.parameters if p.name == name), None)

    def action_for(self, model: type[models.Model]) -> ActionSpec | None:
        for action in self.action_on:
            if action.model._meta.label_lower == model._meta.label_lower:
                return action
        return None
