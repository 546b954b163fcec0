"""
The app's admin: report actions for other apps' changelists, the run log with
live status and cancel, and saved presets (with import and export).

    from admin_reports.admin import ReportActionMixin, ReportActionModelAdmin
"""

from __future__ import annotations

import logging
from typing import Any, cast

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponseNotAllowed, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from .actions import ReportActionMixin, ReportActionModelAdmin
from .background import QueueUnavailable, enqueue_run, queued_message
from .exceptions import (
    InvalidParameters,
    ReportNotFound,
    ReportPermissionDenied,
    TooManyStreams,
    in_words,
)
from .models import SCHEDULE_FIELDS, ReportPreset, ReportRun, RunStatus
from .permissions import may_run_reports, refusal
from .presets import (
    describe_selection,
    filter_errors,
    preset_problem,
    preset_request,
    visible_presets,
)
from .registry import registry
from .responses import stored_file_response, stream_csv
from .runs import mark_lost, open_stream, request_cancel
from .schedules import describe_schedule, next_slot, received_runs
from .selection import filter_resolver
from .stored import file_gone, forget_file, missing_file_text
from .views import refusal_response

logger = logging.getLogger("admin_reports.admin")

__all__ = ["ReportActionMixin", "ReportActionModelAdmin", "ReportPresetAdmin", "ReportRunAdmin"]


class RunUserFilter(admin.RelatedFieldListFilter):
    """The run log's user filter: only users whose runs the viewer may see."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list:
        users = model_admin.get_queryset(request).values("user")
        return [
            (user.pk, str(user))
            for user in get_user_model()
            ._default_manager.filter(pk__in=users)
            .order_by(get_user_model().USERNAME_FIELD)
        ]


class StaffWhoRunReports:
    """Staff who may run reports see their own runs and presets without model permissions."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_run_reports(request.user) or super().has_module_permission(request)  # type: ignore[misc]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_run_reports(request.user) or super().has_view_permission(request, obj)  # type: ignore[misc]


@admin.register(ReportRun)
class ReportRunAdmin(StaffWhoRunReports, admin.ModelAdmin):
    # The title and number say the report: narrow enough for 1280 px beside the filters.
    list_display = ["__str__", "user", "status_and_file", "rows", "size", "created_at", "took"]
    list_filter = ["status", "report", "path", ("user", RunUserFilter), "created_at"]
    list_select_related = ["user"]
    search_fields = ["report", "title", "user__username"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in ReportRun._meta.fields] + ["took", "download"]

    def get_queryset(self, request: HttpRequest) -> Any:
        runs = super().get_queryset(request)
        return runs if request.user.is_superuser else runs.filter(user=cast(Any, request.user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=gettext_lazy("size"), ordering="bytes")
    def size(self, run: ReportRun) -> str:
        return filesizeformat(run.bytes)

    @admin.display(description=gettext_lazy("took"))
    def took(self, run: ReportRun) -> str:
        duration = run.duration
        return "" if duration is None else f"{duration.total_seconds():.1f} s"

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("status/", view(self.status_view), name=f"{name}_status_base"),
            path("status/<uuid:token>/", view(self.status_view), name=f"{name}_status"),
            path("cancel/", view(self.cancel_view), name=f"{name}_cancel_base"),
            path("cancel/<uuid:token>/", view(self.cancel_view), name=f"{name}_cancel"),
            path("file/<uuid:token>/", view(self.file_view), name=f"{name}_file"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        mark_lost()  # a run whose process died reads as lost, not as running forever
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        mark_lost(ReportRun.objects.filter(pk=object_id) if object_id.isdigit() else None)
        run = self.get_object(request, object_id) if object_id.isdigit() else None
        if run is not None and may_run_reports(request.user):
            site = self.admin_site.name
            extra_context = {
                **(extra_context or {}),
                "run_panel": {
                    "elapsed": self.took(run),
                    "status_url": reverse(
                        f"{site}:admin_reports_reportrun_status", args=[run.token]
                    ),
                    "cancel_url": reverse(
                        f"{site}:admin_reports_reportrun_cancel", args=[run.token]
                    ),
                    "file_url": self._file_url(run),
                },
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def _own_run(self, request: HttpRequest, token: Any, received: bool = False) -> ReportRun:
        """The user's run of `token` (any run, for superusers); `received`: or a scheduled
        run whose preset lists them as a recipient."""
        if token is None or not may_run_reports(request.user):
            raise Http404
        runs = ReportRun.objects.all()
        if not request.user.is_superuser:
            theirs = Q(user=request.user.pk)
            if received:
                theirs |= received_runs(request.user)
            runs = runs.filter(theirs)  # others' runs do not exist for you
        mark_lost(runs.filter(token=token))
        return get_object_or_404(runs, token=token)

    def status_view(self, request: HttpRequest, token: Any = None) -> JsonResponse:
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
                "rows_estimate": run.rows_estimate,
                "bytes": run.bytes,
                "error": run.error,
                "cancel_requested": run.cancel_requested,
                "background": run.background,
                "file_url": self._file_url(run),
            }
        )

    def cancel_view(self, request: HttpRequest, token: Any = None) -> JsonResponse:
        if request.method != "POST":
            return JsonResponse({"error": "POST only"}, status=405)
        run = self._own_run(request, token)
        request_cancel(run)
        return self.status_view(request, token)

    def file_view(self, request: HttpRequest, token: Any = None) -> HttpResponseBase:
        """A stored run's file, for whoever may see the run (or received it from a schedule)
        and still may run its report."""
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        run = self._own_run(request, token, received=True)
        gone = file_gone(run)
        if gone is not None:
            return refusal_response(request, *gone)
        try:
            refused = refusal(request.user, registry.get(run.report))
        except ReportNotFound as exc:
            return refusal_response(request, str(exc), 404)
        if refused is not None:
            return refusal_response(request, str(refused), 403)
        try:
            return stored_file_response(request, run)
        except FileNotFoundError:  # deleted by hand, or a storage the web process cannot see
            logger.error("The stored file %s of report run %s is missing.", run.file, run.pk)
            forget_file(run)
            return refusal_response(request, missing_file_text(), 410)

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def status_and_file(self, run: ReportRun) -> str:
        """The status, and under it the stored file's link (narrow: no column of its own)."""
        link = self.download(run)
        if not link:
            return run.get_status_display()
        return format_html("{}<br>{}", run.get_status_display(), link)

    @admin.display(description=gettext_lazy("file"))
    def download(self, run: ReportRun) -> str:
        url = self._file_url(run)
        if not url:
            expired = run.file_expired and run.status == RunStatus.SUCCEEDED
            return _("expired") if expired else ""
        return format_html('<a href="{}" class="run-download">{}</a>', url, _("Download"))

    def _file_url(self, run: ReportRun) -> str:
        """Where a run's stored file downloads from; "" while it has none."""
        if not run.has_file:
            return ""
        return reverse(f"{self.admin_site.name}:admin_reports_reportrun_file", args=[run.token])


class ReportPresetForm(forms.ModelForm):
    """The admin's preset form: the preset's rules, the changelist filter included."""

    resolve_filter: Any = None

    class Meta:
        error_messages = {
            "recipients": {
                "invalid_choice": gettext_lazy(
                    "Only active staff members can receive scheduled reports; the user with"
                    " the id %(value)s is not one."
                )
            }
        }

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # the instance is built here
        if self.errors or self.resolve_filter is None:
            return
        for message in filter_errors(self.instance, self.resolve_filter):
            self.add_error("selection_filter", message)


# Presets move between sites through django-import-export when it is installed.
PresetAdminBase: type[admin.ModelAdmin] = admin.ModelAdmin
if apps.is_installed("import_export"):
    from .preset_transfer import PresetTransfer

    PresetAdminBase = PresetTransfer


@admin.register(ReportPreset)
class ReportPresetAdmin(StaffWhoRunReports, PresetAdminBase):  # type: ignore[misc,valid-type]
    form = ReportPresetForm
    # Narrow columns, Run next to the name: the list fits 1280 px beside the filters.
    list_display = ["name", "report_title", "date_range", "selection", "owner_and_sharing"]
    list_filter = ["report", "shared", "range_kind", "selection_kind", "schedule"]
    search_fields = ["name", "report"]
    list_select_related = ["owner"]
    filter_horizontal = ["recipients"]

    class Media:
        css = {"all": ["admin_reports/report_form.css"]}

    def get_queryset(self, request: HttpRequest) -> Any:
        return visible_presets(request.user)

    def get_list_display(self, request: HttpRequest) -> list:
        problems = PresetProblems(
            request, filter_resolver(self.admin_site, request), self.admin_site.name
        )
        first, *rest = super().get_list_display(request)
        return [first, problems.run_button, *rest, problems.state]

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        form.resolve_filter = staticmethod(filter_resolver(self.admin_site, request))
        return form

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if request.user.is_superuser else ["owner"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = self.get_fields(request, obj)
        schedule = [*SCHEDULE_FIELDS, "recipients"]
        zone = timezone.get_default_timezone_name()
        return [
            (None, {"fields": [name for name in fields if name not in schedule]}),
            (
                _("Schedule"),
                {
                    "fields": [name for name in schedule if name in fields],
                    "description": _(
                        "Times are in the site's time zone, %(zone)s. The site runs due"
                        " schedules with manage.py run_scheduled_reports, every few minutes."
                    )
                    % {"zone": zone},
                },
            ),
        ]

    def _own(self, request: HttpRequest, obj: Any) -> bool:
        user = request.user
        return user.is_superuser or obj is None or obj.owner_id == user.pk

    def has_add_permission(self, request: HttpRequest) -> bool:
        return may_run_reports(request.user) or super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not self._own(request, obj):
            return False
        return may_run_reports(request.user) or super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not self._own(request, obj):
            return False
        return may_run_reports(request.user) or super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and not obj.owner_id:
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description=gettext_lazy("report"), ordering="report")
    def report_title(self, preset: ReportPreset) -> str:
        try:
            return registry.get(preset.report).title
        except ReportNotFound:
            return preset.report

    @admin.display(description=gettext_lazy("selection"), ordering="selection_kind")
    def selection(self, preset: ReportPreset) -> str:
        return describe_selection(preset)

    @admin.display(description=gettext_lazy("owner"), ordering="owner")
    def owner_and_sharing(self, preset: ReportPreset) -> str:
        owner = str(preset.owner)
        return _("%(owner)s, shared") % {"owner": owner} if preset.shared else owner

    @admin.display(description=gettext_lazy("dates"))
    def date_range(self, preset: ReportPreset) -> str:
        """The date range, and under it the schedule and its next run (site time): one
        column, for the list to fit 1280 px."""
        if preset.range_kind == ReportPreset.RangeKind.QUICK:
            dates = preset.quick_range.replace("_", " ")
        elif preset.range_kind == ReportPreset.RangeKind.FIXED:
            dates = f"{preset.start} to {preset.end}"
        else:
            dates = "—"
        upcoming = next_slot(preset, timezone.now())
        if upcoming is None:
            return dates
        local = timezone.localtime(upcoming, timezone.get_default_timezone())
        when = f"{date_format(local, 'SHORT_DATETIME_FORMAT')} {local.tzname()}"
        schedule = _("%(schedule)s, next %(when)s") % {
            "schedule": describe_schedule(preset),
            "when": when,
        }
        return format_html('{}<br><span class="quiet preset-schedule">{}</span>', dates, schedule)

    def get_urls(self) -> list:
        return [
            path(
                "<int:pk>/run/",
                self.admin_site.admin_view(require_POST(self.run_view)),
                name="admin_reports_reportpreset_run",
            ),
            path(
                "<int:pk>/run-in-background/",
                self.admin_site.admin_view(require_POST(self.background_view)),
                name="admin_reports_reportpreset_background",
            ),
            *super().get_urls(),
        ]

    def run_view(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        """Run a preset straight to the download; a refusal is a message on the list."""
        preset = get_object_or_404(visible_presets(request.user), pk=pk)
        changelist = reverse(f"{self.admin_site.name}:admin_reports_reportpreset_changelist")
        try:
            run_request = preset_request(
                preset, resolve_filter=filter_resolver(self.admin_site, request), via="preset"
            )
            handle = open_stream(run_request, user=request.user)
        except (InvalidParameters, ReportPermissionDenied, TooManyStreams) as exc:
            self.message_user(request, in_words(exc), messages.ERROR)
            return redirect(changelist)
        return stream_csv(request, handle.job, handle.filename, release=handle.release)

    def background_view(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        """Queue a preset's run; the run log shows it (a refusal: a message on the list)."""
        preset = get_object_or_404(visible_presets(request.user), pk=pk)
        site = self.admin_site
        try:
            run_request = preset_request(
                preset, resolve_filter=filter_resolver(site, request), via="preset"
            )
            run = enqueue_run(
                run_request,
                user=request.user,
                notify=True,  # sent when the user has an e-mail address
                site_url=request.build_absolute_uri("/"),
                admin_site=site.name,
            )
        except (
            InvalidParameters,
            ReportPermissionDenied,
            TooManyStreams,
            QueueUnavailable,
        ) as exc:
            self.message_user(request, in_words(exc), messages.ERROR)
            return redirect(f"{site.name}:admin_reports_reportpreset_changelist")
        self.message_user(request, queued_message(run), messages.SUCCESS)
        return redirect(f"{site.name}:admin_reports_reportrun_change", run.pk)


class PresetProblems:
    """The preset list's state and Run columns for one request (one check per preset)."""

    def __init__(self, request: HttpRequest, resolve_filter: Any, site_name: str) -> None:
        self.request = request
        self.resolve_filter = resolve_filter
        self.cache: dict[int, str | None] = {}

        @admin.display(description=gettext_lazy("state"))
        def state(preset: ReportPreset) -> str:
            problem = self.problem(preset)
            if problem is None:
                return _("OK")
            return format_html('<span class="preset-broken">{}</span>', problem)

        @admin.display(description="")
        def run_button(preset: ReportPreset) -> str:
            if self.problem(preset) is not None:
                return ""
            if preset.selection_kind == ReportPreset.SelectionKind.ASK:
                return _("asks for a selection")
            url = reverse(f"{site_name}:admin_reports_reportpreset_run", args=[preset.pk])
            later = reverse(f"{site_name}:admin_reports_reportpreset_background", args=[preset.pk])
            # The rows sit inside the changelist's POST form, CSRF token included.
            return format_html(
                '<button type="submit" class="button preset-run" formaction="{}">{}</button>'
                ' <button type="submit" class="button preset-background" formaction="{}"'
                ' title="{}">{}</button>',
                url,
                _("Run"),
                later,
                _("Run in the background; the file will be in the run log."),
                _("In background"),
            )

        self.state = state
        self.run_button = run_button

    def problem(self, preset: ReportPreset) -> str | None:
        if preset.pk not in self.cache:
            self.cache[preset.pk] = preset_problem(preset, self.request.user, self.resolve_filter)
        return self.cache[preset.pk]
