"""
The column formats of admin_reports.formats, as PostgreSQL expressions: a compiled
report as one COPY statement whose CSV cells are byte-identical to the ORM path's.

    query = copy_query(compiled)      # NotExpressible(reason) when SQL cannot match
    query.sql, query.params           # COPY (SELECT <cells> FROM (<report>) ...) TO STDOUT
    query.time_zone                   # set as the transaction's TimeZone first

    inner = inner_query(compiled)              # Django's SQL of the report
    cursor.execute(*describe_query(inner))     # no rows: the columns' SQL types
    query = copy_query(compiled, column_types(cursor.description), inner)

The report's own SQL and parameters come from Django's compiler; the cells wrap
its columns (round() half away from zero, to_char() in the session's time zone,
CASE for booleans and the formula guard), with every value a parameter. The rule
for what cannot be matched is in docs/definitions.md ("Which path a report takes").

The database spends its time in these cells, so the common ones are cheap when the
columns' SQL types are known: an integer, or a numeric already at the column's
places, is printed as PostgreSQL prints it; a date or datetime in the default
pattern is its ISO text (DateStyle ISO) unless its year is before 1000, which
strftime writes unpadded; a text cell from "A" on needs no look at its first
character for the formula guard.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
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
    boolean_label,
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
# A directive with its flag, if any (glibc's %-d, %_m...), so that a refusal names it whole.
DIRECTIVE = re.compile(r"%([-_0^#]?.)|([^%]+)|(%)$", re.S)

# Type OIDs of PostgreSQL's catalog (pg_type), as cursor.description gives them.
INTEGER_TYPES = frozenset({20, 21, 23})  # int8, int2, int4
NUMERIC = 1700
DATE, TIMESTAMP, TIMESTAMPTZ = 1082, 1114, 1184
# The date types whose values compare with constants of their own type: from the year
# 1000 on, strftime's %Y has four digits, as PostgreSQL's ISO text. (A timestamptz
# constant is read in the transaction's TimeZone, the report's.)
CASTS = {DATE: "date", TIMESTAMP: "timestamp", TIMESTAMPTZ: "timestamptz"}
# Python's dates and datetimes hold the years 1 to 9999: on the ORM path a value outside
# them (local time) fails the report, and so it does here, with this text in the error.
OUTSIDE_YEARS = "admin-reports: a date outside the years 1 to 9999, which Python cannot hold: "
# Every formula mark sorts before "A": a cell from "A" on is left as it is.
assert max(FORMULA_PREFIXES) < "A"
FORMULA_CODES = ", ".join(str(ord(mark)) for mark in FORMULA_PREFIXES)


class NotExpressible(Exception):
    """The report's cells cannot be made identical in SQL; the message says why."""


@dataclass(frozen=True)
class SqlType:
    """A result column's SQL type: its OID, and a numeric's declared scale."""

    oid: int
    scale: int | None = None


def column_types(description: Any) -> list[SqlType]:
    """The SqlTypes of a psycopg cursor's description."""
    return [
        SqlType(column.type_code, column.scale if column.type_code == NUMERIC else None)
        for column in description
    ]


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


def inner_query(compiled: CompiledReport) -> tuple[str, list[Any]]:
    """The report's SQL and parameters, as Django compiles them for the ORM path."""
    with timezone.override(compiled.tz):  # date truncation needs the report's zone
        sql, params = compiled.queryset.query.get_compiler(using=compiled.queryset.db).as_sql()
    return sql, list(params)


def describe_query(inner: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    """A query of the report's columns and no row: its description gives their types."""
    sql, params = inner
    return f'SELECT * FROM ({sql}) AS "report" LIMIT 0', params


def copy_query(
    compiled: CompiledReport,
    types: list[SqlType] | None = None,
    inner: tuple[str, list[Any]] | None = None,
) -> CopyQuery:
    """The COPY statement of `compiled`; NotExpressible when a cell cannot match.

    `types`, the SQL types of the report's columns (column_types()), make the cells
    that allow it cheaper; without them every cell takes its general form. `inner`:
    inner_query(compiled), when the caller has it already.
    """
    columns = compiled.columns
    if len(columns) == 1:
        # Python's csv quotes a lone empty cell and COPY a lone "\.": one column may differ.
        raise NotExpressible("it has one column (a lone cell is quoted differently)")
    time_zone = getattr(compiled.tz, "key", None)
    if not time_zone:
        raise NotExpressible(f"its time zone {compiled.tz!r} has no name for PostgreSQL")
    if types is not None and len(types) != len(columns):
        raise ValueError(f"{len(types)} column types for {len(columns)} columns")
    query = compiled.queryset.query
    cells = [
        cell_sql(
            f'"report"."{alias}"',
            query.annotations[alias].output_field,
            column,
            types[index] if types is not None else None,
        )
        for index, (alias, column) in enumerate(zip(compiled.aliases, columns, strict=True))
    ]
    inner_sql, inner_params = inner or inner_query(compiled)
    select = ", ".join(cell.sql for cell in cells)
    return CopyQuery(
        sql=f'COPY (SELECT {select} FROM ({inner_sql}) AS "report") TO STDOUT (FORMAT csv)',
        params=[param for cell in cells for param in cell.params] + inner_params,
        time_zone=time_zone,
        multiline=any(cell.multiline for cell in cells),
    )


def cell_sql(
    column: str, field: models.Field | None, spec: Any, sql_type: SqlType | None = None
) -> Cell:
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
        cell = build(column, field, fmt, sql_type)
    except NotExpressible as exc:
        raise NotExpressible(f"column {spec.name!r}: {exc}") from None
    if fmt.empty_label:
        # COPY writes NULL and '' as an empty cell alike (NULLIF below): an empty label
        # needs no COALESCE. ::text: a cell may be the column itself (an integer).
        cell = Cell(
            f"COALESCE(({cell.sql})::text, %s)",
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


def _decimal(column: str, field: Any, fmt: ColumnFormat, sql_type: SqlType | None) -> Cell:
    places = fmt.decimals
    if places is None:
        places = getattr(field, "decimal_places", None)
        places = DEFAULT_DECIMALS if places is None else places
    if sql_type is not None and sql_type.oid == NUMERIC and sql_type.scale == places:
        # Already at these places: rounding changes nothing, numeric has no negative
        # zero, and beyond Decimal's precision formats.py prints the value as it is.
        return Cell(column, [], False)
    value = f"({column})::numeric"
    rounded = f"round({value}, %s)::text"
    # formats.py rounds half away from zero, as round() does, and prints a value whose
    # rounding has more than 28 digits as it came: from `huge` on, unrounded. It keeps
    # the sign of a negative value rounded to zero ("-0.00"), which numeric has not.
    # NaN (after every number in PostgreSQL's order) and the infinities: the last branch.
    half = Decimal(5).scaleb(-places - 1)
    # 10**(28 - places) - half, written out: Decimal's own arithmetic would round it.
    huge = Decimal("9" * (DECIMAL_PRECISION - places) + "." + "9" * places + "5")
    sql = (
        f"CASE WHEN {value} >= 0 AND {value} < %s THEN {rounded}"
        f" WHEN {value} < 0 AND {value} > %s THEN '-' || {rounded}"
        f" WHEN {value} < 0 AND {value} > %s THEN {rounded}"
        f" ELSE ({value})::text END"
    )
    # copy_negate(): exact, where unary minus would round to the context again.
    return Cell(sql, [huge, places, half.copy_negate(), places, huge.copy_negate(), places], False)


def _integer(column: str, field: Any, fmt: ColumnFormat, sql_type: SqlType | None) -> Cell:
    if fmt.decimals:
        return _decimal(column, field, fmt, sql_type)
    if sql_type is not None and sql_type.oid in INTEGER_TYPES:
        return Cell(column, [], False)  # PostgreSQL's text of an integer is str()'s
    # str(int(value)): a numeric value (EXTRACT) is cut toward zero.
    return Cell(f"trunc(({column})::numeric)::text", [], False)


def _float(column: str, field: Any, fmt: ColumnFormat, sql_type: SqlType | None) -> Cell:
    raise NotExpressible("floats reach Python as binary doubles, which SQL prints otherwise")


def _dated(column: str, pattern: str, iso: str | None, sql_type: SqlType | None) -> Cell:
    """to_char() of the value's wall time in the session's zone (as astimezone(tz) gives
    it), or from the year 1000 on `iso`, its cheaper ISO text, when the column's type is
    known. A local year outside 1 to 9999 is an error, as on the ORM path (a cast of the
    error's text: SQL has no raise)."""
    picture, line_break = to_char_pattern(pattern)
    local = f"({column})::timestamp"
    own = CASTS.get(sql_type.oid) if sql_type is not None else None
    # In the column's own type the bounds are constants; else they bound the wall time.
    subject, cast = (column, own) if iso is not None and own else (local, "timestamp")
    cheap = f" WHEN {subject} >= '1000-01-01'::{cast} THEN {iso}" if subject == column else ""
    sql = (
        f"CASE WHEN {subject} < '0001-01-01'::{cast} OR {subject} >= '10000-01-01'::{cast}"
        f" THEN (%s || {local}::text)::date::text{cheap} ELSE to_char({local}, %s) END"
    )
    return Cell(sql, [OUTSIDE_YEARS, picture], line_break)


def _date(column: str, field: Any, fmt: ColumnFormat, sql_type: SqlType | None) -> Cell:
    pattern = fmt.date or DEFAULT_DATE_FORMAT
    iso = f"({column})::timestamp::date::text" if pattern == DEFAULT_DATE_FORMAT else None
    return _dated(column, pattern, iso, sql_type)


def _datetime(column: str, field: Any, fmt: ColumnFormat, sql_type: SqlType | None) -> Cell:
    pattern = fmt.datetime or DEFAULT_DATETIME_FORMAT
    iso = None
    if pattern == DEFAULT_DATETIME_FORMAT and (sql_type is None or sql_type.oid != DATE):
        # The session's ISO text of the wall time, fraction and offset cut (%S cuts the
        # seconds, where ::timestamp(0) would round them): YYYY-MM-DD HH:MM:SS is its
        # first 19 characters from the year 1000 on.
        iso = f"left(({column})::text, 19)"
    return _dated(column, pattern, iso, sql_type)


def _boolean(column: str, field: Any, fmt: ColumnFormat, sql_type: SqlType | None) -> Cell:
    labels = [boolean_label(fmt, True), boolean_label(fmt, False)]
    # WHEN NOT: NULL matches neither branch and stays NULL, for the empty label.
    sql = f"CASE WHEN {column} THEN %s WHEN NOT {column} THEN %s END"
    return Cell(sql, labels, any(_breaks(x) for x in labels), blank="" in labels)


def _text(column: str, field: Any, fmt: ColumnFormat, sql_type: SqlType | None) -> Cell:
    text = f"({column})::text"
    if not app_settings.CSV_ESCAPE_FORMULAS:
        return Cell(text, [], True, blank=True)
    # From "A" on (bytewise: COLLATE "C", whatever the column's collation) a cell holds
    # no formula mark first, and is not empty; ascii() gives the first character's code
    # otherwise. Without an empty label, '' is made NULL here, on that way only (see
    # cell_sql); with one, after the label, which an empty string does not get.
    blank = bool(fmt.empty_label)
    rest = text if blank else f"NULLIF({text}, '')"
    sql = (
        f"CASE WHEN {text} COLLATE \"C\" >= 'A' THEN {text}"
        f" WHEN ascii({text}) IN ({FORMULA_CODES}) THEN '''' || {text} ELSE {rest} END"
    )
    return Cell(sql, [], True, blank=blank)


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


SQL_FORMATS: dict[str, Callable[[str, Any, ColumnFormat, SqlType | None], Cell]] = {
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
