"""
The report definitions of the project: every YAML file in ADMIN_REPORTS_DIRS.

    from admin_reports.registry import registry

    registry.get("daily_product_sales")   # ReportSpec, ReportNotFound or InvalidDefinition
    registry.specs()                      # {name: spec} of the valid ones
    registry.problems()                   # every problem of every file
    registry.for_model(Product)           # specs with an action on Product

    spec, problems = load_definition(Path("report_defs/order_lines.yaml"))

Loaded once, on first use; reloaded when ADMIN_REPORTS_* settings change and by
`reload()`. A definition is registered when it validates (admin_reports.definitions)
and passes the checks that need the rest of the app: its default quick range exists
and its query compiles. An invalid one is left out, never raised: the admin keeps
working. `manage.py check` reports each problem once; outside a check (the first
request of a server started with --skip-checks, a reload) they are logged instead.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.core.exceptions import FieldError, ValidationError
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models import Count, F, Q

from .compiler import CompiledReport, ReportParams, compile_report
from .conf import PREFIX, app_settings
from .dates import quick_ranges
from .definitions import ColumnKind, ColumnSpec, Mark, Problem, ReportSpec, load_definition_file
from .definitions.loader import MarkedDict, MarkedList, load_yaml
from .definitions.paths import did_you_mean
from .definitions.problems import ERROR_CHARS, cut, shown
from .definitions.spec import ColumnFormat
from .definitions.types import TypeMismatch
from .exceptions import InvalidDefinition, ReportNotFound

logger = logging.getLogger("admin_reports")

# Set while a system check loads the definitions: it reports their problems itself.
_checking = threading.local()

SUFFIXES = (".yaml", ".yml")


def definition_files(dirs) -> list[Path]:
    files = []
    for directory in dirs:
        directory = Path(directory)
        if directory.is_dir():
            files.extend(sorted(path for path in directory.rglob("*") if path.suffix in SUFFIXES))
    return files


def with_directories(exc: ReportNotFound) -> str:
    """An unknown report's message, with where definitions are read from (unless it names
    an invalid definition or guesses a name): a misspelled or missing directory shows."""
    if isinstance(exc, InvalidDefinition) or "Did you mean" in str(exc):
        return str(exc)
    dirs = [Path(directory) for directory in app_settings.DIRS]
    if not dirs:
        return f"{exc} ADMIN_REPORTS_DIRS is empty: no definition is read."
    where = ", ".join(f"{path.resolve()} ({_holds(path)})" for path in dirs)
    return f"{exc} Definitions are read from ADMIN_REPORTS_DIRS: {where}."


def _holds(path: Path) -> str:
    if not path.is_dir():
        return "no such directory"
    count = len(definition_files([path]))
    return f"{count} definition file{'' if count == 1 else 's'}"


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._specs: dict[str, ReportSpec] | None = None
        self._problems: list[Problem] = []

    def _load(self) -> dict[str, ReportSpec]:
        with self._lock:
            if self._specs is None:
                self._specs, self._problems = load_all(app_settings.DIRS)
            return self._specs

    @contextmanager
    def checking(self) -> Iterator[None]:
        """Load without logging the problems: the system check prints each one."""
        _checking.on = True
        try:
            yield
        finally:
            _checking.on = False

    def reload(self) -> None:
        with self._lock:
            self._specs = None
            self._problems = []

    def specs(self) -> dict[str, ReportSpec]:
        return dict(self._load())

    def problems(self) -> list[Problem]:
        self._load()
        return list(self._problems)

    def get(self, name: str) -> ReportSpec:
        specs = self._load()
        try:
            return specs[name]
        except KeyError:
            pass
        problems = [p for p in self.problems() if p.mark.file and p.mark.file.stem == name]
        if problems:
            raise InvalidDefinition(name, problems)
        raise ReportNotFound(
            f"No valid report is named {shown(name)}." + did_you_mean(name, specs)
        )

    def for_model(self, model: type[models.Model]) -> list[ReportSpec]:
        return [spec for spec in self._load().values() if spec.action_for(model)]


def load_all(dirs) -> tuple[dict[str, ReportSpec], list[Problem]]:
    """Validate every definition file; the valid specs by name, and all problems."""
    specs: dict[str, ReportSpec] = {}
    origins: dict[str, Mark] = {}
    problems: list[Problem] = []
    for path in definition_files(dirs):
        spec, found = load_definition(path)
        if spec is not None and spec.name in specs:
            found = [
                Problem(
                    "E006",
                    f"The report name {shown(spec.name)} is already used by {origins[spec.name]}.",
                    Mark(path, 1, 1),
                    hint="Give one of them another file name or 'name'.",
                )
            ]
            spec = None
        if found or spec is None:
            if not getattr(_checking, "on", False):  # a check prints the problems itself
                logger.error(
                    "Report definition %s is invalid and left out:\n%s",
                    path,
                    "\n".join(str(problem) for problem in found),
                )
            problems.extend(found)
            continue
        specs[spec.name] = spec
        origins[spec.name] = Mark(path)
    return specs, problems


def load_definition(path: str | Path) -> tuple[ReportSpec | None, list[Problem]]:
    """One definition file checked as the registry checks it; the spec is None on problems.

    Whatever is wrong with one file is a problem of that file: it never stops the others.
    """
    path = Path(path)
    try:
        spec, problems = load_definition_file(path)
        if spec is None:
            # What can be checked without a valid spec is checked all the same: every
            # problem of a file in one pass.
            return None, problems + _raw_quick_range(path)
        problems = check_quick_range(spec) + check_compiles(spec)
    except Exception as exc:  # whatever one file does, the others keep working
        if not getattr(_checking, "on", False):  # a check prints the problem, once
            logger.exception("Report definition %s could not be loaded", path)
        message = f"The definition cannot be loaded: {type(exc).__name__}: {exc}"
        return None, [Problem("E001", cut(message, ERROR_CHARS), Mark(path))]
    return (spec if not problems else None), problems


def check_quick_range(spec: ReportSpec) -> list[Problem]:
    """The date range's quick ranges (its default, those it offers) are the project's."""
    date_range = spec.date_range
    if date_range is None:
        return []
    ranges = quick_ranges()
    problems = _offered_problems(date_range.quick_ranges)
    if date_range.default is None:
        return problems
    mark = date_range.default_mark or spec.source or Mark(None)
    offered = [name for name, _mark in date_range.quick_ranges]
    if offered and date_range.default in ranges and date_range.default not in offered:
        problems.append(
            Problem(
                "E074",
                f"The value of 'date_range.default' is {shown(date_range.default)}, which"
                " 'date_range.quick_ranges' does not offer.",
                mark,
                hint="Add it to quick_ranges, or start the form with one of: "
                + ", ".join(offered)
                + ".",
            )
        )
    return problems + _quick_range_problems(date_range.default, mark)


def _raw_quick_range(path: Path) -> list[Problem]:
    """E073 and E018 for a definition that did not validate, from its YAML as it is."""
    data, _problems = load_yaml(path.read_text(encoding="utf-8"), path)
    config = data.get("date_range") if isinstance(data, MarkedDict) else None
    if not isinstance(config, MarkedDict):
        return []
    offered = config.get("quick_ranges")
    problems = []
    if isinstance(offered, MarkedList):
        named = enumerate(offered)
        problems = _offered_problems(
            [(name, offered.mark_of(i)) for i, name in named if isinstance(name, str)]
        )
    if isinstance(config.get("default"), str):
        problems += _quick_range_problems(config["default"], config.mark_of("default"))
    return problems


def _offered_problems(offered) -> list[Problem]:
    """E073 for each quick range a definition offers that the project does not have."""
    ranges = quick_ranges()
    return [
        Problem(
            "E073",
            f"The value of 'date_range.quick_ranges' names {shown(name)}, which is not a"
            " quick range." + did_you_mean(name, ranges),
            mark,
            hint="Quick ranges: " + ", ".join(ranges) + ".",
        )
        for name, mark in offered
        if name not in ranges
    ]


def _quick_range_problems(name: str, mark: Mark) -> list[Problem]:
    ranges = quick_ranges()
    if name in ranges:
        return []
    return [
        Problem(
            "E018",
            f"The value of 'date_range.default' is {shown(name)}, which is not a"
            " quick range." + did_you_mean(name, ranges),
            mark,
            hint="Quick ranges: " + ", ".join(ranges) + ".",
        )
    ]


def check_compiles(spec: ReportSpec) -> list[Problem]:
    """Let Django compile the query (no database round trip): type and lookup errors.

    When it does not compile, each column, then 'where' and 'having', is compiled on its
    own: every part that fails is a problem, in one pass, and the chart is checked on
    the columns that compile."""
    if _compile_error(spec) is None:
        return check_chart(spec)
    problems: list[Problem] = []
    good = []
    for index, column in enumerate(spec.columns):
        alone = replace(spec, columns=(column,), order_by=(), where=Q(), having=Q())
        error = _compile_error(alone)
        if error is None:
            good.append(column)
        else:
            problems.append(_not_compiling(error, f"columns[{index}].value", column.mark))
    for key in ("where", "having"):
        error = _compile_error(_conditions_alone(spec, key))
        if error is not None:
            problems.append(_not_compiling(error, key, _key_mark(spec, key)))
    if not problems:
        return [_not_compiling(_compile_error(spec), None, spec.source or Mark(None))]
    rest = replace(_with_columns(spec, good), where=Q(), having=Q())  # the chart's types
    if good and _compile_error(rest) is None:
        problems += check_chart(rest)
    return problems


def _not_compiling(error: str | TypeMismatch | None, key: str | None, mark: Mark) -> Problem:
    where = f"The value of '{key}'" if key else "The definition"
    if isinstance(error, TypeMismatch):
        return Problem(error.id, f"{where} {error.message}", mark, error.hint)
    how = "does not compile" if key else "does not compile to a query"
    return Problem("E024", f"{where} {how}: {error}", mark)


def _conditions_alone(spec: ReportSpec, key: str) -> ReportSpec:
    """`spec` with only its 'where' or 'having', over stand-in columns: a grouping
    column and an aggregate (so 'having' has groups), whatever its own columns are."""
    kinds = ColumnKind.FIELD, ColumnKind.AGGREGATE
    standins = tuple(
        ColumnSpec(f"c{index}", "", "", expression, kind, ColumnFormat(), Mark(None))
        for index, (expression, kind) in enumerate(zip((F("pk"), Count("pk")), kinds, strict=True))
    )
    conditions = {"where": Q(), "having": Q(), key: getattr(spec, key)}
    return replace(spec, columns=standins, order_by=(), chart=None, **conditions)


def _with_columns(spec: ReportSpec, columns: list[ColumnSpec]) -> ReportSpec:
    """`spec` with only these columns, ordered by those of its order_by keys that are
    among them (check_chart skips a y that is not)."""
    names = {column.name for column in columns}
    order_by = tuple(key for key in spec.order_by if key.lstrip("-") in names)
    return replace(spec, columns=tuple(columns), order_by=order_by)


def _key_mark(spec: ReportSpec, key: str) -> Mark:
    """Where a top-level key of the spec's file is written (the spec keeps no mark of it)."""
    source = spec.source or Mark(None)
    if source.file is None:  # a definition given as text
        return source
    try:
        data, _problems = load_yaml(source.file.read_text(encoding="utf-8"), source.file)
    except (OSError, UnicodeDecodeError):  # changed since it was loaded
        return source
    return data.mark_of(key) if isinstance(data, MarkedDict) and key in data else source


def _compile_error(spec: ReportSpec) -> str | TypeMismatch | None:
    """Why Django cannot compile the spec's query; a TypeMismatch is a check of its own."""
    try:
        _compiled(spec).queryset.query.get_compiler(using=DEFAULT_DB_ALIAS).as_sql()
    except TypeMismatch as exc:
        return exc
    except ValidationError as exc:  # a value a field cannot take, through a join's alias
        return cut(" ".join(exc.messages), ERROR_CHARS)
    except (FieldError, TypeError, ValueError, AttributeError) as exc:
        return cut(str(exc), ERROR_CHARS)  # Django's errors may quote a filter's value whole
    return None


def _compiled(spec: ReportSpec) -> CompiledReport:
    today = dt.date.today()
    params = ReportParams(start=today, end=today) if spec.date_range else ReportParams()
    # For its SQL only, on the default database's backend: the database reports read
    # from (ADMIN_REPORTS_DATABASE) has a check of its own (E037).
    return compile_report(spec, params, using=DEFAULT_DB_ALIAS)


# What a chart's y axis can measure (BigIntegerField, PositiveIntegerField... included).
NUMBER_FIELDS = (models.IntegerField, models.DecimalField, models.FloatField)


def check_chart(spec: ReportSpec) -> list[Problem]:
    """The chart's y columns are numbers: the compiled query knows the columns' types
    (of the columns that compile: one that does not is a problem of its own)."""
    if spec.chart is None:
        return []
    query = _compiled(spec).queryset.query
    fields = [query.annotations[alias].output_field for alias in query.selected or ()]
    by_name = dict(zip((column.name for column in spec.columns), fields, strict=True))
    return [
        Problem(
            "E042",
            f"The value of 'chart.y' names {shown(name)}, whose values are not numbers:"
            f" its type is {type(by_name[name]).__name__}.",
            mark,
            hint="A chart draws numbers: integers, decimals or floats, such as sum(...) or"
            " count(...).",
        )
        for name, mark in zip(spec.chart.y, spec.chart.y_marks, strict=True)
        if name in by_name and not isinstance(by_name[name], NUMBER_FIELDS)
    ]


registry = Registry()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(PREFIX):
        registry.reload()


setting_changed.connect(_reload)
