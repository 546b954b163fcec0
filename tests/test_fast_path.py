"""
The ORM path's fast way (a plain cursor, timestamps as text, a column at a time,
plain rows joined without csv.writer) against the straightforward one: the ORM's
own iterator, the column's formatter called on every value, csv.writer on every row.

Run on SQLite and on PostgreSQL alike; the data crosses both DST changes in
Europe/Berlin and holds NULLs, decimals, booleans, formula cells, non-ASCII text,
and cells csv.writer has to quote.
"""

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from admin_reports.compiler import ReportParams, compile_report
from admin_reports.csv_output import CsvEncoder, PlainRows, body_chunks, encode_batches
from admin_reports.definitions import load_definition_file, load_definition_text
from admin_reports.definitions.spec import ColumnFormat
from admin_reports.formats import NumberTexts, UtcTimestamps, formatter_for
from admin_reports.registry import registry
from admin_reports.sources import orm_rows, reading
from project.shop.models import Order, OrderLine, Product

from .factories import (
    CustomerFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    RegionFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

BERLIN = ZoneInfo("Europe/Berlin")
VALID = Path(__file__).parent / "definitions" / "valid"
WINDOW = {"start": dt.date(2025, 10, 1), "end": dt.date(2026, 3, 31)}

# Row-level cells of every kind, in default and custom formats.
CELLS = """
model: shop.OrderLine
action_on: shop.Product
selection: product
date_range: order.placed_at
columns:
  - {name: order, value: order.id}
  - {name: at, value: order.placed_at}
  - {name: at_custom, value: order.placed_at, format: {datetime: "%d.%m.%Y %H:%M:%S %Z"}}
  - {name: day, value: date(order.placed_at)}
  - {name: hour, value: "trunc(order.placed_at, 'hour')"}
  - {name: customer, value: order.customer.name}
  - {name: region, value: order.customer.region.name}
  - {name: status, value: order.status}
  - {name: sku, value: product.sku}
  - {name: active, value: product.active, format: {true_label: "on", false_label: "off"}}
  - {name: quantity, value: quantity}
  - {name: price, value: unit_price}
  - {name: price_3, value: unit_price, format: {decimals: 3}}
  - {name: price_0, value: unit_price, format: {decimals: 0}}
  - {name: total, value: quantity * unit_price}
  - {name: quantity_1, value: quantity, format: {decimals: 1}}
order_by: [at, order, sku]
"""

# Aggregates: NULL sums (no refunded lines in most groups) with and without a label.
GROUPS = """
model: shop.OrderLine
action_on: shop.Product
selection: product
date_range: order.placed_at
columns:
  - {name: sku, value: product.sku}
  - {name: day, value: "trunc(order.placed_at, 'day')"}
  - {name: refunded, value: "sum(quantity * unit_price, filter=order.status == 'refunded')"}
  - name: refunded_label
    value: "sum(quantity, filter=order.status == 'refunded')"
    format: {empty_label: "(none)"}
  - {name: lines, value: count()}
  - {name: mean_quantity, value: avg(quantity)}
  - {name: mean_price, value: avg(unit_price), format: {decimals: 4}}
  - {name: last_at, value: max(order.placed_at)}
  - {name: bulk, value: max(quantity) >= 10}
order_by: [sku, day]
"""


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


# Around the autumn change (26 Oct 2025: 02:00-03:00 local happens twice) and the spring
# one (29 Mar 2026: 02:00-03:00 local does not exist), with fractions of a second.
WHEN = [
    utc(2025, 10, 25, 23, 59, 59, 999999),
    utc(2025, 10, 26, 0, 30),
    utc(2025, 10, 26, 1, 0),
    utc(2025, 10, 26, 1, 30, 0, 5),
    utc(2025, 10, 26, 2, 0),
    utc(2026, 1, 1, 0, 0),
    utc(2026, 3, 29, 0, 59, 59),
    utc(2026, 3, 29, 1, 0),
    utc(2026, 3, 29, 1, 0, 0, 500000),
    utc(2026, 3, 30, 21, 59, 59),
]
NAMES = [
    "Anna Müller",
    "=SUM(A1)",
    "+49 30 1234",
    "-minus",
    "@at",
    "\ttab",
    'Atlas, "2nd" ed.',
    "two\nlines",
    " padded ",
    "東京",
]
PRICES = ["0.00", "12.50", "1.99", "-3.10", "99999.99", "0.05"]


@pytest.fixture
def shop():
    regions = [RegionFactory(code="N", name="North"), RegionFactory(code="I", name='Île, "F"')]
    products = [
        ProductFactory(sku="TOY-1", name="Kite"),
        ProductFactory(sku="=1+1", name="Formula", active=False),
        ProductFactory(sku="BOO,2", name="Book"),
    ]
    statuses = ["paid", "refunded", "shipped", "cancelled"]
    for index, when in enumerate(WHEN * 3):
        customer = CustomerFactory(
            name=NAMES[index % len(NAMES)], region=regions[index % len(regions)]
        )
        order = OrderFactory(
            customer=customer,
            placed_at=when + dt.timedelta(days=index // len(WHEN) * 2),
            status=statuses[index % len(statuses)],
        )
        for offset, product in enumerate(products[: 1 + index % 3]):
            OrderLineFactory(
                order=order,
                product=product,
                quantity=1 + (index * 7 + offset) % 12,
                unit_price=Decimal(PRICES[(index + offset) % len(PRICES)]),
            )
    return products


def reference_csv(compiled) -> bytes:
    """The straightforward way: ORM rows, a formatter call per cell, csv.writer per row."""
    with timezone.override(compiled.tz), reading(compiled.queryset.db):
        rows = list(compiled.queryset.iterator())
    buffer = io.StringIO()
    csv.writer(buffer).writerows(
        [format_cell(value) for format_cell, value in zip(compiled.formatters, row, strict=True)]
        for row in rows
    )
    return buffer.getvalue().encode("utf-8")


def orm_values(compiled) -> list:
    with timezone.override(compiled.tz), reading(compiled.queryset.db):
        return [tuple(row) for row in compiled.queryset.iterator()]


def definitions():
    specs = {f"demo:{name}": spec for name, spec in registry.specs().items()}
    for path in sorted(VALID.glob("*.yaml")):
        spec, problems = load_definition_file(path)
        assert problems == []
        specs[f"valid:{path.stem}"] = spec
    for name, text in {"cells": CELLS, "groups": GROUPS}.items():
        spec, problems = load_definition_text(text, name=name)
        assert problems == []
        specs[f"inline:{name}"] = spec
    return specs


def compiled_reports(shop):
    for name, spec in definitions().items():
        params = {} if spec.date_range is None else WINDOW
        if spec.action_for(Product) is not None:
            params = {**params, "selection": shop, "selection_model": Product}
        max_days = spec.date_range.max_days if spec.date_range is not None else None
        if max_days and (WINDOW["end"] - WINDOW["start"]).days >= max_days:
            params = {**params, "start": dt.date(2026, 3, 1)}
        yield name, compile_report(spec, ReportParams(**params))


@pytest.mark.parametrize("sizes", [(2000, 500), (5, 7), (7, 3)])
def test_the_fast_way_writes_what_the_straightforward_one_does(shop, settings, sizes):
    settings.ADMIN_REPORTS_FETCH_ROWS, settings.ADMIN_REPORTS_CHUNK_ROWS = sizes
    checked = 0
    for name, compiled in compiled_reports(shop):
        expected = reference_csv(compiled)
        chunks = list(body_chunks(compiled))
        assert b"".join(chunks) == expected, name
        assert all(chunk.count(b"\r\n") <= sizes[1] for chunk in chunks), name
        checked += bool(expected)
    assert checked >= 6  # every definition found rows


def test_orm_rows_are_the_orms_own_values(shop, settings):
    settings.ADMIN_REPORTS_FETCH_ROWS = 4
    for name, compiled in compiled_reports(shop):
        expected = [[(type(v), str(v)) for v in row] for row in orm_values(compiled)]
        got = [[(type(v), str(v)) for v in row] for row in orm_rows(compiled)]
        assert got == expected, name


def test_the_data_is_as_varied_as_promised(shop):
    compiled = dict(compiled_reports(shop))["inline:groups"]
    cells = list(csv.reader(io.StringIO(reference_csv(compiled).decode())))
    assert {row[2] for row in cells} >= {""}, "a NULL sum"
    assert {row[3] for row in cells} >= {"(none)"}, "a NULL with its label"
    assert {row[8] for row in cells} == {"true", "false"}


def test_without_formula_escaping_text_is_passed_on(shop, settings):
    settings.ADMIN_REPORTS_CSV_ESCAPE_FORMULAS = False
    compiled = dict(compiled_reports(shop))["inline:cells"]
    output = b"".join(body_chunks(compiled))
    assert output == reference_csv(compiled)
    assert b",=SUM(A1)," in output


def column(values, parse=None, in_utc=True):
    return UtcTimestamps(values, parse or (lambda texts: []), in_utc)


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Asia/Kolkata", "America/St_Johns", "UTC"])
def test_utc_texts_become_local_times_as_the_formatter_gives_them(zone):
    tz = ZoneInfo(zone)
    format_cell = formatter_for(Order._meta.get_field("placed_at"), ColumnFormat(), tz)
    instants = [
        utc(2025, 10, 26, 0, 59, 59) + dt.timedelta(minutes=17 * n, microseconds=n)
        for n in range(0, 400)
    ] + [utc(2026, 3, 29, 1, 0) + dt.timedelta(minutes=n) for n in range(-90, 90)]
    texts = [str(when).replace("+00:00", "+00") for when in instants] + [None]

    def parse(values):
        return [None if text is None else dt.datetime.fromisoformat(text) for text in values]

    cells = format_cell.column(column(texts, parse))
    assert cells == [format_cell(value) for value in [*instants, None]]


def test_timestamps_not_in_utc_are_parsed_first():
    parsed = []

    def parse(values):
        parsed.append(list(values))
        return [dt.datetime.fromisoformat(text) for text in values]

    placed_at = formatter_for(Order._meta.get_field("placed_at"), ColumnFormat(), BERLIN)
    texts = ["2026-03-29 03:00:00+02"]
    assert placed_at.column(column(texts, parse, in_utc=False)) == ["2026-03-29 03:00:00"]
    assert parsed == [texts]


cell_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)


@given(st.lists(st.tuples(cell_text, cell_text), min_size=1, max_size=20))
def test_plain_rows_are_encoded_as_csv_writer_does(rows):
    plain = [row for row in rows if not any(c in "".join(row) for c in '",\r\n')]
    if not plain:
        return
    buffer = io.StringIO()
    csv.writer(buffer).writerows(plain)
    assert CsvEncoder().encode(PlainRows(plain)) == buffer.getvalue().encode("utf-8")


def test_batches_of_any_size_make_chunks_of_chunk_rows(settings):
    settings.ADMIN_REPORTS_CHUNK_ROWS = 3
    rows = [("a", str(n)) for n in range(10)]
    batches = [PlainRows(rows[:4]), rows[4:5], PlainRows(rows[5:10])]
    sizes = []
    chunks = list(encode_batches(batches, lambda count, size: sizes.append(count)))
    assert sizes == [3, 3, 3, 1]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    assert b"".join(chunks) == buffer.getvalue().encode()


@pytest.mark.parametrize(
    ("zone", "text"),
    [("America/New_York", "0001-01-01 00:30:00+00"), ("Europe/Berlin", "9999-12-31 23:30:00+00")],
)
def test_at_the_edges_of_datetime_a_column_fails_as_its_cells_do(zone, text):
    placed_at = formatter_for(Order._meta.get_field("placed_at"), ColumnFormat(), ZoneInfo(zone))
    value = dt.datetime.fromisoformat(text)
    with pytest.raises(OverflowError):
        placed_at(value)
    with pytest.raises(OverflowError):
        placed_at.column(column([text], lambda texts: [value]))


number_text = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: f"{d:f}"),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["0.0000000", "-0.00", "0.005", "-0.005", "NaN", "Infinity", "-Infinity"]),
)


@given(st.lists(st.one_of(st.none(), number_text), max_size=8), st.sampled_from([0, 2, 7]))
def test_numeric_texts_become_the_cells_their_decimals_do(texts, places):
    price = formatter_for(
        OrderLine._meta.get_field("unit_price"), ColumnFormat(decimals=places), BERLIN
    )
    decimals = [None if text is None else Decimal(text) for text in texts]
    assert price.column(NumberTexts(texts, Decimal)) == [price(value) for value in decimals]


@given(
    st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), max_size=8),
    st.sampled_from(["", "n/a"]),
)
def test_integer_texts_become_the_cells_their_ints_do(values, empty):
    quantity = formatter_for(
        OrderLine._meta.get_field("quantity"), ColumnFormat(empty_label=empty), BERLIN
    )
    texts = [None if value is None else str(value) for value in values]
    cells = quantity.column(NumberTexts(texts, int))
    assert [("" if cell is None else str(cell)) for cell in cells] == [quantity(v) for v in values]


def test_number_texts_reach_other_formatters_as_loaded_values():
    # A text column's formatter never sees a numeric's text: 0E-7 is str() of its Decimal.
    name = formatter_for(Product._meta.get_field("name"), ColumnFormat(), BERLIN)
    assert name.column(NumberTexts(["0.0000000", "-1.50", None], Decimal)) == [
        "0E-7",
        "'-1.50",
        "",
    ]
