"""
The app's admin: report actions for other apps' changelists, the run log with
live status and cancel, and saved presets (with import and export).

    from admin_reports.admin import ReportActionMixin, ReportActionModelAdmin
"""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from import_export import fields, resources, widgets
from import_export.admin import ImportExportModelAdmin

from .actions import ReportActionMixin, ReportActionModelAdmin
from .compiler import ReportParams
from .exceptions import ReportNotFound
from .forms import preset_range, visible_presets
from .models import ReportPreset, ReportRun
from .permissions import may_run, may_run_reports
from .registry import registry
from .responses import TooManyStreams, csv_filename, download_response
from .runs import describe_params
from .selection import changelist_queryset

__all__ = ["ReportActionMixin", "ReportActionModelAdmin", "ReportPresetAdmin", "ReportRunAdmin"]


@admin.register(ReportRun)
class ReportRunAdmin(admin.ModelAdmin):
    list_display = ["__str__", "report", "user", "status", "rows", "size", "created_at", "took"]
    list_filter = ["status", "report", "user", "created_at"]
    list_select_related = ["user"]
    search_fields = ["report", "title", "user__username"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in ReportRun._meta.fields] + ["took"]

    def get_queryset(self, request):
        runs = super().get_queryset(request)
        return runs if request.user.is_superuser else runs.filter(user=request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("size"), ordering="bytes")
    def size(self, run):
        return filesizeformat(run.bytes)

    @admin.display(description=gettext_lazy("took"))
    def took(self, run):
        duration = run.duration
        return "" if duration is None else f"{duration.total_seconds():.1f} s"

    def get_urls(self):
        view = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("status/", view(self.status_view), name=f"{name}_status_base"),
            path("status/<uuid:token>/", view(self.status_view), name=f"{name}_status"),
            path("cancel/", view(self.cancel_view), name=f"{name}_cancel_base"),
            path("cancel/<uuid:token>/", view(self.cancel_view), name=f"{name}_cancel"),
            *super().get_urls(),
        ]

    def _own_run(self, request, token) -> ReportRun:
        if token is None or not may_run_reports(request.user):
            raise Http404
        runs = ReportRun.objects.all()
        if not request.user.is_superuser:
            runs = runs.filter(user=request.user)  # others' runs do not exist for you
        return get_object_or_404(runs, token=token)

    def status_view(self, request, token=None):
        """JSON for the progress panel: phase, elapsed seconds, rows and bytes so far."""
        run = self._own_run(request, token)
        elapsed = run.duration.total_seconds() if run.duration else 0.0
        return JsonResponse(
            {
                "token": str(run.token),
                "status": run.status,
                "status_label": run.get_status_display(),
                "finished": run.finished,
                "elapsed": round(elapsed, 1),
                "rows": run.rows,
                "bytes": run.bytes,
                "error": run.error,
                "cancel_requested": run.cancel_requested,
            }
        )

    def cancel_view(self, request, token=None):
        if request.method != "POST":
            return JsonResponse({"error": "POST only"}, status=405)
        run = self._own_run(request, token)
        if not run.finished:
            ReportRun.objects.filter(pk=run.pk).update(cancel_requested=True)
        return self.status_view(request, token)


class UserByUsername(widgets.ForeignKeyWidget):
    def __init__(self):
        super().__init__(get_user_model(), "username")


class ReportPresetResource(resources.ModelResource):
    """Presets move between environments by owner username, report and name."""

    owner = fields.Field(attribute="owner", column_name="owner", widget=UserByUsername())

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
        ]
        skip_unchanged = True


def preset_problem(preset: ReportPreset) -> str | None:
    """Why a preset cannot run now, or None."""
    try:
        spec = registry.get(preset.report)
    except ReportNotFound:
        return _("no valid report is named %(name)r") % {"name": preset.report}
    try:
        preset_range(preset)
    except ValidationError as exc:
        return " ".join(exc.messages)
    if preset.selection_model and not any(
        action.label == preset.selection_model for action in spec.action_on
    ):
        return _("the report no longer runs on %(model)s") % {"model": preset.selection_model}
    return None


@admin.register(ReportPreset)
class ReportPresetAdmin(ImportExportModelAdmin):
    resource_classes = [ReportPresetResource]
    list_display = ["name", "report", "owner", "shared", "date_range", "selection_kind", "state"]
    list_filter = ["report", "shared", "range_kind", "selection_kind"]
    search_fields = ["name", "report"]
    list_select_related = ["owner"]

    def get_queryset(self, request):
        return visible_presets(request.user)

    def get_list_display(self, request):
        return [*super().get_list_display(request), "run_button"]

    def get_exclude(self, request, obj=None):
        return [] if request.user.is_superuser else ["owner"]

    def has_change_permission(self, request, obj=None):
        if obj is not None and not request.user.is_superuser and obj.owner_id != request.user.pk:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not request.user.is_superuser and obj.owner_id != request.user.pk:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change and not obj.owner_id:
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description=gettext_lazy("date range"))
    def date_range(self, preset):
        if preset.range_kind == ReportPreset.RangeKind.QUICK:
            return preset.quick_range.replace("_", " ")
        if preset.range_kind == ReportPreset.RangeKind.FIXED:
            return f"{preset.start} to {preset.end}"
        return "—"

    @admin.display(description=gettext_lazy("state"))
    def state(self, preset):
        problem = preset_problem(preset)
        if problem is None:
            return _("OK")
        return format_html('<span class="preset-broken">{}: {}</span>', _("Broken"), problem)

    @admin.display(description="")
    def run_button(self, preset):
        if preset_problem(preset) is not None:
            return ""
        if preset.selection_kind == ReportPreset.SelectionKind.ASK:
            return _("asks for a selection")
        url = reverse(f"{self.admin_site.name}:admin_reports_reportpreset_run", args=[preset.pk])
        # The rows sit inside the changelist's POST form, CSRF token included.
        return format_html(
            '<button type="submit" class="button preset-run" formaction="{}">{}</button>',
            url,
            _("Run"),
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/run/",
                self.admin_site.admin_view(require_POST(self.run_view)),
                name="admin_reports_reportpreset_run",
            ),
            *super().get_urls(),
        ]

    def run_view(self, request, pk):
        """Run a preset straight to the download."""
        preset = get_object_or_404(visible_presets(request.user), pk=pk)
        changelist = reverse(f"{self.admin_site.name}:admin_reports_reportpreset_changelist")
        problem = preset_problem(preset)
        if problem is not None:
            self.message_user(request, _("This preset is broken: %s") % problem, messages.ERROR)
            return redirect(changelist)
        spec = registry.get(preset.report)
        if not may_run(request.user, spec):
            raise PermissionDenied
        if preset.selection_kind == ReportPreset.SelectionKind.ASK:
            self.message_user(request, _("This preset asks for a selection."), messages.ERROR)
            return redirect(changelist)
        saved = (
            {"filter": preset.selection_filter}
            if preset.selection_filter
            else [str(pk) for pk in preset.selection_pks]
        )
        try:
            selection_model, selection = self._selection(request, preset)
            start, end = preset_range(preset)
            params = ReportParams(start, end, selection, selection_model)
            return download_response(
                request,
                spec,
                params,
                csv_filename(spec.name, start, end),
                preset=preset,
                bom=preset.options.get("bom", False),
                parameters=describe_params(params, preset=preset.name, selection=saved),
            )
        except (TooManyStreams, ValidationError) as exc:
            messages_text = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            self.message_user(request, " ".join(messages_text), messages.ERROR)
            return redirect(changelist)

    def _selection(self, request, preset):
        model = apps.get_model(preset.selection_model) if preset.selection_model else None
        if model is None:
            return None, None
        if preset.selection_filter:
            try:
                model_admin = self.admin_site.get_model_admin(model)
                return model, changelist_queryset(model_admin, request, preset.selection_filter)
            except (NotRegistered, IncorrectLookupParameters):
                raise ValidationError(
                    _("The preset's changelist filter %(filter)r no longer applies.")
                    % {"filter": preset.selection_filter}
                ) from None
        return model, model._default_manager.filter(pk__in=preset.selection_pks)
