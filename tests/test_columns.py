"""
Column choice: `always` in definitions, ReportParams.columns in the compiler (the ORM
path and COPY), the run request's `columns`, presets, background runs, the endpoint,
the report form and `run_report --columns`.
"""

import csv
import datetime as dt
import io
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from admin_reports.background import rebuild_request
from admin_reports.compiler import ReportParams, compile_report
from admin_reports.csv_output import body_chunks
from admin_reports.definitions import Mark, Problem, load_definition_text
from admin_reports.exceptions import InvalidParameters
from admin_reports.models import ReportPreset, ReportRun
from admin_reports.pgcopy import copy_chunks, row_path
from admin_reports.presets import preset_data, preset_problem, preset_request, save_preset
from admin_reports.preview import run_preview
from admin_reports.registry import registry
from admin_reports.run_request import parse_run_request
from admin_reports.sources import orm_rows
from project.shop.models import Product

from .factories import OrderFactory, OrderLineFactory, ProductFactory, UserFactory, grant
from .test_admin_reports import first_step, second_step

pytestmark = pytest.mark.django_db

MARCH = {"start": dt.date(2026, 3, 1), "end": dt.date(2026, 3, 31)}
MARCH_TEXT = {"start": "2026-03-01", "end": "2026-03-31"}
DAILY = "sku, product, day, units, revenue, orders"
DAILY_CHOICES = f"Columns: {DAILY} (sku, product, day always included)."
ORDER_LINES = (
    "order_id, placed_at, status, customer, region, sku, quantity, unit_price, line_total"
)
LINES_CHOICES = f"Columns: {ORDER_LINES}."


@pytest.fixture
def shop():
    """Two products sold in March 2026: two orders of three lines, the second refunded."""
    kite, ball = ProductFactory(sku="TOY-1", name="Kite"), ProductFactory(sku="TOY-2", name="Ball")
    for day, status in [(5, "paid"), (9, "refunded")]:
        order = OrderFactory(placed_at=dt.datetime(2026, 3, day, 10, tzinfo=dt.UTC), status=status)
        for product, quantity in [(kite, 1), (ball, 4), (kite, 2)]:
            OrderLineFactory(
                order=order, product=product, quantity=quantity, unit_price=Decimal("1.25")
            )
    return [kite, ball]


def table(spec, columns=(), **params):
    """The header and the formatted rows of `spec` with those columns, for March."""
    compiled = compile_report(spec, ReportParams(**MARCH, columns=columns, **params))
    return [compiled.headers, *(compiled.format_row(row) for row in orm_rows(compiled))]


def projected(full, names, all_names):
    """The full report's table, cut down to `names` in their order."""
    indexes = [all_names.index(name) for name in names]
    return [[row[index] for index in indexes] for row in full]


# Definitions -------------------------------------------------------------

ALWAYS = """\
model: shop.OrderLine
columns:
  - {name: sku, value: product.sku, always: true}
  - {name: quantity, value: quantity}
"""


def test_always_marks_a_column_and_an_aggregate_reports_groups_are_always_included():
    spec, problems = load_definition_text(ALWAYS)
    assert problems == []
    assert [(c.name, c.always) for c in spec.columns] == [("sku", True), ("quantity", False)]
    assert spec.always_included == ("sku",)
    assert registry.get("order_lines").always_included == ()
    assert registry.get("daily_product_sales").always_included == ("sku", "product", "day")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (
            "  - {name: quantity, value: quantity, always: 'yes'}",
            Problem(
                "E002",
                "The value of 'columns[1].always' must be true or false, not 'yes'.",
                Mark(None, 4, 47),
            ),
        ),
        (
            "  - {name: quantity, value: quantity, alwys: true}",
            Problem(
                "E003",
                "'alwys' is not a valid key of 'columns[1]'. Did you mean 'always'?",
                Mark(None, 4, 39),
                "Valid keys: name, label, value, format, always.",
            ),
        ),
    ],
)
def test_always_is_checked_like_every_key(line, problem):
    text = ALWAYS.replace("  - {name: quantity, value: quantity}", line)
    assert load_definition_text(text) == (None, [problem])


# The compiler ------------------------------------------------------------


def test_the_chosen_columns_in_their_order_have_the_full_reports_values(shop):
    spec = registry.get("order_lines")
    names = [column.name for column in spec.columns]
    full = table(spec)
    chosen = ("line_total", "sku", "placed_at")
    got = table(spec, chosen)
    assert got[0] == ["Line total", "SKU", "Placed at"], "headers follow"
    assert got == projected(full, chosen, names), "values, formats and row order too"
    assert got[1] == ["1.25", "TOY-1", "2026-03-05 11:00:00"]
    assert len(got) == 7


DAILY_SALES_BY_REVENUE = """\
model: shop.OrderLine
columns:
  - {name: sku, value: product.sku}
  - {name: product, value: product.name}
  - {name: day, value: "trunc(order.placed_at, 'day')"}
  - {name: units, value: sum(quantity)}
  - {name: revenue, value: sum(quantity * unit_price)}
  - {name: orders, value: count_distinct(order)}
order_by: [-revenue]
"""


def test_order_by_an_unchosen_column_still_orders_the_rows(shop):
    by_revenue, problems = load_definition_text(DAILY_SALES_BY_REVENUE)
    assert problems == []
    full = table(by_revenue)
    got = table(by_revenue, ("sku", "product", "day", "orders"))
    assert got == projected(full, ["sku", "product", "day", "orders"], DAILY.split(", "))
    assert [row[0] for row in got[1:]] == ["TOY-2", "TOY-2", "TOY-1", "TOY-1"], "by -revenue"
    daily = table(registry.get("daily_product_sales"), ("day", "sku", "product", "units"))
    assert daily[1] == ["2026-03-05", "TOY-1", "Kite", "3"]


def test_an_unchosen_column_over_a_reverse_relation_keeps_its_rows(shop):
    """One row per order line, as in the whole report, even without the line's column."""
    spec, _ = load_definition_text(
        "model: shop.Order\ncolumns:\n  - {name: status, value: status}\n"
        "  - {name: quantity, value: lines.quantity}\norder_by: [status]\n"
    )
    full = table(spec)
    assert table(spec, ("status",)) == projected(full, ["status"], ["status", "quantity"])
    assert len(full) == 7


def test_unknown_twice_and_left_out_columns_are_refused_by_the_compiler():
    spec = registry.get("daily_product_sales")
    for columns, message in [
        (("sku", "product", "day", "revnue"), "Unknown column 'revnue'. Did you mean 'revenue'?"),
        (("sku", "product", "day", "sku"), "The column 'sku' is named twice."),
        (("sku", "units"), "The columns product, day are always included: keep them in the list."),
    ]:
        with pytest.raises(InvalidParameters) as caught:
            compile_report(spec, ReportParams(**MARCH, columns=columns))
        assert caught.value.messages == [f"{message} {DAILY_CHOICES}"]
        assert caught.value.code == "columns"


@pytest.mark.parametrize("name", ["order_lines", "daily_product_sales", "region_monthly"])
def test_copy_gives_the_orm_paths_bytes_for_chosen_columns(shop, vendor, name):
    spec = registry.get(name)
    aggregates = [c.name for c in spec.columns if c.is_aggregate] or ["quantity", "sku"]
    chosen = (aggregates[-1], *spec.always_included, aggregates[0])
    compiled = compile_report(spec, ReportParams(**MARCH, columns=chosen))
    orm = b"".join(body_chunks(compiled))
    assert len(next(csv.reader(io.StringIO(orm.decode())))) == len(chosen)
    if vendor != "postgresql":
        assert row_path(compiled)[0] == "orm"
        return
    assert row_path(compiled) == ("copy", "every column has an identical SQL format")
    assert b"".join(copy_chunks(compiled)) == orm


# The run request ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", f"Choose at least one column. {DAILY_CHOICES}"),
        (" , ", f"Choose at least one column. {DAILY_CHOICES}"),
        ("sku,product,day,unit", f"Unknown column 'unit'. Did you mean 'units'? {DAILY_CHOICES}"),
        ("sku,product,day,units,units", f"The column 'units' is named twice. {DAILY_CHOICES}"),
        ("units,day", f"The columns sku, product are always included: keep them in the list."
         f" {DAILY_CHOICES}"),
    ],
)  # fmt: skip
def test_bad_columns_are_refused_naming_the_choices(value, message):
    with pytest.raises(InvalidParameters) as caught:
        parse_run_request(registry.get("daily_product_sales"), {**MARCH_TEXT, "columns": value})
    assert (caught.value.messages, caught.value.code, caught.value.field) == (
        [message],
        "columns",
        "columns",
    )


def test_columns_are_parsed_kept_in_order_described_and_passed_on():
    spec = registry.get("order_lines")
    request = parse_run_request(spec, {**MARCH_TEXT, "columns": " sku, quantity,order_id "})
    assert request.columns == ("sku", "quantity", "order_id")
    assert request.params().columns == ("sku", "quantity", "order_id")
    assert request.describe()["columns"] == ["sku", "quantity", "order_id"]
    listed = parse_run_request(spec, {**MARCH_TEXT, "columns": ["quantity", "sku"]})
    assert listed.columns == ("quantity", "sku")
    for everything in [None, ORDER_LINES.replace(" ", "")]:
        request = parse_run_request(spec, {**MARCH_TEXT, "columns": everything})
        assert request.columns == (), "every column in the definition's order: no choice"
        assert "columns" not in request.describe()


# Presets, background runs ------------------------------------------------


def test_a_preset_keeps_the_columns_and_runs_with_them(shop):
    owner = UserFactory()
    spec = registry.get("daily_product_sales")
    chosen = "revenue,sku,product,day"
    request = parse_run_request(spec, {**MARCH_TEXT, "columns": chosen})
    changelist = (Product, False, [str(shop[0].pk)], "")
    preset = save_preset(request, owner, name="Revenue", range_kind="fixed", changelist=changelist)
    preset.refresh_from_db()
    assert preset.options == {"bom": request.bom, "columns": chosen.split(",")}
    assert preset_data(preset)["columns"] == chosen.split(",")
    assert preset_request(preset).columns == tuple(chosen.split(","))
    every = save_preset(
        parse_run_request(spec, {**MARCH_TEXT, "columns": DAILY.replace(" ", "")}),
        owner,
        name="Everything",
        range_kind="fixed",
    )
    assert "columns" not in every.options, "all of them: the definition's, whatever they become"


def test_a_preset_naming_a_column_the_definition_no_longer_has_is_broken():
    preset = ReportPreset.objects.create(
        name="old",
        report="daily_product_sales",
        owner=UserFactory(),
        range_kind="quick",
        quick_range="last_month",
        options={"bom": False, "columns": ["sku", "product", "day", "margin"]},
    )
    assert preset_problem(preset) == f"Its columns: Unknown column 'margin'. {DAILY_CHOICES}"
    preset.options = {"columns": "sku"}
    assert preset_problem(preset).startswith('Options must be a mapping such as {"bom": true,')


def test_a_background_run_is_rebuilt_with_its_columns():
    spec = registry.get("order_lines")
    request = parse_run_request(spec, {**MARCH_TEXT, "columns": "sku,quantity"})
    run = ReportRun.objects.create(
        report=spec.name, title=spec.title, parameters={**request.describe(), "via": "cli"}
    )
    assert rebuild_request(run).columns == ("sku", "quantity")


# The faces ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # a run's threads use the database
def test_run_report_writes_the_chosen_columns(shop):
    out = StringIO()
    call_command(
        "run_report", "order_lines", "--start", "2026-03-01", "--end", "2026-03-31",
        "--select", str(shop[1].pk), "--columns", "quantity,sku", "--no-bom", stdout=out,
    )  # fmt: skip
    assert out.getvalue() == "Quantity,SKU\r\n4,TOY-2\r\n4,TOY-2\r\n"
    with pytest.raises(CommandError, match=r"^--columns: Choose at least one column\. Columns:"):
        call_command("run_report", "order_lines", "--range", "last_month", "--columns", "")
    with pytest.raises(CommandError, match=r"^--columns: Unknown column 'skus'\. Did you mean"):
        call_command("run_report", "order_lines", "--range", "last_month", "--columns", "skus")


@pytest.fixture
def staff(client):
    user = UserFactory()
    grant(user, "admin_reports.run_report", *registry.get("daily_product_sales").permissions)
    client.force_login(user)
    return user


@pytest.mark.django_db(transaction=True)  # a preview's thread uses the database
def test_the_preview_and_its_chart_follow_the_columns(shop):
    user = UserFactory()
    grant(user, "admin_reports.run_report", *registry.get("daily_product_sales").permissions)
    spec = registry.get("daily_product_sales")
    data = {**MARCH_TEXT, "columns": "units,sku,product,day"}
    preview = run_preview(parse_run_request(spec, data), user=user)
    assert preview.headers == ["Units", "SKU", "Product", "Day"]
    assert preview.rows[0] == ["3", "TOY-1", "Kite", "2026-03-05"]
    assert "The chart needs the column Revenue." in preview.chart
    data["columns"] += ",revenue"
    charted = run_preview(parse_run_request(spec, data), user=user)
    assert charted.chart.count('class="series ') == 2, "a line per product"


@pytest.mark.django_db(transaction=True)  # a run's threads use the database
def test_the_endpoint_takes_columns(client, staff, shop):
    url = reverse("admin_reports:download", args=["daily_product_sales"])
    response = client.get(url, {**MARCH_TEXT, "columns": "orders,sku,product,day", "bom": "0"})
    data = b"".join(response.streaming_content).decode()
    assert data.splitlines() == ["Orders,SKU,Product,Day", "1,TOY-1,Kite,2026-03-05",
                                 "1,TOY-2,Ball,2026-03-05"]  # fmt: skip
    refused = client.get(url, {**MARCH_TEXT, "columns": "orders"})
    assert refused.status_code == 400
    assert refused.content.decode() == (
        "columns: The columns sku, product, day are always included: keep them in the list."
        f" {DAILY_CHOICES}\n"
    )


@pytest.mark.django_db(transaction=True)  # a run's threads use the database
def test_the_form_posts_the_ticked_columns_in_the_lists_order(client, staff, shop):
    page = first_step(client, [product.pk for product in shop])
    widget = page.context["form"]["columns"]
    html = str(widget)
    assert html.count('type="checkbox"') == 6
    assert html.count(" disabled") == 3, "the grouping columns: always included"
    posted = ["", "units", "sku", "product", "day"]  # as the page posts them
    response = second_step(client, page, _report_step="download", **MARCH_TEXT, columns=posted)
    data = b"".join(response.streaming_content).decode("utf-8-sig")
    assert data.splitlines()[:2] == ["Units,SKU,Product,Day", "3,TOY-1,Kite,2026-03-05"]
    nothing = second_step(client, page, _report_step="download", **MARCH_TEXT, columns=[""])
    assert nothing.status_code == 400
    assert nothing.context["form"].errors["columns"] == [
        f"Choose at least one column. {DAILY_CHOICES}"
    ]


def test_the_endpoint_takes_repeated_columns_keys_as_the_form_posts_them():
    from django.http import QueryDict

    spec = registry.get("daily_product_sales")
    repeated = QueryDict(mutable=True)
    repeated.update({"start": MARCH_TEXT["start"], "end": MARCH_TEXT["end"]})
    for name in ("sku", "product,day", "revenue"):
        repeated.appendlist("columns", name)
    assert parse_run_request(spec, repeated).columns == ("sku", "product", "day", "revenue")
