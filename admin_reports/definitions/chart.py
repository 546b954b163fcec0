"""
The `chart` key of a definition, checked against the definition's columns.

    chart:
      type: line          # or bar (grouped bars)
      x: day              # a column the rows are grouped by
      y: [revenue]        # aggregate columns: the numbers drawn
      series: sku         # optional: a grouping column, one line or bar per value

Only an aggregate report has a chart. Whether each y column's values are numbers is
known once the query is compiled: the registry checks that (E042 too).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from django.db import models
from django.db.models import Value
from django.db.models.functions import Coalesce

from .loader import MarkedDict
from .parts import check_keys, string, string_list
from .paths import did_you_mean
from .problems import HINT_CHARS, Mark, cut, shown
from .spec import ChartSpec, ChartType, ColumnSpec
from .types import Arithmetic

CHART_KEYS = ("type", "x", "y", "series", "title")
CHART_TYPES = tuple(kind.value for kind in ChartType)
# Ten lines or bar colours are as many as a reader tells apart.
MAX_Y = 10


class _Place(NamedTuple):
    """A column named by the chart: where (`chart.y[1]`) and at which mark."""

    name: str
    where: str
    mark: Mark


def chart(
    ctx, data: MarkedDict, named: list[str], columns: tuple[ColumnSpec, ...]
) -> ChartSpec | None:
    """The definition's chart, or None; `named` is every column name written, valid or not."""
    if "chart" not in data:
        return None
    value = data["chart"]
    if not isinstance(value, MarkedDict):
        ctx.error(
            "E002",
            "The value of 'chart' must be a mapping with 'type', 'x' and 'y'.",
            data.mark_of("chart"),
        )
        return None
    before = len(ctx.problems)
    check_keys(ctx, value, "chart", CHART_KEYS, required=("type", "x", "y"))
    kind = _type(ctx, value)
    title = string(ctx, value, "title", "chart.title") or ""
    x = _place(ctx, value, "x", named)
    series = _place(ctx, value, "series", named)
    y = _y(ctx, value, named)
    _fits(ctx, x, series, y)
    by_name = {column.name: column for column in columns}
    if len(by_name) == len(named):  # an invalid column (reported) has no kind to check
        _kinds(ctx, data, by_name, x, series, y)
    if len(ctx.problems) > before or kind is None or x is None or not y:
        return None
    return ChartSpec(
        type=kind,
        x=x.name,
        y=tuple(place.name for place in y),
        series=series.name if series else None,
        title=title,
        y_marks=tuple(place.mark for place in y),
        y_combine=tuple(_combine_of(by_name.get(place.name)) for place in y),
    )


def _combine_of(column: ColumnSpec | None) -> str | None:
    if column is None or column.window:  # a share or a rank is of its own group only
        return None
    return combining(column.expression)


def combining(expression: Any) -> str | None:
    """How the values of rows that share a chart's point make the point's value: "sum"
    (sums and counts add up), "min", "max", or None when they do not (an average, a
    distinct count, a ratio, a default in place of no rows)."""
    default = getattr(expression, "default", None)
    if isinstance(expression, models.Count):
        return None if getattr(expression, "distinct", False) else "sum"
    if isinstance(expression, models.Sum):
        return "sum" if default in (None, 0) else None
    if isinstance(expression, models.Min | models.Max):
        return type(expression).__name__.lower() if default is None else None
    if isinstance(expression, Arithmetic):
        left, right = combining(expression.lhs), combining(expression.rhs)
        if expression.connector in ("+", "-") and left == right == "sum":
            return "sum"
        constant = _constant(expression.rhs) or _constant(expression.lhs)
        if expression.connector == "*" and constant and "sum" in (left, right):
            return "sum"  # -sum(x), sum(x) * 100
        return None
    if isinstance(expression, Coalesce):  # coalesce(sum(x), 0)
        first, *rest = expression.get_source_expressions()
        return combining(first) if rest and all(_constant(e) == 0 for e in rest) else None
    return None


def _constant(expression: Any) -> Any:
    return expression.value if isinstance(expression, Value) else None


def _type(ctx, value: MarkedDict) -> ChartType | None:
    text = string(ctx, value, "type", "chart.type")
    if text is None:
        return None
    if text not in CHART_TYPES:
        ctx.error(
            "E043",
            f"The value of 'chart.type' is {shown(text)}, which is not a chart type; choose"
            f" one of: {', '.join(map(repr, CHART_TYPES))}." + did_you_mean(text, CHART_TYPES),
            value.mark_of("type"),
        )
        return None
    return ChartType(text)


def _place(ctx, value: MarkedDict, key: str, named: list[str]) -> _Place | None:
    name = string(ctx, value, key, f"chart.{key}")
    if name is None:
        return None
    return _column(ctx, _Place(name, f"chart.{key}", value.mark_of(key)), named)


def _y(ctx, value: MarkedDict, named: list[str]) -> list[_Place]:
    if "y" not in value:
        return []
    if value["y"] is None or value["y"] == []:
        ctx.error(
            "E002",
            "The value of 'chart.y' must be a column name or a non-empty list of column names.",
            value.mark_of("y"),
        )
        return []
    items = string_list(ctx, value, "y", "chart.y")
    if len(items) > MAX_Y:
        ctx.error(
            "E044",
            f"The value of 'chart.y' names {len(items):,} columns; a chart draws at most {MAX_Y}.",
            value.mark_of("y"),
        )
        return []
    single = isinstance(value["y"], str)
    places = [
        _column(ctx, _Place(name, "chart.y" if single else f"chart.y[{index}]", mark), named)
        for index, (name, mark) in enumerate(items)
    ]
    return [place for place in places if place is not None]


def _column(ctx, place: _Place, named: list[str]) -> _Place | None:
    if place.name in named:
        return place
    ctx.error(
        "E041",
        f"The value of '{place.where}' refers to {shown(place.name)}, which is not a column."
        + did_you_mean(place.name, named),
        place.mark,
        hint=cut("Columns: " + ", ".join(named) + ".", HINT_CHARS),
    )
    return None


def _fits(ctx, x: _Place | None, series: _Place | None, y: list[_Place]) -> None:
    """One place for each column; with a series, one y column."""
    first: dict[str, str] = {}
    for place in (x, series, *y):
        if place is None:
            continue
        if place.name in first:
            ctx.error(
                "E044",
                f"The value of '{place.where}' is {shown(place.name)}, which"
                f" '{first[place.name]}' names too: a column has one place in a chart.",
                place.mark,
            )
        first.setdefault(place.name, place.where)
    if series is not None and len(y) > 1:
        ctx.error(
            "E044",
            f"The chart has a 'series' and {len(y)} y columns: with a series, a chart draws"
            " one y column.",
            series.mark,
            hint="Draw each y column in a chart of its own, or leave out 'series'.",
        )


def _kinds(ctx, data: MarkedDict, by_name: dict[str, ColumnSpec], x, series, y) -> None:
    """An aggregate report; x and series group its rows; y columns are aggregates."""
    if not any(column.is_aggregate for column in by_name.values()):
        ctx.error(
            "E040",
            "The definition has a 'chart', but no aggregate column: a chart draws the rows"
            " of an aggregate report.",
            data.key_mark_of("chart"),
            hint="Add a column such as sum(...) or count(...), or leave out 'chart'.",
        )
        return
    for place in (x, series):
        if place is not None and not by_name[place.name].is_key:
            what = "an aggregate" if by_name[place.name].is_aggregate else "a window"
            ctx.error(
                "E042",
                f"The value of '{place.where}' refers to {shown(place.name)}, which is {what}:"
                " x and series must be columns the rows are grouped by.",
                place.mark,
            )
    for place in y:  # a window over the groups (a share, a rank) is a number per group too
        if not (by_name[place.name].is_aggregate or by_name[place.name].window):
            ctx.error(
                "E042",
                f"The value of '{place.where}' refers to {shown(place.name)}, which is not an"
                " aggregate: a chart draws numbers computed per group, such as sum(...) or"
                " count(...).",
                place.mark,
            )
