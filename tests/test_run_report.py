from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from admin_reports.models import ReportRun
from admin_reports.registry import registry

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> str:
    out = StringIO()
    call_command("run_report", "--no-bom", *args, stdout=out)
    return out.getvalue()


def test_writes_to_stdout(line):
    output = run("daily_product_sales", "--start", "2026-03-01", "--end", "2026-03-31")
    assert output == "SKU,Product,Day,Units,Revenue,Orders\r\nTOY-1,Kite,2026-03-10,2,7.00,1\r\n"


def test_writes_to_a_file(line, tmp_path):
    path = tmp_path / "out.csv"
    run("daily_product_sales", "--start", "2026-03-01", "--end", "2026-03-31", "-o", str(path))
    assert path.read_bytes().endswith(b"TOY-1,Kite,2026-03-10,2,7.00,1\r\n")


def test_quick_range(line, time_machine_today):
    output = run("daily_product_sales", "--range", "last_month")
    assert output.splitlines()[1:] == ["TOY-1,Kite,2026-03-10,2,7.00,1"]


def test_without_dates_the_definitions_default_range_is_used(line, time_machine_today):
    out, err = StringIO(), StringIO()
    call_command("run_report", "--no-bom", "daily_product_sales", stdout=out, stderr=err)
    assert out.getvalue() == run("daily_product_sales", "--range", "last_month")
    assert out.getvalue().splitlines()[1:] == ["TOY-1,Kite,2026-03-10,2,7.00,1"]
    assert "default range last_month (2026-03-01 to 2026-03-31)" in err.getvalue()


def test_a_report_without_a_default_range_still_needs_dates(settings, tmp_path):
    (tmp_path / "plain.yaml").write_text(
        "model: shop.OrderLine\ndate_range: order.placed_at\n"
        "columns:\n  - {name: sku, value: product.sku}\n",
        encoding="utf-8",
    )
    settings.ADMIN_REPORTS_DIRS = [tmp_path]
    with pytest.raises(CommandError, match=r"This report needs a date range\."):
        run("plain")


def test_selection_on_the_report_with_several_actions(line):
    both = run("region_monthly", "--start", "2026-03-01", "--end", "2026-03-31")
    region = line.order.customer.region
    selected = run(
        "region_monthly",
        "--start",
        "2026-03-01",
        "--end",
        "2026-03-31",
        "--select",
        str(region.pk),
        "--on",
        "shop.Region",
    )
    assert selected == both
    other = run(
        "region_monthly",
        "--start",
        "2026-03-01",
        "--end",
        "2026-03-31",
        "--select",
        str(region.pk + 1000),
        "--on",
        "shop.region",
    )
    assert other.splitlines() == ["Region,Month,Revenue,Refunded,Customers"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["nope"],
            "No valid report is named 'nope'. Definitions are read from ADMIN_REPORTS_DIRS:"
            " {report_defs} (3 definition files).",
        ),
        (
            ["order_line", "--range", "today"],
            "No valid report is named 'order_line'. Did you mean 'order_lines'?",
        ),
        (
            ["order_lines", "--start", "2026-13-01", "--end", "2026-12-31"],
            "--start: '2026-13-01' is not a date in the form YYYY-MM-DD.",
        ),
        (
            ["order_lines", "--start", "2026-03-02", "--end", "2026-03-01"],
            "The start date is after the end date.",
        ),
        (["order_lines", "--start", "2026-03-02"], "Give both a start and an end date."),
        (
            ["daily_product_sales", "--start", "2024-01-01", "--end", "2026-01-01"],
            "The range spans 732 days; this report allows at most 400.",
        ),
        (
            ["order_lines", "--range", "last_mnth"],
            "--range: Unknown quick range 'last_mnth'; choose one of: today, yesterday, last_7_days, last_30_days, this_month, last_month, this_quarter, last_quarter, year_to_date, last_year.",
        ),
        (
            [
                "order_lines",
                "--range",
                "last_month",
                "--start",
                "2026-01-01",
                "--end",
                "2026-01-31",
            ],
            "--range: The dates 2026-01-01 to 2026-01-31 do not match the quick range “Last month” (2026-03-01 to 2026-03-31). Give a quick range or dates, not both.",
        ),
        (
            ["region_monthly", "--range", "today", "--select", "1"],
            "--on: Name the selection's model, one of: shop.product, shop.region.",
        ),
        (
            ["region_monthly", "--range", "today", "--select", "1", "--on", "shop.Order"],
            "--on: Name the selection's model, one of: shop.product, shop.region.",
        ),
        (
            ["order_lines", "--range", "today", "--on", "shop.Product"],
            "--on: A selection's model needs a selection.",
        ),
        (
            ["order_lines", "--range", "today", "--select", ","],
            "--select: The selection names no object.",
        ),
        (
            ["order_lines", "--range", "today", "--select", "abc"],
            "--select: 'abc' is not a valid key of a product.",
        ),
        (
            ["order_lines", "--start", "2026-01-01", "--end", "9999-12-31"],
            "--end: Dates must lie between 0001-01-01 and 9998-12-31.",
        ),
        (["order_lines", "--range", "today", "--bom", "--no-bom", "--select", "1,"], None),
        (
            ["order_lines", "--range", "today", "--output", "/nonexistent/dir/x.csv"],
            "--output: cannot write '/nonexistent/dir/x.csv': No such file or directory.",
        ),
    ],
)
def test_clear_errors(args, message, time_machine_today, settings):
    if message is None:  # the last of several flags wins, and a trailing comma is fine
        assert run(*args).startswith("Order,")
        return
    with pytest.raises(CommandError) as caught:
        run(*args)
    report_defs = (settings.BASE_DIR / "report_defs").resolve()
    assert str(caught.value) == message.format(report_defs=report_defs)


@pytest.mark.parametrize(
    ("option", "value"), [("--start", "2026-01-01"), ("--end", "2026-01-31"), ("--range", "today")]
)
def test_dates_for_a_report_without_a_date_range_name_the_option_given(settings, option, value):
    settings.ADMIN_REPORTS_DIRS = [
        *settings.ADMIN_REPORTS_DIRS,
        settings.BASE_DIR / "tests" / "report_defs",
    ]
    registry.reload()
    try:
        with pytest.raises(CommandError) as caught:
            run("default_formats", option, value)
    finally:
        registry.reload()
    assert str(caught.value) == f"{option}: This report has no date range."


def test_an_invalid_definition_is_named_with_its_problems(settings, tmp_path):
    (tmp_path / "broken.yaml").write_text(
        "model: shop.OrderLine\ncolumns:\n  - name: x\n    value: quantityy\n"
    )
    settings.ADMIN_REPORTS_DIRS = [tmp_path]
    with pytest.raises(CommandError) as caught:
        run("broken")
    assert str(caught.value) == (
        "The report definition 'broken' is invalid:\n"
        f"{tmp_path / 'broken.yaml'}:4:12: (admin_reports.E009) The value of 'columns[0].value'"
        " refers to 'quantityy', which is not a field of 'shop.OrderLine'. Did you mean 'quantity'?"
    )


def test_exit_status_is_non_zero_from_the_shell(tmp_path):
    import subprocess
    import sys

    from django.conf import settings

    result = subprocess.run(
        [sys.executable, "manage.py", "run_report", "nope"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
        },
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "CommandError: No valid report is named 'nope'. Definitions are read from"
        f" ADMIN_REPORTS_DIRS: {(settings.BASE_DIR / 'report_defs').resolve()}"
        " (3 definition files)."
    )


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal(line, monkeypatch):
    stderr = Terminal()
    monkeypatch.setattr("sys.stderr", stderr)
    run("order_lines", "--start", "2026-03-01", "--end", "2026-03-31")
    progress = stderr.getvalue()
    assert progress.startswith("\r1 rows  ")
    assert " rows/s  " in progress
    assert progress.endswith("s elapsed\n")


def test_no_progress_when_stderr_is_not_a_terminal(line, monkeypatch):
    stderr = StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    run("order_lines", "--start", "2026-03-01", "--end", "2026-03-31")
    assert stderr.getvalue() == ""


def test_explain_prints_the_path_why_and_the_sql(vendor, settings):
    output = run("order_lines", "--start", "2026-03-01", "--end", "2026-03-31", "--explain")
    explained, needs = output.split("\n\n")
    first, *sql = explained.splitlines()
    assert needs.splitlines() == [
        "Reads: shop.Customer, shop.Order, shop.OrderLine, shop.Product, shop.Region",
        "Needs: an active staff user with admin_reports.run_report, shop.view_customer,"
        " shop.view_order, shop.view_orderline, shop.view_product, shop.view_region",
        "On the changelist of shop.Product: on=shop.product, the rows through 'product'",
    ]
    if vendor == "postgresql":
        assert first == "order_lines: copy path (every column has an identical SQL format)"
        assert sql[0] == (
            "-- rows read by psql, in a psql child process's session whose TimeZone is"
            " Europe/Berlin (DateStyle ISO)"
        )
        # The cells fitted to the columns' SQL types: the order's id (an integer) as it is.
        assert sql[1].startswith('COPY (SELECT "report"."c0", CASE WHEN "report"."c1" < ')
        assert sql[-1].endswith(") TO STDOUT (FORMAT csv)")
        assert "'2026-03-01 00:00:00+01:00'::timestamptz" in output, "parameters bound"
    else:
        assert first == "order_lines: orm path (COPY is PostgreSQL's; this database is sqlite)"
        assert sql[0].startswith("SELECT ")
    settings.ADMIN_REPORTS_COPY_READER = "psycopg"
    output = run("order_lines", "--start", "2026-03-01", "--end", "2026-03-31", "--explain")
    if vendor == "postgresql":
        assert output.splitlines()[1] == (
            "-- rows read by psycopg, in a transaction whose TimeZone is Europe/Berlin"
            " (DateStyle ISO)"
        )
    settings.ADMIN_REPORTS_COPY = False
    output = run("order_lines", "--start", "2026-03-01", "--end", "2026-03-31", "--explain")
    assert output.splitlines()[0] == "order_lines: orm path (ADMIN_REPORTS_COPY is off)"
    assert not ReportRun.objects.exists(), "--explain runs nothing"


def test_explain_lists_the_models_read_apart_from_the_definitions_own_permissions(
    settings, tmp_path
):
    (tmp_path / "own.yaml").write_text(
        "model: shop.Order\n"
        "action_on: [shop.Customer, shop.Order]\n"
        "selection: {shop.Customer: customer, shop.Order: pk}\n"
        "date_range: {field: placed_at, required: true}\n"
        "permissions: [shop.view_product, shop.change_order]\n"
        "columns:\n  - {name: status, value: status}\n",
        encoding="utf-8",
    )
    settings.ADMIN_REPORTS_DIRS = [tmp_path]
    lines = [
        "Reads: shop.Customer, shop.Order",
        "Needs: an active staff user with admin_reports.run_report, shop.view_customer,"
        " shop.view_order, shop.view_product, shop.change_order",
        "On the changelist of shop.Customer: on=shop.customer, the rows through 'customer'",
        "On the changelist of shop.Order: on=shop.order, the rows through 'pk'",
    ]
    output = run("own", "--range", "last_month", "--explain")
    assert output.split("\n\n")[-1].splitlines() == lines
    # Without dates the SQL cannot be shown; what the report needs still is.
    out = StringIO()
    with pytest.raises(CommandError, match=r"^This report needs a date range\.$"):
        call_command("run_report", "own", "--explain", stdout=out)
    assert out.getvalue().splitlines() == lines


@pytest.mark.parametrize(
    ("dirs", "searched"),
    [
        ([], "ADMIN_REPORTS_DIRS is empty: no definition is read."),
        (
            ["report_def"],
            "Definitions are read from ADMIN_REPORTS_DIRS: {base}/report_def (no such directory).",
        ),
        (
            ["empty", "one"],
            "Definitions are read from ADMIN_REPORTS_DIRS: {base}/empty (0 definition files),"
            " {base}/one (1 definition file).",
        ),
    ],
)
def test_an_unknown_report_names_the_directories_searched(settings, tmp_path, dirs, searched):
    (tmp_path / "empty").mkdir()
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "sales.yaml").write_text("model: shop.OrderLine\n", encoding="utf-8")
    settings.ADMIN_REPORTS_DIRS = [tmp_path / name for name in dirs]
    with pytest.raises(CommandError) as caught:
        run("overdue")
    base = tmp_path.resolve()
    assert str(caught.value) == "No valid report is named 'overdue'. " + searched.format(base=base)


def test_an_invalid_definitions_problems_are_said_once(settings, tmp_path, caplog):
    (tmp_path / "broken.yaml").write_text(
        "model: shop.OrderLine\ncolumns:\n  - {name: sku, value: product.skuu}\n",
        encoding="utf-8",
    )
    settings.ADMIN_REPORTS_DIRS = [tmp_path]
    with pytest.raises(CommandError) as caught:
        run("broken")
    assert "refers to 'skuu'" in str(caught.value)
    assert "skuu" not in caplog.text, "the command's error says it; no log line repeats it"
