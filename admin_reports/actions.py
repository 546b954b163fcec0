"""
Report actions on changelists.

    from admin_reports.admin import ReportActionMixin

    @admin.register(Product)
    class ProductAdmin(ReportActionMixin, admin.ModelAdmin):
        ...

Every valid definition whose `action_on` is the admin's model becomes an action
("Report: Daily sales by product") for the users allowed to run it. Like
Django's delete_selected, the first POST renders the report form page and the
second streams the file (CSV or XLSX). ReportActionModelAdmin is the ready-made class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from .background import QueueUnavailable, enqueue_run, queued_message
from .definitions.spec import ReportSpec
from .exceptions import (
    InvalidParameters,
    ReportNotFound,
    ReportPermissionDenied,
    TooManyStreams,
    in_words,
)
from .forms import ReportForm
from .permissions import may_run, refusal
from .presets import describe_preset, save_preset
from .preview import Preview, PreviewFailed, run_preview
from .registry import registry
from .responses import client_watch, stream_csv
from .run_request import primary_key
from .runs import check_may_start, open_stream
from .selection import Selection, filter_resolver
from .views import refusal_response

ACTION_PREFIX = "report_"
# A refusal on the form page, and the HTTP status the page gets.
REFUSALS: dict[type[Exception], int] = {
    ReportPermissionDenied: 403,
    TooManyStreams: 429,
    InvalidParameters: 400,
    QueueUnavailable: 503,
}


class ReportAction:
    """The action callable for one report (Django calls it with the selection)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.__name__ = f"{ACTION_PREFIX}{name}"

    def __call__(self, modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> Any:
        return modeladmin.report_view(request, queryset, registry.get(self.name))


if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin
else:
    _ModelAdmin = object


class ReportActionMixin(_ModelAdmin):
    """Adds a report action for every definition whose `action_on` is this model."""

    report_form_template: str | list[str] | None = None

    def get_report_specs(self, request: HttpRequest) -> list[ReportSpec]:
        """The definitions on this model that request.user may run."""
        model = self.model
        return [spec for spec in registry.for_model(model) if may_run(request.user, spec)]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        for spec in self.get_report_specs(request):
            action = ReportAction(spec.name)
            description = _("Report: %(title)s") % {"title": spec.title}
            actions[action.__name__] = (action, action.__name__, description)
        return actions

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if request.method == "POST":
            refused = self._report_refusal(request)
            if refused is not None:
                return refused
        return super().changelist_view(request, extra_context)

    def _report_refusal(self, request: HttpRequest) -> HttpResponseBase | None:
        """A POST naming a report the user may not run is refused with the reason."""
        problem = self._report_problem(request)
        if problem is None:
            return None
        message, status = problem
        return refusal_response(request, message, status, html=True, admin_site=self.admin_site)

    def _report_problem(self, request: HttpRequest) -> tuple[str, int] | None:
        """(message, status) of the first report action the POST may not run, or None."""
        model = self.model
        for action in request.POST.getlist("action"):
            if not action.startswith(ACTION_PREFIX):
                continue
            try:
                spec = registry.get(action.removeprefix(ACTION_PREFIX))
            except ReportNotFound as exc:
                return str(exc), 404
            if not spec.action_for(model):
                message = _("The report “%(title)s” does not run on %(model)s.") % {
                    "title": spec.title,
                    "model": model._meta.verbose_name_plural,
                }
                return message, 400
            refused = refusal(request.user, spec) or _selection_refusal(
                model, request.POST.getlist(ACTION_CHECKBOX_NAME)
            )
            if refused is not None:
                return in_words(refused), REFUSALS[type(refused)]
        return None

    def report_view(self, request: HttpRequest, queryset: QuerySet, spec: ReportSpec) -> Any:
        selection = Selection.from_action(self, request, queryset)
        step = request.POST.get("_report_step")
        form = ReportForm(
            spec,
            request.user,
            request.POST if step else None,
            selection=selection.run_selection(),
        )
        if step == "validate":
            return self._validate(request, form)
        status = 200
        if step == "download" and form.is_valid() and form.run_request is not None:
            try:
                handle = open_stream(form.run_request, user=request.user)
            except tuple(REFUSALS) as exc:
                self.message_user(request, in_words(exc), messages.ERROR)
                status = REFUSALS[type(exc)]
            else:
                return stream_csv(request, handle.job, handle.filename, release=handle.release)
        elif step == "download":
            status = 400
        if step == "background":
            enqueued = self._enqueue(request, form)
            if isinstance(enqueued, HttpResponseBase):
                return enqueued
            status = enqueued
        if step == "save_preset" and form.is_valid():
            form = self._save_preset(request, spec, selection, form)
        preview = None
        if step == "preview":
            preview, status = self._preview(request, form)
        return self._render_form(request, spec, selection, form, status, preview)

    def _preview(self, request: HttpRequest, form: ReportForm) -> tuple[Preview | None, int]:
        """The preview of the form's run, or the page's status with a message why not."""
        if not form.is_valid() or form.run_request is None:
            return None, 400
        try:
            preview = run_preview(
                form.run_request, user=request.user, client=client_watch(request)
            )
        except tuple(REFUSALS) as exc:
            self.message_user(request, in_words(exc), messages.ERROR)
            return None, REFUSALS[type(exc)]
        except PreviewFailed as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return None, 503
        return preview, 200

    def _enqueue(self, request: HttpRequest, form: ReportForm) -> HttpResponseBase | int:
        """Queue a background run and go to it in the run log; else the page's status."""
        if not form.is_valid() or form.run_request is None:
            return 400
        try:
            run = enqueue_run(
                form.run_request,
                user=request.user,
                notify=bool(form.cleaned_data.get("notify")),
                site_url=request.build_absolute_uri("/"),
                admin_site=self.admin_site.name,
            )
        except tuple(REFUSALS) as exc:
            self.message_user(request, in_words(exc), messages.ERROR)
            return REFUSALS[type(exc)]
        self.message_user(request, queued_message(run), messages.SUCCESS)
        return redirect(f"{self.admin_site.name}:admin_reports_reportrun_change", run.pk)

    def _validate(self, request: HttpRequest, form: ReportForm) -> JsonResponse:
        """The form page's check before it starts a download: errors, or a refusal."""
        valid = form.is_valid() and form.run_request is not None
        refused = None
        if valid and form.run_request is not None:
            try:
                check_may_start(form.run_request, request.user)
            except (ReportPermissionDenied, TooManyStreams, InvalidParameters) as exc:
                refused = str(exc)
        return JsonResponse(
            {
                "valid": valid and refused is None,
                "errors": form.errors.get_json_data(),
                "refusal": refused,
            }
        )

    def _save_preset(
        self, request: HttpRequest, spec: ReportSpec, selection: Selection, form: ReportForm
    ) -> ReportForm:
        """Save the preset; a fresh form (save fields empty) on success."""
        data = form.cleaned_data
        run_request = form.run_request
        if run_request is None:
            return form
        try:
            preset = save_preset(
                run_request,
                request.user,
                name=data.get("preset_name") or "",
                shared=bool(data.get("preset_shared")),
                range_kind=data.get("preset_range_kind") or "quick",
                selection_kind=data.get("preset_selection_kind") or "saved",
                changelist=(
                    selection.queryset.model,
                    selection.across,
                    selection.pks,
                    selection.query_string,
                ),
                resolve_filter=filter_resolver(self.admin_site, request),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                name = "preset_name" if field == "name" else None
                form.add_error(name, errors)
            return form
        self.message_user(
            request,
            _("Saved the preset “%(name)s”: %(what)s. It is picked below.")
            % {"name": preset.name, "what": describe_preset(preset)},
            messages.SUCCESS,
        )
        kept = ("quick_range", "start", "end", "columns", *form.parameter_fields.values())
        keep = {name: form.cleaned_data.get(name) for name in kept}
        return ReportForm(
            spec,
            request.user,
            selection=form.selection,
            initial={**keep, "bom": data.get("bom"), "preset": preset.pk},
        )

    def _render_form(
        self,
        request: HttpRequest,
        spec: ReportSpec,
        selection: Selection,
        form: ReportForm,
        status: int = 200,
        preview: Preview | None = None,
    ) -> TemplateResponse:
        opts = self.model._meta
        site = self.admin_site
        context = {
            **site.each_context(request),
            "title": spec.title,
            "subtitle": None,
            "spec": spec,
            "form": form,
            "selection": selection,
            "hidden_fields": selection.hidden_fields(),
            "preset_errors": any(
                form.errors.get(name) for name in form.fields if name.startswith("preset_")
            ),
            "action_name": f"{ACTION_PREFIX}{spec.name}",
            "preview": preview,
            "opts": opts,
            "media": self.media + form.media,
            "status_url": reverse(f"{site.name}:admin_reports_reportrun_status_base"),
            "cancel_url": reverse(f"{site.name}:admin_reports_reportrun_cancel_base"),
        }
        templates = self.report_form_template or [
            f"admin/admin_reports/{opts.app_label}/{opts.model_name}/report_form.html",
            f"admin/admin_reports/{opts.app_label}/report_form.html",
            "admin/admin_reports/report_form.html",
        ]
        request.current_app = site.name
        response = TemplateResponse(request, templates, context, status=status)
        # The page downloads into a hidden frame of itself; a refusal comes back as this
        # page, which the frame must be allowed to show for the page to read its message.
        response["X-Frame-Options"] = "SAMEORIGIN"
        return response


def _selection_refusal(model: Any, keys: list[str]) -> InvalidParameters | None:
    """Selected keys that are no keys of `model` (a tampered form) are refused, not a 500."""
    try:
        for key in keys:
            primary_key(model, key)
    except InvalidParameters as exc:
        return exc
    return None


class ReportActionModelAdmin(ReportActionMixin, admin.ModelAdmin):
    """A ModelAdmin with the report actions of its model."""
