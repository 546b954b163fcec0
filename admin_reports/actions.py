"""
Report actions on changelists.

    from admin_reports.admin import ReportActionMixin

    @admin.register(Product)
    class ProductAdmin(ReportActionMixin, admin.ModelAdmin):
        ...

Every valid definition whose `action_on` is the admin's model becomes an action
("Report: Daily sales by product") for the users allowed to run it. Like
Django's delete_selected, the first POST renders the report form page and the
second streams the CSV. ReportActionModelAdmin is the ready-made class.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from .exceptions import ReportNotFound
from .forms import ReportForm
from .models import ReportPreset
from .permissions import may_run
from .registry import registry
from .responses import TooManyStreams, csv_filename, download_response
from .runs import describe_params
from .selection import Selection

ACTION_PREFIX = "report_"


class ReportAction:
    """The action callable for one report (Django calls it with the selection)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.__name__ = f"{ACTION_PREFIX}{name}"

    def __call__(self, modeladmin, request, queryset):
        return modeladmin.report_view(request, queryset, registry.get(self.name))


class ReportActionMixin:
    """Adds a report action for every definition whose `action_on` is this model."""

    report_form_template: str | None = None

    def get_report_specs(self, request) -> list:
        """The definitions on this model that request.user may run."""
        return [spec for spec in registry.for_model(self.model) if may_run(request.user, spec)]

    def get_actions(self, request):
        actions = super().get_actions(request)
        for spec in self.get_report_specs(request):
            action = ReportAction(spec.name)
            description = _("Report: %(title)s") % {"title": spec.title}
            actions[action.__name__] = (action, action.__name__, description)
        return actions

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST":
            self._check_report_permission(request)
        return super().changelist_view(request, extra_context)

    def _check_report_permission(self, request) -> None:
        """A POST naming a report the user may not run is refused, not ignored."""
        for action in request.POST.getlist("action"):
            if not action.startswith(ACTION_PREFIX):
                continue
            try:
                spec = registry.get(action.removeprefix(ACTION_PREFIX))
            except ReportNotFound:
                raise PermissionDenied from None
            if not spec.action_for(self.model) or not may_run(request.user, spec):
                raise PermissionDenied

    def report_view(self, request, queryset, spec):
        selection = Selection.from_action(self, request, queryset)
        data = request.POST if "_report_step" in request.POST else None
        form = ReportForm(spec, request.user, data)
        step = request.POST.get("_report_step")
        if step == "validate":
            return JsonResponse({"valid": form.is_valid(), "errors": form.errors.get_json_data()})
        status = 200
        if step == "download" and form.is_valid():
            try:
                return self._download(request, spec, selection, form)
            except TooManyStreams as exc:
                self.message_user(request, str(exc), messages.ERROR)
                status = exc.status_code
        if step == "save_preset" and form.is_valid():
            self._save_preset(request, spec, selection, form)
        return self._render_form(request, spec, selection, form, status)

    def _download(self, request, spec, selection, form):
        data = form.cleaned_data
        params = form.params(selection.queryset, self.model)
        extra = {
            "selection": {"filter": selection.query_string} if selection.across else selection.pks,
            "selection_count": selection.count,
            "selection_text": selection.description,
        }
        return download_response(
            request,
            spec,
            params,
            csv_filename(spec.name, data.get("start"), data.get("end")),
            preset=data.get("preset"),
            bom=data.get("bom", False),
            token=data.get("run_token"),
            parameters=describe_params(params, bom=data.get("bom"), **extra),
        )

    def _save_preset(self, request, spec, selection, form) -> None:
        data = form.cleaned_data
        if not data.get("preset_name"):
            form.add_error("preset_name", _("Give the preset a name."))
            return
        kind = ReportPreset.SelectionKind(data.get("preset_selection_kind") or "saved")
        range_kind = ReportPreset.RangeKind(data.get("preset_range_kind") or "none")
        if spec.date_range is None:
            range_kind = ReportPreset.RangeKind.NONE
        elif range_kind == ReportPreset.RangeKind.QUICK and not data.get("quick_range"):
            range_kind = ReportPreset.RangeKind.FIXED
        across = kind == ReportPreset.SelectionKind.FILTER or (
            kind == ReportPreset.SelectionKind.SAVED and selection.across
        )
        preset = ReportPreset.objects.create(
            name=data["preset_name"],
            report=spec.name,
            owner=request.user,
            shared=data.get("preset_shared", False),
            range_kind=range_kind,
            quick_range=data.get("quick_range") or "",
            start=data.get("start") if range_kind == ReportPreset.RangeKind.FIXED else None,
            end=data.get("end") if range_kind == ReportPreset.RangeKind.FIXED else None,
            selection_kind=ReportPreset.SelectionKind.FILTER if across else kind,
            selection_model=self.model._meta.label,
            selection_pks=selection.pks if kind == ReportPreset.SelectionKind.SAVED else [],
            selection_filter=selection.query_string if across else "",
            options={"bom": data.get("bom", False)},
        )
        self.message_user(
            request, _("Saved the preset “%(name)s”.") % {"name": preset.name}, messages.SUCCESS
        )

    def _render_form(self, request, spec, selection, form, status=200):
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "title": spec.title,
            "subtitle": None,
            "spec": spec,
            "form": form,
            "selection": selection,
            "hidden_fields": selection.hidden_fields(),
            "action_name": f"{ACTION_PREFIX}{spec.name}",
            "opts": opts,
            "media": self.media + form.media,
            "status_url": reverse(f"{self.admin_site.name}:admin_reports_reportrun_status_base"),
            "cancel_url": reverse(f"{self.admin_site.name}:admin_reports_reportrun_cancel_base"),
        }
        templates = self.report_form_template or [
            f"admin/admin_reports/{opts.app_label}/{opts.model_name}/report_form.html",
            f"admin/admin_reports/{opts.app_label}/report_form.html",
            "admin/admin_reports/report_form.html",
        ]
        request.current_app = self.admin_site.name
        return TemplateResponse(request, templates, context, status=status)


class ReportActionModelAdmin(ReportActionMixin, admin.ModelAdmin):
    """A ModelAdmin with the report actions of its model."""
