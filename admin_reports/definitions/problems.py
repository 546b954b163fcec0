"""
Problems found in report definitions, each with a stable id, a place and a message.

    problem = Problem("E011", "The value of 'columns[2].value' refers to ...", Mark(path, 12, 5))
    problem.to_check()  # a django.core.checks.Error for `manage.py check`

Every id is listed in CHECK_IDS (and in docs/checks.md); ids are never reused.
E027, E028 and W001 are the settings checks' (admin_reports.checks): the next
definition id is E035.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.core import checks

# id -> what it is about; docs/checks.md lists the same table with examples.
CHECK_IDS: dict[str, str] = {
    "E001": "The file cannot be read or is not valid YAML.",
    "E002": "A value has the wrong type.",
    "E003": "A key is not allowed here.",
    "E004": "A required key is missing.",
    "E005": "A key appears twice in the same mapping.",
    "E006": "Two definitions have the same name.",
    "E007": "A name is not a valid identifier.",
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
    "E031": "The definition uses a YAML alias.",
    "E032": "The definition nests too deep.",
    "E033": "The definition has too many columns.",
    "E034": "A value is longer than a definition's values may be.",
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
