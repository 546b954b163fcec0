"""The `parameters` key: what a valid one becomes, and each bad shape's id and place."""

import pytest

from admin_reports.definitions import load_definition_text
from admin_reports.definitions.spec import ParameterKind
from project.shop.models import Customer, Region

HEAD = """\
model: shop.OrderLine
joins:
  customer: order.customer
  paid: {path: order, condition: "status == 'paid'"}
columns:
  - {name: sku, value: product.sku}
parameters:
"""
FIRST = HEAD.count("\n") + 1  # the line of the first parameter


def load(parameters: str):
    return load_definition_text(HEAD + parameters)


def test_each_kind_of_parameter():
    spec, problems = load(
        "  - name: status\n"
        "    label: Order status\n"
        "    help: Any of them.\n"
        "    field: order.status\n"
        "    multiple: true\n"
        "    default: [paid, shipped]\n"
        "  - {name: region, field: customer.region, required: true}\n"
        "  - {name: buyer, field: customer}\n"  # a join's alias: its relation
        "  - {name: least, field: quantity, lookup: gte, default: 2}\n"
        "  - {name: who, field: customer.name, lookup: icontains}\n"
        "  - {name: paid_status, field: paid.status}\n"  # through a filtered join
    )
    assert problems == []
    got = [
        (p.name, p.label, p.kind, p.condition_key, p.model, p.multiple, p.required, p.default)
        for p in spec.parameters
    ]
    assert got == [
        ("status", "Order status", ParameterKind.CHOICE, "order__status__in", None, True, False,
         ("paid", "shipped")),
        ("region", "Region", ParameterKind.RELATION, "order__customer__region__exact", Region,
         False, True, ()),
        ("buyer", "Customer", ParameterKind.RELATION, "order__customer__exact", Customer, False,
         False, ()),
        ("least", "Quantity", ParameterKind.NUMBER, "quantity__gte", None, False, False, ("2",)),
        ("who", "Name", ParameterKind.TEXT, "order__customer__name__icontains", None, False,
         False, ()),
        ("paid_status", "Status", ParameterKind.CHOICE, "paid__status__exact", None, False,
         False, ()),
    ]  # fmt: skip
    assert spec.parameters[0].help == "Any of them."
    assert spec.parameters[1].field is Region._meta.pk  # what checks a key
    assert "shop.view_region" in spec.permissions  # a parameter reads what it names


# parameters, then (id, what the problem's mark points at) of each problem
BAD = [
    ("  - {name: status, field: order.status}\n  - {name: status, field: quantity}\n",
     [("E050", "status, field: quantity}")]),
    ("  - {name: run_token, field: quantity}\n", [("E050", "run_token")]),
    ("  - {name: Status, field: order.status}\n", [("E007", "Status")]),
    ("  - {name: s, field: order.status, colour: red}\n", [("E003", "colour")]),
    ("  - {label: S, field: order.status}\n", [("E004", "{label")]),
    ("  - {name: s}\n", [("E004", "{name")]),
    ("  - status\n", [("E002", "status")]),
    ("  - {name: s, field: order.statsu}\n", [("E009", "order.statsu")]),
    ("  - {name: s, field: quantity.amount}\n", [("E010", "quantity.amount")]),
    ("  - {name: s, field: order.placed_at}\n", [("E051", "order.placed_at")]),
    ("  - {name: s, field: product.active}\n", [("E051", "product.active")]),
    ("  - {name: s, field: order.customer.orders}\n", [("E051", "order.customer.orders")]),
    ("  - {name: s, field: paid}\n", [("E051", "paid")]),
    ("  - {name: s, field: quantity, multiple: true}\n", [("E052", "true")]),
    ("  - {name: s, field: order.status, lookup: icontains}\n", [("E052", "icontains")]),
    ("  - {name: s, field: customer.region, lookup: in}\n", [("E052", "in}")]),
    ("  - {name: s, field: order.status, default: [paid]}\n", [("E053", "[paid]")]),
    ("  - {name: s, field: quantity, default: 1.5}\n", [("E053", "1.5")]),
    ("  - {name: s, field: customer.region, default: north}\n", [("E053", "north")]),
    ("  - {name: s, field: quantity, default: true}\n", [("E002", "true")]),
    ("  - {name: s, field: quantity, required: yes}\n", [("E002", "yes")]),
    ("  - {name: s, field: quantity, label: [a]}\n", [("E002", "[a]")]),
    ("  - name: s\n    field: quantity\n    lookup: ''\n    multiple: 1\n",
     [("E002", "1"), ("E052", "''")]),
]  # fmt: skip


@pytest.mark.parametrize(("parameters", "expected"), BAD)
def test_each_bad_shape_gives_its_id_and_place(parameters, expected):
    spec, problems = load(parameters)
    assert spec is None
    lines = (HEAD + parameters).splitlines()
    marked = [lines[p.mark.line - 1][p.mark.column - 1 :] for p in problems]
    assert [p.id for p in problems] == [id for id, _at in expected]
    for at, (_id, start) in zip(marked, expected, strict=True):
        assert at.startswith(start)


def test_parameters_must_be_a_list():
    _, problems = load_definition_text(HEAD + "  {status: order.status}\n")
    assert [(p.id, p.message) for p in problems] == [
        ("E002", "The value of 'parameters' must be a list.")
    ]


def test_a_forbidden_field_is_refused(settings):
    settings.ADMIN_REPORTS_FORBIDDEN_FIELDS = ["shop.Customer.email"]
    _, problems = load("  - {name: mail, field: customer.email}\n")
    assert [p.id for p in problems] == ["E029"]
    assert problems[0].message.startswith("The value of 'parameters[0].field' refers to 'email'")
