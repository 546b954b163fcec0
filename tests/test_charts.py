"""
Charts: the `chart` key checked like every other key, and the SVG drawn from rows.

The browser's look at a chart of the demo's daily_product_sales is in
tests/streaming/test_charts_browser.py.
"""

import dataclasses
import datetime as dt
import itertools
import math
import xml.etree.ElementTree as ET
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.template.loader import render_to_string
from hypothesis import given, settings
from hypothesis import strategies as st

from admin_reports.charts import MAX_SERIES, render_chart
from admin_reports.definitions.chart import combining
from admin_reports.definitions.spec import ChartSpec, ChartType
from admin_reports.registry import load_definition, registry

SVG = "{http://www.w3.org/2000/svg}"

DAILY = """\
model: shop.OrderLine
columns:
  - {name: sku, value: product.sku}
  - {name: day, value: "trunc(order.placed_at, 'day')"}
  - {name: units, value: sum(quantity)}
  - {name: revenue, value: sum(quantity * unit_price)}
  - {name: last_at, value: max(order.placed_at)}
"""


def problems_of(tmp_path, chart: str):
    path = tmp_path / "report.yaml"
    path.write_text(DAILY + chart, encoding="utf-8")
    spec, problems = load_definition(path)
    return spec, [(p.id, p.mark.line, p.mark.column, p.message) for p in problems]


# chart text (from line 8); id, line, column and the start of the message of its problem
# fmt: off
INVALID = [
    ("chart: line\n", "E002", 8, 8, "The value of 'chart' must be a mapping"),
    ("chart: {type: line, x: day, y: units, colour: red}\n", "E003", 8, 39, "'colour' is not a valid key of 'chart'."),
    ("chart: {type: line, y: units}\n", "E004", 8, 8, "'chart' is missing the required key 'x'."),
    ("chart: {type: line, x: day, y: []}\n", "E002", 8, 32, "The value of 'chart.y' must be"),
    ("chart: {type: lin, x: day, y: units}\n", "E043", 8, 15, "The value of 'chart.type' is 'lin', which is not a chart type; choose one of: 'line', 'bar'. Did you mean 'line'?"),
    ("chart:\n  type: bar\n  x: day\n  y: units\n  series: skus\n", "E041", 12, 11, "The value of 'chart.series' refers to 'skus', which is not a column. Did you mean 'sku'?"),
    ("chart: {type: bar, x: units, y: revenue}\n", "E042", 8, 23, "The value of 'chart.x' refers to 'units', which is an aggregate"),
    ("chart: {type: line, x: day, y: [units, revenue], series: sku}\n", "E044", 8, 58, "The chart has a 'series' and 2 y columns"),
    # The registry's check: an aggregate, but of dates.
    ("chart:\n  type: line\n  x: day\n  y: [units, last_at]\n", "E042", 11, 14, "The value of 'chart.y' names 'last_at', whose values are not numbers: its type is DateTimeField."),
]
# fmt: on


@pytest.mark.parametrize(
    ("chart", "id", "line", "column", "start"), INVALID, ids=[c[1] for c in INVALID]
)
def test_an_invalid_chart_is_reported_where_it_is_written(
    tmp_path, chart, id, line, column, start
):
    spec, problems = problems_of(tmp_path, chart)
    assert spec is None
    assert [problem[:3] for problem in problems] == [(id, line, column)]
    assert problems[0][3].startswith(start)


def test_every_problem_of_a_chart_is_reported(tmp_path):
    _, problems = problems_of(tmp_path, "chart: {type: line, x: day, y: [day, sku]}\n")
    assert [problem[:3] for problem in problems] == [
        ("E044", 8, 33),  # day is x already
        ("E042", 8, 33),  # and no aggregate
        ("E042", 8, 38),
    ]


def test_a_valid_chart_is_in_the_spec(tmp_path):
    spec, problems = problems_of(
        tmp_path, "chart: {type: bar, x: day, y: revenue, series: sku, title: Takings}\n"
    )
    assert problems == []
    chart = spec.chart
    assert (chart.type, chart.x, chart.y, chart.series, chart.title) == (
        ChartType.BAR,
        "day",
        ("revenue",),
        "sku",
        "Takings",
    )
    assert [(mark.line, mark.column) for mark in chart.y_marks] == [(8, 31)]


def test_a_window_column_is_drawn_but_groups_no_chart(tmp_path):
    windows = (
        "  - {name: share, value: 'revenue / sum(revenue, over=True)'}\n"
        "  - {name: place, value: 'rank(order_by=-revenue, over=[day])'}\n"
    )
    drawn = windows + "chart: {type: line, x: day, y: [share, place]}\n"
    spec, problems = problems_of(tmp_path, drawn)
    assert problems == []
    assert spec.chart.y == ("share", "place")
    _, problems = problems_of(tmp_path, windows + "chart: {type: bar, x: place, y: units}\n")
    assert [(problem[0], problem[3]) for problem in problems] == [
        (
            "E042",
            "The value of 'chart.x' refers to 'place', which is a window: x and series must"
            " be columns the rows are grouped by.",
        )
    ]


COMBINED = """\
  - {name: lines, value: count()}
  - {name: orders, value: count_distinct(order)}
  - {name: mean, value: avg(unit_price)}
  - {name: ratio, value: sum(quantity) / count()}
  - {name: net, value: sum(quantity) - sum(quantity) + count()}
  - {name: negated, value: -sum(quantity)}
  - {name: hundredfold, value: sum(quantity) * 100}
  - {name: squared, value: sum(quantity) * sum(quantity)}
  - {name: zeroed, value: 'coalesce(sum(quantity), 0)'}
  - {name: fived, value: 'coalesce(sum(quantity), 5)'}
  - {name: defaulted, value: 'sum(quantity, default=5)'}
  - {name: least, value: min(quantity)}
  - {name: most, value: 'max(quantity, filter=quantity > 1)'}
  - {name: least_or_0, value: 'min(quantity, default=0)'}
  - {name: share, value: 'units / sum(units, over=True)'}
chart: {type: line, x: day, y: [units, mean, least, most, share]}
"""


def test_how_the_rows_sharing_a_point_combine_follows_each_aggregate(tmp_path):
    spec, problems = problems_of(tmp_path, COMBINED)
    assert problems == []
    assert {column.name: combining(column.expression) for column in spec.columns} == {
        "sku": None,
        "day": None,
        "units": "sum",
        "revenue": "sum",
        "last_at": "max",
        "lines": "sum",
        "orders": None,  # a customer on two days is one customer over both
        "mean": None,
        "ratio": None,
        "net": "sum",
        "negated": "sum",
        "hundredfold": "sum",
        "squared": None,
        "zeroed": "sum",
        "fived": None,  # two empty groups are 5, not 10
        "defaulted": None,
        "least": "min",
        "most": "max",
        "least_or_0": None,
        "share": None,  # a window, and of the group's own
    }
    assert spec.chart.y_combine == ("sum", None, "min", "max", None)


def test_rows_sharing_a_point_are_added_up_only_where_their_values_add_up(tmp_path):
    spec, _ = problems_of(tmp_path, COMBINED)
    names = [column.name for column in spec.columns]
    rows = [  # two SKUs on each of two days; the chart has no series: they share a point
        tuple(
            {"sku": sku, "day": day, "units": units, "least": units, "most": units}.get(n, 1)
            for n in names
        )
        for day in DAYS[:2]
        for sku, units in (("KITE", 2), ("YOYO", 5))
    ]
    drawn = dataclasses.replace(
        spec.chart, y=("units", "least", "most"), y_combine=("sum", "min", "max")
    )
    root = parsed(render_chart(drawn, spec.columns, rows))
    assert texts(root, f".//{SVG}circle/{SVG}title") == [
        "Units, 1 Mar: 7",  # 2 + 5
        "Units, 2 Mar: 7",
        "Least, 1 Mar: 2",
        "Least, 2 Mar: 2",
        "Most, 1 Mar: 5",
        "Most, 2 Mar: 5",
    ]
    not_added = (
        "Several rows share a Day, and their {} cannot be added up into one point (it is"
        " not a sum, count, min or max). Leave out the other grouping columns, or chart a"
        " sum or a count."
    )
    # y [units, mean, least, most, share]: the ones that add up are drawn, the caption
    # says which are not and why.
    svg = render_chart(spec.chart, spec.columns, rows)
    root = parsed(svg)
    assert texts(root, f".//{SVG}g[@class='legend-entry']/{SVG}text") == [
        "Units",
        "Least",
        "Most",
    ]
    assert texts(root, f"{SVG}title") == ["Units, Least, Most by Day"]
    assert svg.caption == " ".join(
        ["Units, Least, Most by Day: 4 rows.", not_added.format("Mean"), not_added.format("Share")]
    )
    only_mean = dataclasses.replace(spec.chart, y=("mean",), y_combine=(None,))
    root = parsed(render_chart(only_mean, spec.columns, rows))
    assert texts(root, f"{SVG}text") == [not_added.format("Mean")]
    assert not series_groups(root)
    with_series = dataclasses.replace(spec.chart, y=("mean",), series="sku", y_combine=(None,))
    assert series_groups(parsed(render_chart(with_series, spec.columns, rows)))


def test_a_y_column_left_out_of_a_run_is_not_drawn_and_said_by_its_label(tmp_path):
    spec, _ = problems_of(tmp_path, "chart: {type: line, x: day, y: [units, revenue]}\n")
    chosen = [column for column in spec.columns if column.name != "revenue"]
    rows = [("KITE", day, 2, dt.datetime(2026, 3, 1)) for day in DAYS[:2]]
    svg = render_chart(spec.chart, chosen, rows, every_column=spec.columns)
    root = parsed(svg)
    assert texts(root, f".//{SVG}g[@class='legend-entry']/{SVG}text") == ["Units"]
    assert svg.caption == "Units by Day: 2 rows. Revenue is not drawn: its column is left out."
    no_y = [column for column in chosen if column.name != "units"]
    rows = [("KITE", day, dt.datetime(2026, 3, 1)) for day in DAYS[:2]]
    root = parsed(render_chart(spec.chart, no_y, rows, every_column=spec.columns))
    assert texts(root, f"{SVG}text") == ["The chart needs the columns Units, Revenue."]


def test_the_demo_reports_declare_their_charts():
    daily, regions = registry.get("daily_product_sales"), registry.get("region_monthly")
    assert (daily.chart.type, daily.chart.x, daily.chart.y, daily.chart.series) == (
        ChartType.LINE,
        "day",
        ("revenue",),
        "sku",
    )
    assert (regions.chart.type, regions.chart.x, regions.chart.y, regions.chart.series) == (
        ChartType.BAR,
        "month",
        ("revenue",),
        "region",
    )
    assert registry.get("order_lines").chart is None


# Drawing --------------------------------------------------------------------

COLUMNS = [
    SimpleNamespace(name="sku", label="SKU"),
    SimpleNamespace(name="day", label="Day"),
    SimpleNamespace(name="units", label="Units"),
    SimpleNamespace(name="revenue", label="Revenue"),
]
LINE = ChartSpec(ChartType.LINE, "day", ("revenue",), "sku")
BAR = ChartSpec(ChartType.BAR, "day", ("units", "revenue"))
DAYS = [dt.date(2026, 3, day) for day in range(1, 6)]


def parsed(svg) -> ET.Element:
    return ET.fromstring(str(svg))


def texts(root: ET.Element, path: str) -> list[str]:
    return ["".join(element.itertext()) for element in root.iterfind(path)]


def series_groups(root):
    return [g for g in root.iter(f"{SVG}g") if "series" in g.get("class", "").split()]


def test_a_line_chart_has_a_path_per_series_a_legend_and_axis_labels():
    rows = [
        (sku, day, 1, Decimal(index) * factor)
        for sku, factor in (("KITE", 10), ("YOYO", -3))
        for index, day in enumerate(DAYS)
    ]
    svg = render_chart(LINE, COLUMNS, rows)
    root = parsed(svg)
    assert root.tag == f"{SVG}svg"
    assert texts(root, f"{SVG}title") == ["Revenue by Day"]
    assert [len(g.findall(f"{SVG}path")) for g in series_groups(root)] == [1, 1]
    assert texts(root, f".//{SVG}g[@class='legend-entry']/{SVG}text") == ["KITE", "YOYO"]
    assert texts(root, f".//{SVG}text[@class='axis-label']") == ["Revenue", "Day"]
    assert svg.caption == "Revenue by Day, one line per SKU: 10 rows."
    # Plotted by value: KITE's points rise by equal steps, YOYO's go below zero.
    ys = [float(c.get("cy")) for c in series_groups(root)[0].iter(f"{SVG}circle")]
    steps = {round(b - a, 1) for a, b in itertools.pairwise(ys)}
    assert len(steps) == 1
    assert steps.pop() < 0
    assert any(
        text.startswith("-") for text in texts(root, f".//{SVG}g[@class='y-axis']/{SVG}text")
    )


def test_a_grouped_bar_chart_has_a_rect_per_value_and_a_legend_entry_per_y_column():
    rows = [("KITE", day, index, Decimal("2.50") * index) for index, day in enumerate(DAYS)]
    rows[2] = ("KITE", DAYS[2], None, None)  # no values that day: no bars
    root = parsed(render_chart(BAR, COLUMNS, rows))
    assert [len(g.findall(f"{SVG}rect")) for g in series_groups(root)] == [4, 4]
    assert texts(root, f".//{SVG}g[@class='legend-entry']/{SVG}text") == ["Units", "Revenue"]
    assert texts(root, f".//{SVG}text[@class='axis-label']") == ["Units, Revenue", "Day"]
    assert texts(root, f".//{SVG}g[@class='x-axis']/{SVG}text")[:2] == ["1 Mar", "2 Mar"]


def test_text_from_the_data_is_escaped():
    name = "<script>alert('x')</script>&"
    svg = render_chart(LINE, COLUMNS, [(name, DAYS[0], 1, 5), (name, DAYS[1], 1, 6)])
    root = parsed(svg)
    assert not [element for element in root.iter() if element.tag.endswith("script")]
    assert texts(root, f".//{SVG}g[@class='legend-entry']/{SVG}title") == [name]
    assert texts(root, f".//{SVG}g[@class='legend-entry']/{SVG}text") == [
        "<script>aler…)</script>&"
    ]
    assert "&lt;script&gt;" in svg
    assert "<script" not in svg


def test_no_rows_give_a_message_and_a_missing_column_says_which():
    root = parsed(render_chart(LINE, COLUMNS, []))
    assert texts(root, f"{SVG}text") == ["No rows to draw."]
    assert not series_groups(root)
    root = parsed(render_chart(LINE, COLUMNS[1:], [(DAYS[0], 1, 5)]))
    assert texts(root, f"{SVG}text") == ["The chart needs the column sku."]


def test_one_point_a_gap_many_series_and_many_x_values():
    one = parsed(render_chart(LINE, COLUMNS, [("KITE", DAYS[0], 1, 5)]))
    assert len(list(one.iter(f"{SVG}circle"))) == 1
    gap = [("KITE", day, 1, None if day == DAYS[2] else 4) for day in DAYS]
    path = parsed(render_chart(LINE, COLUMNS, gap)).find(f".//{SVG}path")
    assert path.get("d").count("M") == 2  # two pieces: the line breaks at the missing day
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(200)]
    rows = [(f"P{n:02}", day, 1, n + 1) for n in range(MAX_SERIES + 3) for day in days]
    svg = render_chart(LINE, COLUMNS, rows)
    root = parsed(svg)
    assert len(series_groups(root)) == MAX_SERIES
    # The largest series are the ones drawn; the others are counted.
    assert texts(root, f".//{SVG}g[@class='legend-entry']/{SVG}text")[0] == "P03"
    assert texts(root, f".//{SVG}text[@class='legend-note']") == ["+ 3 more, not drawn"]
    assert "3 more are not" in svg.caption
    ticks = texts(root, f".//{SVG}g[@class='x-axis']/{SVG}text")[:-1]
    assert 3 <= len(ticks) <= 12
    assert ticks[0] == "1 Jan"


def test_a_line_breaks_over_days_no_row_has_and_its_ticks_keep_their_room():
    # Days 1-3 and 9-10: nothing on 4-8, in any series.
    days = [DAYS[0], DAYS[1], DAYS[2], dt.date(2026, 3, 9), dt.date(2026, 3, 10)]
    root = parsed(render_chart(LINE, COLUMNS, [("KITE", day, 1, 4) for day in days]))
    assert root.find(f".//{SVG}path").get("d").count("M") == 2
    # Ticks placed by value: none closer to the next than a label's width.
    crowded = [dt.date(2026, 3, 1) + dt.timedelta(days=n) for n in (0, 1, 30, 31, 60, 61)]
    root = parsed(render_chart(LINE, COLUMNS, [("KITE", day, 1, 4) for day in crowded]))
    ticks = [float(t.get("x")) for t in root.iterfind(f".//{SVG}g[@class='x-axis']/{SVG}text")]
    assert all(b - a >= 40 for a, b in itertools.pairwise(ticks[:-1]))


def test_the_template_puts_the_chart_in_a_figure_with_its_caption():
    svg = render_chart(LINE, COLUMNS, [("KITE", DAYS[0], 1, 5), ("KITE", DAYS[1], 1, 6)])
    html = render_to_string("admin/admin_reports/chart.html", {"chart": svg})
    assert '<figure class="admin-reports-figure">' in html
    assert str(svg) in html
    assert "<figcaption>Revenue by Day, one line per SKU: 2 rows.</figcaption>" in html
    assert render_to_string("admin/admin_reports/chart.html", {"chart": None}).strip() == ""


X_VALUES = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.dates(dt.date(2025, 1, 1), dt.date(2025, 1, 9)),
    st.text(max_size=6),
)
Y_VALUES = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, places=2, min_value=-(10**12), max_value=10**12),
    st.integers(-(10**15), 10**15),
    st.text(max_size=4),
)
ROWS = st.lists(st.tuples(st.text(max_size=8), X_VALUES, Y_VALUES, Y_VALUES), max_size=25)


@settings(max_examples=60, deadline=None)
@given(
    rows=ROWS,
    chart=st.sampled_from([LINE, BAR, ChartSpec(ChartType.BAR, "day", ("revenue",), "sku")]),
)
def test_any_rows_give_well_formed_svg_with_finite_coordinates(rows, chart):
    root = parsed(render_chart(chart, COLUMNS, rows))
    for element in root.iter():
        numbers = [element.get(name) for name in ("x", "y", "cx", "cy", "width", "height")]
        numbers += (element.get("d") or "").replace("M", " ").replace("L", " ").split()
        assert all(math.isfinite(float(number)) for number in numbers if number is not None)
