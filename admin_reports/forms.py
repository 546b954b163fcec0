"""
The report form of the admin: a date range (dates or a quick range), a saved
preset, the Excel option, and what is needed to save the choices as a preset.
"""

from __future__ import annotations

from django import forms
from django.contrib.admin.widgets import AdminDateWidget
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .compiler import ReportParams, check_date_range
from .conf import app_settings
from .dates import quick_ranges
from .definitions.spec import ReportSpec
from .models import ReportPreset


def visible_presets(user, report: str | None = None):
    """The presets `user` may see: their own and shared ones (all, for superusers)."""
    presets = ReportPreset.objects.select_related("owner")
    if not user.is_superuser:
        presets = presets.filter(Q(owner=user) | Q(shared=True))
    if report is not None:
        presets = presets.filter(report=report)
    return presets


def preset_range(preset: ReportPreset, today=None):
    """(start, end) of a preset, resolved now; raises ValidationError when it cannot be."""
    kind = ReportPreset.RangeKind
    if preset.range_kind == kind.QUICK:
        ranges = quick_ranges()
        if preset.quick_range not in ranges:
            raise ValidationError(
                _("The preset's quick range %(name)r no longer exists.")
                % {"name": preset.quick_range}
            )
        return ranges[preset.quick_range].resolve(today or timezone.localdate())
    if preset.range_kind == kind.FIXED:
        return preset.start, preset.end
    return None, None


class ReportForm(forms.Form):
    quick_range = forms.ChoiceField(label=_("Date range"), required=False)
    start = forms.DateField(label=_("From"), required=False, widget=AdminDateWidget)
    end = forms.DateField(
        label=_("To"), required=False, widget=AdminDateWidget, help_text=_("Inclusive.")
    )
    preset = forms.ModelChoiceField(
        label=_("Preset"),
        queryset=ReportPreset.objects.none(),
        required=False,
        help_text=_("A saved preset's date range and options replace the ones above."),
    )
    bom = forms.BooleanField(
        label=_("For Excel"), required=False, help_text=_("Start the file with a UTF-8 BOM.")
    )
    run_token = forms.UUIDField(required=False, widget=forms.HiddenInput)
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

    def __init__(self, spec: ReportSpec, user, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spec = spec
        self.user = user
        ranges = quick_ranges()
        self.fields["quick_range"].choices = [("", _("Dates below"))] + [
            (name, quick.label) for name, quick in ranges.items()
        ]
        date_range = spec.date_range
        self.fields["quick_range"].initial = date_range.default if date_range else ""
        self.fields["preset"].queryset = visible_presets(user, spec.name)
        self.fields["bom"].initial = app_settings.BOM
        if date_range is None:
            for name in ("quick_range", "start", "end", "preset_range_kind"):
                del self.fields[name]

    def clean(self):
        data = super().clean()
        preset = data.get("preset")
        if preset is not None:
            data["start"], data["end"] = preset_range(preset)
            data["bom"] = preset.options.get("bom", data.get("bom"))
        elif data.get("quick_range"):
            data["start"], data["end"] = quick_ranges()[data["quick_range"]].resolve(
                timezone.localdate()
            )
        try:
            check_date_range(self.spec, data.get("start"), data.get("end"))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        return data

    def clean_preset_name(self):
        name = self.cleaned_data["preset_name"].strip()
        if (
            name
            and ReportPreset.objects.filter(
                owner=self.user, report=self.spec.name, name=name
            ).exists()
        ):
            raise ValidationError(_("You already have a preset of this name for this report."))
        return name

    def params(self, selection=None, selection_model=None) -> ReportParams:
        return ReportParams(
            start=self.cleaned_data.get("start"),
            end=self.cleaned_data.get("end"),
            selection=selection,
            selection_model=selection_model,
        )
