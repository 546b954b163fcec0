"""
The run's own values in expressions: `range.start`, `range.end`, `now()`, `today()`.

A definition is validated once, long before it runs: these parse to RunValue
placeholders, which `bind` replaces with one run's values when the report compiles.

    bind(expression, {"range.end": date(2026, 3, 31), "now": ..., ...})

Constant arithmetic on them is done in Python there (`range.end - duration(days=21)`
becomes one date), so the database compares a field with a constant.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import DateField, DateTimeField, Expression, F, Q, Value
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import TruncDate
from django.db.models.functions.datetime import TruncBase

RANGE = ("range.start", "range.end")
DATES = (*RANGE, "today")


class RunValue(Expression):
    """One of the run's values, by name; compiled only once `bind` replaced it."""

    def __init__(self, name: str) -> None:
        super().__init__(output_field=DateField() if name in DATES else DateTimeField())
        self.name = name

    def __repr__(self) -> str:
        return f"RunValue({self.name!r})"

    def as_sql(self, compiler, connection):
        raise ValueError(f"{self.name} has a value only in a run of the report")


class Unbound(LookupError):
    """An expression uses a run value this run does not have (a range without dates)."""


def temporal(expression: Any, fields: dict[str, Any]) -> str | None:
    """ "date", "datetime" or None: what `expression` is, as far as it can be told
    before the query resolves it (`fields`: the field of each ORM path read)."""
    if isinstance(expression, RunValue):
        return "date" if expression.name in DATES else "datetime"
    if isinstance(expression, F):
        field = fields.get(expression.name)
        if isinstance(field, DateTimeField):
            return "datetime"
        return "date" if isinstance(field, DateField) else None
    if isinstance(expression, CombinedExpression) and expression.connector in "+-":
        return temporal(expression.lhs, fields) or temporal(expression.rhs, fields)
    if isinstance(expression, TruncDate):
        return "date"
    if isinstance(expression, TruncBase):
        output = vars(expression).get("output_field")
        return "datetime" if isinstance(output, DateTimeField) else "date"
    return None


def as_local_date(expression: Any) -> Any:
    """A datetime as its date in the report's time zone (the one active when it reads)."""
    return TruncDate(expression)


def uses(expression: Any, names: tuple[str, ...]) -> bool:
    """Whether `expression` reads one of the run values `names`."""
    if isinstance(expression, RunValue):
        return expression.name in names
    if isinstance(expression, Q):
        return any(uses(c, names) for c in expression.children if not isinstance(c, tuple))
    get = getattr(expression, "get_source_expressions", None)
    return get is not None and any(uses(c, names) for c in get() if c is not None)


def bind(expression: Any, values: dict[str, Any]) -> Any:
    """`expression` with every RunValue replaced by its value in `values`; Unbound when
    one is None. Unchanged (the same object) when it reads none."""
    if not uses(expression, (*DATES, "now")):
        return expression
    if isinstance(expression, RunValue):
        value = values.get(expression.name)
        if value is None:
            raise Unbound(expression.name)
        return Value(value, output_field=expression.output_field)
    if isinstance(expression, Q):
        children = [c if isinstance(c, tuple) else bind(c, values) for c in expression.children]
        return Q.create(children, connector=expression.connector, negated=expression.negated)
    clone = expression.copy()
    clone.set_source_expressions(
        [None if c is None else bind(c, values) for c in expression.get_source_expressions()]
    )
    return _folded(clone)


def _folded(expression: Any) -> Any:
    """A date or datetime plus or minus a constant duration, as one constant."""
    if not (
        isinstance(expression, CombinedExpression)
        and expression.connector in "+-"
        and isinstance(expression.lhs, Value)
        and isinstance(expression.rhs, Value)
        and isinstance(expression.lhs.value, dt.date)
        and isinstance(expression.rhs.value, dt.timedelta)
    ):
        return expression
    moment, delta = expression.lhs.value, expression.rhs.value
    value = moment + delta if expression.connector == "+" else moment - delta
    return Value(value, output_field=expression.lhs.output_field)
