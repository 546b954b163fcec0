"""
ADMIN_REPORTS_DATABASE: a report's rows are read from that database (a read replica)
on every row path, its run is recorded on the default one, and the file is the one
read without the setting. An alias that is not in DATABASES is check E037.

The suite's "replica" alias (tests/settings.py) is a second connection to the test
database: the statements each connection ran tell where a report read.
"""

import io
from collections.abc import Iterator

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.backends.signals import connection_created

from admin_reports import pgcopy
from admin_reports.checks import check_definitions, check_settings
from admin_reports.compiler import compile_report
from admin_reports.exceptions import InvalidParameters
from admin_reports.models import ReportRun, RunStatus
from admin_reports.registry import registry
from admin_reports.run_request import RunSelection, parse_run_request
from admin_reports.runs import start_run, write_run
from project.shop.models import Product

from .factories import OrderLineFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

DATES = {"start": "2000-01-01", "end": "2100-01-01"}
UNKNOWN = (
    "ADMIN_REPORTS_DATABASE is 'replcia', which is not a key of DATABASES;"
    " choose one of: default, replica."
)


class Statements:
    """(alias, SQL) of every statement run by the connections of every thread (the
    producer and the run's tracker have their own), from when it starts to listen."""

    def __init__(self) -> None:
        self.connections: list = []

    def listen(self, connection) -> None:
        if all(known is not connection for known in self.connections):
            connection.force_debug_cursor = True
            connection.queries_log.clear()
            self.connections.append(connection)

    def created(self, sender, connection, **kwargs) -> None:
        self.listen(connection)

    def clear(self) -> None:
        for connection in self.connections:
            connection.queries_log.clear()

    def ran(self) -> list[tuple[str, str]]:
        return [(c.alias, query["sql"]) for c in self.connections for query in c.queries_log]


@pytest.fixture
def statements() -> Iterator[Statements]:
    listening = Statements()
    for alias in ("default", "replica"):  # this thread's, which may be open already
        listening.listen(connections[alias])
    connection_created.connect(listening.created)
    try:
        yield listening
    finally:
        connection_created.disconnect(listening.created)
        for connection in listening.connections:
            connection.force_debug_cursor = False


def read_on(ran: list[tuple[str, str]], table: str) -> set[str]:
    """The aliases of the connections whose statements named `table`."""
    return {alias for alias, sql in ran if f'"{table}"' in sql}


@pytest.fixture(params=["orm", "psql", "psycopg"])
def reader(request, settings, vendor) -> str:
    """What reads the rows: the ORM, or COPY read by psql or by psycopg (PostgreSQL)."""
    if request.param == "orm":
        settings.ADMIN_REPORTS_COPY = False
    elif vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    else:
        settings.ADMIN_REPORTS_COPY_READER = request.param
    return request.param


@pytest.fixture
def psql_connections(monkeypatch) -> list[str]:
    """The aliases whose connection parameters a psql child took."""
    taken = []
    command = pgcopy._psql_command

    def spied(connection):
        taken.append(connection.alias)
        return command(connection)

    monkeypatch.setattr(pgcopy, "_psql_command", spied)
    return taken


def changelist_selection() -> RunSelection:
    # Pinned to the default database, as a multi-database admin's get_queryset() pins it:
    # run as a subquery of the replica's query, Django would refuse it.
    products = Product.objects.using("default").filter(sku__in=selected_skus())
    return RunSelection(Product, products, {"filter": "sku__in=..."}, count=products.count())


def keys_selection() -> RunSelection:
    keys = list(Product.objects.filter(sku__in=selected_skus()).values_list("pk", flat=True))
    return RunSelection(Product, keys, [str(key) for key in keys])


def selected_skus() -> list[str]:
    return sorted(Product.objects.values_list("sku", flat=True))[::2]


@pytest.mark.parametrize("selection", [changelist_selection, keys_selection])
def test_a_run_reads_the_replica_and_records_on_default(
    selection, reader, settings, statements, psql_connections
):
    OrderLineFactory.create_batch(6)
    spec = registry.get("order_lines")
    request = parse_run_request(spec, DATES, selection=selection())
    expected = io.BytesIO()
    write_run(request, expected)
    psql_connections.clear()
    statements.clear()

    settings.ADMIN_REPORTS_DATABASE = "replica"
    out = io.BytesIO()
    run = write_run(request, out)
    ran = statements.ran()

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.path == ("orm" if reader == "orm" else "copy")
    assert out.getvalue() == expected.getvalue()
    assert 1 < run.rows < 6, "the selection limits the rows"
    assert read_on(ran, "shop_orderline") == {"replica"}, "the report's query (or COPY's)"
    assert read_on(ran, "shop_product") == {"replica"}, "the selection, a subquery of it"
    assert read_on(ran, "admin_reports_reportrun") == {"default"}, "the run row and progress"
    expected_psql = ["replica"] if reader == "psql" else []
    assert psql_connections == expected_psql, "psql connects as the replica's connection"


def test_without_the_setting_reports_read_where_the_router_sends_reads(settings, statements):
    OrderLineFactory.create_batch(2)
    settings.ADMIN_REPORTS_COPY = False
    run = write_run(parse_run_request(registry.get("order_lines"), DATES), io.BytesIO())
    assert run.rows == 2
    assert read_on(statements.ran(), "shop_orderline") == {"default"}


def test_selected_keys_are_checked_against_the_report_database(settings, monkeypatch):
    settings.ADMIN_REPORTS_DATABASE = "replica"
    monkeypatch.setattr(
        connections["replica"].ops, "integer_field_range", lambda internal_type: (1, 10)
    )
    spec = registry.get("order_lines")
    with pytest.raises(InvalidParameters, match="'11' is not a valid key of a product"):
        parse_run_request(spec, {**DATES, "select": "11"})
    assert parse_run_request(spec, {**DATES, "select": "10"}).selection.objects == [10]


@pytest.mark.parametrize("alias", [None, "default", "replica"])
def test_no_setting_or_a_database_alias_passes_the_check(alias, settings):
    settings.ADMIN_REPORTS_DATABASE = alias
    assert [m for m in check_settings() if m.id == "admin_reports.E037"] == []


def test_an_alias_not_in_databases_is_check_e037_and_refuses_runs(settings):
    settings.ADMIN_REPORTS_DATABASE = "replcia"
    found = [message for message in check_settings() if message.id == "admin_reports.E037"]
    assert found == [
        checks.Error(
            UNKNOWN,
            hint="Name a key of DATABASES, or None: reports read where the router sends reads.",
            id="admin_reports.E037",
        )
    ]
    assert [m for m in checks.run_checks() if m.id == "admin_reports.E037"] == found
    assert check_definitions() == [], "definitions are still checked, on the default database"
    spec = registry.get("order_lines")
    with pytest.raises(ImproperlyConfigured) as caught:
        compile_report(spec)
    assert str(caught.value) == UNKNOWN
    with pytest.raises(ImproperlyConfigured, match="ADMIN_REPORTS_DATABASE is 'replcia'"):
        start_run(parse_run_request(spec, DATES))
    assert not ReportRun.objects.exists(), "refused before anything is stored"
