"""
The report form of the admin: a date range (a quick range, whose dates show in the
date boxes, or custom dates), a saved preset, the Excel option, the columns of the
file (ticked and ordered), and what is needed to save the choices as a preset. The
form only reads what the person typed; the run request (run_request.py) decides what
it means.

    form = ReportForm(spec, request.user, request.POST, selection=selection.run_selection())
    if form.is_valid():
        form.run_request        # a RunRequest
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib.admin.widgets import AdminDateWidget
from django.forms.widgets import Script
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from .conf import app_settings
from .definitions.spec import ReportSpec
from .exceptions import InvalidParameters
from .models import ReportPreset
from .presets import preset_data, visible_presets
from .run_request import RunRequest, RunSelection, parse_run_request, quick_range_choices

FIELDS_OF_INPUTS = {"range": "quick_range", "select": None, "on": None}


def _form_field(name: str | None) -> str | None:
    """The form field a run request input is shown at (None: above the form)."""
    return FIELDS_OF_INPUTS.get(name, name) if name else None


class ColumnList(forms.Widget):
    """The definition's columns as checkboxes in the file's order, each with buttons
    that move it up or down (column_choice.js).

    Posts an empty value under the field's name (the list was on the page), then each
    ticked column's name in the list's order: "" and nothing ticked is no column,
    which the run request refuses; nothing at all (a preset's list, disabled) leaves
    the choice to the preset.
    """

    template_name = "admin_reports/widgets/column_list.html"

    class Media:
        js = [Script("admin_reports/column_choice.js", defer=True)]
        css = {"all": ["admin_reports/column_choice.css"]}

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.columns: list[tuple[str, str, bool]] = []  # (name, label, always included)

    def value_from_datadict(self, data: Any, files: Any, name: str) -> str | None:
        values = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        if values is None or isinstance(values, str):
            return values
        return ",".join(value for value in values if value) if values else None

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        names = [column[0] for column in self.columns]
        chosen = _names(value, names)
        order = chosen + [name for name in names if name not in chosen]
        by_name = {column[0]: column for column in self.columns}
        prefix = context["widget"]["attrs"].get("id") or f"id_{name}"
        context["widget"]["columns"] = [
            {
                "name": column,
                "label": by_name[column][1],
                "always": by_name[column][2],
                "checked": column in chosen or by_name[column][2],
                "id": f"{prefix}_{column}",
                "index": names.index(column),
            }
            for column in order
        ]
        return context


def _names(value: Any, names: list[str]) -> list[str]:
    """The known names `value` gives ("a,b" or a list), in its order; None: all of them."""
    if value is None:
        return list(names)
    items = value.split(",") if isinstance(value, str) else list(value)
    return list(dict.fromkeys(item for item in map(str.strip, map(str, items)) if item in names))


class ColumnsField(forms.Field):
    """The columns of the file, as the run request takes them: "a,b", or None for all."""

    widget = ColumnList

    def to_python(self, value: Any) -> str | None:
        return value


class ReportForm(forms.Form):
    quick_range = forms.ChoiceField(label=_("Date range"), required=False)
    start = forms.DateField(label=_("From"), required=False, widget=AdminDateWidget)
    end = forms.DateField(label=_("To"), required=False, widget=AdminDateWidget)
    preset = forms.ModelChoiceField(
        label=_("Preset"),
        queryset=ReportPreset.objects.none(),
        required=False,
        help_text=_(
            "A saved preset's date range and options replace the ones above; the selection"
            " stays the one of this page."
        ),
        error_messages={
            "invalid_choice": _(
                "The preset you picked no longer exists or is no longer shared with you."
            )
        },
    )
    bom = forms.BooleanField(
        label=_("For Excel"), required=False, help_text=_("Start the file with a UTF-8 BOM.")
    )
    notify = forms.BooleanField(
        label=_("E-mail me"),
        required=False,
        help_text=_("For “Run in background”: an e-mail with the link when the file is ready."),
    )
    run_token = forms.UUIDField(required=False, widget=forms.HiddenInput)
    columns = ColumnsField(
        label=_("Columns"),
        required=False,
        help_text=_(
            "Untick the columns to leave out; the arrows move a column up or down the file."
        ),
    )
    preset_name = forms.CharField(label=_("Preset name"), max_length=100, required=False)
    preset_shared = forms.BooleanField(label=_("Share with other staff"), required=False)
    preset_range_kind = forms.ChoiceField(
        label=_("Save the range as"),
        choices=ReportPreset.RangeKind.choices,
        initial=ReportPreset.RangeKind.QUICK,
        required=False,
    )
    preset_selection_kind = forms.ChoiceField(
        label=_("Save the selection as"),
        choices=ReportPreset.SelectionKind.choices,
        initial=ReportPreset.SelectionKind.SAVED,
        required=False,
    )

    def __init__(
        self,
        spec: ReportSpec,
        user: Any,
        *args: Any,
        selection: RunSelection | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.spec = spec
        self.user = user
        self.selection = selection
        self.run_request: RunRequest | None = None
        self.fields["preset"].queryset = visible_presets(user, spec.name)  # type: ignore[attr-defined]
        self.fields["bom"].initial = bool(app_settings.BOM)
        if not getattr(user, "email", ""):
            notify = self.fields["notify"]
            notify.disabled = True
            notify.help_text = _(
                "Your account has no e-mail address: ask an administrator to add one."
            )
        self._set_up_columns(spec)
        if spec.date_range is None:
            for name in ("quick_range", "start", "end", "preset_range_kind"):
                del self.fields[name]
            return
        self._set_up_dates(spec)

    def _set_up_columns(self, spec: ReportSpec) -> None:
        if len(spec.columns) < 2:  # nothing to choose
            del self.fields["columns"]
            return
        always = set(spec.always_included)
        widget = self.fields["columns"].widget
        widget.columns = [(c.name, c.label, c.name in always) for c in spec.columns]
        # A preset picked shows its columns in the list (column_choice.js); null: all.
        presets = self.fields["preset"].queryset  # type: ignore[attr-defined]
        self.fields["preset"].widget.attrs["data-columns"] = json.dumps(
            {str(preset.pk): _preset_columns(preset) for preset in presets}
        )

    def _set_up_dates(self, spec: ReportSpec) -> None:
        choices = quick_range_choices()
        field = self.fields["quick_range"]
        field.choices = [("", _("Custom dates"))] + [  # type: ignore[attr-defined]
            (choice.name, choice.label) for choice in choices
        ]
        date_format = formats.get_format("DATE_INPUT_FORMATS")[0]
        # The date boxes show the dates of the quick range chosen (report_form.js).
        field.widget.attrs["data-dates"] = json.dumps(
            {c.name: [c.start.strftime(date_format), c.end.strftime(date_format)] for c in choices}
        )
        zone = timezone.get_current_timezone_name()
        self.fields["end"].help_text = _("Both days included, in the %(zone)s time zone.") % {
            "zone": zone
        }
        default = spec.date_range.default if spec.date_range else None
        by_name = {choice.name: choice for choice in choices}
        if default in by_name:
            field.initial = default
            self.fields["start"].initial = by_name[default].start
            self.fields["end"].initial = by_name[default].end

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        if self.errors:
            return data
        preset = data.get("preset")
        raw: dict[str, Any] = {"run_token": data.get("run_token")}
        try:
            if preset is not None:  # its range and options, not the boxes'
                raw.update(preset_data(preset))
            else:
                raw.update(
                    range=data.get("quick_range"),
                    start=data.get("start"),
                    end=data.get("end"),
                    bom=data.get("bom", False),
                    columns=data.get("columns"),
                )
            self.run_request = parse_run_request(
                self.spec, raw, selection=self.selection, preset=preset, via="admin"
            )
        except InvalidParameters as exc:
            field = "preset" if preset is not None else _form_field(exc.field)
            self.add_error(field if field in self.fields else None, exc.messages)
        return data


def _preset_columns(preset: ReportPreset) -> Sequence[str] | None:
    options = preset.options if isinstance(preset.options, dict) else {}
    columns = options.get("columns")
    return columns if isinstance(columns, list) else None
