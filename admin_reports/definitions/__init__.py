"""
Report definitions: YAML files validated into frozen ReportSpec objects.

    from admin_reports.definitions import load_definition_file

    spec, problems = load_definition_file(Path("report_defs/daily_product_sales.yaml"))

Stages: loader (YAML with marks) -> validation (spec or problems). This package
imports only the app's base (settings, exceptions): the checks that need more
(a known quick range, a query that compiles) are the registry's, see
`admin_reports.registry.load_definition`.
"""

from __future__ import annotations

from pathlib import Path

from .loader import MAX_FILE_BYTES, load_yaml, too_large
from .problems import CHECK_IDS, Mark, Problem
from .spec import ColumnKind, ColumnSpec, ReportSpec
from .validation import validate_definition

__all__ = [
    "CHECK_IDS",
    "ColumnKind",
    "ColumnSpec",
    "Mark",
    "Problem",
    "ReportSpec",
    "load_definition_file",
    "load_definition_text",
    "validate_definition",
]


def load_definition_file(path: str | Path) -> tuple[ReportSpec | None, list[Problem]]:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:  # not even read
            return None, [too_large(size, path)]
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem("E001", f"Cannot read the file: {exc}.", Mark(path))]
    return load_definition_text(text, name=path.stem, file=path)


def load_definition_text(
    text: str, name: str = "report", file: Path | None = None
) -> tuple[ReportSpec | None, list[Problem]]:
    """Validate one definition given as YAML text; `name` applies unless it sets its own."""
    data, problems = load_yaml(text, file)
    if data is None and problems:
        return None, problems
    spec, more = validate_definition(data, file=file, name=name)
    problems = problems + more
    return (spec if not problems else None), problems
