"""
Run-time parameters of a report (its definition's `parameters`): the values given
for them, checked, and the condition they put on the rows.

    arguments = parse_arguments(spec, request.GET)  # {"status": ["paid"], "region": 3}
    argument_condition(spec, arguments)             # Q(order__status__in=["paid"]) & Q(...)
    stored_arguments(spec, arguments)               # {"status": ["paid"], "region": "3"}

A parameter is given under its own name, several values of a `multiple` one as
repeated keys (a QueryDict's getlist) or a comma list: `status=paid&status=shipped`,
`status=paid,shipped`. Each value is checked by its field (to_python, the choices,
the key of an object that exists); the values go into the queryset as ORM lookup
arguments, bound by the database driver like any other, never into SQL text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connections, models
from django.db.models import Q
from django.utils.translation import gettext as _

from .compiler import report_database
from .conf import app_settings
from .definitions.parameters import ParameterValueError, convert_value
from .definitions.problems import cut, shown
from .definitions.spec import ParameterKind, ParameterSpec, ReportSpec
from .exceptions import InvalidParameters

# A relation with more objects than this is given by key on the report form.
MAX_LISTED_OBJECTS = 500


def invalid(message: str, code: str, parameter: ParameterSpec) -> InvalidParameters:
    error = InvalidParameters(message, code=code)
    error.field = parameter.name
    return error


def parse_arguments(spec: ReportSpec, data: Mapping[str, Any]) -> dict[str, Any]:
    """The value(s) of each parameter given in `data`, checked; InvalidParameters (with
    the parameter's name as `field`) for the first one refused."""
    arguments: dict[str, Any] = {}
    for parameter in spec.parameters:
        texts = given_texts(parameter, data)
        if not texts:
            if parameter.required:
                raise invalid(_("This report needs a value here."), "required", parameter)
            continue
        values = list(dict.fromkeys(checked_value(spec, parameter, text) for text in texts))
        if parameter.kind is ParameterKind.RELATION:
            check_objects_exist(spec, parameter, values)
        arguments[parameter.name] = values if parameter.multiple else values[0]
    return arguments


def given_texts(parameter: ParameterSpec, data: Mapping[str, Any]) -> list[str]:
    """The texts given for `parameter`: all of a multiple one's, else the last."""
    if hasattr(data, "getlist"):
        items = data.getlist(parameter.name)
    else:
        value = data.get(parameter.name)
        items = list(value) if isinstance(value, list | tuple) else [value]
    texts: list[str] = []
    for item in items:
        text = "" if item is None else str(item).strip()
        if "\x00" in text:  # as the form's fields refuse it: no database stores it alike
            raise invalid(_("Null characters are not allowed."), "null_character", parameter)
        if parameter.multiple and not _is_choice(parameter, text):
            texts += [part.strip() for part in text.split(",") if part.strip()]
        elif text:
            texts.append(text)
    if not parameter.multiple:
        return texts[-1:]  # given twice: the last counts, as with QueryDict.get
    most = app_settings.MAX_SELECTED
    if most is not None and len(texts) > most:
        raise invalid(
            _("At most %(most)s values can be given.") % {"most": f"{most:,}"},
            "too_many",
            parameter,
        )
    return texts


def _is_choice(parameter: ParameterSpec, text: str) -> bool:
    """Whether `text` is a choice itself (one with a comma is not split)."""
    if parameter.kind is not ParameterKind.CHOICE or "," not in text:
        return False
    return any(str(key) == text for key, _label in parameter.field.flatchoices)


def checked_value(spec: ReportSpec, parameter: ParameterSpec, text: str) -> Any:
    try:
        value = convert_value(parameter.kind, parameter.field, text)
    except ParameterValueError as exc:
        raise invalid(str(exc), "parameter", parameter) from None
    field = parameter.field
    if parameter.kind is ParameterKind.RELATION and isinstance(field, models.IntegerField):
        # A key beyond the column's range would fail the query, not match nothing.
        connection = connections[report_database(spec.model)]
        low, high = connection.ops.integer_field_range(field.get_internal_type())
        if (low is not None and value < low) or (high is not None and value > high):
            raise invalid(_not_a_key(parameter, text), "parameter", parameter)
    return value


def check_objects_exist(spec: ReportSpec, parameter: ParameterSpec, keys: list[Any]) -> None:
    """InvalidParameters unless an object of the relation's model has each key."""
    assert parameter.model is not None
    name = parameter.field.name
    objects = parameter.model._default_manager.db_manager(report_database(spec.model))
    found = set(objects.filter(**{f"{name}__in": keys}).values_list(name, flat=True))
    missing = [key for key in keys if key not in found]
    if missing:
        noun = parameter.model._meta.verbose_name
        raise invalid(
            _("No %(noun)s has the key %(key)s (it may have been deleted).")
            % {"noun": noun, "key": shown(str(missing[0]))},
            "missing",
            parameter,
        )


def _not_a_key(parameter: ParameterSpec, text: str) -> str:
    assert parameter.model is not None
    return _("%(value)s is not a valid key of a %(noun)s.") % {
        "value": shown(text),
        "noun": parameter.model._meta.verbose_name,
    }


def argument_condition(spec: ReportSpec, arguments: Mapping[str, Any]) -> Q:
    """The condition the arguments put on the report's rows (all of them hold)."""
    condition = Q()
    for parameter in spec.parameters:
        if parameter.name in arguments:
            condition &= Q(**{parameter.condition_key: arguments[parameter.name]})
    return condition


def stored_arguments(spec: ReportSpec, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments as JSON (text, or lists of text), as parse_arguments takes them back."""
    stored: dict[str, Any] = {}
    for parameter in spec.parameters:
        if parameter.name in arguments:
            value = arguments[parameter.name]
            stored[parameter.name] = (
                [str(one) for one in value] if parameter.multiple else str(value)
            )
    return stored


# How a number's or a text's lookup reads before its value ("Quantity: ≥ 4").
LOOKUP_WORDS = {
    "gt": "> ",
    "gte": "≥ ",
    "lt": "< ",
    "lte": "≤ ",
    "contains": "contains ",
    "icontains": "contains ",
    "startswith": "starts with ",
    "istartswith": "starts with ",
    "endswith": "ends with ",
    "iendswith": "ends with ",
}


def arguments_in_words(spec: ReportSpec, arguments: Mapping[str, Any]) -> str:
    """The arguments for people: "Order status: Paid, Shipped; Region: North"."""
    parts = []
    for parameter in spec.parameters:
        if parameter.name not in arguments:
            continue
        value = arguments[parameter.name]
        values = value if parameter.multiple else [value]
        if parameter.kind in (ParameterKind.NUMBER, ParameterKind.TEXT):
            shown_value = LOOKUP_WORDS.get(parameter.operator, "") + (
                shown(value) if parameter.kind is ParameterKind.TEXT else str(value)
            )
        else:
            labels = _labels(spec, parameter, values)
            shown_value = ", ".join(cut(labels.get(str(one), str(one)), 80) for one in values)
        parts.append(f"{parameter.label}: {shown_value}")
    return "; ".join(parts)


def _labels(spec: ReportSpec, parameter: ParameterSpec, values: list[Any]) -> dict[str, str]:
    if parameter.kind is ParameterKind.CHOICE:
        return {str(key): str(label) for key, label in parameter.field.flatchoices}
    assert parameter.model is not None
    objects = parameter.model._default_manager.db_manager(report_database(spec.model))
    name = parameter.field.attname
    return {
        str(getattr(obj, name)): str(obj)
        for obj in objects.filter(**{f"{parameter.field.name}__in": values})
    }


def parameter_choices(spec: ReportSpec, parameter: ParameterSpec) -> list[tuple[str, str]] | None:
    """(value, label) of each choice of a choice or relation parameter, as the report
    form lists them; None when the relation has too many objects to list."""
    if parameter.kind is ParameterKind.CHOICE:
        return [(str(key), str(label)) for key, label in parameter.field.flatchoices]
    if parameter.kind is not ParameterKind.RELATION or parameter.model is None:
        return []
    model = parameter.model
    objects = model._default_manager.db_manager(report_database(spec.model)).all()
    if not objects.ordered:
        objects = objects.order_by("pk")
    listed = list(objects[: MAX_LISTED_OBJECTS + 1])
    if len(listed) > MAX_LISTED_OBJECTS:
        return None
    attname = parameter.field.attname
    return [(str(getattr(obj, attname)), cut(str(obj), 200)) for obj in listed]


def unknown_names(spec: ReportSpec, names: list[str]) -> list[str]:
    """The names that are no parameter of the report (for a face that names them)."""
    known = {parameter.name for parameter in spec.parameters}
    return [name for name in names if name not in known]
