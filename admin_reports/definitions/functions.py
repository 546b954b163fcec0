"""
The functions and aggregates an expression may call, in tables a project can extend.

    ADMIN_REPORTS_FUNCTIONS = {
        "greatest": "django.db.models.functions.Greatest",
        "string_agg": "django.contrib.postgres.aggregates.StringAgg",
    }

A setting's value is a FunctionSpec, or the dotted path of a Func or Aggregate
subclass (called with the arguments as expressions; aggregates also take
`filter=` and `default=`).
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    Aggregate,
    Case,
    Count,
    DateField,
    FloatField,
    Func,
    Max,
    Min,
    Q,
    TextField,
    Value,
    When,
)
from django.db.models import functions as db
from django.db.models.lookups import Exact
from django.utils.module_loading import import_string

from ..conf import app_settings
from ..exceptions import InvalidSetting
from .problems import shown
from .runvalues import RunValue
from .types import (
    DIVISION_PLACES,
    Arithmetic,
    CheckedExtract,
    DurationPart,
    ExactSum,
    Rounded,
    TextCast,
    UnifiedCoalesce,
    duration_value,
)
from .windows import RANKINGS

TRUNC_KINDS = ("hour", "day", "week", "month", "quarter", "year")
EXTRACT_KINDS = (
    "year",
    "iso_year",
    "quarter",
    "month",
    "week",
    "day",
    "week_day",
    "iso_week_day",
    "hour",
    "minute",
)


class ArgumentError(Exception):
    """Wrong arguments for a function; the message names the function."""


@dataclass(frozen=True)
class FunctionSpec:
    """How a name in an expression becomes a Django expression."""

    build: Callable[..., Any]  # build(*args, **keywords) -> expression
    min_args: int
    max_args: int | None  # None: any number
    aggregate: bool = False
    keywords: tuple[str, ...] = ()
    # Arguments that must be literals: position -> allowed values (None: any literal).
    literal_args: Mapping[int, tuple[Any, ...] | None] | None = None
    usage: str = ""


def _trunc(expression, kind):
    # Truncating to a day or longer gives a date in the active time zone, not a datetime.
    if kind.value == "hour":
        return db.Trunc(expression, "hour")
    return db.Trunc(expression, kind.value, output_field=DateField())


def _extract(expression, kind):
    return CheckedExtract(expression, kind.value)


def _concat(*expressions):
    # Text whatever the parts are: names, emails, numbers.
    return db.Concat(*expressions, output_field=TextField())


def _places(places, default: int | None = 0) -> int:
    value = places.value if places is not None else default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 15:
        raise ArgumentError(f"places must be a whole number from 0 to 15, not {shown(value)}")
    return value


def _round(expression, places=None):
    # Half away from zero on the exact value, on every database (Django's Round on SQLite
    # rounds the binary double: 1.005 would give 1.00).
    return Rounded(expression, _places(places))


CAST_TYPES = ("decimal", "integer", "text", "float")


def _cast(expression, kind, places=None):
    if kind.value == "decimal":
        if places is None:
            raise ArgumentError("a cast to 'decimal' needs places=N")
        digits = _places(places)
        if isinstance(expression, Arithmetic) and expression.connector == "/":
            expression.places = digits  # the quotient rounded once, to these places
        return Rounded(expression, digits)
    if places is not None:
        raise ArgumentError(f"places= goes with 'decimal', not {kind.value!r}")
    if kind.value == "integer":
        return Rounded(expression, 0, integer=True)
    if kind.value == "text":
        return TextCast(expression)
    return db.Cast(expression, FloatField())


def _duration_part(unit):
    def build(expression):
        return DurationPart(expression, unit)

    return build


DURATION_UNITS = ("days", "hours", "minutes", "seconds")


def _duration(**parts):
    values = {unit: value.value for unit, value in parts.items()}
    for unit, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise ArgumentError(f"{unit} must be a whole number, not {shown(value)}")
    if not values:
        raise ArgumentError("give at least one of days=, hours=, minutes=, seconds=")
    try:
        return duration_value(**values)
    except OverflowError:
        raise ArgumentError("the duration is longer than 999999999 days") from None


def _avg(expression, *, filter=None, default=None):
    # The sum over the count, divided as `/` divides: the same digits on every database.
    options = {"filter": filter} if filter is not None else {}
    average = Arithmetic(ExactSum(expression, **options), "/", Count(expression, **options))
    average.places = DIVISION_PLACES
    return average if default is None else UnifiedCoalesce(average, default)


def choice_label(expression, choices=()):
    """The label of each choice, in SQL; a value that is not a choice as itself, as text.
    The labels are those of the language active when the definitions load."""
    whens = [
        When(Q(Exact(expression, Value(value))), then=Value(str(label)))
        for value, label in choices
        if value is not None
    ]
    fallback = db.Cast(expression, TextField())
    return Case(*whens, default=fallback, output_field=TextField()) if whens else fallback


def _aggregate(cls, distinct=False):
    def build(expression=None, *, filter=None, default=None):
        options = {"distinct": True} if distinct else {}
        if filter is not None:
            options["filter"] = filter
        if default is not None:
            options["default"] = default.value
        if expression is None:
            # count() counts rows: "*", or with a filter the primary key, never NULL
            # (Django refuses COUNT(*) with a filter).
            expression = "pk" if filter is not None else "*"
        return cls(expression, **options)

    return build


FUNCTIONS: dict[str, FunctionSpec] = {
    "coalesce": FunctionSpec(UnifiedCoalesce, 2, None, usage="coalesce(a, b, ...)"),
    "round": FunctionSpec(
        _round, 1, 2, keywords=("places",), literal_args={1: None}, usage="round(x, places=0)"
    ),
    "abs": FunctionSpec(db.Abs, 1, 1, usage="abs(x)"),
    "upper": FunctionSpec(db.Upper, 1, 1, usage="upper(text)"),
    "lower": FunctionSpec(db.Lower, 1, 1, usage="lower(text)"),
    "length": FunctionSpec(db.Length, 1, 1, usage="length(text)"),
    "concat": FunctionSpec(_concat, 2, None, usage="concat(a, b, ...)"),
    "date": FunctionSpec(db.TruncDate, 1, 1, usage="date(datetime)"),
    "trunc": FunctionSpec(
        _trunc, 2, 2, literal_args={1: TRUNC_KINDS}, usage="trunc(date, 'month')"
    ),
    "extract": FunctionSpec(
        _extract, 2, 2, literal_args={1: EXTRACT_KINDS}, usage="extract(date, 'year')"
    ),
    "cast": FunctionSpec(
        _cast,
        2,
        2,
        keywords=("places",),
        literal_args={1: CAST_TYPES},
        usage="cast(x, 'decimal', places=2), cast(x, 'integer'), cast(x, 'text'),"
        " cast(x, 'float')",
    ),
    "duration": FunctionSpec(
        _duration,
        0,
        0,
        keywords=DURATION_UNITS,
        usage="duration(days=14, hours=0, minutes=0, seconds=0)",
    ),
    **{
        unit: FunctionSpec(_duration_part(unit), 1, 1, usage=f"{unit}(duration)")
        for unit in DURATION_UNITS
    },
    # Built by the expression compiler, which knows the field's choices.
    "label": FunctionSpec(choice_label, 1, 1, usage="label(choice_field)"),
    # The run's start instant and its date in the report's time zone (runvalues).
    "now": FunctionSpec(lambda: RunValue("now"), 0, 0, usage="now()"),
    "today": FunctionSpec(lambda: RunValue("today"), 0, 0, usage="today()"),
    # Rankings: windows, built by the expression compiler (windows.ranking).
    **{
        name: FunctionSpec(
            function,
            0,
            0,
            keywords=("order_by", "over"),
            usage=f"{name}(order_by=-x, over=[key, ...])",
        )
        for name, function in RANKINGS.items()
    },
}

AGGREGATE_KEYWORDS = ("filter", "default")

AGGREGATES: dict[str, FunctionSpec] = {
    name: FunctionSpec(
        build,
        min_args,
        1,
        aggregate=True,
        keywords=AGGREGATE_KEYWORDS,
        usage=f"{name}({'x' if min_args else '[x]'}, filter=condition, default=value"
        + (", over=[key, ...])" if name != "count_distinct" else ")"),
    )
    for name, build, min_args in [
        ("sum", _aggregate(ExactSum), 1),
        ("count", _aggregate(Count), 0),
        ("count_distinct", _aggregate(Count, distinct=True), 1),
        ("avg", _avg, 1),
        ("min", _aggregate(Min), 1),
        ("max", _aggregate(Max), 1),
    ]
}


SETTING = "ADMIN_REPORTS_FUNCTIONS"
SETTING_HINT = (
    "Give the dotted path of a Func or Aggregate subclass, e.g."
    " 'django.db.models.functions.Greatest', or a FunctionSpec."
)


def _spec_from_setting(name: Any, value: Any) -> FunctionSpec:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise InvalidSetting(
            f"{SETTING} has the name {name!r}, which an expression cannot call.",
            hint="Name it like a Python variable: letters, digits and underscores,"
            " e.g. 'greatest'.",
        )
    if isinstance(value, FunctionSpec):
        return value
    cls = value
    if isinstance(value, str):
        try:
            cls = import_string(value)
        except ImportError as exc:
            raise InvalidSetting(
                f"{SETTING}[{name!r}] is {value!r}, which cannot be imported: {exc}.",
                SETTING_HINT,
            ) from exc
    if isinstance(cls, type) and issubclass(cls, Aggregate):
        return FunctionSpec(
            _aggregate(cls), 1, 1, aggregate=True, keywords=AGGREGATE_KEYWORDS, usage=name
        )
    if isinstance(cls, type) and issubclass(cls, Func):
        arity = cls.arity
        return FunctionSpec(cls, arity or 1, arity, usage=name)
    raise InvalidSetting(
        f"{SETTING}[{name!r}] is {value!r}, which is neither a Func or Aggregate subclass"
        " nor a FunctionSpec.",
        SETTING_HINT,
    )


def project_functions() -> tuple[dict[str, FunctionSpec], list[InvalidSetting]]:
    """The usable entries of ADMIN_REPORTS_FUNCTIONS, and what is wrong with the others."""
    setting = app_settings.FUNCTIONS
    if not isinstance(setting, Mapping):
        error = InvalidSetting(
            f"{SETTING} must be a dict of name: function, not {setting!r}.", SETTING_HINT
        )
        return {}, [error]
    table: dict[str, FunctionSpec] = {}
    errors: list[InvalidSetting] = []
    for name, value in setting.items():
        try:
            table[name] = _spec_from_setting(name, value)
        except InvalidSetting as exc:
            errors.append(exc)
    return table, errors


def function_table() -> dict[str, FunctionSpec]:
    """The built-in functions and aggregates, with the project's usable additions."""
    # A bad entry is left out here: `manage.py check` reports it (admin_reports.E027).
    return {**FUNCTIONS, **AGGREGATES, **project_functions()[0]}
