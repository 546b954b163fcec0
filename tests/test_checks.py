import datetime as dt
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.admin import helpers
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db.models import Variance
from django.test import override_settings
from django.urls import reverse

from admin_reports.checks import (
    SETTINGS_CHECK_IDS,
    check_definitions,
    check_settings,
    check_static_files,
)
from admin_reports.dates import QUICK_RANGES, QuickRange, quick_ranges
from admin_reports.definitions import CHECK_IDS, load_definition_text
from admin_reports.definitions.functions import FunctionSpec, function_table
from admin_reports.registry import check_compiles, load_definition, registry

from .factories import ProductFactory

DEMO = Path(settings.BASE_DIR) / "report_defs"


def test_the_demo_definitions_pass(capsys):
    call_command("check")
    assert "System check identified no issues" in capsys.readouterr().out
    assert sorted(registry.specs()) == ["daily_product_sales", "order_lines", "region_monthly"]


@pytest.fixture
def defs_dir(tmp_path, settings):
    target = tmp_path / "report_defs"
    shutil.copytree(DEMO, target)
    settings.ADMIN_REPORTS_DIRS = [target]
    return target


def test_a_misspelled_field_fails_check_with_file_and_line(defs_dir):
    path = defs_dir / "order_lines.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("value: customer.region.name", "value: customer.regoin.name"))
    line = 1 + text.splitlines().index("    value: customer.region.name")
    with pytest.raises(SystemCheckError) as caught:
        call_command("check")
    assert (
        f"order_lines.yaml:{line}:12: (admin_reports.E009) The value of 'columns[4].value'"
        in str(caught.value)
    )
    assert check_definitions() == [
        checks.Error(
            "The value of 'columns[4].value' refers to 'regoin', which is not a field of"
            " 'shop.Customer'. Did you mean 'region'?",
            hint=None,
            obj=f"{path}:{line}:12",
            id="admin_reports.E009",
        )
    ]


def test_a_broken_definition_is_left_out_and_logged(defs_dir, caplog):
    (defs_dir / "broken.yaml").write_text("model: shop.Nope\ncolumns: []\n", encoding="utf-8")
    registry.reload()
    assert sorted(registry.specs()) == ["daily_product_sales", "order_lines", "region_monthly"]
    assert "Report definition" in caplog.text
    assert "broken.yaml is invalid and left out" in caplog.text
    assert [problem.id for problem in registry.problems()] == ["E008"]


def test_directories_that_do_not_exist_are_empty(settings, tmp_path):
    settings.ADMIN_REPORTS_DIRS = [tmp_path / "missing"]
    assert registry.specs() == {}
    assert check_definitions() == []
    assert [message.id for message in check_settings()] == ["admin_reports.W001"]


def test_a_missing_or_plain_file_directory_is_a_warning(settings, tmp_path):
    (tmp_path / "notes.txt").write_text("", encoding="utf-8")
    settings.ADMIN_REPORTS_DIRS = [tmp_path, tmp_path / "missing", tmp_path / "notes.txt"]
    hint = "Give directories that hold report definitions (*.yaml, *.yml)."
    (tmp_path / "sales.yaml").write_text("model: shop.OrderLine\n", encoding="utf-8")
    assert check_settings() == [
        checks.Warning(
            f"ADMIN_REPORTS_DIRS contains '{tmp_path / 'missing'}', which does not exist:"
            " no definitions are read from it.",
            hint=hint,
            id="admin_reports.W001",
        ),
        checks.Warning(
            f"ADMIN_REPORTS_DIRS contains '{tmp_path / 'notes.txt'}', which is not a"
            " directory: no definitions are read from it.",
            hint=hint,
            id="admin_reports.W001",
        ),
    ]


FUNCTION_HINT = (
    "Give the dotted path of a Func or Aggregate subclass, e.g."
    " 'django.db.models.functions.Greatest', or a FunctionSpec."
)
NAME_HINT = "Name it like a Python variable: letters, digits and underscores, e.g. 'greatest'."


@pytest.mark.parametrize(
    ("setting", "message", "hint"),
    [
        (
            {"greatest": "django.db.models.functions.Greates"},
            "ADMIN_REPORTS_FUNCTIONS['greatest'] is 'django.db.models.functions.Greates',"
            ' which cannot be imported: Module "django.db.models.functions" does not define'
            ' a "Greates" attribute/class.',
            FUNCTION_HINT,
        ),
        (
            {"greatest": "nowhere.Greatest"},
            "ADMIN_REPORTS_FUNCTIONS['greatest'] is 'nowhere.Greatest', which cannot be"
            " imported: No module named 'nowhere'.",
            FUNCTION_HINT,
        ),
        (
            {"bad": "builtins.print"},
            "ADMIN_REPORTS_FUNCTIONS['bad'] is 'builtins.print', which is neither a Func or"
            " Aggregate subclass nor a FunctionSpec.",
            FUNCTION_HINT,
        ),
        (
            {"bad": 42},
            "ADMIN_REPORTS_FUNCTIONS['bad'] is 42, which is neither a Func or Aggregate"
            " subclass nor a FunctionSpec.",
            FUNCTION_HINT,
        ),
        (
            {"my-max": "django.db.models.functions.Greatest"},
            "ADMIN_REPORTS_FUNCTIONS has the name 'my-max', which an expression cannot call.",
            NAME_HINT,
        ),
        (
            {"if": "django.db.models.functions.Greatest"},
            "ADMIN_REPORTS_FUNCTIONS has the name 'if', which an expression cannot call.",
            NAME_HINT,
        ),
        (
            ["django.db.models.functions.Greatest"],
            "ADMIN_REPORTS_FUNCTIONS must be a dict of name: function, not"
            " ['django.db.models.functions.Greatest'].",
            FUNCTION_HINT,
        ),
    ],
)
def test_a_bad_function_entry_is_an_error(setting, message, hint):
    with override_settings(ADMIN_REPORTS_DIRS=[], ADMIN_REPORTS_FUNCTIONS=setting):
        assert [m for m in check_settings() if m.is_serious()] == [
            checks.Error(message, hint=hint, id="admin_reports.E027")
        ]


def test_good_function_entries_pass():
    setting = {
        "greatest": "django.db.models.functions.Greatest",
        "variance": Variance,
        "twice": FunctionSpec(lambda x: x * 2, 1, 1, usage="twice(x)"),
    }
    with override_settings(ADMIN_REPORTS_FUNCTIONS=setting):
        assert check_settings() == []
        assert {"greatest", "variance", "twice"} <= set(function_table())


def reversed_range(today):
    return today, today - dt.timedelta(days=1)


def one_day(today):
    return today


def whole_days(today):
    midnight = dt.datetime.combine(today, dt.time.min)
    return midnight, midnight


def broken_range(today):
    return today.replace(month=13), today


QUICK_HINT = (
    "Give the dotted path of a function f(today) that returns (start, end), two dates"
    " with start <= end, or a QuickRange."
)
D = dt.date


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "tests.test_checks.nope",
            "ADMIN_REPORTS_QUICK_RANGES['x'] is 'tests.test_checks.nope', which cannot be"
            ' imported: Module "tests.test_checks" does not define a "nope" attribute/class.',
        ),
        (
            "tests.test_checks.QUICK_HINT",
            "ADMIN_REPORTS_QUICK_RANGES['x'] is 'tests.test_checks.QUICK_HINT', which is not"
            " callable.",
        ),
        (
            5,
            "ADMIN_REPORTS_QUICK_RANGES['x'] is 5, which is neither a dotted path nor a"
            " QuickRange.",
        ),
        (
            "tests.test_checks.reversed_range",
            "ADMIN_REPORTS_QUICK_RANGES['x'] returned (datetime.date(2026, 4, 15),"
            " datetime.date(2026, 4, 14)) for 2026-04-15, not two dates with start <= end.",
        ),
        (
            "tests.test_checks.one_day",
            "ADMIN_REPORTS_QUICK_RANGES['x'] returned datetime.date(2026, 4, 15) for"
            " 2026-04-15, not two dates with start <= end.",
        ),
        (
            "tests.test_checks.whole_days",
            "ADMIN_REPORTS_QUICK_RANGES['x'] returned (datetime.datetime(2026, 4, 15, 0, 0),"
            " datetime.datetime(2026, 4, 15, 0, 0)) for 2026-04-15, not two dates with"
            " start <= end.",
        ),
        (
            "tests.test_checks.broken_range",
            "ADMIN_REPORTS_QUICK_RANGES['x'] raised ValueError for 2026-04-15: month must be"
            " in 1..12.",
        ),
        (
            QuickRange("Never", lambda today: None),
            "ADMIN_REPORTS_QUICK_RANGES['x'] returned None for 2026-04-15, not two dates with"
            " start <= end.",
        ),
    ],
)
def test_a_bad_quick_range_entry_is_an_error(time_machine_today, value, message):
    with override_settings(ADMIN_REPORTS_DIRS=[], ADMIN_REPORTS_QUICK_RANGES={"x": value}):
        assert [m for m in check_settings() if m.is_serious()] == [
            checks.Error(message, hint=QUICK_HINT, id="admin_reports.E028")
        ]
        assert "x" not in quick_ranges()


BAD_SETTINGS = {
    "ADMIN_REPORTS_FUNCTIONS": {"bad": "builtins.print", "nope": "nowhere.Nope"},
    "ADMIN_REPORTS_QUICK_RANGES": {"bad": "tests.test_checks.one_day", "nope": 5},
}


@override_settings(**BAD_SETTINGS)
def test_bad_entries_are_reported_and_skipped_by_check_and_registry():
    with pytest.raises(SystemCheckError) as caught:
        call_command("check")
    for id in ("admin_reports.E027", "admin_reports.E028"):
        assert str(caught.value).count(f"({id})") == 2
    assert sorted(registry.specs()) == ["daily_product_sales", "order_lines", "region_monthly"]
    assert list(quick_ranges()) == list(QUICK_RANGES)
    assert "bad" not in function_table()


@pytest.mark.django_db
@override_settings(**BAD_SETTINGS)
def test_bad_entries_do_not_break_the_report_form(admin_client):
    product = ProductFactory()
    response = admin_client.post(
        reverse("admin:shop_product_changelist"),
        {
            "action": "report_daily_product_sales",
            "index": 0,
            helpers.ACTION_CHECKBOX_NAME: [product.pk],
        },
    )
    assert response.status_code == 200
    choices = response.context["form"].fields["quick_range"].choices
    assert [name for name, label in choices] == ["", *QUICK_RANGES]


def test_settings_ids_are_their_own_and_documented():
    assert not set(SETTINGS_CHECK_IDS) & set(CHECK_IDS)
    docs = (Path(settings.BASE_DIR) / "docs" / "checks.md").read_text(encoding="utf-8")
    for id, meaning in SETTINGS_CHECK_IDS.items():
        assert f"| `admin_reports.{id}` | {meaning} |" in docs


FIVE_MISTAKES = """\
model: shop.OrderLine
columns:
  - {name: sku, value: product.skuu}
  - {name: units, value: summ(quantity)}
  - {name: price, value: unit_price}
date_range:
  field: quantity
  default: last_quater
order_by: [sku, nope]
"""


def test_check_reports_five_independent_mistakes_each_once(settings, tmp_path, capsys, caplog):
    """Validation, then the registry's quick range check, in one pass; printed by the
    check alone (not by the registry's log as well)."""
    (tmp_path / "five.yaml").write_text(FIVE_MISTAKES, encoding="utf-8")
    settings.ADMIN_REPORTS_DIRS = [tmp_path]
    with pytest.raises(SystemCheckError) as caught:
        call_command("check")
    text = str(caught.value) + capsys.readouterr().err + caplog.text
    mistakes = {
        "E009": "refers to 'skuu'",
        "E013": "calls 'summ'",
        "E017": "refers to 'quantity', which is not a date or datetime field",
        "E018": "is 'last_quater', which is not a quick range. Did you mean 'last_quarter'?",
        "E020": "refers to 'nope', which is not a column.",
    }
    for id, words in mistakes.items():
        assert text.count(f"(admin_reports.{id})") == 1, id
        assert text.count(words) == 1, id
    assert "System check identified 5 issues" in str(caught.value)
    assert "is invalid and left out" not in caplog.text


BAD_VALUES = """\
model: shop.OrderLine
columns:
  - {name: sku, value: product.sku}
filters:
  order.placed_at__lt: "end - 21"
  unit_price__gt: abc
  order.placed_at__gt: order.placed_at
  product.active: maybe
action_on: shop.Product
selection: product
"""


def test_bad_filter_values_are_check_errors_and_no_page_fails(settings, tmp_path, admin_client):
    (tmp_path / "bad.yaml").write_text(BAD_VALUES, encoding="utf-8")
    shutil.copy(DEMO / "order_lines.yaml", tmp_path)
    settings.ADMIN_REPORTS_DIRS = [tmp_path]
    problems = check_definitions()
    assert [(p.id, p.obj.rsplit(":", 2)[1]) for p in problems] == [
        ("admin_reports.E045", "5"),
        ("admin_reports.E045", "6"),
        ("admin_reports.E045", "7"),
        ("admin_reports.E045", "8"),
    ]
    assert "use 'where:' with an expression" in problems[0].hint
    assert sorted(registry.specs()) == ["order_lines"], "the others keep working"
    ProductFactory()
    for name in ("product", "order", "orderline"):
        response = admin_client.get(reverse(f"admin:shop_{name}_changelist"))
        assert response.status_code == 200, name


def test_a_definition_that_raises_anything_is_left_out_with_a_problem(
    settings, tmp_path, monkeypatch, caplog
):
    from admin_reports import registry as registry_module

    shutil.copy(DEMO / "order_lines.yaml", tmp_path)
    settings.ADMIN_REPORTS_DIRS = [tmp_path]

    def explode(spec):
        if spec.name == "odd":
            raise LookupError("something no check foresaw")
        return []

    monkeypatch.setattr(registry_module, "check_chart", explode)
    (tmp_path / "odd.yaml").write_text(
        "model: shop.OrderLine\ncolumns:\n  - {name: sku, value: product.sku}\n", encoding="utf-8"
    )
    registry.reload()
    assert sorted(registry.specs()) == ["order_lines"]
    (problem,) = registry.problems()
    assert problem.id == "E001"
    assert "LookupError: something no check foresaw" in problem.message
    (logged,) = [r for r in caplog.records if "could not be loaded" in r.getMessage()]
    assert logged.exc_info[0] is LookupError, "outside a check, the traceback is logged"
    caplog.clear()
    with pytest.raises(SystemCheckError) as caught:
        call_command("check")
    assert str(caught.value).count("something no check foresaw") == 1
    assert caplog.records == [], "a check prints it, once"


def test_a_misspelled_setting_name_is_a_warning(settings):
    settings.ADMIN_REPORT_DIRS = ["report_defs"]
    settings.ADMINREPORTS_COPY = False
    found = [m for m in check_settings() if m.id == "admin_reports.W005"]
    assert [m.msg for m in found] == [
        "The setting ADMINREPORTS_COPY is not one of admin_reports' settings: it is ignored."
        " Did you mean 'ADMIN_REPORTS_COPY'?",
        "The setting ADMIN_REPORT_DIRS is not one of admin_reports' settings: it is ignored."
        " Did you mean 'ADMIN_REPORTS_DIRS'?",
    ]


def test_directories_without_a_definition_are_a_warning(settings, tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "notes.txt").write_text("no definition here", encoding="utf-8")
    (tmp_path / "sales").mkdir()
    (tmp_path / "sales" / "2026").mkdir()
    (tmp_path / "sales" / "2026" / "sales.yml").write_text("model: shop.OrderLine\n")
    settings.ADMIN_REPORTS_DIRS = [tmp_path / "reports", tmp_path / "sales"]
    found = [m for m in check_settings() if m.id == "admin_reports.W006"]
    assert found == [
        checks.Warning(
            f"ADMIN_REPORTS_DIRS contains '{tmp_path / 'reports'}', which holds no definition.",
            hint="List the directories of your definitions in ADMIN_REPORTS_DIRS: the *.yaml"
            " and *.yml files under them (subdirectories too) are read.",
            id="admin_reports.W006",
        )
    ]
    (tmp_path / "reports" / "loans.yaml").write_text("model: shop.OrderLine\n")
    assert not [m for m in check_settings() if m.id == "admin_reports.W006"]
    settings.ADMIN_REPORTS_DIRS = []
    (found,) = check_settings()
    assert (found.id, found.msg) == (
        "admin_reports.W006",
        "ADMIN_REPORTS_DIRS is empty: no definition is read.",
    )


def test_a_relative_directory_is_shown_resolved(settings, tmp_path, monkeypatch):
    """A relative entry is resolved against the directory the process runs in, which
    may not be the project's: the warning shows where it looked."""
    monkeypatch.chdir(tmp_path)
    settings.ADMIN_REPORTS_DIRS = ["report_defs"]
    (found,) = check_settings()
    assert (found.id, found.msg) == (
        "admin_reports.W001",
        f"ADMIN_REPORTS_DIRS contains 'report_defs' ({tmp_path.resolve() / 'report_defs'}),"
        " which does not exist: no definitions are read from it.",
    )
    (tmp_path / "report_defs").mkdir()
    (found,) = check_settings()
    assert (found.id, found.msg) == (
        "admin_reports.W006",
        f"ADMIN_REPORTS_DIRS contains 'report_defs' ({tmp_path.resolve() / 'report_defs'}),"
        " which holds no definition.",
    )


def test_an_unset_static_root_is_a_deployment_warning(settings):
    assert check_static_files in checks.registry.registry.get_checks(
        include_deployment_checks=True
    )
    assert check_static_files not in checks.registry.registry.get_checks()
    assert check_static_files() == []  # the demo sets it
    settings.STATIC_ROOT = None
    (warning,) = check_static_files()
    assert warning.id == "admin_reports.W007"
    assert warning.msg.startswith("STATIC_ROOT is not set: collectstatic cannot gather")
    assert "docs/deployment.md" in warning.hint


def test_an_invalid_definition_still_has_its_quick_ranges_checked(tmp_path):
    path = tmp_path / "report.yaml"
    path.write_text(
        "model: shop.OrderLine\ncolumns:\n  - {name: sku, value: product.sku}\n"
        "date_range:\n  field: quantity\n  default: last_quater\n"
        "  quick_ranges: [last_quarter, this_mnth]\n",
        encoding="utf-8",
    )
    _, problems = load_definition(path)
    assert [(p.id, p.mark.line, p.mark.column) for p in problems] == [
        ("E017", 5, 10),
        ("E073", 7, 32),
        ("E018", 6, 12),
    ]


QUERY_MISTAKES = """\
model: shop.OrderLine
columns:
  - {name: sku, value: product.sku}
  - {name: late, value: "order.placed_at + 1"}
  - {name: doubled, value: "sum(product.sku * 2)"}
  - {name: first_sku, value: "max(product.sku)"}
  - {name: units, value: "sum(quantity)"}
where: "extract(quantity, 'year') > 2020"
having: "sum(product.sku - 1) > 2"
order_by: [-doubled, sku]
chart:
  type: bar
  x: sku
  y: [doubled, first_sku, units]
"""


def test_every_part_of_a_query_that_does_not_compile_is_reported_at_once(tmp_path):
    """Each column, 'where' and 'having' compiled on its own: every failing part is a
    problem, and the chart is checked on the columns that compile, in one pass."""
    path = tmp_path / "query.yaml"
    path.write_text(QUERY_MISTAKES, encoding="utf-8")
    spec, problems = load_definition(path)
    assert spec is None
    assert [(p.id, p.mark.line, p.message) for p in problems] == [
        (
            "E060",
            4,
            "The value of 'columns[1].value' uses a datetime + an integer, which has no"
            " meaning in a report.",
        ),
        (
            "E060",
            5,
            "The value of 'columns[2].value' uses text * an integer, which has no meaning in"
            " a report.",
        ),
        (
            "E024",
            8,
            "The value of 'where' does not compile: Extract input expression must be"
            " DateField, DateTimeField, TimeField, or DurationField.",
        ),
        (
            "E060",
            9,
            "The value of 'having' uses text - an integer, which has no meaning in a report.",
        ),
        (
            "E042",
            14,
            "The value of 'chart.y' names 'first_sku', whose values are not numbers: its type"
            " is CharField.",
        ),
    ]


def test_a_definition_given_as_text_that_does_not_compile_points_at_its_start():
    text = "model: shop.OrderLine\ncolumns:\n  - {name: sku, value: product.sku}\n"
    spec, _ = load_definition_text(text + "where: \"extract(quantity, 'year') > 1\"\n")
    (problem,) = check_compiles(spec)
    assert (problem.id, problem.mark.file, problem.mark.line) == ("E024", None, 1)
    assert problem.message.startswith("The value of 'where' does not compile:")
