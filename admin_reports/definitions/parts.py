"""
Validators for the parts of a definition, used by validation._Builder.

Each takes the Context to report problems to and returns the valid value, or
None (or nothing) when the part is invalid.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import EmptyResultSet, FieldError, ValidationError
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from .expressions import ExpressionError, parse_expression
from .loader import MarkedDict, MarkedList
from .paths import (
    PathError,
    ResolvedPath,
    did_you_mean,
    models_along,
    resolve_path,
)
from .problems import ERROR_CHARS, HINT_CHARS, Mark, cut, shown
from .quoting import comment_hint, quote
from .reachable import no_row_has
from .spec import ActionSpec, ColumnFormat, DateRangeSpec

FORMAT_KEYS = ("decimals", "date", "datetime", "true_label", "false_label", "empty_label")
DATE_RANGE_KEYS = ("field", "required", "default", "max_days", "quick_ranges")
JOIN_KEYS = ("path", "condition")
MAX_DECIMALS = 20
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")  # names of reports, columns, parameters
PERMISSION_RE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


def _where(where: str) -> str:
    return f"'{where}'" if where else "the definition"


# What a key cannot hold but an expression's tail does: a comma in {...} cut it there.
TAIL = re.compile(r"[()=<>!+*/%'\" ]")


def cut_by_comma(data: MarkedDict, key: Any) -> str | None:
    """The key whose value a comma of a flow mapping cut, `key` being its tail; or None."""
    if not data.flow or not isinstance(key, str) or not TAIL.search(key):
        return None
    keys = list(data)
    before = keys[keys.index(key) - 1] if keys.index(key) else None
    if before is None or not isinstance(data[before], str) or data.quoted.get(before):
        return None
    return before


def _comma_hint(data: MarkedDict, key: Any) -> str | None:
    """For a word after a comma in {...}: it may be the rest of the value before it."""
    keys = list(data)
    before = keys[keys.index(key) - 1] if keys.index(key) else None
    if not data.flow or before is None or data[key] is not None:
        return None
    if not isinstance(data[before], str) or data.quoted.get(before):
        return None
    return (
        f"In a flow mapping {{...}} a comma ends a value: if {shown(key)} belongs to the"
        f" value of {shown(before)}, quote it: {before}: {quote(f'{data[before]}, {key}')}."
    )


def _comma_cut(ctx, data: MarkedDict, where: str, cut_key: Any, first: Any, allowed) -> list:
    """E056 once for a value a flow mapping's commas cut; the keys its tail became."""
    keys = list(data)
    tail = [first]
    for key in keys[keys.index(first) + 1 :]:
        if key in allowed or not isinstance(key, str) or not TAIL.search(key):
            break
        tail.append(key)
    parts = [str(data[cut_key])]
    parts += [key if data[key] is None else f"{key}: {data[key]}" for key in tail]
    whole = ", ".join(parts)
    path = f"{where}.{cut_key}" if where else str(cut_key)
    ctx.error(
        "E056",
        f"The value of '{path}' was cut at a comma: in a flow mapping {{...}} a comma ends a"
        f" value, so YAML read {shown(data[cut_key])} and then a key {shown(first)}.",
        data.key_mark_of(first),
        hint=f"Quote the value: {cut_key}: {shown(whole)}.",
    )
    return tail


def check_keys(ctx, data: MarkedDict, where: str, allowed, required=()) -> None:
    keys = list(data)
    tails: set[Any] = set()
    for key in keys:
        cut_key = cut_by_comma(data, key) if key not in allowed and key not in tails else None
        if cut_key is not None:
            tails.update(_comma_cut(ctx, data, where, cut_key, key, allowed))
            continue
        if key in tails:
            continue
        if key not in allowed:
            ctx.error(
                "E003",
                f"{shown(key)} is not a valid key of {_where(where)}."
                + did_you_mean(str(key), allowed),
                data.key_mark_of(key),
                hint=_comma_hint(data, key) or "Valid keys: " + ", ".join(allowed) + ".",
            )
    for key in required:
        if key not in data:
            ctx.error(
                "E004",
                f"{_where(where).capitalize()} is missing the required key {key!r}.",
                data.mark,
            )


def string(ctx, data: MarkedDict, key: str, where: str) -> str | None:
    if key not in data:
        return None
    value = data[key]
    if not isinstance(value, str):
        ctx.error(
            "E002",
            f"The value of '{where}' must be a string, not {shown(value)}.",
            data.mark_of(key),
            hint=f"YAML reads {str(value).lower()} as a boolean: quote it,"
            f" {key}: '{str(value).lower()}'."
            if isinstance(value, bool)
            else None,
        )
        return None
    return value


def integer(ctx, data: MarkedDict, key: str, where: str, low: int, high: int) -> int | None:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        ctx.error(
            "E002",
            f"The value of '{where}' must be an integer, not {shown(value)}.",
            data.mark_of(key),
        )
        return None
    if not low <= value <= high:
        ctx.error(
            "E026",
            f"The value of '{where}' must be between {low} and {high}, not {shown(value)}.",
            data.mark_of(key),
        )
        return None
    return value


def boolean(ctx, data: MarkedDict, key: str, where: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        ctx.error(
            "E002",
            f"The value of '{where}' must be true or false, not {shown(value)}.",
            data.mark_of(key),
        )
        return default
    return value


def string_list(ctx, data: MarkedDict, key: str, where: str) -> list[tuple[str, Mark]]:
    """A string or a list of strings, with their marks."""
    value = data.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [(value, data.mark_of(key))]
    if isinstance(value, MarkedList) and all(isinstance(item, str) for item in value):
        return [(item, value.mark_of(index)) for index, item in enumerate(value)]
    ctx.error(
        "E002", f"The value of '{where}' must be a string or a list of strings.", data.mark_of(key)
    )
    return []


def model_choices() -> list[str]:
    return sorted(model._meta.label for model in apps.get_models())


def model(ctx, data: MarkedDict, key: str, where: str) -> type[models.Model] | None:
    label = string(ctx, data, key, where)
    if label is None:
        return None
    return model_from_label(ctx, label, where, data.mark_of(key))


def model_from_label(ctx, label: str, where: str, mark: Mark) -> type[models.Model] | None:
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        ctx.error(
            "E008",
            f"The value of '{where}' refers to {shown(label)}, which is not an installed model."
            + did_you_mean(label, model_choices()),
            mark,
            hint="Give the model as 'app_label.ModelName'.",
        )
        return None


def field_name_set(model: type[models.Model]) -> set[str]:
    return {field.name for field in model._meta.get_fields()} | {"pk"}


def expression_mark(container, key, offset: int) -> Mark:
    if isinstance(container.quoted, dict):
        quoted = container.quoted.get(key, False)
    else:
        quoted = container.quoted[key]
    return container.mark_of(key).shifted(offset + (1 if quoted else 0))


# Joins -------------------------------------------------------------------


def join_items(
    ctx, data: MarkedDict
) -> Iterator[tuple[str, str, str | None, MarkedDict | None, Mark]]:
    """(alias, path, condition, the join's mapping if it is one, mark) of each valid join."""
    joins = data.get("joins")
    if joins is None:
        return
    if not isinstance(joins, MarkedDict):
        ctx.error(
            "E002", "The value of 'joins' must be a mapping of alias: path.", data.mark_of("joins")
        )
        return
    for alias, value in joins.items():
        mark = joins.mark_of(alias)
        if isinstance(value, str):
            yield str(alias), value, None, None, mark
        elif isinstance(value, MarkedDict):
            where = f"joins.{cut(str(alias))}"
            check_keys(ctx, value, where, JOIN_KEYS, required=("path",))
            path = string(ctx, value, "path", f"{where}.path")
            condition = string(ctx, value, "condition", f"{where}.condition")
            if path is not None:
                yield str(alias), path, condition, value, mark
        else:
            ctx.error(
                "E002",
                f"The value of 'joins.{cut(str(alias))}' must be a relation path or a mapping with"
                " 'path' and 'condition'.",
                mark,
            )


def join_condition(ctx, alias, text, lookup, target, container, reach) -> Q | None:
    """The condition of a filtered join, over the joined model's fields.

    reach(models) records the models the condition reads."""

    def resolve(path: str) -> ResolvedPath:
        resolved = resolve_path(target, path)
        reach(resolved.models)
        return ResolvedPath(
            f"{lookup}__{resolved.lookup}", resolved.field, resolved.model, resolved.models
        )

    where = f"joins.{cut(alias)}.condition"
    try:
        parsed = parse_expression(text, resolve, allow_aggregates=False)
    except ExpressionError as exc:
        mark = expression_mark(container, "condition", exc.offset)
        hint = exc.hint or comment_hint(container, "condition")
        ctx.error(exc.id, f"The value of '{where}' {exc.message}", mark, hint)
        return None
    if not parsed.condition:
        ctx.error(
            "E012",
            f"The value of '{where}' must be a condition (a comparison, and, or, not).",
            container.mark_of("condition"),
        )
        return None
    return parsed.expression


# Columns -----------------------------------------------------------------


def column_format(ctx, item: MarkedDict, where: str) -> ColumnFormat | None:
    if "format" not in item:
        return ColumnFormat()
    data = item["format"]
    where = f"{where}.format"
    if not isinstance(data, MarkedDict):
        ctx.error("E002", f"The value of '{where}' must be a mapping.", item.mark_of("format"))
        return None
    before = len(ctx.problems)
    check_keys(ctx, data, where, FORMAT_KEYS)
    values: dict[str, Any] = {}
    if "decimals" in data:
        values["decimals"] = integer(ctx, data, "decimals", f"{where}.decimals", 0, MAX_DECIMALS)
    for key in FORMAT_KEYS[1:]:
        if key in data:
            values[key] = string(ctx, data, key, f"{where}.{key}")
    for key in ("date", "datetime"):
        if values.get(key) is not None and "%" not in values[key]:  # '' too
            ctx.error(
                "E022",
                f"The value of '{where}.{key}' is {shown(values[key])}, which has no % directive.",
                data.mark_of(key),
                hint="Use strftime directives, e.g. '%d.%m.%Y'.",
            )
    if len(ctx.problems) > before:
        return None
    return ColumnFormat(**{key: value for key, value in values.items() if value is not None})


def order_by(ctx, data: MarkedDict, names: list[str]) -> tuple[str, ...]:
    result = []
    hint = cut("Columns: " + ", ".join(names) + ".", HINT_CHARS)
    for item, mark in string_list(ctx, data, "order_by", "order_by"):
        name = item.removeprefix("-")
        if name not in names:
            ctx.error(
                "E020",
                f"The value of 'order_by' refers to {shown(name)}, which is not a column."
                + did_you_mean(name, names),
                mark,
                hint=hint,
            )
            continue
        result.append(item)
    return tuple(result)


def permissions(ctx, data: MarkedDict) -> list[str]:
    result = []
    for item, mark in string_list(ctx, data, "permissions", "permissions"):
        if not PERMISSION_RE.match(item):
            ctx.error(
                "E023",
                f"The value of 'permissions' contains {shown(item)}, which is not a"
                " permission name.",
                mark,
                hint="Write permissions as 'app_label.codename', e.g. 'shop.view_order'.",
            )
            continue
        result.append(item)
    return result


# Filters -----------------------------------------------------------------


def filter_items(ctx, data: MarkedDict, key: str) -> Iterator[tuple[str, Any, Mark]]:
    filters = data.get(key)
    if filters is None:
        return
    if not isinstance(filters, MarkedDict):
        ctx.error(
            "E002",
            f"The value of '{key}' must be a mapping of field lookups to values.",
            data.mark_of(key),
        )
        return
    for lookup, value in filters.items():
        yield str(lookup), value, filters.key_mark_of(lookup)


def filter_condition(ctx, base, resolve, reach, key, lookup, value, mark) -> Q | None:
    """`order.status__in: [paid]`: a path with dots, then Django lookups after '__'.

    `base` is the model's queryset with the joins' aliases (None when it cannot have
    this filter's): the filter is compiled on it (no database round trip), so a value
    its field cannot take is a problem here.
    `resolve(path)` resolves a path and records the models it reaches; reach(models)
    records the relations walked in the lookups (`order__customer__email`): they are
    read too.
    """
    path, *lookups = lookup.split("__")
    where = f"{key}.{cut(lookup)}"
    try:
        resolved = resolve(path)
        target = resolved.target_model
        if target is not None:
            reach(models_along(target, lookups))
    except PathError as exc:
        ctx.error(exc.id, f"The key '{where}' {exc.message}", mark, exc.hint)
        return None
    if isinstance(value, MarkedList):
        value = list(value)
    if problem := _shape_problem(lookups[-1:], value):
        ctx.error("E045", f"The value of '{where}' is {shown(value)}, {problem}", mark)
        return None
    orm_lookup = "__".join([resolved.lookup, *lookups])
    condition = Q(**{orm_lookup: value})
    if base is None:  # through a join Django refuses: the registry's compile check says so
        return condition
    if _naive(base, orm_lookup, value):
        written = [str(v) for v in value] if isinstance(value, list) else str(value)
        message = f"The value of '{where}' is {shown(written)}, which has no time zone:"
        reason = "a datetime field holds instants, and Django would assume TIME_ZONE's."
        ctx.error("E045", f"{message} {reason}", mark, NAIVE_HINT)
        return None
    # Before Django compiles it: a year 0 or -1 overflows its bounds (on SQLite).
    unreachable = no_row_has(base, orm_lookup, value)
    if unreachable is not None:
        reason, hint = unreachable
        ctx.error("E045", f"The value of '{where}' is {shown(value)}, {reason}", mark, hint)
        return None
    match _filter_error(base, condition):
        case ("E015", reason):
            ctx.error("E015", f"The key '{where}' is not a valid filter: {reason}", mark)
        case (id, reason, hint):
            message = f"The value of '{where}' is {shown(value)}, which the field does not take:"
            ctx.error(id, f"{message} {reason}", mark, hint)
        case None:
            return condition
    return None


NAIVE_HINT = (
    "Compare the day with __date (e.g. placed_at__date__gte: 2026-01-01), or give the"
    ' instant\'s offset ("2026-01-01 00:00+01:00").'
)


def _naive(base, lookup: str, value: Any) -> bool:
    """Whether a date or a datetime without an offset is compared with a datetime field:
    Django would guess the server's time zone (with a warning at every run)."""
    values = value if isinstance(value, list) else [value]
    if not settings.USE_TZ or not any(_naive_value(item) for item in values):
        return False
    aware = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # to find the field compared, quietly
    probe = Q(**{lookup: [aware] * len(values) if isinstance(value, list) else aware})
    try:
        compared = base.filter(probe).query.where.children[0]
    except (FieldError, ValidationError, EmptyResultSet, ValueError, TypeError):
        return False  # _filter_error says what is wrong
    return isinstance(getattr(compared.lhs, "output_field", None), models.DateTimeField)


def _naive_value(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value = parse_datetime(value) or parse_date(value)
        except ValueError:  # "2026-02-30": _filter_error says so
            return False
    if isinstance(value, dt.datetime):
        return timezone.is_naive(value)
    return isinstance(value, dt.date)


WHERE_HINT = (
    "A filter compares with a literal value. To compare with another field or the run's"
    " range, use 'where:' with an expression, e.g. where: \"returned_at > borrowed_at\"."
)
NO_ROW_HINT = "Give a value some row can have, or leave the filter out."
# Django's words for a value that is not a number: "Field 'quantity' expected a number
# but got 'abc'." ('None' for a transform's value, such as __year).
EXPECTED = re.compile(r"^Field '[^']*' expected (.+?) but got .*$", re.S)


def _shape_problem(last: list[str], value: Any) -> str | None:
    """What is wrong with a value for __in or __range before Django sees it: a string
    would be taken letter by letter."""
    if last not in (["in"], ["range"]):
        return None
    example = "[first, last]" if last == ["range"] else "[a, b]"
    if not isinstance(value, list):
        return f"which is not a list: __{last[0]} takes a list, e.g. {example}."
    if last == ["range"] and len(value) != 2:
        return f"a list of {len(value)}: __range takes two, e.g. {example}."
    return None


def _filter_error(base, condition: Q) -> tuple[str, ...] | None:
    """("E015", reason) for a lookup Django does not know; ("E045", reason, hint) for a
    value the field cannot take; None when the filter compiles."""
    try:
        base.filter(condition).query.get_compiler(using=DEFAULT_DB_ALIAS).as_sql()
    except FieldError as exc:
        return "E015", cut(str(exc), ERROR_CHARS)
    except EmptyResultSet:  # Django knows no row can match: [] for __in, 10**30 for an int
        return (
            "E045",
            "no row can match it (an empty list, or beyond the field's range).",
            (NO_ROW_HINT),
        )
    except ValidationError as exc:  # "abc" for a decimal, "end - 21" for a datetime
        return "E045", _reason(_validation_reason(exc)), WHERE_HINT
    except (ValueError, TypeError, ArithmeticError, IndexError) as exc:
        return "E045", _reason(str(exc)), WHERE_HINT
    return None


def _validation_reason(exc: ValidationError) -> str:
    """Django's words, quoting the value shortly: the message quotes it already."""
    texts = []
    for error in exc.error_list:
        params = dict(error.params or {})
        if "value" in params:
            params["value"] = cut(str(params["value"]), 40)
        texts.append(str(error.message % params if params else error.message))
    return " ".join(texts)


def _reason(text: str) -> str:
    return cut(EXPECTED.sub(r"\1 is needed.", text), ERROR_CHARS)


# Action and date range ---------------------------------------------------


def actions(ctx, data: MarkedDict, model, resolve: Callable) -> tuple[ActionSpec, ...]:
    labels = string_list(ctx, data, "action_on", "action_on")
    selection = data.get("selection")
    if selection is not None and not isinstance(selection, str | MarkedDict):
        ctx.error(
            "E002",
            "The value of 'selection' must be a relation path, or a mapping of model"
            " label to path.",
            data.mark_of("selection"),
        )
        return ()
    result = []
    for label, mark in labels:
        target = model_from_label(ctx, label, "action_on", mark)
        if target is None:
            continue
        path = selection.get(label) if isinstance(selection, MarkedDict) else selection
        action = _action(ctx, data, model, target, path, resolve)
        if action is not None:
            result.append(action)
    return tuple(result)


def _action(ctx, data, model, target, path, resolve) -> ActionSpec | None:
    label = target._meta.label
    if path is None:
        if target is model:
            return ActionSpec(target, "pk")
        ctx.error(
            "E004",
            f"The definition needs 'selection': the path from '{model._meta.label}' to"
            f" '{label}', the model of 'action_on'.",
            data.mark_of("action_on"),
        )
        return None
    try:
        resolved = resolve(path)
    except PathError as exc:
        ctx.error(
            exc.id, f"The value of 'selection' {exc.message}", data.mark_of("selection"), exc.hint
        )
        return None
    if resolved.target_model is not target:
        ctx.error(
            "E019",
            f"The value of 'selection' is {shown(path)}, which leads to"
            f" '{_label(resolved.target_model)}', not to '{label}'.",
            data.mark_of("selection"),
        )
        return None
    return ActionSpec(target, resolved.lookup)


def _label(model) -> str:
    return model._meta.label if model is not None else "a plain field"


def date_range(ctx, data: MarkedDict, resolve: Callable) -> DateRangeSpec | None:
    value = data.get("date_range")
    if value is None:
        return None
    if isinstance(value, str):
        return _date_range(ctx, value, data.mark_of("date_range"), resolve, None)
    if not isinstance(value, MarkedDict):
        ctx.error(
            "E002",
            "The value of 'date_range' must be a field path or a mapping.",
            data.mark_of("date_range"),
        )
        return None
    check_keys(ctx, value, "date_range", DATE_RANGE_KEYS, required=("field",))
    path = string(ctx, value, "field", "date_range.field")
    if path is None:
        return None
    return _date_range(ctx, path, value.mark_of("field"), resolve, value)


def _date_range(ctx, path, mark, resolve, config: MarkedDict | None) -> DateRangeSpec | None:
    try:
        resolved = resolve(path)
    except PathError as exc:
        ctx.error(exc.id, f"The value of 'date_range.field' {exc.message}", mark, exc.hint)
        return None
    if not isinstance(resolved.field, models.DateField):  # DateTimeField is a DateField
        ctx.error(
            "E017",
            f"The value of 'date_range.field' refers to {shown(path)}, which is not a date or"
            " datetime field.",
            mark,
        )
        return None
    spec = DateRangeSpec(
        field=path,
        lookup=resolved.lookup,
        is_datetime=isinstance(resolved.field, models.DateTimeField),
    )
    if config is None:
        return spec
    # A quick range name; the registry checks that it exists (admin_reports.E018).
    default = string(ctx, config, "default", "date_range.default")
    max_days = None
    if "max_days" in config:
        max_days = integer(ctx, config, "max_days", "date_range.max_days", 1, 100_000)
    return replace(
        spec,
        required=boolean(ctx, config, "required", "date_range.required", True),
        default=default,
        default_mark=config.mark_of("default") if default is not None else None,
        max_days=max_days,
        # Names the registry checks against the project's quick ranges (E073, E074).
        quick_ranges=tuple(string_list(ctx, config, "quick_ranges", "date_range.quick_ranges")),
    )
