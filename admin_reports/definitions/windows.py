"""
Window functions in report definitions: an aggregate over a partition of the report's
rows (`sum(fee, over=[genre])`, `over=True` for the whole result) and rankings
(`rank(order_by=-revenue)`).

    WindowCall("sum", F("fee"), partition=[F("book__genre")])   # parsed
    finish_windows(expression, grouped=True)
    # Window(Func(Sum("fee"), function="SUM"), partition_by=[F("book__genre")])

What an aggregate over a partition means depends on the report, which is known only
once every column is read: in a report grouped by its other columns it aggregates the
groups' aggregates (the total of the partition's groups: SUM(SUM(fee)) OVER (...)); in
a report of rows it aggregates the rows (SUM(fee) OVER (...)). So the parser leaves a
WindowCall, and the validation finishes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db.models import (
    Aggregate,
    BigIntegerField,
    Count,
    Expression,
    Func,
    Q,
    Window,
)
from django.db.models import functions as db
from django.db.models.expressions import OrderBy

from .trees import contains
from .types import (
    DECIMAL,
    DIVISION_PLACES,
    Arithmetic,
    ExactSum,
    UnifiedCoalesce,
    kind_of,
    output_of,
    scale_of,
)

RANKINGS = {"rank": db.Rank, "dense_rank": db.DenseRank, "row_number": db.RowNumber}

# The SQL aggregate of the groups' aggregates that gives the partition's aggregate.
OF_GROUPS = {"sum": "SUM", "count": "SUM", "min": "MIN", "max": "MAX"}
# The SQL aggregate over a column's values that are aggregates already.
OF_VALUES = {"sum": "SUM", "count": "COUNT", "min": "MIN", "max": "MAX"}


class WindowCall(Expression):
    """An aggregate over a partition, until the report says what it aggregates."""

    def __init__(
        self,
        name: str,
        build: Callable[..., Any],
        arguments: Sequence[Any],
        options: dict[str, Any],
        partition: Sequence[Any],
    ) -> None:
        super().__init__()
        self.name, self.build = name, build
        self.arguments, self.options = list(arguments), dict(options)
        self.partition = list(partition)

    def __repr__(self) -> str:
        return f"WindowCall({self.name!r}, {self.arguments!r}, over={self.partition!r})"

    def get_source_expressions(self) -> list[Any]:
        return [*self.arguments, *self.partition]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        count = len(self.arguments)
        self.arguments, self.partition = list(exprs[:count]), list(exprs[count:])

    def resolve_expression(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("A window is finished by the validation before it is used.")

    @property
    def over_aggregates(self) -> bool:
        """Whether its argument is an aggregate already (a grouped column's value)."""
        return any(contains(argument, Aggregate) for argument in self.arguments)

    def finish(self, grouped: bool) -> Any:
        """The window; with default=, the default where the window's value is NULL (a
        window cannot be of COALESCE(SUM(x), 0), which Django makes of Sum(default=))."""
        if "default" not in self.options:
            return self._finish(grouped)
        options = {key: value for key, value in self.options.items() if key != "default"}
        bare = WindowCall(self.name, self.build, self.arguments, options, self.partition)
        return UnifiedCoalesce(bare._finish(grouped), self.options["default"])

    def _finish(self, grouped: bool) -> Any:
        partition = self.partition or None
        if self.over_aggregates:  # one level: over the column's values
            (value,) = self.arguments
            if self.name == "avg":
                return _divided(_of(value, "SUM", partition), _of(value, "COUNT", partition))
            return _of(value, OF_VALUES[self.name], partition)
        aggregate = self.build(*self.arguments, **self.options)
        if not grouped:  # over rows
            return _over(aggregate, partition)
        if self.name == "avg":  # the partition's sum over its count, divided as '/' is
            options = {"filter": self.options["filter"]} if "filter" in self.options else {}
            total = ExactSum(*self.arguments, **options)
            count = Count(*self.arguments, **options)
            return _divided(_of(total, "SUM", partition), _of(count, "SUM", partition))
        return _of(aggregate, OF_GROUPS[self.name], partition)


class OverGroups(Func):
    """An SQL aggregate of aggregates, as a window's function (Django refuses Sum(Sum(x)))."""

    window_compatible = True


class ExactWindow(Window):
    """A window, whose SUM of decimals is exact on SQLite too: Django sums it as doubles
    there (Window.as_sqlite), so a total may miss its last place or tie differently;
    the integers of the last place sum exactly, as in types.ExactSum."""

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        source, output = self.get_source_expressions()[0], output_of(self)
        scale = scale_of(output)
        function = getattr(source, "extra", {}).get("function") or source.function
        if function != "SUM" or kind_of(output) != DECIMAL or not scale:
            return super().as_sqlite(compiler, connection)
        distinct = "%(distinct)s" if isinstance(source, Aggregate) else ""
        scaled = source.copy()
        scaled.template = (
            f"%(function)s({distinct}CAST(ROUND((%(expressions)s) * {10**scale}) AS INTEGER))"
        )
        scaled.output_field = BigIntegerField()
        window = self.copy()
        window.set_source_expressions([scaled, *window.get_source_expressions()[1:]])
        window.output_field = BigIntegerField()
        sql, params = window.as_sql(compiler, connection)
        return f"CAST(({sql} / {10**scale}.0) AS NUMERIC)", params


def _of(value: Any, function: str, partition: Any) -> Window:
    # SUM, MIN, MAX of values keep their type (resolved with the query); COUNT counts.
    output: dict[str, Any] = {"output_field": BigIntegerField()} if function == "COUNT" else {}
    return ExactWindow(OverGroups(value, function=function, **output), partition_by=partition)


def _divided(numerator: Any, denominator: Any) -> Arithmetic:
    quotient = Arithmetic(numerator, "/", denominator)
    quotient.places = DIVISION_PLACES
    return quotient


def _over(aggregate: Any, partition: Any) -> Any:
    """`aggregate` as a window over rows; an average (a sum over a count) as two."""
    if isinstance(aggregate, Arithmetic):
        return _divided(_over(aggregate.lhs, partition), _over(aggregate.rhs, partition))
    return ExactWindow(aggregate, partition_by=partition)


class AfterGrouping(Func):
    """A window's column in a grouped report: computed over the groups, never a key.

    Django groups by an annotation without an aggregate that has columns to group by,
    which a window partitioned by a key has (and an expression over windows is one):
    it would add the window to GROUP BY. Its keys are grouping columns already."""

    template = "%(expressions)s"
    contains_aggregate = True

    def get_group_by_cols(self) -> list[Any]:
        return []


def ranking(name: str, order: Sequence[Any], partition: Sequence[Any]) -> Window:
    return Window(RANKINGS[name](), partition_by=list(partition) or None, order_by=list(order))


def descending(expression: Any) -> OrderBy:
    return OrderBy(expression, descending=True)


def finish_windows(expression: Any, grouped: bool) -> Any:
    """`expression` with each WindowCall finished for a report grouped or not."""
    if isinstance(expression, WindowCall):
        return expression.finish(grouped)
    if not contains(expression, WindowCall):
        return expression
    if isinstance(expression, Q):
        kids = [
            c if isinstance(c, tuple) else finish_windows(c, grouped) for c in expression.children
        ]
        return Q.create(kids, connector=expression.connector, negated=expression.negated)
    clone = expression.copy()
    clone.set_source_expressions(
        [None if c is None else finish_windows(c, grouped) for c in clone.get_source_expressions()]
    )
    return clone


def has_window(expression: Any) -> bool:
    return contains(expression, (WindowCall, Window))
