"""
The `parameters` key: values staff give when they run a report, each bound to one
lookup of one field, checked like every other key.

    parameters:
      - name: status                 # the run request's input: ?status=paid&status=shipped
        label: Order status
        field: order.status          # a field with choices: one of them (several with multiple)
        multiple: true
      - name: min_quantity
        field: quantity              # a number: exact, gt, gte, lt, lte
        lookup: gte

The kind of a parameter follows from its field (ParameterKind): a forward relation
(a choice among the related model's objects, by key), a field with choices, a number
or text. `convert_value` turns one given value into the field's Python value; the
run request (admin_reports.arguments) adds what needs the database.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from .loader import MarkedDict, MarkedList
from .parts import NAME_RE, boolean, check_keys, string
from .paths import PathError, ResolvedPath, did_you_mean
from .problems import Mark, cut, shown
from .spec import ParameterKind, ParameterSpec

Kind = ParameterKind

PARAMETER_KEYS = ("name", "label", "help", "field", "lookup", "multiple", "required", "default")
# Inputs of a run request (admin_reports.run_request) and of the faces around it: a
# parameter is given under its own name, so it cannot take one of these.
RESERVED_NAMES = (
    "range",
    "start",
    "end",
    "select",
    "on",
    "bom",
    "format",
    "columns",
    "run_token",
    "preset",
    "notify",
    "preview",
    "via",
)
MAX_PARAMETERS = 20
MAX_TEXT_CHARS = 1000
# The lookups each kind takes; `multiple` (choices and relations) makes it "in".
LOOKUPS: dict[ParameterKind, tuple[str, ...]] = {
    Kind.CHOICE: ("exact",),
    Kind.RELATION: ("exact",),
    Kind.NUMBER: ("exact", "gt", "gte", "lt", "lte"),
    Kind.TEXT: (
        "exact",
        "iexact",
        "contains",
        "icontains",
        "startswith",
        "istartswith",
        "endswith",
        "iendswith",
    ),
}
# The widest integer a database takes (BigIntegerField): beyond it a query would fail.
INTEGER_RANGE = (-(2**63), 2**63 - 1)
NUMBER_FIELDS = (models.IntegerField, models.DecimalField, models.FloatField)
TEXT_FIELDS = (models.CharField, models.TextField)


class ParameterValueError(ValueError):
    """A value a parameter does not take; the message says why, for people."""


def parameters(
    ctx: Any,
    data: MarkedDict,
    resolve: Callable[[str], ResolvedPath],
    filtered_joins: dict[str, str],
) -> tuple[ParameterSpec, ...]:
    """The definition's parameters. `filtered_joins`: alias -> relation lookup of each
    join with a condition (an alias of a FilteredRelation is no field of the model)."""
    items = data.get("parameters")
    if items is None:
        return ()
    if not isinstance(items, MarkedList):
        ctx.error("E002", "The value of 'parameters' must be a list.", data.mark_of("parameters"))
        return ()
    if len(items) > MAX_PARAMETERS:
        ctx.error(
            "E054",
            f"The definition has {len(items):,} parameters; a report may have at most"
            f" {MAX_PARAMETERS}.",
            data.mark_of("parameters"),
        )
        return ()
    result: list[ParameterSpec] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"parameters[{index}]"
        parameter = _parameter(ctx, item, where, items.mark_of(index), resolve, filtered_joins)
        if parameter is None:
            continue
        if parameter.name in seen:
            ctx.error(
                "E050",
                f"The parameter name {shown(parameter.name)} in '{where}' is already used by"
                f" 'parameters[{seen[parameter.name]}]'.",
                item.mark_of("name"),
            )
            continue
        seen[parameter.name] = index
        result.append(parameter)
    return tuple(result)


def _parameter(ctx, item, where: str, mark: Mark, resolve, filtered) -> ParameterSpec | None:
    if not isinstance(item, MarkedDict):
        ctx.error("E002", f"The value of '{where}' must be a mapping.", mark)
        return None
    before = len(ctx.problems)
    check_keys(ctx, item, where, PARAMETER_KEYS, ("name", "field"))
    name = _name(ctx, item, where)
    path = string(ctx, item, "field", f"{where}.field")
    label = string(ctx, item, "label", f"{where}.label")
    help_text = string(ctx, item, "help", f"{where}.help") or ""
    lookup = string(ctx, item, "lookup", f"{where}.lookup")
    multiple = boolean(ctx, item, "multiple", f"{where}.multiple", False)
    required = boolean(ctx, item, "required", f"{where}.required", False)
    target = _target(ctx, item, where, path, resolve, filtered) if path is not None else None
    if target is None:
        return None
    kind, resolved, field, model = target
    operator = _operator(ctx, item, where, kind, lookup, multiple)
    default = _default(ctx, item, where, kind, field, multiple)
    if name is None or operator is None or default is None or len(ctx.problems) > before:
        return None
    return ParameterSpec(
        name=name,
        label=label
        or capfirst(getattr(resolved.field, "verbose_name", "") or "")
        or name.replace("_", " ").capitalize(),
        help=help_text,
        path=path or "",
        lookup=resolved.lookup,
        operator=operator,
        kind=kind,
        field=field,
        model=model,
        multiple=multiple,
        required=required,
        default=default,
        mark=mark,
    )


def _name(ctx, item: MarkedDict, where: str) -> str | None:
    name = string(ctx, item, "name", f"{where}.name")
    if name is None:
        return None
    if not NAME_RE.match(name):
        ctx.error(
            "E007",
            f"The value of '{where}.name' is {shown(name)}, which is not a valid parameter name.",
            item.mark_of("name"),
            hint="Use lowercase letters, digits and underscores, starting with a letter.",
        )
        return None
    if name in RESERVED_NAMES:
        ctx.error(
            "E050",
            f"The value of '{where}.name' is {shown(name)}, which a run request already uses"
            " for its own input.",
            item.mark_of("name"),
            hint="Taken: " + ", ".join(RESERVED_NAMES) + ".",
        )
        return None
    return name


def _target(ctx, item, where, path, resolve, filtered):
    """(kind, resolved path, field checking the values, relation's model) or None."""
    mark = item.mark_of("field")
    at = f"The value of '{where}.field'"
    try:
        resolved = resolve(path)
        if resolved.field is None and resolved.lookup not in filtered:
            # A join's alias alone: the relation it stands for.
            resolved = resolve(resolved.lookup.replace("__", "."))
    except PathError as exc:
        ctx.error(exc.id, f"{at} {exc.message}", mark, exc.hint)
        return None
    many = to_many(resolved, filtered)
    if many is not None:
        ctx.error(
            "E051",
            f"{at} refers to {shown(path)}, which goes through {shown(many)}, a relation to"
            " many: a condition on it would repeat or drop the report's rows.",
            mark,
            hint="Bind a parameter to a field reached through relations to one (foreign"
            " keys), such as 'order.customer.region'.",
        )
        return None
    field = resolved.field
    kind = None if field is None else parameter_kind(field)
    if kind is None:
        what = "the alias of a filtered join" if field is None else f"a {type(field).__name__}"
        ctx.error(
            "E051",
            f"{at} refers to {shown(path)}, {what}, which no parameter takes.",
            mark,
            hint="A parameter takes a foreign key (a choice among its objects), a field with"
            " choices, a number or text.",
        )
        return None
    if kind is Kind.RELATION:
        return kind, resolved, field.target_field, field.related_model
    return kind, resolved, field, None


def parameter_kind(field: Any) -> ParameterKind | None:
    if field.is_relation:
        forward = field.concrete and (field.many_to_one or field.one_to_one)
        return Kind.RELATION if forward else None
    if field.choices:
        return Kind.CHOICE
    if isinstance(field, NUMBER_FIELDS):
        return Kind.NUMBER
    if isinstance(field, TEXT_FIELDS):
        return Kind.TEXT
    return None


def to_many(resolved: ResolvedPath, filtered: dict[str, str]) -> str | None:
    """The first relation to many (reverse foreign key, many-to-many) on the path."""
    parts = resolved.lookup.split("__")
    if parts[0] in filtered:
        parts = [*filtered[parts[0]].split("__"), *parts[1:]]
    current: Any = resolved.models[0]
    for part in parts:
        if current is None:
            break
        field = current._meta.pk if part == "pk" else current._meta.get_field(part)
        if field.is_relation and (field.one_to_many or field.many_to_many):
            return part
        current = field.related_model if field.is_relation else None
    return None


def _operator(ctx, item, where, kind: ParameterKind, lookup, multiple: bool) -> str | None:
    allowed = LOOKUPS[kind]
    if multiple and kind not in (Kind.CHOICE, Kind.RELATION):
        ctx.error(
            "E052",
            f"The value of '{where}.multiple' is true, but a {kind.value} parameter takes"
            " one value.",
            item.mark_of("multiple"),
            hint="Several values are for fields with choices and relations.",
        )
        return None
    if lookup is None:
        return "in" if multiple else "exact"
    if lookup not in allowed:
        ctx.error(
            "E052",
            f"The value of '{where}.lookup' is {shown(lookup)}, which a {kind.value} parameter"
            f" does not take; choose one of: {', '.join(allowed)}."
            + did_you_mean(lookup, allowed),
            item.mark_of("lookup"),
            hint="For several values, write 'multiple: true'."
            if lookup == "in" and kind in (Kind.CHOICE, Kind.RELATION)
            else None,
        )
        return None
    return "in" if multiple else lookup


def _default(ctx, item, where, kind, field, multiple: bool) -> tuple[str, ...] | None:
    if "default" not in item:
        return ()
    value = item["default"]
    mark = item.mark_of("default")
    values = list(value) if isinstance(value, MarkedList) else [value]
    if isinstance(value, MarkedList) and not multiple:
        ctx.error(
            "E053",
            f"The value of '{where}.default' is a list, but the parameter takes one value.",
            mark,
        )
        return None
    texts = []
    for one in values:
        if isinstance(one, bool) or not isinstance(one, str | int | float):
            ctx.error(
                "E002",
                f"The value of '{where}.default' must be a string or a number"
                f"{' (or a list of them)' if multiple else ''}, not {shown(one)}.",
                mark,
            )
            return None
        try:
            texts.append(str(convert_value(kind, field, str(one))))
        except ParameterValueError as exc:
            ctx.error("E053", f"The value of '{where}.default' is not valid: {exc}", mark)
            return None
    return tuple(dict.fromkeys(texts))


def convert_value(kind: ParameterKind, field: Any, text: str) -> Any:
    """One given value as the field's Python value; ParameterValueError if it takes none."""
    if kind is Kind.TEXT:
        if len(text) > MAX_TEXT_CHARS:
            raise ParameterValueError(
                _("The text is %(count)s characters long; at most %(most)s are taken.")
                % {"count": f"{len(text):,}", "most": f"{MAX_TEXT_CHARS:,}"}
            )
        return text
    try:
        value = field.to_python(text)
    except ValidationError:
        value = None
    if kind is Kind.NUMBER:
        return _number(field, text, value)
    if kind is Kind.CHOICE:
        choices = {str(key): key for key, _label in field.flatchoices}
        if value is None or str(value) not in choices:
            raise ParameterValueError(
                _("%(value)s is not one of the choices: %(choices)s.")
                % {"value": shown(text), "choices": cut(", ".join(choices), 200)}
            )
        return field.to_python(choices[str(value)])
    if value is None:  # a relation's key
        noun = field.model._meta.verbose_name
        raise ParameterValueError(
            _("%(value)s is not a valid key of a %(noun)s.") % {"value": shown(text), "noun": noun}
        )
    return value


def _number(field: Any, text: str, value: Any) -> Any:
    whole = isinstance(field, models.IntegerField)
    finite = isinstance(value, int) or (
        isinstance(value, decimal.Decimal | float) and math.isfinite(value)
    )
    if value is None or not finite:
        message = (
            _("%(value)s is not a whole number.") if whole else _("%(value)s is not a number.")
        )
        raise ParameterValueError(message % {"value": shown(text)})
    if whole and not INTEGER_RANGE[0] <= value <= INTEGER_RANGE[1]:
        raise ParameterValueError(_("%(value)s is out of range.") % {"value": shown(text)})
    return value
