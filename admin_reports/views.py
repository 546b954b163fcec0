"""
The download endpoint: one report run, streamed as CSV.

    GET /admin/reports/<name>/download/?start=2026-03-01&end=2026-03-31&select=3,7&on=shop.product

Staff only; every request is permission-checked on the server. Bad parameters
get 400 with the reason, a missing permission 403, too many running reports
429, and nothing starts.
"""

from __future__ import annotations

from django import forms
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache

from .compiler import ReportParams
from .conf import app_settings
from .dates import quick_ranges, resolve_quick_range
from .definitions.spec import ReportSpec
from .exceptions import ReportNotFound
from .permissions import may_run
from .registry import registry
from .responses import TooManyStreams, csv_filename, download_response


class DownloadForm(forms.Form):
    start = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    end = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    range = forms.CharField(required=False)
    select = forms.CharField(required=False)
    on = forms.CharField(required=False)
    bom = forms.CharField(required=False)  # 1/0; absent: ADMIN_REPORTS_BOM

    def __init__(self, spec: ReportSpec, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spec = spec

    def clean_bom(self) -> bool | None:
        value = self.cleaned_data["bom"].lower()
        choices = {"": None, "1": True, "true": True, "on": True, "0": False, "false": False}
        if value not in choices:
            raise ValidationError("Give bom as 1 or 0.")
        return choices[value]

    def clean_range(self):
        name = self.cleaned_data["range"]
        if name and name not in quick_ranges():
            raise ValidationError(f"Unknown range {name!r}.")
        return name

    def clean(self):
        data = super().clean()
        if data.get("range"):
            data["start"], data["end"] = resolve_quick_range(data["range"])
        select, label = data.get("select"), (data.get("on") or "").lower()
        data["selection_model"] = None
        if select:
            actions = self.spec.actions_by_label
            if label not in actions and len(actions) == 1 and not label:
                label = next(iter(actions))
            if label not in actions:
                raise ValidationError("'on' must name one of: " + ", ".join(sorted(actions)) + ".")
            data["selection_model"] = actions[label].model
            data["select"] = [key for key in select.split(",") if key.strip()]
        return data

    def params(self) -> ReportParams:
        data = self.cleaned_data
        return ReportParams(
            start=data.get("start"),
            end=data.get("end"),
            selection=data.get("select") or None,
            selection_model=data.get("selection_model"),
        )


@never_cache
@staff_member_required
def download(request, name: str):
    try:
        spec = registry.get(name)
    except ReportNotFound:
        raise Http404(f"No report named {name!r}.") from None
    if not may_run(request.user, spec):
        raise PermissionDenied
    form = DownloadForm(spec, request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        return _refusal(_errors_text(form), 400)
    data = form.cleaned_data
    filename = csv_filename(spec.name, data.get("start"), data.get("end"))
    bom = app_settings.BOM if data["bom"] is None else data["bom"]
    try:
        return download_response(request, spec, form.params(), filename, bom=bom)
    except TooManyStreams as exc:
        return _refusal(str(exc), exc.status_code)
    except ValidationError as exc:
        return _refusal(" ".join(exc.messages), 400)


def _errors_text(form: forms.Form) -> str:
    lines = []
    for field, errors in form.errors.get_json_data().items():
        prefix = "" if field == forms.forms.NON_FIELD_ERRORS else f"{field}: "
        lines.extend(prefix + error["message"] for error in errors)
    return "\n".join(lines)


def _refusal(message: str, status: int) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
