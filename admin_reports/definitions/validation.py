"""
From a loaded YAML mapping to a frozen ReportSpec, collecting every problem.

    spec, problems = validate_definition(data, file=Path("report_defs/daily.yaml"))

Each problem names the file, line and column, the key path (`columns[2].value`),
says what is wrong in Django's words, with the choices or a "did you mean", and
carries a stable id (see problems.CHECK_IDS). `spec` is None when there is any.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from django.core.exceptions import FieldError
from django.db import models
from django.db.models import FilteredRelation, Q
from django.utils import timezone

from . import parts as f
from .chart import chart
from .expressions import ExpressionError, ParsedExpression, parse_expression
from .loader import MarkedDict, MarkedList
from .parameters import parameters
from .paths import Alias, PathError, resolve_path, split_path
from .problems import Mark, Problem, cut, shown
from .runvalues import DATES, RANGE, bind, uses
from .spec import ActionSpec, ColumnKind, ColumnSpec, JoinSpec, ParameterSpec, ReportSpec
from .trees import contains, loose_lookups, window_terms
from .windows import AfterGrouping, WindowCall, finish_windows, has_window

NAME_RE = f.NAME_RE
# What the run log and the presets store of a report (ReportRun.report and .title).
MAX_NAME_CHARS = 100
MAX_TITLE_CHARS = 200
MAX_COLUMNS = 500
COLUMN_KEYS = ("name", "label", "value", "format", "always")
# A run's values, for checking a join condition that reads them (range.start...).
SAMPLE_RUN = {**dict.fromkeys(DATES, timezone.now().date()), "now": timezone.now()}

TOP_KEYS = (
    "name",
    "title",
    "description",
    "model",
    "action_on",
    "selection",
    "date_range",
    "joins",
    "filters",
    "exclude",
    "parameters",
    "columns",
    "where",
    "having",
    "order_by",
    "permissions",
    "max_duration",
    "chart",
)


@dataclass
class Context:
    """Where we are in one definition, and the problems found so far."""

    file: Path | None
    problems: list[Problem] = field(default_factory=list)

    def error(self, id: str, message: str, mark: Mark, hint: str | None = None) -> None:
        self.problems.append(Problem(id, message, mark, hint))


def validate_definition(
    data: Any, *, file: Path | None = None, name: str | None = None
) -> tuple[ReportSpec | None, list[Problem]]:
    ctx = Context(file)
    top = Mark(file, 1, 1)
    if not isinstance(data, MarkedDict):
        kind = "empty" if data is None else "a list" if isinstance(data, list) else shown(data)
        ctx.error("E002", f"A report definition must be a mapping of keys, not {kind}.", top)
        return None, ctx.problems
    f.check_keys(ctx, data, "", TOP_KEYS, required=("model", "columns"))
    name = f.string(ctx, data, "name", "name") or name or (file.stem if file else "")
    if not NAME_RE.match(name):
        ctx.error(
            "E007",
            f"The report name {shown(name)} is not valid.",
            data.mark_of("name"),
            hint="Use lowercase letters, digits and underscores, starting with a letter.",
        )
    elif len(name) > MAX_NAME_CHARS:
        ctx.error(
            "E007",
            f"The report name {shown(name)} is {len(name):,} characters long; a report name"
            f" may be at most {MAX_NAME_CHARS}.",
            data.mark_of("name"),
        )
    title = data.get("title")
    if isinstance(title, str) and len(title) > MAX_TITLE_CHARS:
        ctx.error(
            "E035",
            f"The title is {len(title):,} characters long; a title may be at most"
            f" {MAX_TITLE_CHARS}.",
            data.mark_of("title"),
            hint="Put the rest in 'description'.",
        )
    model = f.model(ctx, data, "model", "model")
    if model is None or "columns" not in data:
        return None, ctx.problems
    builder = _Builder(ctx, data, model)
    spec = builder.build(name)
    return (spec if not ctx.problems else None), ctx.problems


class _Builder:
    """Validates the parts that need the model, in the order they depend on each other."""

    def __init__(self, ctx: Context, data: MarkedDict, model: type[models.Model]) -> None:
        self.ctx = ctx
        self.data = data
        self.model = model
        self.aliases: dict[str, Alias] = {}
        self.parsed: dict[str, ParsedExpression] = {}  # the valid columns' values so far
        self.later: set[str] = set()  # the columns not parsed yet
        self.reached: set[type[models.Model]] = {model}
        self.relations: dict[str, tuple[str, Q]] = {}  # joins with a condition

    def resolve(self, path: str):
        resolved = resolve_path(self.model, path, self.aliases)
        self.reached.update(resolved.models)
        return resolved

    def build(self, name: str) -> ReportSpec | None:
        data = self.data
        joins = self.joins()
        columns = self.windows(self.columns())
        self.check_grouping(columns)
        filters = Q()
        for condition in self.filters("filters"):
            filters &= condition
        for condition in self.filters("exclude"):
            filters &= ~condition
        where = self.conditions("where", allow_aggregates=False)
        having = self.having(columns)
        spec = ReportSpec(
            name=name,
            title=f.string(self.ctx, data, "title", "title")
            or name.replace("_", " ").capitalize(),
            description=f.string(self.ctx, data, "description", "description") or "",
            model=self.model,
            columns=columns,
            joins=joins,
            filters=filters,
            where=where,
            having=having,
            parameters=self.parameters(joins),
            action_on=self.actions(),
            date_range=f.date_range(self.ctx, data, self.resolve),
            order_by=self.order_by(columns),
            permissions=(),
            max_duration=self.max_duration(),
            source=Mark(self.ctx.file, 1, 1),
            chart=chart(self.ctx, data, self.named(), columns),
        )
        permissions = self.permissions()
        if self.ctx.problems:
            return None
        reads = tuple(sorted(model._meta.label for model in self.reached))
        return replace(spec, permissions=permissions, reads=reads)

    def joins(self) -> tuple[JoinSpec, ...]:
        joins = []
        for alias, path, condition_text, config, mark in f.join_items(self.ctx, self.data):
            if not NAME_RE.match(alias) or alias in f.field_name_set(self.model):
                self.ctx.error(
                    "E016",
                    f"The join alias {shown(alias)} is not valid: it must be a lowercase name"
                    f" that is not a field of '{self.model._meta.label}'.",
                    mark,
                )
                continue
            try:
                resolved = self.resolve(path)
            except PathError as exc:
                self.ctx.error(
                    exc.id, f"The value of 'joins.{cut(alias)}' {exc.message}", mark, exc.hint
                )
                continue
            target = resolved.target_model
            if target is None:
                self.ctx.error(
                    "E016",
                    f"The value of 'joins.{cut(alias)}' refers to {shown(path)}, which is not"
                    " a relation.",
                    mark,
                )
                continue
            condition = None
            if condition_text is not None:
                condition = f.join_condition(
                    self.ctx,
                    alias,
                    condition_text,
                    resolved.lookup,
                    target,
                    config,
                    self.reached.update,
                )
            if condition is not None:
                sample = bind(condition, SAMPLE_RUN)  # for the filters' check only
                self.relations[alias] = (resolved.lookup, sample)
            lookup = alias if condition is not None else resolved.lookup
            self.aliases[alias] = Alias(lookup, target, resolved.models)
            joins.append(JoinSpec(alias, path, resolved.lookup, condition, target))
        return tuple(joins)

    def columns(self) -> tuple[ColumnSpec, ...]:
        items = self.data["columns"]
        if not isinstance(items, MarkedList) or not items:
            self.ctx.error(
                "E002",
                "The value of 'columns' must be a non-empty list.",
                self.data.mark_of("columns"),
            )
            return ()
        if len(items) > MAX_COLUMNS:
            self.ctx.error(
                "E033",
                f"The definition has {len(items):,} columns; a report may have at most"
                f" {MAX_COLUMNS}.",
                self.data.mark_of("columns"),
            )
            return ()
        columns: list[ColumnSpec] = []
        seen: dict[str, int] = {}
        self.later = set(self.named())
        for index, item in enumerate(items):
            where = f"columns[{index}]"
            column = self.column(item, where, items.mark_of(index))
            if column is None:
                continue
            if column.name in seen:
                self.ctx.error(
                    "E021",
                    f"The column name {shown(column.name)} in '{where}' is already used by"
                    f" 'columns[{seen[column.name]}]'.",
                    column.mark,
                )
                continue
            seen[column.name] = index
            columns.append(column)
        return tuple(columns)

    def column(self, item: Any, where: str, mark: Mark) -> ColumnSpec | None:
        if not isinstance(item, MarkedDict):
            self.ctx.error("E002", f"The value of '{where}' must be a mapping.", mark)
            return None
        f.check_keys(self.ctx, item, where, COLUMN_KEYS, ("name", "value"))
        name = f.string(self.ctx, item, "name", f"{where}.name")
        if name and not NAME_RE.match(name):
            self.ctx.error(
                "E007",
                f"The value of '{where}.name' is {shown(name)}, which is not a valid column name.",
                item.mark_of("name"),
                hint="Use lowercase letters, digits and underscores, starting with a letter.",
            )
            return None
        if not name or "value" not in item:
            return None
        if any(f.cut_by_comma(item, key) == "value" for key in item):
            return None  # E056 says what happened to the value
        label = (
            f.string(self.ctx, item, "label", f"{where}.label")
            or name.replace("_", " ").capitalize()
        )
        parsed = self.expression(
            item, "value", f"{where}.value", columns=self.parsed, later=self.later
        )
        self.later.discard(name)
        fmt = f.column_format(self.ctx, item, where)
        always = f.boolean(self.ctx, item, "always", f"{where}.always", False)
        if parsed is None or fmt is None:
            return None
        kind = (
            ColumnKind.AGGREGATE
            if parsed.aggregate
            else ColumnKind.FIELD
            if parsed.is_path
            else ColumnKind.COMPUTED
        )
        self.parsed.setdefault(name, parsed)
        expression = parsed.expression
        if parsed.condition:
            expression = models.ExpressionWrapper(expression, output_field=models.BooleanField())
        return ColumnSpec(
            name, label, str(item["value"]), expression, kind, fmt, item.mark_of("value"), always
        )

    def windows(self, columns: tuple[ColumnSpec, ...]) -> tuple[ColumnSpec, ...]:
        """Finish the columns' windows, now that it is known whether the rows are grouped."""
        grouped = any(column.is_aggregate for column in columns)
        finished = []
        for column in columns:
            expression = finish_windows(column.expression, grouped)
            window = has_window(expression)
            if window and grouped:
                expression = AfterGrouping(expression)
            finished.append(replace(column, expression=expression, window=window))
        return tuple(finished)

    def check_grouping(self, columns: tuple[ColumnSpec, ...]) -> None:
        """An aggregate column reads a field outside its aggregates only when that field is
        a grouping column (SQL's rule): else the field would silently regroup the rows.
        A window over grouped rows partitions and orders them by grouping columns' values
        or aggregates alike."""
        if not any(column.is_aggregate for column in columns):
            return
        grouped = [column.expression for column in columns if column.is_key]
        for column in columns:
            if column.is_key:
                continue
            for term in window_terms(column.expression):
                for lookup in dict.fromkeys(loose_lookups(term, grouped)):
                    self.ctx.error(
                        "E070",
                        f"The value of '{self.where_of(column)}' partitions or orders a"
                        f" window by {shown(lookup.replace('__', '.'))}, which is not a"
                        " grouping column's value.",
                        column.mark,
                        hint="In a grouped report, over= and order_by= take grouping"
                        " columns (by name) or aggregates.",
                    )
            for lookup in dict.fromkeys(loose_lookups(column.expression, grouped)):
                path = lookup.replace("__", ".")
                self.ctx.error(
                    "E065",
                    f"The value of '{self.where_of(column)}' reads {shown(path)} outside"
                    " an aggregate, but no grouping column has that value.",
                    column.mark,
                    hint=f"Put it inside an aggregate (e.g. sum({path}), min({path})), or add"
                    f" a column with the value {shown(path)} to group the rows by it.",
                )

    def where_of(self, column: ColumnSpec) -> str:
        """The key path of a valid column's value, e.g. columns[2].value."""
        return f"columns[{self.named().index(column.name)}].value"

    def expression(self, container, key, where, *, allow_aggregates=True, **names):
        try:
            parsed = parse_expression(
                container[key], self.resolve, allow_aggregates=allow_aggregates, **names
            )
        except ExpressionError as exc:
            mark = f.expression_mark(container, key, exc.offset)
            hint = exc.hint or f.comment_hint(container, key)
            self.ctx.error(exc.id, f"The value of '{where}' {exc.message}", mark, hint)
            return None
        if "date_range" not in self.data and uses(parsed.expression, RANGE):
            self.ctx.error(
                "E067",
                f"The value of '{where}' uses the run's range, but the report has no"
                " 'date_range'.",
                f.expression_mark(container, key, 0),
                "Add a date_range (the field the runs' dates limit), or use today().",
            )
            return None
        return parsed

    def conditions(self, key: str, *, allow_aggregates: bool) -> Q:
        """`where:` or `having:`: a condition or a list of them, all of which must hold."""
        value = self.data.get(key)
        if value is None:
            return Q()
        container = value if isinstance(value, MarkedList) else self.data
        keys = range(len(value)) if isinstance(value, MarkedList) else [key]
        combined = Q()
        for item in keys:
            where = f"{key}[{item}]" if container is value else key
            parsed = self.expression(
                container, item, where, allow_aggregates=allow_aggregates, columns=self.parsed
            )
            if parsed is None:
                continue
            if not parsed.condition:
                self.ctx.error(
                    "E068",
                    f"The value of '{where}' is a value, not a condition.",
                    f.expression_mark(container, item, 0),
                    "Compare it (==, <, in, is None...) or combine conditions with and, or, not.",
                )
                continue
            combined &= parsed.expression
        return combined

    def having(self, columns: tuple[ColumnSpec, ...]) -> Q:
        if "having" in self.data and columns and not any(c.is_aggregate for c in columns):
            self.ctx.error(
                "E069",
                "The definition has 'having', but no aggregate column: its rows are not grouped.",
                self.data.key_mark_of("having"),
                "Use 'where' for conditions over rows.",
            )
            return Q()
        having = self.conditions("having", allow_aggregates=True)
        if has_window(having) or contains(having, WindowCall):
            self.ctx.error(
                "E070",
                "The value of 'having' uses a window (over=, rank()), which SQL computes after"
                " 'having'.",
                self.data.key_mark_of("having"),
                "Filter on the grouped rows' aggregates; a window's value is a column.",
            )
        # A field outside an aggregate would filter the rows before grouping (SQL's WHERE),
        # silently: e.g. a column named like a field, which the field wins over.
        grouped = [column.expression for column in columns if column.is_key]
        for lookup in dict.fromkeys(loose_lookups(having, grouped)):
            path = lookup.replace("__", ".")
            self.ctx.error(
                "E065",
                f"The value of 'having' reads {shown(path)} outside an aggregate, but no"
                " grouping column has that value.",
                self.data.key_mark_of("having"),
                hint=f"Put it inside an aggregate (e.g. sum({path})). A column named like a"
                " field of the model is that field in an expression: rename the column.",
            )
        return having

    def filters(self, key: str) -> list[Q]:
        conditions = []
        base, broken = self.base()
        for lookup, value, mark in f.filter_items(self.ctx, self.data, key):
            q = f.filter_condition(
                self.ctx,
                None if split_path(lookup)[0] in broken else base,
                self.resolve,
                self.reached.update,
                key,
                lookup,
                value,
                mark,
            )
            if q is not None:
                conditions.append(q)
        return conditions

    def base(self) -> tuple[models.QuerySet, set[str]]:
        """The model's rows with the joins' aliases, to check the filters on; the aliases
        Django refuses (the compile check reports them) are left out."""
        base, broken = self.model._default_manager.all(), set()
        for alias, (lookup, condition) in self.relations.items():
            try:
                # Django rewrites a FilteredRelation a query takes: a new one each time.
                base = base.alias(**{alias: FilteredRelation(lookup, condition=condition)})
            except (FieldError, ValueError):
                broken.add(alias)
        return base, broken

    def parameters(self, joins: tuple[JoinSpec, ...]) -> tuple[ParameterSpec, ...]:
        filtered = {join.name: join.lookup for join in joins if join.condition is not None}
        return parameters(self.ctx, self.data, self.resolve, filtered)

    def actions(self) -> tuple[ActionSpec, ...]:
        return f.actions(self.ctx, self.data, self.model, self.resolve)

    def named(self) -> list[str]:
        """Every column named, valid or not: a column with a bad value is reported once,
        not again as an unknown column of order_by or chart."""
        items = self.data.get("columns")
        named = [
            item["name"]
            for item in (items if isinstance(items, MarkedList) else [])
            if isinstance(item, MarkedDict) and isinstance(item.get("name"), str)
        ]
        return list(dict.fromkeys(named))

    def order_by(self, columns: tuple[ColumnSpec, ...]) -> tuple[str, ...]:
        return f.order_by(self.ctx, self.data, self.named())

    def max_duration(self) -> int | None:
        if "max_duration" not in self.data:
            return None
        return f.integer(self.ctx, self.data, "max_duration", "max_duration", 1, 86_400)

    def permissions(self) -> tuple[str, ...]:
        extra = f.permissions(self.ctx, self.data)
        views = sorted(
            f"{model._meta.app_label}.view_{model._meta.model_name}" for model in self.reached
        )
        return tuple(dict.fromkeys([*views, *extra]))
