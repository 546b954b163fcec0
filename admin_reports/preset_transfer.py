"""
Presets between sites: import and export of the presets' changelist through
django-import-export, used when "import_export" is in INSTALLED_APPS (admin.py).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets
from import_export.admin import ImportExportModelAdmin

from .definitions.problems import shown
from .models import ReportPreset
from .permissions import may_run_reports
from .presets import filter_errors
from .selection import filter_resolver


class UserByUsername(widgets.ForeignKeyWidget):
    def __init__(self) -> None:
        super().__init__(get_user_model(), "username")

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        try:
            return super().clean(value, row, **kwargs)
        except get_user_model().DoesNotExist:
            raise ValueError(_("No user is named %(name)s.") % {"name": shown(value)}) from None


class ReportPresetResource(resources.ModelResource):
    """Presets move between environments by owner username, report and name.

    Built by the admin for the importing user: a non-superuser imports only presets
    of their own (a row without an owner becomes theirs), and changelist filters are
    checked against the changelists of `admin_site`.
    """

    owner = fields.Field(attribute="owner", column_name="owner", widget=UserByUsername())

    def __init__(self, user: Any = None, resolve_filter: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.user = user
        self.resolve_filter = resolve_filter

    def get_queryset(self) -> Any:
        presets = ReportPreset.objects.all()
        if self.user is not None and not self.user.is_superuser:
            presets = presets.filter(owner=self.user.pk)  # others' presets do not exist
        return presets

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        user = self.user
        if user is None or user.is_superuser:
            return
        owner = (row.get("owner") or "").strip()
        if not owner:
            row["owner"] = user.get_username()
        elif owner != user.get_username():
            raise ValueError(
                _("You may import only your own presets; this row's owner is %(owner)s.")
                % {"owner": shown(owner)}
            )

    def validate_instance(self, instance: Any, *args: Any, **kwargs: Any) -> None:
        errors: dict[str, Any] = {}
        try:
            super().validate_instance(instance, *args, **kwargs)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if self.resolve_filter is not None and "selection_filter" not in errors:
            found = filter_errors(instance, self.resolve_filter)
            if found:
                errors["selection_filter"] = found
        if errors:
            raise ValidationError(errors)

    class Meta:
        model = ReportPreset
        import_id_fields = ["owner", "report", "name"]
        fields = [
            "name",
            "report",
            "owner",
            "shared",
            "range_kind",
            "quick_range",
            "start",
            "end",
            "selection_kind",
            "selection_model",
            "selection_pks",
            "selection_filter",
            "options",
            "schedule",
            "schedule_time",
            "schedule_weekday",
            "schedule_day",
        ]
        skip_unchanged = True
        clean_model_instances = True  # a preset is validated wherever it is written


class PresetTransfer(ImportExportModelAdmin):
    """Import and export buttons on the presets' changelist."""

    resource_classes = [ReportPresetResource]

    def has_import_permission(self, request: HttpRequest) -> bool:
        """Staff who run reports import their own presets (the resource sees to it)."""
        return may_run_reports(request.user) or request.user.is_superuser

    def has_export_permission(self, request: HttpRequest) -> bool:
        return may_run_reports(request.user) or request.user.is_superuser

    def get_import_resource_kwargs(self, request: HttpRequest, **kwargs: Any) -> Any:
        return {
            **super().get_import_resource_kwargs(request, **kwargs),
            "user": request.user,
            "resolve_filter": filter_resolver(self.admin_site, request),
        }
