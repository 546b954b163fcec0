"""
What type the arithmetic of an expression gives, decided by the language, not left to
the database: one numeric meaning on SQLite and PostgreSQL (docs/definitions.md,
"Numbers").

    Arithmetic(F("quantity"), "/", Value(3))  # resolves to an exact division, 6 places
    Arithmetic(F("name"), "+", Value(1))      # TypeMismatch (admin_reports.E060) when resolved

The operands' types are known only when the expression is resolved against the query
(a column, an aggregate, a function of either), so Arithmetic decides there and
becomes the expression that computes it: Django's own combination for integers,
decimals at a known scale and dates, ExactDivision for `/`, FloatArithmetic when a
float is involved.

SQLite computes decimals as binary doubles: every decimal here has a known scale (its
field's places, a literal's digits, the rule of its operator), and where the digits
matter (a division, a rounding, a cast to an integer) the value is first turned into
the integer of its last place, exactly while it has at most 15 significant digits.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.core.exceptions import FieldError
from django.db import models
from django.db.models import Case, Value
from django.db.models.expressions import (
    CombinedExpression,
    DurationExpression,
    Expression,
    TemporalSubtraction,
)
from django.db.models.functions import Cast, Coalesce, Extract

# Decimal places of a division's result, unless cast(a / b, 'decimal', places=N) says.
DIVISION_PLACES = 6
MAX_PLACES = 15
INTEGER, DECIMAL, FLOAT, DURATION, DATE, DATETIME, TEXT, BOOLEAN, NULL, OTHER = (
    "integer",
    "decimal",
    "float",
    "duration",
    "date",
    "datetime",
    "text",
    "boolean",
    "null",
    "other",
)
NUMBERS = (INTEGER, DECIMAL, FLOAT)
CAST_HINT = "Convert one side first, e.g. cast(x, 'decimal', places=2) or cast(x, 'text')."
MICROSECONDS = {"days": 86_400_000_000, "hours": 3_600_000_000, "minutes": 60_000_000}
MICROSECONDS["seconds"] = 1_000_000


class TypeMismatch(FieldError):
    """Operands or arguments whose types have no meaning together; a check error."""

    def __init__(self, id: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.id = id
        self.message = message
        self.hint = hint


class ExactDecimalField(models.DecimalField):
    """A computed decimal whose values have `scale` places; printed with the default places."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = min(scale, MAX_PLACES)


def kind_of(field: models.Field | None) -> str:
    """The language's type of values of `field`."""
    if field is None:
        return NULL
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    internal = field.get_internal_type()
    if internal.endswith(("IntegerField", "AutoField")):
        return INTEGER
    return {
        "DecimalField": DECIMAL,
        "FloatField": FLOAT,
        "DurationField": DURATION,
        "DateField": DATE,
        "DateTimeField": DATETIME,
        "BooleanField": BOOLEAN,
        "CharField": TEXT,
        "TextField": TEXT,
        "EmailField": TEXT,
        "SlugField": TEXT,
        "URLField": TEXT,
    }.get(internal, OTHER)


def scale_of(field: models.Field | None) -> int | None:
    """The decimal places of values of `field`: 0 for integers; None when unknown."""
    if isinstance(field, ExactDecimalField):
        return field.scale
    if kind_of(field) == INTEGER:
        return 0
    return getattr(field, "decimal_places", None)


def output_of(expression: Any) -> models.Field | None:
    try:
        return expression.output_field
    except (AttributeError, FieldError):
        return getattr(expression, "_output_field_or_none", None)


def decimal_value(value: Decimal) -> Value:
    """A decimal literal: exact, at the scale it is written with (0.90: 2 places)."""
    exponent = value.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return Value(value, output_field=ExactDecimalField(places))


def _mismatch(left: str, connector: str, right: str) -> TypeMismatch:
    return TypeMismatch(
        "E060",
        f"uses {left} {connector} {right}, which has no meaning in a report.",
        CAST_HINT,
    )


class Arithmetic(CombinedExpression):
    """`lhs connector rhs` whose type the language decides when resolved.

    `places`: a division's decimal places (cast(a / b, 'decimal', places=N) sets them)."""

    places = DIVISION_PLACES

    def resolve_expression(self, *args: Any, **kwargs: Any) -> Any:
        resolved = Expression.resolve_expression(self, *args, **kwargs)
        return combine(resolved.lhs, self.connector, resolved.rhs, self.places)


def combine(lhs: Any, connector: str, rhs: Any, places: int = DIVISION_PLACES) -> Any:
    """The resolved expression computing `lhs connector rhs` by the rules of "Numbers"."""
    left, right = output_of(lhs), output_of(rhs)
    kinds = {kind_of(left), kind_of(right)} - {NULL}
    if kinds <= set(NUMBERS):
        return _numbers(lhs, connector, rhs, left, right, kinds, places)
    return _temporal(lhs, connector, rhs, kind_of(left), kind_of(right))


def _numbers(lhs, connector, rhs, left, right, kinds: set[str], places: int) -> Any:
    if connector == "%%":  # Combinable.MOD
        if kinds - {INTEGER}:
            raise TypeMismatch(
                "E061",
                "uses % with a decimal or float; % takes integers.",
                "Make both sides integers, e.g. cast(x, 'integer') % 7.",
            )
        return IntegerArithmetic(lhs, connector, NullIfZero(rhs), models.BigIntegerField())
    if FLOAT in kinds:
        return FloatArithmetic(lhs, connector, rhs, output_field=models.FloatField())
    if connector == "/":
        return ExactDivision(lhs, rhs, places)
    if kinds <= {INTEGER}:
        return IntegerArithmetic(lhs, connector, rhs, models.BigIntegerField())
    scales = [scale_of(left) or 0, scale_of(right) or 0]
    scale = sum(scales) if connector == "*" else max(scales)
    return CombinedExpression(lhs, connector, rhs, output_field=ExactDecimalField(scale))


def _temporal(lhs, connector, rhs, left: str, right: str) -> Any:
    if connector in "+-" and DURATION in (left, right) and {left, right} <= {DURATION, NULL}:
        # Intervals on PostgreSQL, integer microseconds on SQLite: plain + and -.
        return CombinedExpression(lhs, connector, rhs, output_field=models.DurationField())
    if connector in "*/" and left == DURATION and right in (INTEGER, DECIMAL):
        return DurationScaled(lhs, connector, rhs)
    if connector == "*" and right == DURATION and left in (INTEGER, DECIMAL):
        return DurationScaled(rhs, connector, lhs)
    if connector in "+-" and left in (DATE, DATETIME) and right == DURATION:
        shifted = DurationExpression(lhs, connector, rhs, output_field=models.DateTimeField())
        return Cast(shifted, models.DateField()) if left == DATE else shifted
    if connector == "+" and right in (DATE, DATETIME) and left == DURATION:
        return _temporal(rhs, connector, lhs, right, left)
    if connector == "-" and left == right and left in (DATE, DATETIME):
        return TemporalSubtraction(lhs, rhs)
    raise _mismatch(_named(left), connector, _named(right))


def _named(kind: str) -> str:
    return {OTHER: "a value of another type", INTEGER: "an integer", NULL: "None"}.get(
        kind, "text" if kind == TEXT else f"a {kind}"
    )


class OfOne(Expression):
    """An expression of one other, `self.expression` (Django's walks see it inside)."""

    def __init__(self, expression: Any) -> None:
        super().__init__()
        self.expression = expression

    def get_source_expressions(self) -> list[Any]:
        return [self.expression]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.expression,) = exprs


class NullIfZero(OfOne):
    """The divisor of `/` and `%`: zero gives NULL (an empty cell), on every database."""

    def _resolve_output_field(self) -> Any:
        return output_of(self.expression)

    def get_group_by_cols(self) -> list[Any]:
        return self.expression.get_group_by_cols()  # a constant divisor groups nothing

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.expression)
        return f"NULLIF({sql}, 0)", list(params)


class IntegerArithmetic(CombinedExpression):
    """Integers: 64-bit on both databases (PostgreSQL's integer columns are 32-bit)."""

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = compiler.compile(self.lhs)
        rhs, rhs_params = compiler.compile(self.rhs)
        return f"(({lhs})::bigint {self.connector} {rhs})", [*lhs_params, *rhs_params]


class FloatArithmetic(CombinedExpression):
    """A float among the operands: binary doubles, `/` never dividing integers."""

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = compiler.compile(self.lhs)
        rhs, rhs_params = compiler.compile(self.rhs)
        if self.connector == "/":
            rhs = f"NULLIF({rhs}, 0)"
        real = "double precision" if connection.vendor == "postgresql" else "REAL"
        return (
            f"(CAST({lhs} AS {real}) {self.connector} CAST({rhs} AS {real}))",
            [*lhs_params, *rhs_params],
        )


def scaled_integer(sql: str, scale: int | None, kind: str, connection: Any) -> str:
    """SQL of the value as the integer of its last place (x * 10**scale), exactly."""
    if connection.vendor != "sqlite" or (kind == INTEGER and not scale):
        return f"({sql})" if not scale else f"(({sql}) * {10**scale})"
    # A double within half a unit of its last place is that decimal: round, then cast.
    return f"CAST(ROUND(({sql}) * {10 ** (scale or 0)}) AS INTEGER)"


def rounded_quotient(n: str, d: str, connection: Any) -> str:
    """SQL of n / d rounded half away from zero to an integer (n, d: exact numbers)."""
    sign = f"(CASE WHEN {n} < 0 THEN -1 ELSE 1 END * CASE WHEN {d} < 0 THEN -1 ELSE 1 END)"
    if connection.vendor == "postgresql":
        return f"({sign} * div(2 * abs({n}) + abs({d}), 2 * abs(NULLIF({d}, 0))))"
    return f"({sign} * ((2 * abs({n}) + abs({d})) / (2 * abs(NULLIF({d}, 0)))))"


def from_scaled(sql: str, places: int, connection: Any) -> str:
    """SQL of the decimal whose last place's integer is `sql`."""
    if not places:
        return sql
    if connection.vendor == "postgresql":
        return f"({sql} * {Decimal(1).scaleb(-places):f})"
    return f"({sql} / {10**places}.0)"


class ExactSum(models.Sum):
    """SUM of decimals, exact on SQLite too: it sums doubles, so 62.7 is 62.699999999999996
    in one order of the rows and 62.69999999999998 in another (which ties in a rank and
    an order break). The integers of the last place sum exactly."""

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        scale = scale_of(output_of(self.get_source_expressions()[0]))
        if kind_of(output_of(self)) != DECIMAL or scale is None:
            return super().as_sqlite(compiler, connection, **extra)
        template = (
            f"%(function)s(%(distinct)sCAST(ROUND((%(expressions)s) * {10**scale}) AS INTEGER))"
        )
        scaled_sum = self.copy()  # Aggregate.as_sql passes its template on with a filter
        scaled_sum.template = template
        sql, params = scaled_sum.as_sql(compiler, connection, **extra)
        return f"CAST(({sql} / {10**scale}.0) AS NUMERIC)", params


class ExactDivision(Expression):
    """`a / b` rounded half away from zero to `places`, the same digits on every database.

    Both operands become integers of a common last place; the integer quotient of
    (2|n| + |d|) by 2|d| is |n / d| rounded half up, exact in SQLite's 64-bit integers
    and PostgreSQL's numeric. A zero divisor gives NULL."""

    def __init__(self, lhs: Any, rhs: Any, places: int) -> None:
        super().__init__(output_field=ExactDecimalField(places))
        self.lhs, self.rhs, self.places = lhs, rhs, places

    def get_source_expressions(self) -> list[Any]:
        return [self.lhs, self.rhs]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.lhs, self.rhs = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        left, right = output_of(self.lhs), output_of(self.rhs)
        sa, sb = scale_of(left) or 0, scale_of(right) or 0
        lhs, lhs_params = compiler.compile(self.lhs)
        rhs, rhs_params = compiler.compile(self.rhs)
        if connection.vendor == "postgresql":
            # numeric is exact: n = a * 10**places, d = b.
            n, d = f"(({lhs})::numeric * {10**self.places})", f"(({rhs})::numeric)"
        else:
            shift = self.places + sb - sa
            n = scaled_integer(lhs, sa, kind_of(left), connection)
            d = scaled_integer(rhs, sb, kind_of(right), connection)
            n = f"({n} * {10**shift})" if shift > 0 else n
            d = f"({d} * {10**-shift})" if shift < 0 else d
        template = rounded_quotient("%(n)s", "%(d)s", connection)
        params: list[Any] = []
        for part in re.findall(r"%\((n|d)\)s", template):
            params += lhs_params if part == "n" else rhs_params
        sql = template.replace("%(n)s", n).replace("%(d)s", d)
        return from_scaled(sql, self.places, connection), params


class Rounded(OfOne):
    """`x` rounded half away from zero to `places` (or cut toward zero to an integer)."""

    def __init__(self, expression: Any, places: int, integer: bool = False) -> None:
        super().__init__(expression)
        self.places, self.integer = places, integer

    def _resolve_output_field(self) -> Any:
        kind = kind_of(output_of(self.expression))
        if self.integer or (kind == INTEGER and not self.places):
            return models.BigIntegerField()
        if kind == FLOAT:
            return models.FloatField()
        return models.DecimalField(decimal_places=self.places)

    def resolve_expression(self, *args: Any, **kwargs: Any) -> Any:
        resolved = super().resolve_expression(*args, **kwargs)
        kind = kind_of(output_of(resolved.expression))
        if kind not in (*NUMBERS, NULL):
            name = "cast(x, 'integer')" if self.integer else "round(x)"
            raise TypeMismatch(
                "E063",
                f"uses {name} on {_named(kind)}, which is not a number.",
                "Round, cut or cast numbers only: integers, decimals, floats.",
            )
        return resolved

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        field = output_of(self.expression)
        sql, params = compiler.compile(self.expression)
        kind, scale = kind_of(field), scale_of(field)
        postgresql = connection.vendor == "postgresql"
        if self.integer:
            if postgresql:
                return f"trunc({sql})::bigint", list(params)
            if kind == FLOAT or scale is None:
                return f"CAST({sql} AS INTEGER)", list(params)
            # Integer division cuts toward zero, as CAST does, but on the exact integer.
            return f"({scaled_integer(sql, scale, kind, connection)} / {10**scale})", list(params)
        if postgresql:
            return f"round(({sql})::numeric, {self.places})", list(params)
        if kind == FLOAT or scale is None:
            return f"ROUND({sql}, {self.places})", list(params)
        if scale <= self.places:
            return sql, list(params)
        n = scaled_integer(sql, scale, kind, connection)
        quotient = rounded_quotient(n, str(10 ** (scale - self.places)), connection)
        return from_scaled(quotient, self.places, connection), list(params) * quotient.count(n)


def unified(fields: list[models.Field | None]) -> models.Field | None:
    """One output field for values of `fields` (coalesce, a if c else b)."""
    known = [field for field in fields if field is not None]
    kinds = {kind_of(field) for field in known}
    if not known:
        return None
    if kinds <= set(NUMBERS) and len(kinds) > 1:
        if FLOAT in kinds:
            return models.FloatField()
        return ExactDecimalField(max(scale_of(field) or 0 for field in known))
    if len(kinds) > 1 or (OTHER in kinds and len({type(f) for f in known}) > 1):
        names = " and ".join(sorted(_named(kind) for kind in kinds))
        raise TypeMismatch("E060", f"mixes {names} in one value.", CAST_HINT)
    return known[0]


class UnifiedCase(Case):
    """a if condition else b: numbers of different types give the wider one."""

    def _resolve_output_field(self) -> Any:
        return unified([output_of(source) for source in self.get_source_fields_expressions()])

    def get_source_fields_expressions(self) -> list[Any]:
        return [case.result for case in self.cases] + [self.default]


class UnifiedCoalesce(Coalesce):
    def _resolve_output_field(self) -> Any:
        return unified([output_of(source) for source in self.get_source_expressions()])


class CheckedExtract(Extract):
    """extract() of dates and datetimes; a duration is refused with the functions it needs."""

    def resolve_expression(self, *args: Any, **kwargs: Any) -> Any:
        source = self.lhs.resolve_expression(*args, **kwargs)
        if kind_of(output_of(source)) == DURATION:
            raise TypeMismatch(
                "E062",
                "uses extract() on a duration, which is not a date.",
                "A duration's length: days(d), hours(d), minutes(d) or seconds(d).",
            )
        return super().resolve_expression(*args, **kwargs)


class DurationScaled(Expression):
    """A duration times or divided by a number: a duration, to the microsecond (cut)."""

    def __init__(self, duration: Any, connector: str, number: Any) -> None:
        super().__init__(output_field=models.DurationField())
        self.duration, self.connector, self.number = duration, connector, number

    def get_source_expressions(self) -> list[Any]:
        return [self.duration, self.number]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.duration, self.number = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        duration, d_params = compiler.compile(self.duration)
        number, n_params = compiler.compile(self.number)
        if self.connector == "/":
            number = f"NULLIF({number}, 0)"
        if connection.vendor == "postgresql":
            micro = f"(extract(epoch from {duration}) * 1000000)"
            scaled = f"trunc({micro} {self.connector} ({number})::numeric)"
            sql = f"({scaled} * interval '1 microsecond')"
        else:
            sql = f"CAST(({duration}) {self.connector} CAST({number} AS REAL) AS INTEGER)"
        return sql, [*d_params, *n_params]


class DurationPart(Expression):
    """days(d), hours(d)...: the duration's length in whole units, cut toward zero."""

    output_field = models.BigIntegerField()

    def __init__(self, duration: Any, unit: str) -> None:
        super().__init__()
        self.duration, self.unit = duration, unit

    def get_source_expressions(self) -> list[Any]:
        return [self.duration]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.duration,) = exprs

    def resolve_expression(self, *args: Any, **kwargs: Any) -> Any:
        resolved = super().resolve_expression(*args, **kwargs)
        kind = kind_of(output_of(resolved.duration))
        if kind not in (DURATION, NULL):
            raise TypeMismatch(
                "E063",
                f"uses {self.unit}() on {_named(kind)}, which is not a duration.",
                "A duration is the difference of two dates or datetimes, e.g."
                f" {self.unit}(returned_at - borrowed_at).",
            )
        return resolved

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.duration)
        unit = MICROSECONDS[self.unit]
        if connection.vendor == "postgresql":
            return f"div(extract(epoch from {sql}) * 1000000, {unit})::bigint", list(params)
        # SQLite holds a duration as integer microseconds; integer division cuts toward zero.
        return f"(CAST({sql} AS INTEGER) / {unit})", list(params)


class TextCast(OfOne):
    """cast(x, 'text'): a decimal with all of its places on both databases."""

    output_field = models.TextField()

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        field = output_of(self.expression)
        sql, params = compiler.compile(self.expression)
        if connection.vendor == "postgresql":
            # numeric's text has its scale's places: a column's, or the rule's of its operator.
            return f"({sql})::text", list(params)
        scale = scale_of(field)
        if kind_of(field) == DECIMAL and scale is not None:
            return f"printf('%%.{scale}f', {sql})", list(params)
        return f"CAST({sql} AS TEXT)", list(params)


class FixedDuration(Value):
    """A constant duration of fixed length: PostgreSQL sends `timedelta(days=21)` as an
    interval of 21 calendar days, which a timestamptz adds in the session's time zone
    (23 or 25 hours across a DST change, and the COPY path's session has the report's
    zone while the ORM's has UTC). Microseconds add the same length on every path."""

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        micro = self.value // dt.timedelta(microseconds=1)
        return "(%s::bigint * INTERVAL '1 microsecond')", [micro]


def duration_value(**parts: int) -> Value:
    """duration(days=14, hours=2): a constant duration, days of 24 hours."""
    return FixedDuration(dt.timedelta(**parts), output_field=models.DurationField())
