"""
The report form of the admin: a date range (a quick range, whose dates show in the
date boxes, or custom dates), a saved preset, the BOM option, the file format (it
starts with the one ADMIN_REPORTS_CSV_DIALECTS gives the language), the columns of the
file (ticked and ordered), the definition's parameters, and what is needed to save the
choices as a preset. The form only reads what the person typed; the run request
(run_request.py) decides what it means.

    form = ReportForm(spec, request.user, request.POST, selection=selection.run_selection())
    if form.is_valid():
        form.run_request        # a RunRequest
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib.admin.widgets import AdminDateWidget, AdminRadioSelect, FilteredSelectMultiple
from django.db.models import IntegerField
from django.forms.widgets import Script
from django.utils import formats, timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from .arguments import parameter_choices
from .conf import app_settings
from .definitions.spec import ParameterKind, ParameterSpec, ReportSpec
from .exceptions import InvalidParameters
from .file_formats import FILE_FORMATS, SHEET_ROWS
from .models import ReportPreset
from .presets import describe_preset, preset_data, preset_option, visible_presets
from .run_request import (
    RunRequest,
    RunSelection,
    default_format,
    format_choices,
    parse_run_request,
    quick_range_choices,
)

FIELDS_OF_INPUTS = {"range": "quick_range", "select": None, "on": None}
# A parameter's form field is named "param_<name>": clear of the form's own fields.
PARAMETER_PREFIX = "param_"
# Up to this many choices a multiple choice is a list of checkboxes, above it the
# admin's two-list selector with a filter box.
MAX_CHECKBOXES = 12


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
            "A saved preset's date range, parameters and options replace the ones on this"
            " page; the selection stays the one of this page."
        ),
        error_messages={
            "invalid_choice": _(
                "The preset you picked no longer exists or is no longer shared with you."
            )
        },
    )
    bom = forms.BooleanField(
        label=_("For Excel"),
        required=False,
        help_text=_("Start the CSV with a UTF-8 BOM (CSV for Excel always has one)."),
    )
    # Its own fieldset on the page (the file format); choices and start: __init__.
    format = forms.ChoiceField(
        label=_("File format"),
        required=False,
        widget=AdminRadioSelect(attrs={"class": "radiolist"}),
        # The words of the run request's refusal (a forged value: the page offers the rest).
        error_messages={
            "invalid_choice": format_lazy(
                _("Unknown file format '%(value)s'; choose one of: {}."), ", ".join(FILE_FORMATS)
            )
        },
        help_text=format_lazy(
            _(
                "CSV for Excel: semicolons between cells and decimal commas, as Excel expects"
                " them in German, French and many other settings. XLSX: a workbook whose"
                " numbers and dates are typed cells, of at most {} rows."
            ),
            f"{SHEET_ROWS - 1:,}",
        ),
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
        self.fields["format"].choices = format_choices()  # type: ignore[attr-defined]
        self.fields["format"].initial = default_format()
        # parameter name -> its form field's name
        self.parameter_fields = {
            parameter.name: f"{PARAMETER_PREFIX}{parameter.name}" for parameter in spec.parameters
        }
        for parameter in spec.parameters:
            self.fields[self.parameter_fields[parameter.name]] = parameter_field(spec, parameter)
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
        # and what it runs with, in words, in place of the fields it overrides (report_form.js)
        self.fields["preset"].widget.attrs["data-described"] = json.dumps(
            {str(preset.pk): describe_preset(preset) for preset in presets}
        )
        self.fields["preset"].widget.attrs["data-columns"] = json.dumps(
            {str(preset.pk): _preset_columns(preset) for preset in presets}
        )

    def _set_up_dates(self, spec: ReportSpec) -> None:
        choices = quick_range_choices(spec=spec)
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
                    format=data.get("format"),
                    columns=data.get("columns"),
                )
                raw.update(
                    (name, data.get(field)) for name, field in self.parameter_fields.items()
                )
            self.run_request = parse_run_request(
                self.spec, raw, selection=self.selection, preset=preset, via="admin"
            )
        except InvalidParameters as exc:
            field = (
                "preset"
                if preset is not None
                else self.parameter_fields.get(exc.field or "") or _form_field(exc.field)
            )
            self.add_error(field if field in self.fields else None, exc.messages)
        return data

    @property
    def parameter_bound_fields(self) -> list[forms.BoundField]:
        """The parameters' fields, in the definition's order (the page's own fieldset)."""
        return [self[name] for name in self.parameter_fields.values()]


class ListedChoiceField(forms.ChoiceField):
    """A list of choices that takes what it is given: the run request checks it."""

    def valid_value(self, value: Any) -> bool:
        return True


class ListedMultipleChoiceField(forms.MultipleChoiceField):
    """Several of a list of choices; the run request checks them."""

    def valid_value(self, value: Any) -> bool:
        return True


def parameter_field(spec: ReportSpec, parameter: ParameterSpec) -> forms.Field:
    """The admin widget of one parameter; the run request checks what it is given."""
    choices = parameter_choices(spec, parameter)
    options: dict[str, Any] = {
        "label": parameter.label,
        "required": False,  # a preset picked instead gives the values: the run request checks
        "help_text": _help_text(parameter, listed=choices is not None),
    }
    if choices is None or parameter.kind in (ParameterKind.NUMBER, ParameterKind.TEXT):
        return forms.CharField(
            initial=", ".join(parameter.default), widget=_text_widget(parameter), **options
        )
    if not parameter.multiple:
        initial = next(iter(parameter.default), "")
        return ListedChoiceField(choices=[("", _("All")), *choices], initial=initial, **options)
    widget: forms.Widget = (
        forms.CheckboxSelectMultiple()
        if len(choices) <= MAX_CHECKBOXES
        else FilteredSelectMultiple(parameter.label, is_stacked=False)
    )
    return ListedMultipleChoiceField(
        choices=choices, initial=list(parameter.default), widget=widget, **options
    )


def _text_widget(parameter: ParameterSpec) -> forms.Widget:
    if parameter.kind is ParameterKind.NUMBER:
        whole = isinstance(parameter.field, IntegerField)
        return forms.NumberInput(attrs={"step": "1" if whole else "any"})
    return forms.TextInput(attrs={"class": "vTextField"})


def _help_text(parameter: ParameterSpec, listed: bool) -> str:
    parts = [parameter.help]
    if not listed and parameter.model is not None:  # too many objects to list
        noun = parameter.model._meta
        parts.append(
            _("The keys of the %(nouns)s, separated by commas.")
            % {"nouns": noun.verbose_name_plural}
            if parameter.multiple
            else _("The key of a %(noun)s.") % {"noun": noun.verbose_name}
        )
    if parameter.required:
        parts.append(str(_("Required.")))
    elif parameter.multiple:
        parts.append(str(_("None picked: all rows.")))
    elif not listed or parameter.kind in (ParameterKind.NUMBER, ParameterKind.TEXT):
        parts.append(str(_("Empty: all rows.")))  # a list says so with its first choice
    return " ".join(part for part in parts if part)


def _preset_columns(preset: ReportPreset) -> Sequence[str] | None:
    columns = preset_option(preset, "columns")
    return columns if isinstance(columns, list) else None
