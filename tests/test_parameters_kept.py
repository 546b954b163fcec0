"""
Run-time parameters given and kept by each face: a preset keeps them (and is broken
when a value is gone), a background run rebuilds them from its stored parameters,
`run_report --param`, the download endpoint and the report form's widgets give them.
"""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from admin_reports import arguments, forms
from admin_reports.background import rebuild_request
from admin_reports.exceptions import InvalidParameters, ReportError
from admin_reports.forms import ReportForm
from admin_reports.models import ReportRun
from admin_reports.presets import describe_preset, preset_problem, preset_request, save_preset
from admin_reports.registry import registry
from admin_reports.run_request import parse_run_request
from admin_reports.runs import create_run
from project.shop.models import Product

from .factories import (
    CustomerFactory,
    OrderLineFactory,
    ProductFactory,
    RegionFactory,
    UserFactory,
)

MARCH = {"start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture
def lines(db):
    """A kite sold in March 2026: paid in North, shipped in South, refunded in North."""
    kite = ProductFactory(sku="TOY-1", name="Kite")
    north, south = RegionFactory(code="N", name="North"), RegionFactory(code="S", name="South")
    for status, region in (("paid", north), ("shipped", south), ("refunded", north)):
        OrderLineFactory(
            product=kite,
            order__status=status,
            order__customer=CustomerFactory(region=region),
            order__placed_at=dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC),
        )
    return kite, north, south


def test_a_preset_keeps_them_and_breaks_when_a_value_is_gone(lines):
    kite, north, _south = lines
    spec = registry.get("order_lines")
    owner = UserFactory()
    data = {**MARCH, "status": ["paid", "refunded"], "region": str(north.pk)}
    request = parse_run_request(spec, data)
    preset = save_preset(
        request, owner, name="North", changelist=(Product, False, [str(kite.pk)], "")
    )
    preset.refresh_from_db()
    assert preset.options == {
        "bom": request.bom,
        "arguments": {"status": ["paid", "refunded"], "region": str(north.pk)},
    }
    assert describe_preset(preset) == (
        "the fixed dates 2026-03-01 to 2026-03-31, 1 saved object;"
        " Order status: Paid, Refunded; Customer's region: North"
    )
    again = preset_request(preset)
    assert again.arguments == {"status": ["paid", "refunded"], "region": north.pk}
    assert again.params().filters == request.params().filters

    preset.options["arguments"]["region"] = "999999"
    preset.save()
    problem = "Customer's region: No region has the key '999999' (it may have been deleted)."
    assert preset_problem(preset) == problem
    with pytest.raises(InvalidParameters, match="This preset cannot run") as refused:
        preset_request(preset)
    assert refused.value.code == "preset"

    preset.options["arguments"] = {"colour": "red"}
    assert preset_problem(preset) == "The report has no parameter 'colour'."
    preset.options["arguments"] = "status=paid"
    assert "Options must be a mapping" in preset_problem(preset)


def test_a_background_run_rebuilds_them(lines):
    _kite, north, _south = lines
    spec = registry.get("order_lines")
    user = UserFactory(is_superuser=True)
    request = parse_run_request(spec, {**MARCH, "status": "paid", "region": str(north.pk)})
    run = create_run(request, user, background=True)
    assert run.parameters["arguments"] == {"status": ["paid"], "region": str(north.pk)}
    assert rebuild_request(run).arguments == request.arguments

    run.parameters["arguments"]["region"] = "999999"
    with pytest.raises(InvalidParameters, match="No region has the key '999999'"):
        rebuild_request(run)
    run.parameters["arguments"] = {"colour": "red"}  # a parameter since taken out
    with pytest.raises(ReportError, match="no longer has the parameter colour"):
        rebuild_request(run)


def run(*args) -> str:
    out = StringIO()
    call_command("run_report", "order_lines", "--no-bom", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_run_report_takes_param_options(lines):
    _kite, north, _south = lines
    dates = ["--start", MARCH["start"], "--end", MARCH["end"]]
    statuses = lambda text: [row.split(",")[2] for row in text.splitlines()[1:]]  # noqa: E731
    assert sorted(statuses(run(*dates))) == ["paid", "refunded", "shipped"]
    both = run(*dates, "--param", "status=paid", "--param", "status=shipped")
    assert sorted(statuses(both)) == ["paid", "shipped"]
    north_only = run(*dates, "--param", f"region={north.pk}", "--param", "status=paid,shipped")
    assert statuses(north_only) == ["paid"]

    refusals = [
        (["--param", "status=payed"], "--param status: 'payed' is not one of the choices"),
        (["--param", "colour=red"], "--param: the report order_lines has no parameter 'colour'"
         " (its parameters: status, region)."),
        (["--param", "status"], "--param: give NAME=VALUE, not 'status'."),
        (["--param", "region=999999"], "--param region: No region has the key '999999'"),
    ]  # fmt: skip
    for args, message in refusals:
        with pytest.raises(CommandError) as refused:
            run(*dates, *args)
        assert str(refused.value).startswith(message)
    assert ReportRun.objects.count() == 3, "a refused run is not stored"


def test_the_report_form_has_a_widget_per_parameter_and_errors_at_it(lines, monkeypatch):
    _kite, north, _south = lines
    spec = registry.get("order_lines")
    user = UserFactory()
    data = {**MARCH, "param_status": ["paid", "shipped"], "param_region": str(north.pk)}
    form = ReportForm(spec, user, data)
    assert form.is_valid(), form.errors
    assert form.run_request.arguments == {"status": ["paid", "shipped"], "region": north.pk}
    widgets = [type(field.field.widget).__name__ for field in form.parameter_bound_fields]
    assert widgets == ["CheckboxSelectMultiple", "Select"]
    region = form.fields["param_region"]
    assert [label for _key, label in region.choices] == ["All", "North", "South"]

    refused = ReportForm(spec, user, {**data, "param_region": "999999"})
    assert not refused.is_valid()
    assert refused.errors == {
        "param_region": ["No region has the key '999999' (it may have been deleted)."]
    }

    # Many choices: the admin's two-list selector; too many objects to list: their keys.
    monkeypatch.setattr(forms, "MAX_CHECKBOXES", 4)
    monkeypatch.setattr(arguments, "MAX_LISTED_OBJECTS", 1)
    form = ReportForm(spec, user, data)
    widgets = [type(field.field.widget).__name__ for field in form.parameter_bound_fields]
    assert widgets == ["FilteredSelectMultiple", "TextInput"]
    assert form.fields["param_region"].help_text == "The key of a region. Empty: all rows."
    assert form.is_valid(), form.errors
    assert form.run_request.arguments["region"] == north.pk


@pytest.mark.django_db(transaction=True)
def test_the_endpoint_takes_them(lines, client):
    _kite, north, _south = lines
    client.force_login(UserFactory(is_superuser=True))
    url = reverse("admin_reports:download", args=["order_lines"])
    query = f"start=2026-03-01&end=2026-03-31&bom=0&status=paid&status=refunded&region={north.pk}"
    response = client.get(f"{url}?{query}")
    assert response.status_code == 200
    data = b"".join(response.streaming_content).decode()
    response.close()
    assert sorted(row.split(",")[2] for row in data.splitlines()[1:]) == ["paid", "refunded"]
    refused = client.get(url, {**MARCH, "region": "abc"})
    assert (refused.status_code, refused.content) == (
        400,
        b"region: 'abc' is not a valid key of a region.\n",
    )
