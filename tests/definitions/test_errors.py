"""
One invalid definition per check id: the whole problem, with file, line and column.

Each goes through `registry.load_definition`, the path every definition takes: validation
(admin_reports.definitions), then the registry's checks (E018 quick range, E024 compiles).
"""

from pathlib import Path

import pytest
from django.test import override_settings

from admin_reports.definitions import CHECK_IDS, Mark, Problem, load_definition_file
from admin_reports.definitions.problems import shown
from admin_reports.registry import load_all, load_definition

BASE = """\
model: shop.OrderLine
columns:
  - name: sku
    value: product.sku
"""


# daily sales in short, for the chart's cases
CHARTED = (
    BASE
    + "  - {name: day, value: \"trunc(order.placed_at, 'day')\"}\n  - {name: units, value: sum(quantity)}\n"
)


def one_column(value: str) -> str:
    return f"model: shop.OrderLine\ncolumns:\n  - name: sku\n    value: {value}\n"


KEYS = (
    "Valid keys: name, title, description, model, action_on, selection, date_range, joins,"
    " filters, exclude, parameters, columns, where, having, order_by, permissions, max_duration,"
    " chart."
)
NAME_HINT = "Use lowercase letters, digits and underscores, starting with a letter."
FUNCTIONS = (
    "Known: abs, avg, cast, coalesce, concat, count, count_distinct, date, days, dense_rank,"
    " duration, extract, hours, label, length, lower, max, min, minutes, now, rank, round,"
    " row_number, seconds, sum, today, trunc, upper."
)
QUICK = (
    "Quick ranges: today, yesterday, last_7_days, last_30_days, this_month, last_month,"
    " this_quarter, last_quarter, year_to_date, last_year."
)

# id, definition text, message, line, column, hint
CAST_HINT = "Convert one side first, e.g. cast(x, 'decimal', places=2) or cast(x, 'text')."
CASES = [
    (
        "E001",
        "model: shop.OrderLine\ncolumns: [\n",
        "Invalid YAML: while parsing a flow node: expected the node content,"
        " but found '<stream end>'.",
        3,
        1,
        None,
    ),
    (
        "E002",
        "model: shop.OrderLine\ncolumns: 5\n",
        "The value of 'columns' must be a non-empty list.",
        2,
        10,
        None,
    ),
    (
        "E003",
        BASE + "colums: []\n",
        "'colums' is not a valid key of the definition. Did you mean 'columns'?",
        5,
        1,
        KEYS,
    ),
    (
        "E004",
        "columns:\n  - name: sku\n    value: product.sku\n",
        "The definition is missing the required key 'model'.",
        1,
        1,
        None,
    ),
    (
        "E005",
        BASE + "title: a\ntitle: b\n",
        "The key 'title' appears twice in the same mapping.",
        6,
        1,
        "It was first given on line 5.",
    ),
    (
        "E007",
        BASE + "name: Daily Sales\n",
        "The report name 'Daily Sales' is not valid.",
        5,
        7,
        NAME_HINT,
    ),
    (
        "E008",
        BASE.replace("OrderLine", "OrderLin"),
        "The value of 'model' refers to 'shop.OrderLin', which is not an installed model."
        " Did you mean 'shop.OrderLine'?",
        1,
        8,
        "Give the model as 'app_label.ModelName'.",
    ),
    (
        "E009",
        one_column('"order.custmer.name"'),
        "The value of 'columns[0].value' refers to 'custmer', which is not a field of"
        " 'shop.Order'. Did you mean 'customer'?",
        4,
        13,
        None,
    ),
    (
        "E010",
        one_column("product.sku.name"),
        "The value of 'columns[0].value' refers to 'product.sku.name', but 'sku' is not a"
        " relation, so it has no field 'name'.",
        4,
        12,
        None,
    ),
    (
        "E011",
        one_column("sum(quantity"),
        "The value of 'columns[0].value' is not a valid expression: '(' was never closed.",
        4,
        15,
        None,
    ),
    (
        "E012",
        one_column("quantity ** 2"),
        "The value of 'columns[0].value' uses the operator **, which is not allowed.",
        4,
        12,
        None,
    ),
    (
        "E013",
        one_column("summ(quantity)"),
        "The value of 'columns[0].value' calls 'summ', which is not a known function or"
        " aggregate. Did you mean 'sum'?",
        4,
        12,
        FUNCTIONS,
    ),
    (
        "E014",
        one_column("trunc(order.placed_at, 'mnth')"),
        "The value of 'columns[0].value' calls 'trunc' with 'mnth'; choose one of: 'hour',"
        " 'day', 'week', 'month', 'quarter', 'year'. Did you mean 'month'?",
        4,
        35,
        None,
    ),
    (
        "E015",
        BASE + "filters:\n  order.status__inn: [paid]\n",
        "The key 'filters.order.status__inn' is not a valid filter: Unsupported lookup 'inn'"
        " for CharField or join on the field not permitted, perhaps you meant in?",
        6,
        3,
        None,
    ),
    (
        "E016",
        BASE + "joins:\n  product: order.customer\n",
        "The join alias 'product' is not valid: it must be a lowercase name that is not a"
        " field of 'shop.OrderLine'.",
        6,
        12,
        None,
    ),
    (
        "E017",
        BASE + "date_range: quantity\n",
        "The value of 'date_range.field' refers to 'quantity', which is not a date or"
        " datetime field.",
        5,
        13,
        None,
    ),
    (
        "E018",
        BASE + "date_range:\n  field: order.placed_at\n  default: last_mnth\n",
        "The value of 'date_range.default' is 'last_mnth', which is not a quick range."
        " Did you mean 'last_month'?",
        7,
        12,
        QUICK,
    ),
    (
        "E073",
        BASE + "date_range:\n  field: order.placed_at\n  quick_ranges: [last_month, lst_year]\n",
        "The value of 'date_range.quick_ranges' names 'lst_year', which is not a quick range."
        " Did you mean 'last_year'?",
        7,
        30,
        QUICK,
    ),
    (
        "E074",
        BASE
        + "date_range:\n  field: order.placed_at\n  default: today\n  quick_ranges: [last_year]\n",
        "The value of 'date_range.default' is 'today', which 'date_range.quick_ranges' does"
        " not offer.",
        7,
        12,
        "Add it to quick_ranges, or start the form with one of: last_year.",
    ),
    (
        "E019",
        BASE + "action_on: shop.Product\nselection: order\n",
        "The value of 'selection' is 'order', which leads to 'shop.Order', not to 'shop.Product'.",
        6,
        12,
        None,
    ),
    (
        "E020",
        BASE + "order_by: [skus]\n",
        "The value of 'order_by' refers to 'skus', which is not a column. Did you mean 'sku'?",
        5,
        12,
        "Columns: sku.",
    ),
    (
        "E021",
        BASE + "  - name: sku\n    value: product.name\n",
        "The column name 'sku' in 'columns[1]' is already used by 'columns[0]'.",
        6,
        12,
        None,
    ),
    (
        "E022",
        BASE + "    format: {date: YYYY}\n",
        "The value of 'columns[0].format.date' is 'YYYY', which has no % directive.",
        5,
        20,
        "Use strftime directives, e.g. '%d.%m.%Y'.",
    ),
    (
        "E022",
        BASE + "    format: {datetime: ''}\n",
        "The value of 'columns[0].format.datetime' is '', which has no % directive.",
        5,
        24,
        "Use strftime directives, e.g. '%d.%m.%Y'.",
    ),
    (
        "E023",
        BASE + "permissions: [view order]\n",
        "The value of 'permissions' contains 'view order', which is not a permission name.",
        5,
        15,
        "Write permissions as 'app_label.codename', e.g. 'shop.view_order'.",
    ),
    (
        "E024",
        one_column("\"trunc(quantity, 'month')\""),
        "The value of 'columns[0].value' does not compile: 'quantity' isn't a DateField,"
        " TimeField, or DateTimeField.",
        4,
        12,
        None,
    ),
    (
        "E025",
        one_column("sum(sum(quantity))"),
        "The value of 'columns[0].value' uses the aggregate 'sum' inside another aggregate.",
        4,
        16,
        None,
    ),
    (
        "E026",
        BASE + "    format: {decimals: 99}\n",
        "The value of 'columns[0].format.decimals' must be between 0 and 20, not 99.",
        5,
        24,
        None,
    ),
    (
        "E029",
        "model: auth.User\ncolumns:\n  - name: secret\n    value: password\n",
        "The value of 'columns[0].value' refers to 'password' of 'auth.User', which no report"
        " may read.",
        4,
        12,
        "ADMIN_REPORTS_FORBIDDEN_FIELDS and the user model's password are never read.",
    ),
    (
        "E030",
        "# " + "x" * 300_000 + "\n",
        "The file is 300,003 bytes; a definition may be at most 262,144.",
        0,
        0,
        None,
    ),
    (
        "E031",
        "title: &t Sales\nmodel: shop.OrderLine\ndescription: *t\ncolumns: []\n",
        "The definition uses the YAML anchor '&t': anchors and aliases are not allowed in"
        " definitions.",
        1,
        8,
        "A value that starts with '&' is quoted: '&...'.",
    ),
    (
        "E032",
        "model: shop.OrderLine\ncolumns: " + "[" * 40 + "]" * 40 + "\n",
        "The definition nests deeper than 16 levels.",
        2,
        25,
        None,
    ),
    (
        "E033",
        "model: shop.OrderLine\ncolumns:\n"
        + "".join(f"  - {{name: c{n}, value: quantity}}\n" for n in range(501)),
        "The definition has 501 columns; a report may have at most 500.",
        3,
        3,
        None,
    ),
    (
        "E034",
        "model: shop.OrderLine\ntitle: " + "y" * 5000 + "\ncolumns: []\n",
        "A value is 5,000 characters long; a definition's values may be at most 4,000.",
        2,
        8,
        None,
    ),
    (
        "E035",
        "model: shop.OrderLine\ntitle: "
        + "t" * 201
        + "\ncolumns:\n  - {name: q, value: quantity}\n",
        "The title is 201 characters long; a title may be at most 200.",
        2,
        8,
        "Put the rest in 'description'.",
    ),
    (
        "E040",
        BASE + "  - {name: quantity, value: quantity}\nchart: {type: bar, x: sku, y: quantity}\n",
        "The definition has a 'chart', but no aggregate column: a chart draws the rows of an"
        " aggregate report.",
        6,
        1,
        "Add a column such as sum(...) or count(...), or leave out 'chart'.",
    ),
    (
        "E041",
        CHARTED + "chart: {type: line, x: dya, y: units}\n",
        "The value of 'chart.x' refers to 'dya', which is not a column. Did you mean 'day'?",
        7,
        24,
        "Columns: sku, day, units.",
    ),
    (
        "E042",
        CHARTED + "chart:\n  type: line\n  x: day\n  y: [units, sku]\n",
        "The value of 'chart.y[1]' refers to 'sku', which is not an aggregate: a chart draws"
        " numbers computed per group, such as sum(...) or count(...).",
        10,
        14,
        None,
    ),
    (
        "E043",
        CHARTED + "chart: {type: pie, x: day, y: units}\n",
        "The value of 'chart.type' is 'pie', which is not a chart type; choose one of: 'line',"
        " 'bar'.",
        7,
        15,
        None,
    ),
    (
        "E044",
        CHARTED + "chart: {type: line, x: day, y: [units, units]}\n",
        "The value of 'chart.y[1]' is 'units', which 'chart.y[0]' names too: a column has one"
        " place in a chart.",
        7,
        40,
        None,
    ),
    (
        "E045",
        BASE + "filters:\n  unit_price__gt: abc\n",
        "The value of 'filters.unit_price__gt' is 'abc', which the field does not take:"
        " “abc” value must be a decimal number.",
        6,
        3,
        "A filter compares with a literal value. To compare with another field or the run's"
        " range, use 'where:' with an expression, e.g. where: \"returned_at > borrowed_at\".",
    ),
    (
        "E050",
        BASE + "parameters:\n  - {name: start, field: order.status}\n",
        "The value of 'parameters[0].name' is 'start', which a run request already uses for"
        " its own input.",
        6,
        12,
        "Taken: range, start, end, select, on, bom, format, columns, run_token, preset, notify,"
        " preview, via.",
    ),
    (
        "E051",
        BASE + "parameters:\n  - name: placed\n    field: order.placed_at\n",
        "The value of 'parameters[0].field' refers to 'order.placed_at', a DateTimeField,"
        " which no parameter takes.",
        7,
        12,
        "A parameter takes a foreign key (a choice among its objects), a field with choices,"
        " a number or text.",
    ),
    (
        "E052",
        BASE + "parameters:\n  - {name: least, field: quantity, lookup: gtee}\n",
        "The value of 'parameters[0].lookup' is 'gtee', which a number parameter does not"
        " take; choose one of: exact, gt, gte, lt, lte. Did you mean 'gte'?",
        6,
        44,
        None,
    ),
    (
        "E053",
        BASE + "parameters:\n  - name: status\n    field: order.status\n    default: payed\n",
        "The value of 'parameters[0].default' is not valid: 'payed' is not one of the"
        " choices: pending, paid, shipped, refunded, cancelled.",
        8,
        14,
        None,
    ),
    (
        "E054",
        BASE
        + "parameters:\n"
        + "".join(f"  - {{name: p{n}, field: quantity}}\n" for n in range(21)),
        "The definition has 21 parameters; a report may have at most 20.",
        6,
        3,
        None,
    ),
    (
        "E065",
        BASE + "  - name: odd\n    value: quantity + sum(quantity)\n",
        "The value of 'columns[1].value' reads 'quantity' outside an aggregate, but no"
        " grouping column has that value.",
        6,
        12,
        "Put it inside an aggregate (e.g. sum(quantity), min(quantity)), or add a column with"
        " the value 'quantity' to group the rows by it.",
    ),
    (
        "E066",
        BASE + "  - name: a\n    value: b + 1\n  - name: b\n    value: quantity\n",
        "The value of 'columns[1].value' refers to the column 'b', which is not defined before"
        " it.",
        6,
        12,
        "A column may use the columns above it: move this one below it.",
    ),
    (
        "E067",
        BASE + "where: order.placed_at < range.end\n",
        "The value of 'where' uses the run's range, but the report has no 'date_range'.",
        5,
        8,
        "Add a date_range (the field the runs' dates limit), or use today().",
    ),
    (
        "E068",
        BASE + "where: [quantity > 1, quantity]\n",
        "The value of 'where[1]' is a value, not a condition.",
        5,
        23,
        "Compare it (==, <, in, is None...) or combine conditions with and, or, not.",
    ),
    (
        "E069",
        BASE + "having: quantity > 1\n",
        "The definition has 'having', but no aggregate column: its rows are not grouped.",
        5,
        1,
        "Use 'where' for conditions over rows.",
    ),
    (
        "E070",
        CHARTED + "  - {name: share, value: 'units / sum(units, over=[order.status])'}\n",
        "The value of 'columns[3].value' partitions or orders a window by 'order.status', which"
        " is not a grouping column's value.",
        7,
        26,
        "In a grouped report, over= and order_by= take grouping columns (by name) or aggregates.",
    ),
    (
        "E071",
        one_column("'rank(order_by=rank(order_by=quantity))'"),
        "The value of 'columns[0].value' orders a window by a window.",
        4,
        27,
        None,
    ),
    (
        "E072",
        one_column("label(product.sku)"),
        "The value of 'columns[0].value' calls 'label' with something other than a field with"
        " choices.",
        4,
        12,
        "label() takes a path to a field with choices, e.g. label(order.status).",
    ),
    (
        "E007",
        "name: "
        + "n" * 101
        + "\nmodel: shop.OrderLine\ncolumns:\n  - {name: q, value: quantity}\n",
        "The report name " + repr("n" * 80)[:-1] + "…' (101 characters) is 101 characters long;"
        " a report name may be at most 100.",
        1,
        7,
        None,
    ),
    (
        "E056",
        BASE + "  - {name: units, value: sum(quantity, filter=quantity > 1, default=0)}\n",
        "The value of 'columns[1].value' was cut at a comma: in a flow mapping {...} a comma"
        " ends a value, so YAML read 'sum(quantity' and then a key 'filter=quantity > 1'.",
        5,
        40,
        "Quote the value: value: 'sum(quantity, filter=quantity > 1, default=0)'.",
    ),
    (
        "E060",
        one_column("product.name * quantity"),
        "The value of 'columns[0].value' uses text * an integer, which has no meaning in a"
        " report.",
        4,
        12,
        CAST_HINT,
    ),
    (
        "E061",
        one_column("quantity % 0.5"),
        "The value of 'columns[0].value' uses % with a decimal or float; % takes integers.",
        4,
        12,
        "Make both sides integers, e.g. cast(x, 'integer') % 7.",
    ),
    (
        "E062",
        one_column("\"extract(order.placed_at - order.placed_at, 'day')\""),
        "The value of 'columns[0].value' uses extract() on a duration, which is not a date.",
        4,
        12,
        "A duration's length: days(d), hours(d), minutes(d) or seconds(d).",
    ),
    (
        "E063",
        one_column("days(quantity)"),
        "The value of 'columns[0].value' uses days() on an integer, which is not a duration.",
        4,
        12,
        "A duration is the difference of two dates or datetimes, e.g."
        " days(returned_at - borrowed_at).",
    ),
]


@pytest.mark.parametrize(
    ("text", "kind"), [("- a\n- b\n", "a list"), ("just words\n", "'just words'"), ("", "empty")]
)
def test_a_definition_that_is_no_mapping_says_what_it_is(tmp_path, text, kind):
    path = tmp_path / "report.yaml"
    path.write_text(text, encoding="utf-8")
    spec, problems = load_definition(path)
    assert spec is None
    assert [p.message for p in problems] == [
        f"A report definition must be a mapping of keys, not {kind}."
    ]


def test_the_name_and_title_limits_are_what_the_run_log_stores():
    """A longer name or title would pass the check and fail every run (varchar overflow)."""
    from admin_reports.definitions import validation
    from admin_reports.models import ReportPreset, ReportRun

    assert ReportRun._meta.get_field("report").max_length == validation.MAX_NAME_CHARS
    assert ReportPreset._meta.get_field("report").max_length == validation.MAX_NAME_CHARS
    assert ReportRun._meta.get_field("title").max_length == validation.MAX_TITLE_CHARS


@override_settings(ADMIN_REPORTS_FUNCTIONS={})  # the built-in functions only, as in FUNCTIONS
@pytest.mark.parametrize(
    ("id", "text", "message", "line", "column", "hint"), CASES, ids=[c[0] for c in CASES]
)
def test_invalid_definition(tmp_path, id, text, message, line, column, hint):
    path = tmp_path / "report.yaml"
    path.write_text(text, encoding="utf-8")
    spec, problems = load_definition(path)
    assert spec is None
    assert problems == [Problem(id, message, Mark(path, line, column), hint)]
    assert problems[0].to_check().id == f"admin_reports.{id}"


# Found when the query is compiled: the registry's checks.
REGISTRY_IDS = ("E018", "E024", "E060", "E061", "E062", "E063", "E073", "E074")
REGISTRY_CASES = [case for case in CASES if case[0] in REGISTRY_IDS]


@pytest.mark.parametrize("case", REGISTRY_CASES, ids=[case[0] for case in REGISTRY_CASES])
def test_quick_ranges_and_compiling_are_checked_by_the_registry(tmp_path, case):
    """Validation alone knows no quick ranges and compiles nothing; the registry does."""
    path = tmp_path / "report.yaml"
    path.write_text(case[1], encoding="utf-8")
    spec, problems = load_definition_file(path)
    assert problems == []
    assert spec is not None
    specs, problems = load_all([tmp_path])
    assert specs == {}
    assert [problem.id for problem in problems] == [case[0]]


def test_duplicate_names_across_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a" / "sales.yaml", tmp_path / "b" / "sales.yaml"
    first.write_text(BASE, encoding="utf-8")
    second.write_text(BASE, encoding="utf-8")
    specs, problems = load_all([tmp_path / "a", tmp_path / "b"])
    assert list(specs) == ["sales"]
    assert problems == [
        Problem(
            "E006",
            f"The report name 'sales' is already used by {Mark(first)}.",
            Mark(second, 1, 1),
            "Give one of them another file name or 'name'.",
        )
    ]


def test_every_check_id_has_a_case():
    covered = {case[0] for case in CASES} | {"E006"}
    assert covered == set(CHECK_IDS)


def test_all_problems_of_a_file_are_reported(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text(
        "model: shop.OrderLine\n"
        "colour: red\n"
        "columns:\n"
        "  - name: a\n"
        "    value: product.skuu\n"
        "  - name: b\n"
        "    value: summ(quantity)\n"
        "order_by: [c]\n",
        encoding="utf-8",
    )
    _, problems = load_definition_file(path)
    assert [(p.id, p.mark.line) for p in problems] == [
        ("E003", 2),
        ("E009", 5),
        ("E013", 7),
        ("E020", 8),
    ]


def test_unreadable_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("title: caf\xe9\n".encode("latin-1"))
    _, problems = load_definition_file(path)
    assert [p.id for p in problems] == ["E001"]
    assert problems[0].message.startswith("Cannot read the file: 'utf-8' codec can't decode")


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object/apply:os.system ['echo pwned']\n",
        "model: !!python/name:os.system\ncolumns: []\n",
    ],
)
def test_yaml_is_safe_loaded(tmp_path, text):
    path = tmp_path / "evil.yaml"
    path.write_text(text, encoding="utf-8")
    _, problems = load_definition_file(path)
    assert [p.id for p in problems] == ["E001"]
    assert "could not determine a constructor" in problems[0].message


def test_marks_print_like_django_checks():
    problem = Problem("E009", "Broken.", Mark(Path("/tmp/x.yaml"), 3, 7), "Fix it.")
    assert str(problem) == "/tmp/x.yaml:3:7: (admin_reports.E009) Broken.\n\tHINT: Fix it."


def test_every_check_id_is_documented():
    from django.conf import settings

    docs = (Path(settings.BASE_DIR) / "docs" / "checks.md").read_text(encoding="utf-8")
    for id, meaning in CHECK_IDS.items():
        assert f"| `admin_reports.{id}` | {meaning} |" in docs


def test_a_bad_column_is_not_reported_again_by_order_by(tmp_path):
    path = tmp_path / "report.yaml"
    path.write_text(
        "model: shop.OrderLine\n"
        "columns:\n"
        "  - name: region\n"
        "    value: order.customer.regoin.name\n"
        "order_by: [region]\n"
    )
    spec, problems = load_definition(path)
    assert spec is None
    assert [problem.id for problem in problems] == ["E009"]


@pytest.mark.parametrize(
    ("top", "column"),
    [
        ("filters:\n  order__customer__email__startswith: a\n", ""),
        ("filters:\n  order.customer.email__startswith: a\n", ""),
        ("", "  - name: e\n    value: order.customer.email\n"),
    ],
)
def test_forbidden_fields_are_refused_wherever_they_are_read(tmp_path, settings, top, column):
    settings.ADMIN_REPORTS_FORBIDDEN_FIELDS = ["shop.Customer.email"]
    path = tmp_path / "report.yaml"
    columns = "columns:\n  - name: q\n    value: quantity\n" + column
    path.write_text(top + "model: shop.OrderLine\n" + columns)
    spec, problems = load_definition(path)
    assert spec is None
    assert [problem.id for problem in problems] == ["E029"]
    assert "refers to 'email' of 'shop.Customer', which no report may read." in str(problems[0])


def test_a_bad_join_condition_is_reported_where_it_is(tmp_path):
    path = tmp_path / "report.yaml"
    path.write_text(
        BASE
        + "joins:\n  buyer:\n    path: order.customer\n    condition: \"regoin.code == 'N'\"\n"
    )
    spec, problems = load_definition(path)
    assert spec is None
    assert problems == [
        Problem(
            "E009",
            "The value of 'joins.buyer.condition' refers to 'regoin', which is not a field of"
            " 'shop.Customer'. Did you mean 'region'?",
            Mark(path, 8, 17),
        )
    ]


# A value may be 4,000 characters, or a list of thousands: a message quotes its start,
# says how long it is, and stays short (a hostile file once made gigabytes of output).
LONG = "a" * 4000
XS = "[" + ", ".join(["x"] * 1500) + "]"


def start(char: str, length: int = 4000) -> str:
    """How a message quotes a long string: its first 80 characters and its length."""
    return f"'{char * 80}…' ({length:,} characters)"


XS_SHOWN = "[" + "'x', " * 16 + "…] (1,500 items)"
A80 = "a" * 80 + "…"

# definition text, [(id, message)]
LONG_CASES = [
    (
        BASE + f"title: {XS}\n",
        [("E002", f"The value of 'title' must be a string, not {XS_SHOWN}.")],
    ),
    (
        one_column(XS),
        [
            (
                "E002",
                f"The value of 'columns[0].value' must be an expression (a string), not {XS_SHOWN}.",
            )
        ],
    ),
    (
        "model: shop.OrderLine\ncolumns:\n  - name: " + "A" * 4000 + "\n    value: quantity\n",
        [
            (
                "E007",
                f"The value of 'columns[0].name' is {start('A')}, which is not a valid column name.",
            )
        ],
    ),
    (
        BASE + f"filters:\n  quantity: {LONG}\n",
        [
            (
                "E045",
                f"The value of 'filters.quantity' is {start('a')}, which the field does not"
                " take: a number is needed.",
            )
        ],
    ),
    (
        BASE + f"filters:\n  order.placed_at__date: {LONG}\n",
        [
            (
                "E045",
                f"The value of 'filters.order.placed_at__date' is {start('a')}, which the field"
                " does not take: “" + "a" * 40 + "…” value has an invalid date format. It must be"
                " in YYYY-MM-DD format.",
            )
        ],
    ),
    (
        BASE + f"filters:\n  ? {LONG}\n  : 1\n",
        [
            (
                "E009",
                f"The key 'filters.{A80}' refers to {start('a')}, which is not a field of"
                " 'shop.OrderLine'.",
            )
        ],
    ),
    (
        BASE + f"? {LONG}\n: 1\n? {LONG}\n: 2\n",
        [
            ("E005", f"The key {start('a')} appears twice in the same mapping."),
            ("E003", f"{start('a')} is not a valid key of the definition."),
        ],
    ),
    (
        BASE + f"joins:\n  ? {LONG}\n  : {{path: order, condition: nope}}\n",
        [
            (
                "E009",
                f"The value of 'joins.{A80}.condition' refers to 'nope', which is not a field of"
                " 'shop.Order'.",
            )
        ],
    ),
    (
        BASE + "date_range:\n  field: order.placed_at\n  default: " + "x" * 4000 + "\n",
        [
            (
                "E018",
                f"The value of 'date_range.default' is {start('x')}, which is not a quick range.",
            )
        ],
    ),
    (
        BASE + "    format: {date: " + "Y" * 4000 + "}\n",
        [
            (
                "E022",
                f"The value of 'columns[0].format.date' is {start('Y')}, which has no % directive.",
            )
        ],
    ),
    (
        BASE + "permissions: [" + "v" * 4000 + "]\n",
        [
            (
                "E023",
                f"The value of 'permissions' contains {start('v')}, which is not a permission"
                " name.",
            )
        ],
    ),
    (
        BASE + "max_duration: " + "9" * 3999 + "\n",
        [
            (
                "E026",
                "The value of 'max_duration' must be between 1 and 86400, not "
                + "9" * 80
                + "… (3,999 characters).",
            )
        ],
    ),
    (
        one_column("f" * 1990 + "(quantity)"),
        [
            (
                "E013",
                f"The value of 'columns[0].value' calls {start('f', 1990)}, which is not a known"
                " function or aggregate.",
            )
        ],
    ),
    (
        one_column("\"trunc(order.placed_at, '" + "m" * 1950 + "')\""),
        [
            (
                "E014",
                f"The value of 'columns[0].value' calls 'trunc' with {start('m', 1950)}; choose"
                " one of: 'hour', 'day', 'week', 'month', 'quarter', 'year'.",
            )
        ],
    ),
    (
        BASE + "title: !" + "t" * 4000 + " x\n",
        [
            (
                "E001",
                "Invalid YAML: YAML reads a value that starts with '!' as a tag.",
            )
        ],
    ),
]


@override_settings(ADMIN_REPORTS_FUNCTIONS={})
@pytest.mark.parametrize(("text", "expected"), LONG_CASES, ids=[c[1][0][0] for c in LONG_CASES])
def test_a_long_value_is_quoted_by_its_start(tmp_path, text, expected):
    path = tmp_path / "report.yaml"
    path.write_text(text, encoding="utf-8")
    spec, problems = load_definition(path)
    assert spec is None
    assert [(problem.id, problem.message) for problem in problems] == expected
    for problem in problems:
        assert len(problem.message) < 300
        assert len(problem.hint or "") < 300  # the list of known functions, at most
        assert "a" * 100 not in (problem.hint or "")
        assert "f" * 100 not in (problem.hint or "")


def test_a_hint_that_lists_long_column_names_stays_short(tmp_path):
    path = tmp_path / "report.yaml"
    names = [f"{letter * 3000}" for letter in "bcd"]
    columns = "".join(f"  - name: {name}\n    value: quantity\n" for name in names)
    path.write_text(f"model: shop.OrderLine\ncolumns:\n{columns}order_by: [e, f]\n")
    _, problems = load_definition(path)
    assert [problem.id for problem in problems] == ["E020", "E020"]
    assert problems[0].message == "The value of 'order_by' refers to 'e', which is not a column."
    assert problems[0].hint == "Columns: " + "b" * 491 + "…"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("sku", "'sku'"),
        ("it's", '"it\'s"'),
        ("a" * 80, "'" + "a" * 80 + "'"),
        ("a" * 81, "'" + "a" * 80 + "…' (81 characters)"),
        ("\x00" * 30, "'" + "\\x00" * 20 + "…' (30 characters)"),
        (["x"] * 1500, "[" + "'x', " * 16 + "…] (1,500 items)"),
        ({"k": "v" * 4000}, "{'k': '" + "v" * 73 + "…'} (1 item)"),
        ([[[["deep"]]]], "[[[[…]]]] (1 item)"),
        ((1,), "(1,)"),
        (10**100, "1" + "0" * 79 + "… (101 characters)"),
        pytest.param(10**5000, "<int of 16,610 bits>", id="huge int"),
        (None, "null"),
    ],
)
def test_shown_quotes_the_start_of_a_value(value, text):
    assert shown(value) == text
