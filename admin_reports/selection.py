"""
What staff selected on a changelist: some objects, or all that match its filters.

    selection = Selection.from_action(modeladmin, request, queryset)
    selection.description          # "12 products" / "all 1,834 products matching: Category: Toys"
    selection.hidden_fields()      # what the report form posts back to the changelist

"Select all N across pages" is carried as the changelist's query string (its
filters and search), never as N primary keys, so 100,000 products are fine.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from django.contrib.admin import helpers
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import FieldError, SuspiciousOperation, ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .definitions.problems import shown
from .run_request import RunSelection


@dataclass
class Selection:
    queryset: QuerySet
    across: bool  # all objects matching the changelist's filters
    query_string: str  # the changelist's filters and search, without paging
    pks: list[str] = field(default_factory=list)  # the explicit selection
    filters: list[str] = field(default_factory=list)  # "Category: Toys", for people

    @classmethod
    def from_action(cls, modeladmin, request, queryset: QuerySet) -> Selection:
        across = request.POST.get("select_across") == "1"
        params = request.GET.copy()
        for name in ("p", "o", "_changelist_filters"):
            params.pop(name, None)
        pks = [] if across else [str(pk) for pk in queryset.values_list("pk", flat=True)]
        return cls(
            queryset, across, params.urlencode(), pks, describe_filters(modeladmin, request)
        )

    @cached_property
    def count(self) -> int:
        return self.queryset.count()

    @property
    def description(self) -> str:
        opts = self.queryset.model._meta
        count = self.count
        noun = opts.verbose_name if count == 1 else opts.verbose_name_plural
        if not self.across:
            return f"{count:,} {noun}"
        if not self.filters:
            return _("all %(count)s %(noun)s") % {"count": f"{count:,}", "noun": noun}
        return ngettext(
            "all %(count)s %(noun)s matching: %(filters)s",
            "all %(count)s %(noun)s matching: %(filters)s",
            count,
        ) % {"count": f"{count:,}", "noun": noun, "filters": "; ".join(self.filters)}

    def run_selection(self) -> RunSelection:
        """What the run request carries: the queryset, and how the run log records it."""
        saved: list[str] | dict[str, str] = (
            {"filter": self.query_string} if self.across else list(self.pks)
        )
        return RunSelection(
            self.queryset.model, self.queryset, saved, self.description, self.count
        )

    def hidden_fields(self) -> list[tuple[str, str]]:
        """Fields that make the changelist hand the same queryset to the action again."""
        if self.across:
            first = self.queryset.values_list("pk", flat=True).first()
            return [("select_across", "1"), (helpers.ACTION_CHECKBOX_NAME, str(first or ""))]
        return [("select_across", "0")] + [(helpers.ACTION_CHECKBOX_NAME, pk) for pk in self.pks]


def describe_filters(modeladmin, request) -> list[str]:
    """The changelist's active filters and search, as the person set them."""
    try:
        changelist = modeladmin.get_changelist_instance(request)
    except IncorrectLookupParameters:
        return []
    described = []
    for spec in changelist.filter_specs:
        for choice in spec.choices(changelist):
            if choice.get("selected") and str(choice["display"]) != _("All"):
                described.append(f"{capfirst(spec.title)}: {choice['display']}")
    if changelist.query:
        described.append(_("search “%(query)s”") % {"query": changelist.query})
    return described


def changelist_queryset(modeladmin: Any, request: Any, query_string: str) -> QuerySet:
    """The queryset a changelist shows for `query_string`, for the user of `request`.

    ValidationError when the changelist does not take the filter.
    """
    fake = copy.copy(request)
    fake.GET = QueryDict(query_string)
    fake.POST = QueryDict()
    fake.method = "GET"
    try:
        changelist = modeladmin.get_changelist_instance(fake)
        return changelist.get_queryset(fake)
    except (
        IncorrectLookupParameters,
        SuspiciousOperation,
        FieldError,
        ValueError,
        ValidationError,
    ):
        raise ValidationError(
            _("The changelist filter %(filter)s does not apply to %(model)s.")
            % {
                "filter": shown(query_string, 200),
                "model": modeladmin.model._meta.verbose_name_plural,
            },
            code="filter",
        ) from None


def filter_resolver(
    admin_site: Any, request: Any
) -> Callable[[type[models.Model], str], QuerySet]:
    """resolve_filter(model, query_string) for presets: through `model`'s changelist."""

    def resolve(model: type[models.Model], query_string: str) -> QuerySet:
        try:
            modeladmin = admin_site.get_model_admin(model)
        except NotRegistered:
            raise ValidationError(
                _("%(model)s have no changelist in this admin.")
                % {"model": capfirst(model._meta.verbose_name_plural)},
                code="filter",
            ) from None
        return changelist_queryset(modeladmin, request, query_string)

    return resolve


def user_request(user: Any, site_url: str = "") -> HttpRequest:
    """A request of `user` with no HTTP behind it: what a changelist needs to filter the
    way it does for them (a background run's changelist filter)."""
    request = HttpRequest()
    request.user = user
    request.method = "GET"
    host = urlsplit(site_url).netloc if site_url else ""
    request.META = {"SERVER_NAME": host or "localhost", "SERVER_PORT": "443" if host else "80"}
    if host:
        request.META["HTTP_HOST"] = host
    return request


def site_named(name: str) -> Any:
    """The admin site called `name` (a background run's changelist lives there)."""
    from django.contrib.admin.sites import all_sites

    for site in all_sites:
        if site.name == name:
            return site
    raise ValidationError(_("No admin site is named %(name)s.") % {"name": shown(name)})
