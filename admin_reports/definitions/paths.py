"""
Relation paths written with dots (`order.customer.region.name`), resolved with
the models' `_meta`, as the admin's `get_fields_from_path` does.

    resolved = resolve_path(OrderLine, "order.customer.name", aliases={})
    resolved.lookup   # "order__customer__name"
    resolved.field    # <CharField: name>
    resolved.models   # (OrderLine, Order, Customer)
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Model
from django.db.models.constants import LOOKUP_SEP

from ..conf import app_settings
from .problems import HINT_CHARS, DefinitionError, cut, shown


class PathError(DefinitionError):
    """A path that does not resolve."""


@dataclass(frozen=True)
class Alias:
    """A join alias: a name standing for a relation path from the report's model."""

    lookup: str
    model: type[models.Model]
    models: tuple[type[models.Model], ...]


@dataclass(frozen=True)
class ResolvedPath:
    lookup: str
    # A Field or ForeignObjectRel; None for "pk" of an alias' model.
    field: Any
    model: type[Model]  # the model the last segment belongs to
    models: tuple[type[Model], ...]  # every model the path reaches

    @property
    def target_model(self) -> type[Model] | None:
        """The model a relation path (or a path to a primary key) leads to, else None."""
        if self.field is None:
            return self.model
        if self.field.is_relation:
            return self.field.related_model
        return self.model if getattr(self.field, "primary_key", False) else None


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {shown(close[0])}?" if close else ""


def field_names(model: type[models.Model]) -> list[str]:
    return sorted({*(field.name for field in model._meta.get_fields()), "pk"})


def split_path(path: str) -> list[str]:
    return path.replace(LOOKUP_SEP, ".").split(".")


def resolve_path(
    model: type[models.Model], path: str, aliases: Mapping[str, Alias] | None = None
) -> ResolvedPath:
    """Walk `path` from `model` (or from the alias it starts with)."""
    parts = split_path(path)
    if not path or any(not part.isidentifier() for part in parts):
        raise PathError("E009", f"is {shown(path)}, which is not a field path.")
    aliases = aliases or {}
    lookup: list[str] = []
    reached: list[type[models.Model]] = [model]
    current: type[models.Model] | None = model
    field: Any = None
    if parts[0] in aliases:
        alias = aliases[parts.pop(0)]
        lookup.append(alias.lookup)
        reached.extend(alias.models)
        current = alias.model
    for part in parts:
        if current is None:
            raise PathError(
                "E010",
                f"refers to {shown(path)}, but '{lookup[-1]}' is not a relation,"
                f" so it has no field {shown(part)}.",
            )
        owner = current
        if part == "pk":
            field = current._meta.pk
        else:
            try:
                field = current._meta.get_field(part)
            except FieldDoesNotExist:
                raise PathError(
                    "E009",
                    f"refers to {shown(part)}, which is not a field of '{current._meta.label}'."
                    + did_you_mean(part, field_names(current)),
                    hint=_alias_hint(aliases) if not lookup else None,
                ) from None
        check_readable(owner, field)
        lookup.append(part)
        current = field.related_model if field.is_relation else None
        if current is not None:
            reached.append(current)
    if field is None:  # the path is an alias alone: its relation's key
        return ResolvedPath(LOOKUP_SEP.join(lookup), None, alias.model, tuple(reached))
    return ResolvedPath(LOOKUP_SEP.join(lookup), field, owner, tuple(dict.fromkeys(reached)))


def forbidden_fields() -> set[str]:
    """Lowercase "app_label.model.field" names no report may read."""
    names = {f"{settings.AUTH_USER_MODEL}.password", *app_settings.FORBIDDEN_FIELDS}
    return {name.lower() for name in names}


def check_readable(model: type[models.Model], field: Any) -> None:
    """PathError E029 when `field` of `model` is one no report may read."""
    name = getattr(field, "name", None)
    if name and f"{model._meta.label_lower}.{name.lower()}" in forbidden_fields():
        raise PathError(
            "E029",
            f"refers to '{name}' of '{model._meta.label}', which no report may read.",
            hint="ADMIN_REPORTS_FORBIDDEN_FIELDS and the user model's password are never read.",
        )


def models_along(model: type[models.Model], lookups: list[str]) -> list[type[models.Model]]:
    """The models that Django lookups such as ["customer", "email", "endswith"] walk
    through from `model`; the first part that is not a field ends the walk (a transform
    or a lookup). PathError E029 when a forbidden field is on the way."""
    reached = []
    current: Any = model
    for part in lookups:
        if current is None:
            break
        try:
            field = current._meta.pk if part == "pk" else current._meta.get_field(part)
        except FieldDoesNotExist:
            break
        check_readable(current, field)
        current = field.related_model if field.is_relation else None
        if current is not None:
            reached.append(current)
    return reached


def _alias_hint(aliases: Mapping[str, Alias]) -> str | None:
    if not aliases:
        return None
    return cut("Join aliases: " + ", ".join(sorted(aliases)) + ".", HINT_CHARS)
