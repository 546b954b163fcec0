"""
Problems found in report definitions, each with a stable id, a place and a message.

    problem = Problem("E011", "The value of 'columns[2].value' refers to ...", Mark(path, 12, 5))
    problem.to_check()  # a django.core.checks.Error for `manage.py check`

Every id is listed in CHECK_IDS (and in docs/checks.md); ids are never reused.
E027, E028, E036 to E039, E055 and the W ids are the settings checks' (admin_reports.checks):
the next definition id is E045 (E050 to E054 are the parameters').

A message quotes what the definition (or a request) says with `shown(value)`, and a
key inside a key path with `cut(key)`: a value may be 4,000 characters or a list of
thousands, and a message repeats only its start.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core import checks

# id -> what it is about; docs/checks.md lists the same table with examples.
CHECK_IDS: dict[str, str] = {
    "E001": "The file cannot be read or is not valid YAML.",
    "E002": "A value has the wrong type.",
    "E003": "A key is not allowed here.",
    "E004": "A required key is missing.",
    "E005": "A key appears twice in the same mapping.",
    "E006": "Two definitions have the same name.",
    "E007": "A name is not a valid identifier (a report's name: at most 100 characters).",
    "E008": "A model label does not name an installed model.",
    "E009": "A field path refers to a field that does not exist.",
    "E010": "A field path continues past a field that is not a relation.",
    "E011": "An expression is not valid syntax.",
    "E012": "An expression uses a construct that is not allowed.",
    "E013": "An expression calls an unknown function or aggregate.",
    "E014": "A function or aggregate gets the wrong arguments.",
    "E015": "A filter uses a lookup the field does not support.",
    "E016": "A join alias is invalid (clashes with a field, or refers to itself).",
    "E017": "The date range field is not a date or datetime field.",
    "E018": "An unknown quick date range.",
    "E019": "The selection path does not lead to the action's model.",
    "E020": "order_by refers to an unknown column.",
    "E021": "Two columns have the same name.",
    "E022": "An invalid output format.",
    "E023": "An invalid permission name.",
    "E024": "The definition does not compile to a query.",
    "E025": "An aggregate where none is allowed, or one inside another.",
    "E026": "A number is out of range.",
    "E029": "A path reads a field that no report may read.",
    "E030": "The file is larger than a definition may be.",
    "E031": "The definition uses a YAML alias or anchor.",
    "E032": "The definition nests too deep.",
    "E033": "The definition has too many columns.",
    "E034": "A value is longer than a definition's values may be.",
    "E035": "The title is longer than the run log stores.",
    "E040": "A chart on a report without aggregate columns.",
    "E041": "A chart refers to an unknown column.",
    "E042": "A chart's column has the wrong kind (y: numbers per group; x, series: grouping).",
    "E043": "An unknown chart type.",
    "E044": (
        "A chart's columns do not fit together (a column twice, a series with several y,"
        " more than 10 y)."
    ),
    "E045": (
        "A filter's value is not one its field takes (text where a date or number is needed,"
        " a day or time without a time zone for a datetime field, no list for __in, a value"
        " no row can have: outside the field's choices, a month 13, a reversed __range)."
    ),
    "E050": "A parameter's name is taken: by a run request's input, or by another parameter.",
    "E051": "A parameter's field cannot be one (its type, or a relation to many on its path).",
    "E052": "A parameter's lookup, or 'multiple', is not one its kind takes.",
    "E053": "A parameter's default is not a value it takes.",
    "E054": "The definition has too many parameters.",
    "E056": "A comma inside a flow mapping {...} cut an unquoted value in two.",
    "E060": "An operator or function gets operands whose types have no meaning together.",
    "E061": "The remainder operator % on a decimal or float.",
    "E062": "extract() on a duration.",
    "E063": "A function gets a value of the wrong type (days() of a number, round() of text).",
    "E065": "A field outside an aggregate that is not a grouping column's value.",
    "E066": "An expression names a column that is not defined before it (or itself).",
    "E067": "An expression uses range.start or range.end, but the report has no date_range.",
    "E068": "A where or having entry is a value, not a condition.",
    "E069": "A report without aggregate columns has 'having'.",
    "E070": (
        "A window (over=, rank()) used where it cannot be, or over something that is not"
        " a grouping key."
    ),
    "E071": "A window inside another window.",
    "E072": "label() of something that is not a field with choices.",
    "E073": "A quick range a definition offers is not one of the project's.",
    "E074": "A date range's default is not among the quick ranges it offers.",
}


class DefinitionError(Exception):
    """A problem found in one value; `message` continues "The value of '<key path>' "."""

    def __init__(self, id: str, message: str, hint: str | None = None, offset: int = 0) -> None:
        super().__init__(message)
        self.id = id
        self.message = message
        self.hint = hint
        self.offset = offset  # characters into an expression's text, 0-based


@dataclass(frozen=True)
class Mark:
    """A place in a definition file; line and column count from 1."""

    file: Path | None
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        name = _display_path(self.file) if self.file else "<definition>"
        if not self.line:
            return name
        return f"{name}:{self.line}:{self.column}"

    def shifted(self, columns: int) -> Mark:
        return Mark(self.file, self.line, self.column + columns)


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Problem:
    id: str
    message: str
    mark: Mark
    hint: str | None = None

    def __post_init__(self) -> None:
        if self.id not in CHECK_IDS:
            raise ValueError(f"Unknown check id {self.id!r}")

    @property
    def check_id(self) -> str:
        return f"admin_reports.{self.id}"

    def __str__(self) -> str:
        text = f"{self.mark}: ({self.check_id}) {self.message}"
        return f"{text}\n\tHINT: {self.hint}" if self.hint else text

    def to_check(self) -> checks.Error:
        return checks.Error(self.message, hint=self.hint, obj=str(self.mark), id=self.check_id)


# How much of a value a message quotes, and how deep into nested lists it looks;
# how much of an error from Django or Python (which may quote the value whole), and
# of a hint that lists a definition's own names (its columns).
SHOWN_CHARS = 80
SHOWN_DEPTH = 3
ERROR_CHARS = 200
HINT_CHARS = 500


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """repr() of `value` cut to about `limit` characters, with its length when cut.

        shown("sku")               # "'sku'"
        shown("a" * 4000)          # "'aaa…' (4,000 characters)", 80 a's
        shown(list(range(1000)))   # "[0, 1, 2, …] (1,000 items)"

    A long list or mapping is never put in a repr whole: only the items that fit are.
    """
    text, was_cut = _prefix(value, limit, 0)
    if not was_cut:
        return text
    if isinstance(value, str):
        return f"{text} ({len(value):,} characters)"
    if isinstance(value, list | tuple | dict | set | frozenset):
        return f"{text} ({len(value):,} {'item' if len(value) == 1 else 'items'})"
    return f"{text} ({len(_repr(value)):,} characters)"


def cut(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text` itself when short, else its first `limit` characters and an ellipsis."""
    return text if len(text) <= limit else text[:limit] + "…"


def _prefix(value: Any, limit: int, depth: int) -> tuple[str, bool]:
    """The start of repr(value), about `limit` characters; True when something is left out."""
    if isinstance(value, str):
        return _text_prefix(value, limit)
    if isinstance(value, list | tuple | dict | set | frozenset) and value:
        return _items_prefix(value, limit, depth)
    text = _repr(value)
    return (text, False) if len(text) <= limit else (text[:limit] + "…", True)


def _repr(value: Any) -> str:
    if isinstance(value, dt.date | dt.time):  # as YAML has it: 2026-01-01, not datetime.date(...)
        return str(value)
    if value is None or isinstance(value, bool):  # null, true, false
        return {None: "null", True: "true", False: "false"}[value]
    try:
        return repr(value)
    except ValueError:  # an int of more digits than Python turns into text
        return f"<{type(value).__name__} of {value.bit_length():,} bits>"


def _text_prefix(value: str, limit: int) -> tuple[str, bool]:
    if len(value) <= limit:
        text = repr(value)
        if len(text) <= limit + 2:  # the quotes
            return text, False
    # Escapes make some characters longer (a NUL is \x00): keep the ones that fit.
    end = used = 0
    for char in value[:limit]:
        used += len(repr(char)) - 2
        if used > limit:
            break
        end += 1
    text = repr(value[:end])
    return text[:-1] + "…" + text[-1], True


def _items_prefix(value: Any, limit: int, depth: int) -> tuple[str, bool]:
    is_dict = isinstance(value, dict)
    brackets = "[]" if isinstance(value, list) else "()" if isinstance(value, tuple) else "{}"
    opening, closing = brackets[0], brackets[1]
    if depth >= SHOWN_DEPTH:
        return f"{opening}…{closing}", True
    parts: list[str] = []
    room, was_cut = limit - 2, False
    for item in value.items() if is_dict else value:
        if room <= 0:
            parts.append("…")
            was_cut = True
            break
        if is_dict:
            key, key_cut = _prefix(item[0], room, depth + 1)
            text, text_cut = _prefix(item[1], max(room - len(key) - 2, 0), depth + 1)
            part, part_cut = f"{key}: {text}", key_cut or text_cut
        else:
            part, part_cut = _prefix(item, room, depth + 1)
        parts.append(part)
        room -= len(part) + 2
        was_cut = was_cut or part_cut
    if isinstance(value, tuple) and len(value) == 1:
        closing = ",)"
    return opening + ", ".join(parts) + closing, was_cut
