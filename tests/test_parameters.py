"""
Run-time parameters: a run request's values for them, checked by their fields, and
the rows they leave (each compared with a count of the ORM's own); the COPY path on
PostgreSQL gives the ORM path's bytes with them, hostile text included.
"""

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest
from django.db import connection
from django.http import QueryDict

from admin_reports.compiler import compile_report
from admin_reports.csv_output import body_chunks
from admin_reports.definitions import load_definition_text
from admin_reports.exceptions import InvalidParameters
from admin_reports.pgcopy import copy_chunks, row_path
from admin_reports.run_request import parse_run_request
from project.shop.models import OrderLine

from .factories import CustomerFactory, OrderLineFactory, RegionFactory

MARCH = {"start": "2026-03-01", "end": "2026-03-31"}
HOSTILE = "O'Hara %_ \\ \"; DROP TABLE shop_order; --"
NARROW = """\
model: shop.OrderLine
date_range: order.placed_at
parameters:
  - {name: status, field: order.status, multiple: true}
  - {name: region, field: order.customer.region}
  - {name: regions, field: order.customer.region, multiple: true}
  - {name: least, field: quantity, lookup: gte}
  - {name: price_below, field: unit_price, lookup: lt}
  - {name: who, field: order.customer.name, lookup: icontains}
  - {name: named, field: order.customer.name}
columns:
  - {name: order, value: order.id}
  - {name: customer, value: order.customer.name}
  - {name: quantity, value: quantity}
order_by: [order]
"""


@pytest.fixture
def narrow():
    spec, problems = load_definition_text(NARROW, name="narrow")
    assert problems == []
    return spec


@pytest.fixture
def shop(db):
    """Lines of two regions, every status, quantities 1 to 5, one hostile customer name."""
    north, south = RegionFactory(code="N", name="North"), RegionFactory(code="S", name="South")
    customers = [
        CustomerFactory(name="Ann North", region=north),
        CustomerFactory(name=HOSTILE, region=north),
        CustomerFactory(name="Bob South", region=south),
    ]
    statuses = ["pending", "paid", "shipped", "refunded", "cancelled"]
    for n in range(30):
        OrderLineFactory(
            order__customer=customers[n % 3],
            order__status=statuses[n % 5],
            order__placed_at=dt.datetime(2026, 3, 1 + n % 28, 12, tzinfo=dt.UTC),
            quantity=1 + n % 5,
            unit_price=Decimal("1.25") * (n % 4 + 1),
        )
    return north, south


def rows(spec, data) -> list:
    request = parse_run_request(spec, {**MARCH, **data})
    return list(compile_report(spec, request.params()).queryset)


def march_lines():
    return OrderLine.objects.filter(order__placed_at__date__range=("2026-03-01", "2026-03-31"))


def test_each_kind_narrows_the_rows_as_the_orm_does(narrow, shop):
    north, south = shop
    lines = march_lines()
    cases = [
        ({"status": ["paid", "shipped"]}, lines.filter(order__status__in=["paid", "shipped"])),
        ({"status": "paid,refunded"}, lines.filter(order__status__in=["paid", "refunded"])),
        ({"region": str(south.pk)}, lines.filter(order__customer__region=south)),
        ({"regions": f"{north.pk},{south.pk}"}, lines),
        ({"least": "4"}, lines.filter(quantity__gte=4)),
        ({"price_below": "2.5"}, lines.filter(unit_price__lt=Decimal("2.5"))),
        ({"who": "north"}, lines.filter(order__customer__name__icontains="north")),
        ({"who": "%_"}, lines.filter(order__customer__name=HOSTILE)),
        ({"named": HOSTILE}, lines.filter(order__customer__name=HOSTILE)),
        ({"status": "paid", "region": str(north.pk), "least": "2"},
         lines.filter(order__status="paid", order__customer__region=north, quantity__gte=2)),
        ({"status": "", "who": "  "}, lines),  # empty: no condition
    ]  # fmt: skip
    for data, expected in cases:
        got = rows(narrow, data)
        assert expected.count() > 0, data
        assert len(got) == expected.count(), data
        assert sorted(row[0] for row in got) == sorted(expected.values_list("order", flat=True))


def test_a_query_dict_gives_repeated_keys_and_comma_lists(narrow, shop):
    data = QueryDict("start=2026-03-01&end=2026-03-31&status=paid&status=shipped,refunded"
                     "&least=1&least=5&unknown=1")  # fmt: skip
    request = parse_run_request(narrow, data)
    # One value of a single one, the last, as QueryDict.get gives it.
    assert request.arguments == {"status": ["paid", "shipped", "refunded"], "least": 5}
    described = request.describe()["arguments"]
    assert described == {"status": ["paid", "shipped", "refunded"], "least": "5"}
    assert request.describe()["arguments_text"] == "Status: Paid, Shipped, Refunded; Quantity: ≥ 5"
    again = parse_run_request(narrow, {**MARCH, **described})
    assert again.arguments == request.arguments
    assert "arguments" not in parse_run_request(narrow, MARCH).describe()


# data -> (the parameter named, code, message)
REFUSED = [
    ({"status": "payed"}, "status", "parameter",
     "'payed' is not one of the choices: pending, paid, shipped, refunded, cancelled."),
    ({"status": ["paid", "nope"]}, "status", "parameter",
     "'nope' is not one of the choices: pending, paid, shipped, refunded, cancelled."),
    ({"region": "abc"}, "region", "parameter", "'abc' is not a valid key of a region."),
    ({"region": "9" * 30}, "region", "parameter",
     f"'{'9' * 30}' is not a valid key of a region."),
    ({"regions": "999999"}, "regions", "missing",
     "No region has the key '999999' (it may have been deleted)."),
    ({"least": "1.5"}, "least", "parameter", "'1.5' is not a whole number."),
    ({"least": "9" * 30}, "least", "parameter", f"'{'9' * 30}' is out of range."),
    ({"price_below": "NaN"}, "price_below", "parameter", "'NaN' is not a number."),
    ({"price_below": "-Infinity"}, "price_below", "parameter", "'-Infinity' is not a number."),
    ({"price_below": "two"}, "price_below", "parameter", "'two' is not a number."),
    ({"who": "x" * 1001}, "who", "parameter",
     "The text is 1,001 characters long; at most 1,000 are taken."),
]  # fmt: skip


@pytest.mark.parametrize(("data", "field", "code", "message"), REFUSED)
def test_a_refused_value_names_its_parameter(narrow, shop, data, field, code, message):
    with pytest.raises(InvalidParameters) as refused:
        parse_run_request(narrow, {**MARCH, **data})
    assert (refused.value.field, refused.value.code, refused.value.messages) == (
        field,
        code,
        [message],
    )


def test_a_required_parameter_needs_a_value(narrow, db, settings):
    required = replace(narrow.parameters[0], required=True)
    spec = replace(narrow, parameters=(required, *narrow.parameters[1:]))
    with pytest.raises(InvalidParameters, match=r"This report needs a value here\.") as refused:
        parse_run_request(spec, {**MARCH, "status": " , "})
    assert refused.value.field == "status"
    settings.ADMIN_REPORTS_MAX_SELECTED = 2
    with pytest.raises(InvalidParameters, match=r"At most 2 values can be given\."):
        parse_run_request(spec, {**MARCH, "status": "paid,shipped,refunded"})


@pytest.mark.django_db(transaction=True)
def test_the_copy_path_binds_the_values_as_the_orm_path_does(narrow, shop, vendor, settings):
    """COPY's SQL (psql's script included) carries the values as the ORM's does."""
    if vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    north, _south = shop
    hostile = {"named": HOSTILE, "status": ["paid", "shipped", "refunded", "pending"]}
    for data in (hostile, {"who": "'", "region": str(north.pk), "price_below": "5"}):
        request = parse_run_request(narrow, {**MARCH, **data})
        compiled = compile_report(narrow, request.params())
        assert row_path(compiled)[0] == "copy"
        orm = b"".join(body_chunks(compiled))
        assert orm.count(b"\r\n") > 0
        for reader in ("psql", "psycopg"):
            settings.ADMIN_REPORTS_COPY_READER = reader
            assert b"".join(copy_chunks(compiled)) == orm, reader
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM shop_order")
        assert cursor.fetchone()[0] == 30


@pytest.mark.parametrize("value", ["r\x00", "\x00", "paid\x00"])
def test_a_null_character_is_refused_as_the_forms_fields_refuse_it(narrow, value):
    # SQLite would cut the match at it (other rows than asked); PostgreSQL cannot store it.
    for name in ("who", "status"):
        with pytest.raises(InvalidParameters) as refused:
            parse_run_request(narrow, {**MARCH, name: value})
        assert refused.value.field == name
        assert refused.value.messages == ["Null characters are not allowed."]
