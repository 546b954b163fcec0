"""
Filter values a field takes but no row can have: the filter would silently match no
row (or, in `exclude`, leave every row).

    no_row_has(base, "status", "payed")       # ("but 'payed' is not one of ...", "Its ...")
    no_row_has(base, "placed_at__month", 13)  # ("but 13 is not a month: ...", None)
    no_row_has(base, "quantity__range", [5, 2])  # ("whose first value is after ...", "...")
    no_row_has(base, "quantity", 3)           # None: some row may have it

A field's choices are what its rows hold; a value outside them can still be compared
in `where:`, which is not checked against them. Parts of dates and times have fixed
ranges (a month is 1 to 12, a weekday 1 to 7): each value of `__in` must be one. A
`__range` is written smaller value first.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import EmptyResultSet, FieldError, ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.expressions import Col
from django.db.models.lookups import IsNull, Lookup, Transform
from django.db.models.sql.constants import INNER
from django.db.models.sql.datastructures import BaseTable

from .paths import did_you_mean
from .problems import HINT_CHARS, cut, shown

# The values a part of a date or time can have (Django's week_day: Sunday is 1).
PARTS = {
    "month": (1, 12),
    "day": (1, 31),
    "week_day": (1, 7),
    "iso_week_day": (1, 7),
    "week": (1, 53),
    "quarter": (1, 4),
    "hour": (0, 23),
    "minute": (0, 59),
    "second": (0, 59),
    "year": (1, 9999),
}
# The lookups whose every value must be one a row can have.
EQUALS = ("exact", "iexact", "in")


def no_row_has(base, lookup: str, value: Any) -> tuple[str, str | None] | None:
    """(reason, hint) when a value of a filter that compiles is one no row can have."""
    query, compared = _compared(base, lookup, value)
    if compared is None:
        return None
    if isinstance(compared, IsNull):
        return _never_null(query, compared)
    if compared.lookup_name == "range" and None in _values(compared):
        return "with an empty bound: no row is between null and a value.", (
            "For a range open at one end, use __gte or __lte."
        )
    if compared.lookup_name == "range" and _reversed(compared.rhs):
        return "whose first value is after its last: no row is between them.", (
            "Write the smaller value first."
        )
    if compared.lookup_name == "in" and isinstance(value, list) and None in value:
        return "with null in the list: no value equals null.", (
            "Leave null out. To take the empty ones too, use where:, e.g."
            " where: \"status in ('paid',) or status is None\"."
        )
    if isinstance(compared.lhs, Transform) and compared.lhs.lookup_name in PARTS:
        return _outside_part(compared, value, *PARTS[compared.lhs.lookup_name])
    if not isinstance(compared.lhs, Col):
        return None
    if isinstance(compared.lhs.target, NUMBER_FIELDS) and (
        problem := _not_its_number(compared, value)
    ):
        return problem
    return _outside_choices(compared) if compared.lookup_name in EQUALS else None


NUMBER_FIELDS = (models.IntegerField, models.DecimalField, models.FloatField, models.AutoField)


def _not_its_number(compared: Lookup, value: Any) -> tuple[str, str | None] | None:
    """A number as Python's int() and Decimal() read it but a field does not hold it:
    `true` (1), '1_2' (12), 1.5 for an integer (1), 49.999 for two decimal places."""
    field = compared.lhs.target
    exact = compared.lookup_name in (*EQUALS, "range")
    for written in _written(value):
        if isinstance(written, bool) or (isinstance(written, str) and "_" in written):
            return f"but {shown(written)} is not a number.", None
        if not exact or written is None:
            continue  # __gt: 1.5 on an integer compares as written
        places = _places(written)
        if places is None:
            continue
        if isinstance(field, models.IntegerField | models.AutoField) and places > 0:
            return f"but {shown(written)} is not a whole number, as the field's are.", (
                "An integer field compares 1.5 as 1: write a whole number, or __gt/__lt."
            )
        if isinstance(field, models.DecimalField) and places > field.decimal_places:
            most = field.decimal_places
            return f"but {shown(written)} has more decimal places than the field's {most}.", None
    return None


def _written(value: Any) -> list[Any]:
    """The values as the definition wrote them: a list's items, or the one value."""
    return list(value) if isinstance(value, list) else [value]


def _places(value: Any) -> int | None:
    """Decimal places a number has past its zeros (1.50: 1), or None for what is not one."""
    try:
        number = Decimal(str(value)).normalize()
    except ArithmeticError:
        return None
    if not number.is_finite():
        return None
    exponent = number.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else None


def _compared(base, lookup: str, value: Any) -> tuple[Any, Lookup | None]:
    """The filter's query and comparison as Django builds them, values prepared."""
    try:
        query = base.filter(Q(**{lookup: value})).query
        node = query.where.children[0]
    except (FieldError, ValidationError, EmptyResultSet, ValueError, TypeError, IndexError):
        return None, None
    return query, (node if isinstance(node, Lookup) else None)


def _never_null(query, compared: IsNull) -> tuple[str, str | None] | None:
    """`status: null` (or __isnull: true) on a field that is never empty, read on the
    model or through joins every row has: no row has it."""
    column = compared.lhs
    if compared.rhs is not True or not isinstance(column, Col) or column.target.null:
        return None
    join = query.alias_map.get(column.alias)
    if not isinstance(join, BaseTable) and getattr(join, "join_type", None) != INNER:
        return None  # through a relation a row may lack: empty there
    return "but the field is never empty (null): no row has it.", (
        "Leave the filter out, or compare with a value."
    )


def _reversed(bounds: Any) -> bool:
    try:
        first, last = bounds
        return bool(first > last)
    except (TypeError, ValueError):  # not two values that compare: Django's to say
        return False


def _values(compared: Lookup) -> list[Any]:
    rhs = compared.rhs
    return list(rhs) if compared.lookup_name in ("in", "range") else [rhs]


# Whether a row's part can be above (gt) or below (lt) the value, or equal it.
REACHES = {
    "exact": lambda v, low, high: low <= v <= high,
    "iexact": lambda v, low, high: low <= v <= high,
    "in": lambda v, low, high: low <= v <= high,
    "gt": lambda v, low, high: v < high,
    "gte": lambda v, low, high: v <= high,
    "lt": lambda v, low, high: v > low,
    "lte": lambda v, low, high: v >= low,
}


def _outside_part(
    compared: Lookup, value: Any, low: int, high: int
) -> tuple[str, str | None] | None:
    name = compared.lookup_name
    part = compared.lhs.lookup_name.replace("_", " ")
    a_part = f"{'an' if part[0] in 'aeiouh' else 'a'} {part}"  # an hour, an iso week day
    hint = (
        "Sunday is 1 and Saturday 7 (iso_week_day: Monday is 1)." if "week day" in part else None
    )
    for written in _written(value):
        if not _whole(written):  # 12.5 would be read as 12, true as 1
            return (
                f"but {shown(written)} is not a whole number: {a_part} is {low} to {high}.",
                hint,
            )
    values = [v for v in _values(compared) if isinstance(v, int)]
    if name == "range" and len(values) == 2:
        outside: list[Any] = [values] if values[0] > high or values[1] < low else []
    else:
        outside = [v for v in values if name in REACHES and not REACHES[name](v, low, high)]
    if not outside:
        return None
    if name in EQUALS:
        return f"but {outside[0]} is not {a_part}: {a_part} is {low} to {high}.", hint
    return f"which no row can match: {a_part} is {low} to {high}.", hint


def _whole(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float | Decimal):  # 1e1 is 10.0
        return _places(value) == 0
    return isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())


def _outside_choices(compared: Lookup) -> tuple[str, str | None] | None:
    field = compared.lhs.target
    choices = [key for key, _label in getattr(field, "flatchoices", ()) if key is not None]
    if not choices:
        return None
    fold = compared.lookup_name == "iexact"
    known = {_folded(key, fold) for key in choices}
    missing = [v for v in _values(compared) if v is not None and _folded(v, fold) not in known]
    if not missing:
        return None
    reason = f"but {shown(missing[0])} is not one of the field's choices: no row has it."
    written = cut("Its choices: " + ", ".join(map(shown, choices)) + ".", HINT_CHARS)
    return reason, f"{written}{_closest(missing[0], choices)} To compare all the same, use where:."


def _closest(value: Any, choices: list[Any]) -> str:
    same = [key for key in choices if _folded(key, True) == _folded(value, True)]
    if same:  # PAID for paid
        return f" Did you mean {shown(same[0])}?"
    return did_you_mean(str(value), [str(key) for key in choices])


def _folded(value: Any, fold: bool) -> Any:
    return value.casefold() if fold and isinstance(value, str) else value
