"""
Walks over the Django expressions an expression compiles to.

    loose_lookups(Sum(F("fee")) + F("fee"))  # ["fee"]: read outside any aggregate

A report groups its rows by its columns without an aggregate; SQL allows a field
outside an aggregate only when it is one of those (check E065).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Aggregate, F, Q, Window


def children(expression: Any) -> list[Any]:
    """The expressions directly inside `expression` (a Q's conditions, a Func's arguments)."""
    if isinstance(expression, Q):
        return [child for child in expression.children if not isinstance(child, tuple)]
    get = getattr(expression, "get_source_expressions", None)
    if get is None:
        return []
    return [child for child in get() if child is not None]


def loose_lookups(expression: Any, grouped: list[Any]) -> Iterator[str]:
    """The ORM paths `expression` reads outside of any aggregate, window, or expression
    of `grouped` (the grouping columns' values), in order."""
    if any(expression is key or _equal(expression, key) for key in grouped):
        return
    if isinstance(expression, F):
        yield expression.name
        return
    if isinstance(expression, Aggregate | Window):
        return
    for child in children(expression):
        yield from loose_lookups(child, grouped)


def _equal(expression: Any, key: Any) -> bool:
    try:
        return bool(expression == key)
    except (TypeError, ValueError):  # an expression Django cannot compare
        return False


def contains(expression: Any, kind: type | tuple[type, ...]) -> bool:
    """Whether `expression` or something inside it is a `kind`."""
    if isinstance(expression, kind):
        return True
    return any(contains(child, kind) for child in children(expression))


def window_terms(expression: Any) -> Iterator[Any]:
    """The expressions the windows in `expression` partition and order by."""
    if isinstance(expression, Window):
        yield from children(expression.partition_by) if expression.partition_by else ()
        yield from children(expression.order_by) if expression.order_by else ()
        return
    for child in children(expression):
        yield from window_terms(child)
