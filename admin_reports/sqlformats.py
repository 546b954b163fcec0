"""
The column formats of admin_reports.formats, as PostgreSQL expressions: a compiled
report as one COPY statement whose CSV cells are byte-identical to the ORM path's.

    query = copy_query(compiled)      # NotExpressible(reason) when SQL cannot match
    query.sql, query.params           # COPY (SELECT <cells> FROM (<report>) ...) TO STDOUT
    query.time_zone                   # set as the transaction's TimeZone first

The report's own SQL and parameters come from Django's compiler; the cells wrap
its columns (round() half away from zero, to_char() in the session's time zone,
CASE for booleans and the formula guard), with every value a parameter. The rule
for what cannot be matched is in docs/definitions.md ("Which path a report takes").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils import timezone

from .compiler import CompiledReport
from .conf import app_settings
from .definitions.spec import ColumnFormat
from .formats import (
    DEFAULT_DATE_FORMAT,
    DEFAULT_DATETIME_FORMAT,
    DEFAULT_DECIMALS,
    FORMATTERS,
    FORMULA_PREFIXES,
)

# Python's Decimal context: quantize() gives up beyond this many digits (and formats.py
# then prints the value as it came).
DECIMAL_PRECISION = 28

# strftime directives with a to_char() twin that prints the same text in any locale.
# FMYYYY: Python prints year 999 as "999", not "0999".
DIRECTIVES = {
    "Y": "FMYYYY",
    "y": "YY",
    "m": "MM",
    "d": "DD",
    "H": "HH24",
    "M": "MI",
    "S": "SS",
    "f": "US",
    "j": "DDD",
}
DIRECTIVE = re.compile(r"%(.)|([^%]+)|(%)$", re.S)


class NotExpressible(Exception):
    """The report's cells cannot be made identical in SQL; the message says why."""


@dataclass(frozen=True)
class Cell:
    sql: str
    params: list[Any]
    multiline: bool  # may hold a line break (then it is quoted in the CSV)
    blank: bool = False  # may be the empty string


@dataclass(frozen=True)
class CopyQuery:
    sql: str
    params: list[Any]
    time_zone: str
    multiline: bool  # whether a cell may hold a line break: then rows are counted by quotes


def copy_query(compiled: CompiledReport) -> CopyQuery:
    """The COPY statement of `compiled`; NotExpressible when a cell cannot match."""
    spec = compiled.spec
    if len(spec.columns) == 1:
        # Python's csv quotes a lone empty cell and COPY a lone "\.": one column may differ.
        raise NotExpressible("it has one column (a lone cell is quoted differently)")
    time_zone = getattr(compiled.tz, "key", None)
    if not time_zone:
        raise NotExpressible(f"its time zone {compiled.tz!r} has no name for PostgreSQL")
    query = compiled.queryset.query
    cells = [
        cell_sql(f'"report"."c{index}"', query.annotations[f"c{index}"].output_field, column)
        for index, column in enumerate(spec.columns)
    ]
    with timezone.override(compiled.tz):  # date truncation needs the report's zone
        inner, inner_params = query.get_compiler(using=compiled.queryset.db).as_sql()
    select = ", ".join(cell.sql for cell in cells)
    return CopyQuery(
        sql=f'COPY (SELECT {select} FROM ({inner}) AS "report") TO STDOUT (FORMAT csv)',
        params=[param for cell in cells for param in cell.params] + list(inner_params),
        time_zone=time_zone,
        multiline=any(cell.multiline for cell in cells),
    )


def cell_sql(column: str, field: models.Field | None, spec: Any) -> Cell:
    """One column's CSV text in SQL; NULL stays NULL (COPY writes it as an empty cell)."""
    fmt: ColumnFormat = spec.format
    internal_type = field.get_internal_type() if field is not None else "TextField"
    if isinstance(field, models.ForeignKey):
        internal_type = field.target_field.get_internal_type()
    build = SQL_FORMATS.get(internal_type)
    if build is None:
        if internal_type in FORMATTERS:
            raise NotExpressible(f"column {spec.name!r}: {internal_type} has no SQL format")
        raise NotExpressible(
            f"column {spec.name!r}: {internal_type} values are printed by Python's str()"
        )
    try:
        cell = build(column, field, fmt)
    except NotExpressible as exc:
        raise NotExpressible(f"column {spec.name!r}: {exc}") from None
    if fmt.empty_label:
        # COPY writes NULL and '' as an empty cell alike (NULLIF below): an empty label
        # needs no COALESCE.
        cell = Cell(
            f"COALESCE({cell.sql}, %s)",
            [*cell.params, fmt.empty_label],
            cell.multiline or _breaks(fmt.empty_label),
            cell.blank,
        )
    if not cell.blank:
        return cell
    # Python's csv writes '' unquoted; COPY quotes an empty string (NULL is unquoted).
    return Cell(f"NULLIF({cell.sql}, '')", cell.params, cell.multiline)


def _breaks(text: str) -> bool:
    return "\n" in text or "\r" in text


def _decimal(column: str, field: Any, fmt: ColumnFormat) -> Cell:
    places = fmt.decimals
    if places is None:
        places = getattr(field, "decimal_places", None)
        places = DEFAULT_DECIMALS if places is None else places
    value = f"({column})::numeric"
    rounded = f"round({value}, %s)"
    # Python keeps the sign of a negative value rounded to zero ("-0.00"); numeric has none.
    # Beyond Decimal's precision formats.py prints the value unrounded.
    sql = (
        f"CASE WHEN abs({rounded}) >= %s THEN ({value})::text"
        f" WHEN {value} < 0 AND {rounded} = 0 THEN '-' || {rounded}::text"
        f" ELSE {rounded}::text END"
    )
    limit = 10 ** (DECIMAL_PRECISION - places)
    return Cell(sql, [places, limit, places, places, places], False)


def _integer(column: str, field: Any, fmt: ColumnFormat) -> Cell:
    if fmt.decimals:
        return _decimal(column, field, fmt)
    # str(int(value)): a numeric value (EXTRACT) is cut toward zero.
    return Cell(f"trunc(({column})::numeric)::text", [], False)


def _float(column: str, field: Any, fmt: ColumnFormat) -> Cell:
    raise NotExpressible("floats reach Python as binary doubles, which SQL prints otherwise")


def _to_char(column: str, pattern: str) -> Cell:
    picture, line_break = to_char_pattern(pattern)
    # ::timestamp: the wall time in the session's zone, as astimezone(tz) gives it.
    return Cell(f"to_char(({column})::timestamp, %s)", [picture], line_break)


def _date(column: str, field: Any, fmt: ColumnFormat) -> Cell:
    return _to_char(column, fmt.date or DEFAULT_DATE_FORMAT)


def _datetime(column: str, field: Any, fmt: ColumnFormat) -> Cell:
    return _to_char(column, fmt.datetime or DEFAULT_DATETIME_FORMAT)


def _boolean(column: str, field: Any, fmt: ColumnFormat) -> Cell:
    labels = [fmt.true_label or "true", fmt.false_label or "false"]
    # WHEN NOT: NULL matches neither branch and stays NULL, for the empty label.
    sql = f"CASE WHEN {column} THEN %s WHEN NOT {column} THEN %s END"
    return Cell(sql, labels, any(_breaks(x) for x in labels))


def _text(column: str, field: Any, fmt: ColumnFormat) -> Cell:
    if not app_settings.CSV_ESCAPE_FORMULAS:
        return Cell(f"({column})::text", [], True, blank=True)
    marks = ", ".join(["%s"] * len(FORMULA_PREFIXES))
    sql = (
        f"CASE WHEN left(({column})::text, 1) IN ({marks})"
        f" THEN '''' || ({column})::text ELSE ({column})::text END"
    )
    return Cell(sql, list(FORMULA_PREFIXES), True, blank=True)


def to_char_pattern(pattern: str) -> tuple[str, bool]:
    """The to_char() picture of a strftime pattern, and whether it holds a line break;
    NotExpressible for a directive without an identical twin."""
    parts: list[str] = []
    for match in DIRECTIVE.finditer(pattern):
        directive, literal, lone = match.groups()
        if lone:
            raise NotExpressible(f"the pattern {pattern!r} ends with a lone '%'")
        if literal is not None or directive == "%":
            text = "%" if directive == "%" else literal
            if '"' in text or "\\" in text:
                raise NotExpressible(f"the pattern {pattern!r} holds a quote or a backslash")
            if parts and parts[-1].startswith('"'):
                text = parts.pop()[1:-1] + text  # one literal run, one pair of quotes
            parts.append(f'"{text}"')
        elif directive in DIRECTIVES:
            parts.append(DIRECTIVES[directive])
        else:
            raise NotExpressible(
                f"the pattern {pattern!r} uses %{directive}, which to_char() cannot match"
                f" (supported: {' '.join('%' + d for d in DIRECTIVES)} %%)"
            )
    return "".join(parts), _breaks(pattern)


SQL_FORMATS: dict[str, Callable[[str, Any, ColumnFormat], Cell]] = {
    "DecimalField": _decimal,
    "FloatField": _float,
    **dict.fromkeys(
        [
            "IntegerField",
            "BigIntegerField",
            "SmallIntegerField",
            "PositiveIntegerField",
            "PositiveBigIntegerField",
            "PositiveSmallIntegerField",
            "AutoField",
            "BigAutoField",
            "SmallAutoField",
        ],
        _integer,
    ),
    "DateField": _date,
    "DateTimeField": _datetime,
    "BooleanField": _boolean,
    # Text whose str() in Python is its text in PostgreSQL.
    **dict.fromkeys(
        ["CharField", "TextField", "EmailField", "SlugField", "URLField", "UUIDField"], _text
    ),
}
