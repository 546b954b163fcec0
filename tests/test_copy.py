"""
The COPY path: every definition of the demo and of the test suite gives, through
COPY, the very bytes the ORM path gives (PostgreSQL); the rule that sends the others
to the ORM path; line ends and row counts; SQLite never takes it.
"""

import csv
import datetime as dt
import decimal
import io
import itertools
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, models
from hypothesis import given
from hypothesis import strategies as st

from admin_reports import pgcopy
from admin_reports.compiler import ReportParams, compile_report
from admin_reports.csv_output import body_chunks
from admin_reports.definitions import load_definition_text
from admin_reports.definitions.spec import ColumnFormat
from admin_reports.formats import formatter_for
from admin_reports.pgcopy import LineEnds, copy_chunks, copy_reader, row_path
from admin_reports.registry import registry
from admin_reports.sqlformats import DECIMAL_PRECISION, NotExpressible, cell_sql, to_char_pattern
from project.shop.models import Customer, Order, OrderLine

from .factories import CustomerFactory, ProductFactory, RegionFactory

TEST_DIRS = [
    django_settings.BASE_DIR / "tests" / "report_defs",
    django_settings.BASE_DIR / "tests" / "definitions" / "valid",
]
# The definitions that take the ORM path on PostgreSQL, and why.
ORM_ONLY = {"month_names": "uses %b"}
# Both ends of summer time in Europe/Berlin, each inside a 31-day range.
RANGES = [
    (dt.date(2026, 3, 15), dt.date(2026, 4, 14)),
    (dt.date(2026, 10, 10), dt.date(2026, 11, 9)),
]
NAMES = [
    "=SUM(A1)", "+1", "-2", "@me", "\tTab", "\rCR", 'A "quoted", name', "two\nlines",
    "crlf\r\nend", "Ünïcødé ✓ 漢字", "", " spaced ", "\\.", "quote at end\"", "plain",
]  # fmt: skip
PRICES = ["0.05", "0.15", "0.25", "2.45", "1.00", "0.04", "9.95", "0.00", "12.50", "0.01"]


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


# Around the spring change (01:00 UTC) and the autumn one (01:00 UTC, 02:00-03:00 twice).
TIMES = [
    utc(2026, 3, 29, 0, 59, 59, 999999), utc(2026, 3, 29, 1, 0, 0), utc(2026, 3, 28, 23, 0),
    utc(2026, 3, 15, 0, 0, 1, 5), utc(2026, 10, 25, 0, 30, 0, 120000), utc(2026, 10, 25, 1, 30),
    utc(2026, 10, 24, 22, 0), utc(2026, 11, 9, 22, 59, 59), utc(2026, 4, 14, 21, 59, 59),
]  # fmt: skip


@pytest.fixture
def all_definitions(settings):
    settings.ADMIN_REPORTS_DIRS = [*settings.ADMIN_REPORTS_DIRS, *TEST_DIRS]
    registry.reload()
    assert registry.problems() == []
    yield registry.specs()
    registry.reload()


@pytest.fixture
def hostile_shop(db):
    """Lines whose text, prices and times hit every edge of the formats."""
    regions = [RegionFactory(code=f"R{i}", name=name) for i, name in enumerate(NAMES[:4])]
    products = [
        ProductFactory(name=name, sku=f"{name[:20]}-{i}", active=i % 3 != 0)
        for i, name in enumerate(NAMES)
    ]
    customers = [
        CustomerFactory(name=name, region=regions[i % len(regions)])
        for i, name in enumerate(reversed(NAMES))
    ]
    statuses = ["paid", "shipped", "refunded", "pending"]
    lines = []
    for index, placed_at in enumerate(TIMES * 2):
        order = Order.objects.create(
            customer=customers[index % len(customers)],
            placed_at=placed_at,
            status=statuses[index % len(statuses)],
        )
        for offset, price in enumerate(PRICES if index == 0 else PRICES[index % 4 :: 3]):
            lines.append(
                OrderLine(
                    order=order,
                    product=products[(index + offset) % len(products)],
                    quantity=1 + (index * offset) % 6,  # never 7: failing_lines fails at 7
                    unit_price=Decimal(price) * (-1 if (index + offset) % 4 == 1 else 1),
                )
            )
    OrderLine.objects.bulk_create(lines)
    return products


def runs_of(spec):
    """Parameters for each run of `spec`: both DST changes, everything selected."""
    action = spec.action_on[0]
    selection = action.model._default_manager.all()
    ranges = RANGES if spec.date_range is not None else [(None, None)]
    for start, end in ranges:
        yield ReportParams(start=start, end=end, selection=selection, selection_model=action.model)


def copied(compiled) -> tuple[bytes, int]:
    counted = []
    data = b"".join(copy_chunks(compiled, lambda rows, size: counted.append(rows)))
    return data, sum(counted)


@pytest.mark.parametrize("escape_formulas", [True, False])
def test_copy_gives_the_orm_paths_bytes_for_every_definition(
    all_definitions, hostile_shop, vendor, settings, escape_formulas
):
    if vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    settings.ADMIN_REPORTS_CSV_ESCAPE_FORMULAS = escape_formulas
    compared = set()
    for name, spec in all_definitions.items():
        for params in runs_of(spec):
            compiled = compile_report(spec, params)
            path, why = row_path(compiled)
            if name in ORM_ONLY:
                assert path == "orm"
                assert ORM_ONLY[name] in why
                continue
            assert path == "copy", (name, why)
            orm = b"".join(body_chunks(compiled))
            data, rows = copied(compiled)
            assert data == orm, name
            assert rows == len(list(csv.reader(io.StringIO(orm.decode(), newline=""))))
            compared.add(name)
    assert compared >= {"order_lines", "daily_product_sales", "region_monthly", "formats_mix"}
    assert len(compared) == len(all_definitions) - len(ORM_ONLY)


@pytest.mark.django_db(transaction=True)
def test_psql_reads_the_bytes_psycopg_reads(all_definitions, hostile_shop, vendor, settings):
    """Outside a transaction of the caller's, a psql child reads COPY's rows."""
    if vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    assert copy_reader(connection) == "psql", "make test installs PostgreSQL's client"
    compared = 0
    for name, spec in all_definitions.items():
        if name in ORM_ONLY:
            continue
        for params in runs_of(spec):
            compiled = compile_report(spec, params)
            settings.ADMIN_REPORTS_COPY_READER = "psql"
            piped = copied(compiled)
            settings.ADMIN_REPORTS_COPY_READER = "psycopg"
            assert piped == copied(compiled), name
            compared += bool(piped[1])
    assert compared >= len(all_definitions) - len(ORM_ONLY)


@pytest.mark.django_db(transaction=True)
def test_psql_that_cannot_connect_leaves_the_rows_to_psycopg_unless_asked_for(
    all_definitions, hostile_shop, vendor, settings, monkeypatch, caplog
):
    if vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    compiled = compile_report(
        all_definitions["formats_mix"], next(runs_of(all_definitions["formats_mix"]))
    )
    settings.ADMIN_REPORTS_COPY_READER = "psycopg"
    expected = copied(compiled)
    command = pgcopy._psql_command

    def unreachable(connection):
        args, environment = command(connection)
        assert environment["PGHOST"] == connection.connection.info.host
        assert environment["PGDATABASE"] == connection.settings_dict["NAME"]
        return args, {**environment, "PGHOST": "/nonexistent"}

    monkeypatch.setattr(pgcopy, "_psql_command", unreachable)
    settings.ADMIN_REPORTS_COPY_READER = "auto"
    assert copied(compiled) == expected
    assert "psql could not connect" in caplog.text
    settings.ADMIN_REPORTS_COPY_READER = "psql"
    with pytest.raises(DatabaseError, match="/nonexistent"):
        copied(compiled)


def test_the_reader_setting_is_checked(settings, monkeypatch):
    settings.ADMIN_REPORTS_COPY_READER = "libpq"
    with pytest.raises(ImproperlyConfigured, match="choose one of: auto, psql, psycopg"):
        copy_reader(connection)
    settings.ADMIN_REPORTS_COPY_READER = "psql"
    monkeypatch.setenv("PATH", "/nonexistent")
    connection.in_atomic_block, atomic = False, connection.in_atomic_block
    try:
        with pytest.raises(ImproperlyConfigured, match="no psql is on the PATH"):
            copy_reader(connection)
        settings.ADMIN_REPORTS_COPY_READER = "auto"
        assert copy_reader(connection) == "psycopg"
    finally:
        connection.in_atomic_block = atomic


@pytest.mark.parametrize(
    ("reader", "path", "message"),
    [
        ("libpq", None, "ADMIN_REPORTS_COPY_READER is 'libpq'; choose one of: auto, psql,"),
        ("psql", "/nonexistent", "ADMIN_REPORTS_COPY_READER is 'psql', and no psql is on"),
    ],
)
def test_a_wrong_reader_setting_is_check_e036_and_the_runs_error(
    reader, path, message, settings, monkeypatch
):
    from django.core import checks

    from admin_reports.tracker import error_text

    settings.ADMIN_REPORTS_COPY_READER = reader
    if path:
        monkeypatch.setenv("PATH", path)
    found = [m for m in checks.run_checks() if m.id == "admin_reports.E036"]
    assert len(found) == 1
    assert found[0].msg.startswith(message)
    with pytest.raises(ImproperlyConfigured) as caught:
        copy_reader(connection)
    assert error_text(caught.value, None).startswith(message)


@pytest.mark.django_db(transaction=True)
def test_psql_reads_as_the_role_the_connection_took(hostile_shop, vendor, settings):
    """OPTIONS assume_role (SET ROLE at connect): the child reads as that role, row-level
    security included, and with the connection's search_path."""
    if vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE admin_reports_limited NOLOGIN")
        cursor.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO admin_reports_limited")
        cursor.execute("ALTER TABLE shop_customer ENABLE ROW LEVEL SECURITY")
        cursor.execute(
            "CREATE POLICY even ON shop_customer TO admin_reports_limited USING (id % 2 = 0)"
        )
    try:
        spec = load_definition_text(
            "model: shop.Customer\naction_on: shop.Customer\ncolumns: [{name: id, value: id}, {name: region, value: region.id}]\n"
            "order_by: [id]\n",
            name="customers",
        )[0]
        compiled = compile_report(spec, ReportParams())
        with connection.cursor() as cursor:
            cursor.execute("SET ROLE admin_reports_limited")
        try:
            settings.ADMIN_REPORTS_COPY_READER = "psql"
            piped = copied(compiled)
            settings.ADMIN_REPORTS_COPY_READER = "psycopg"
            assert piped == copied(compiled)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET ROLE")
        ids = [int(line.split(b",")[0]) for line in piped[0].splitlines()]
        assert ids
        assert all(id % 2 == 0 for id in ids)
        assert len(ids) < Customer.objects.count()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP POLICY even ON shop_customer")
            cursor.execute("ALTER TABLE shop_customer DISABLE ROW LEVEL SECURITY")
            cursor.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM admin_reports_limited")
            cursor.execute("DROP ROLE admin_reports_limited")


def test_the_data_reaches_every_edge(all_definitions, hostile_shop, vendor):
    """The comparison above is worth something: formula cells, quotes, line breaks,
    negative zero, NULL labels and both summer-time ends are in the ORM's output."""
    spec = all_definitions["formats_mix"]
    output = b"".join(
        b"".join(body_chunks(compile_report(spec, params))) for params in runs_of(spec)
    ).decode()
    for text in ["'=SUM", "'-2", "'\tTab", '"two\nlines"', '"A ""quoted"", name"', "(leer)"]:
        assert text in output
    for text in [",-0.0,", ",-0,"]:
        assert text in output, "negative values rounded to zero keep their sign"
    for text in [",0.1,", ",-0.2,"]:
        assert text in output, "0.05 and -0.15 rounded half up"
    assert "29.03.2026 01:59:59.999999" in output
    assert "29.03.2026 03:00:00" in output
    # 00:30 and 01:30 UTC: the hour that happens twice.
    assert "25.10.2026 02:30:00.120000" in output
    assert "25.10.2026 02:30:00.000000" in output
    assert '"nein\nnie"' in output
    assert '"ja, ""sicher"""' in output
    # An empty string is no NULL: it keeps its empty cell under an empty label.
    index = {column.name: i for i, column in enumerate(spec.columns)}
    rows = list(csv.reader(io.StringIO(output, newline="")))
    assert ["", ""] in [[row[index["name"]], row[index["name_or_label"]]] for row in rows]


def test_sqlite_never_takes_the_copy_path(all_definitions, vendor):
    if vendor != "sqlite":
        pytest.skip("the ORM path on SQLite")
    for spec in all_definitions.values():
        for params in runs_of(spec):
            path, why = row_path(compile_report(spec, params))
            assert (path, why) == ("orm", "COPY is PostgreSQL's; this database is sqlite")


def test_the_setting_turns_copy_off(all_definitions, settings, db):
    settings.ADMIN_REPORTS_COPY = False
    compiled = compile_report(
        all_definitions["order_lines"], next(runs_of(all_definitions["order_lines"]))
    )
    assert row_path(compiled) == ("orm", "ADMIN_REPORTS_COPY is off")


@pytest.mark.parametrize(
    ("pattern", "picture"),
    [
        ("%Y-%m-%d", 'FMYYYY"-"MM"-"DD'),
        ("%Y-%m-%d %H:%M:%S", 'FMYYYY"-"MM"-"DD" "HH24":"MI":"SS'),
        ("%d.%m.%y, %j. Tag, %f us 100%%", 'DD"."MM"."YY", "DDD". Tag, "US" us 100%"'),
    ],
)
def test_strftime_patterns_become_to_char_pictures(pattern, picture):
    assert to_char_pattern(pattern) == (picture, False)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("%d %b", "uses %b, which to_char() cannot match"),
        ("%-d", "uses %-d, which to_char() cannot match"),
        ("%d.%_m", "uses %_m, which to_char() cannot match"),
        ('%Y "Q"', "holds a quote or a backslash"),
        ("%Y\\", "holds a quote or a backslash"),
        ("%Y%", "ends with a lone '%'"),
    ],
)
def test_patterns_without_an_identical_picture_are_refused(pattern, message):
    with pytest.raises(NotExpressible, match=message.replace("(", r"\(").replace(")", r"\)")):
        to_char_pattern(pattern)


cells = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\r"))


@given(
    rows=st.lists(st.lists(cells, min_size=2, max_size=4), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_line_ends_become_crlf_outside_quotes_whatever_the_chunks(rows, cuts):
    """COPY's CSV (LF line ends) cut anywhere: Python's CSV (CRLF) and its row count."""
    copy_like, python = io.StringIO(), io.StringIO()
    csv.writer(copy_like, lineterminator="\n").writerows(rows)
    csv.writer(python).writerows(rows)
    data = copy_like.getvalue().encode()
    bounds = sorted({0, len(data), *(cut for cut in cuts if cut < len(data))})
    lines = LineEnds(multiline=True)
    converted = [lines.convert(data[a:b]) for a, b in itertools.pairwise(bounds)]
    assert b"".join(chunk for chunk, _ in converted) == python.getvalue().encode()
    assert sum(rows for _, rows in converted) == len(rows)


def test_without_line_breaks_in_cells_every_lf_ends_a_row():
    assert LineEnds(multiline=False).convert(b"1,2\n3,4\n") == (b"1,2\r\n3,4\r\n", 2)


# Berlin kept its local mean time (+0:53:28) then: the year changes at 23:06:32 UTC.
EARLY_TIMES = [
    utc(999, 12, 31, 23, 6, 31, 999999), utc(999, 12, 31, 23, 6, 32), utc(5, 3, 1, 12),
    utc(1000, 6, 1, 0, 0, 0, 500000),
]  # fmt: skip


def test_default_formats_are_identical_before_and_after_the_year_1000(
    all_definitions, hostile_shop, vendor
):
    """The cheap ISO cells of the default formats hold from the year 1000 on; before it
    strftime writes the year unpadded, and to_char() takes over."""
    if vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    customer = CustomerFactory(name="Early")
    for placed_at in EARLY_TIMES:
        order = Order.objects.create(customer=customer, placed_at=placed_at, status="paid")
        OrderLine.objects.create(
            order=order, product=hostile_shop[0], quantity=3, unit_price=Decimal("-0.01")
        )
    compiled = compile_report(
        all_definitions["default_formats"], next(runs_of(all_definitions["default_formats"]))
    )
    orm = b"".join(body_chunks(compiled))
    assert copied(compiled)[0] == orm
    text = orm.decode()
    for cell in [",999-12-31 23:59:59,999-12-31,999-12-31,", ",1000-01-01 00:00:00,1000-01-01,"]:
        assert cell in text
    assert ",5-03-01 12:53:28,5-03-01,5-03-01,-0.01,-0.010,-0.03,3,Early," in text
    assert "1000-06-01 00:53:28," in text
    assert "0999" not in text
    assert ",0005" not in text


@pytest.mark.parametrize("places", [0, 2, 5])
def test_a_decimal_cell_is_formats_py_text_at_every_edge(db, vendor, places):
    """Rounding half away from zero, the sign of a negative zero, and the values whose
    rounding has more digits than Python's Decimal keeps, each side of every edge."""
    if vendor != "postgresql":
        pytest.skip("the COPY path's SQL")
    with decimal.localcontext(prec=80):
        half = Decimal(5).scaleb(-places - 1)
        huge = Decimal(10) ** (DECIMAL_PRECISION - places) - half
        step = Decimal(1).scaleb(-places - 3)
        edges = [edge + sign * step for edge in (half, -half, huge, -huge) for sign in (-1, 0, 1)]
    values = [*edges, Decimal(0), Decimal("-1E-9"), Decimal("12.3456789"), Decimal("NaN")]
    fmt = ColumnFormat(decimals=places)
    spec = SimpleNamespace(name="value", format=fmt)
    cell = cell_sql('"t"."v"', models.DecimalField(), spec)
    format_decimal = formatter_for(models.DecimalField(), fmt, dt.UTC)
    with connection.cursor() as cursor:
        for value in values:
            sql = f'SELECT {cell.sql} FROM (SELECT %s::numeric AS "v") AS "t"'
            cursor.execute(sql, [*cell.params, value])
            assert cursor.fetchone()[0] == format_decimal(value), value


@pytest.mark.parametrize(
    "placed_at",
    [
        "9999-12-31 23:30:00+00",  # 10000-01-01 00:30 in Berlin
        "0001-12-31 12:00:00+00 BC",  # a year 0, which Python's datetime lacks
    ],
)
def test_a_local_year_python_cannot_hold_fails_both_paths(
    all_definitions, hostile_shop, vendor, placed_at
):
    """The ORM path cannot read it; the COPY path must not write it as another date."""
    if vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    order = Order.objects.order_by("pk").first()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE shop_order SET placed_at = %s::timestamptz WHERE id = %s",
            [placed_at, order.pk],
        )
    spec = all_definitions["default_formats"]
    compiled = compile_report(spec, next(runs_of(spec)))
    with pytest.raises(DatabaseError):
        b"".join(body_chunks(compiled))
    with pytest.raises(DatabaseError, match="outside the years 1 to 9999"):
        copied(compiled)


def test_psycopg2_takes_the_orm_path(all_definitions, vendor, monkeypatch):
    if vendor != "postgresql":
        pytest.skip("a PostgreSQL driver's choice")
    monkeypatch.setattr("admin_reports.pgcopy.uses_psycopg3", lambda: False)
    spec = all_definitions["order_lines"]
    path, why = row_path(compile_report(spec, next(runs_of(spec))))
    assert (path, why) == ("orm", "the COPY path needs psycopg 3; this connection uses psycopg2")
