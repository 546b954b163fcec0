"""The expression language: what compiles to what, what is refused, and fuzzing."""

import builtins
import os
from decimal import Decimal
from unittest import mock

import pytest
from django.db.models import Count, ExpressionWrapper, F, Q, Value, When
from django.db.models import functions as db
from django.db.models import lookups as L
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from admin_reports.definitions import CHECK_IDS
from admin_reports.definitions.expressions import ExpressionError, parse_expression
from admin_reports.definitions.paths import resolve_path
from admin_reports.definitions.types import (
    Arithmetic,
    CheckedExtract,
    ExactSum,
    Rounded,
    UnifiedCase,
    UnifiedCoalesce,
    decimal_value,
)
from project.shop.models import OrderLine


def resolve(path):
    return resolve_path(OrderLine, path)


def parse(text, **options):
    return parse_expression(text, resolve, **options)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("quantity", F("quantity")),
        ("order.customer.name", F("order__customer__name")),
        ("order.pk", F("order__pk")),
        ("quantity * unit_price", Arithmetic(F("quantity"), "*", F("unit_price"))),
        (
            "quantity + 1 - 2 / 4 % 3",
            Arithmetic(
                Arithmetic(F("quantity"), "+", Value(1)),
                "-",
                Arithmetic(Arithmetic(Value(2), "/", Value(4)), "%%", Value(3)),
            ),
        ),
        ("unit_price * 0.9", Arithmetic(F("unit_price"), "*", decimal_value(Decimal("0.9")))),
        ("-5", Value(-5)),
        ("-quantity", Arithmetic(F("quantity"), "*", Value(-1))),
        ("+quantity", F("quantity")),
        ("'text'", Value("text")),
        ("None", Value(None)),
        (
            "coalesce(order.customer.name, 'x')",
            UnifiedCoalesce(F("order__customer__name"), Value("x")),
        ),
        ("round(unit_price, 1)", Rounded(F("unit_price"), 1)),
        ("round(unit_price, places=2)", Rounded(F("unit_price"), 2)),
        ("round(unit_price)", Rounded(F("unit_price"), 0)),
        ("abs(quantity)", db.Abs(F("quantity"))),
        ("upper(product.name)", db.Upper(F("product__name"))),
        ("lower(product.name)", db.Lower(F("product__name"))),
        ("length(product.name)", db.Length(F("product__name"))),
        ("date(order.placed_at)", db.TruncDate(F("order__placed_at"))),
        ("extract(order.placed_at, 'year')", CheckedExtract(F("order__placed_at"), "year")),
        ("count()", Count("*")),
        ("count_distinct(order)", Count(F("order"), distinct=True)),
        ("sum(quantity, default=0)", ExactSum(F("quantity"), default=0)),
        (
            "sum(quantity, filter=order.status == 'paid')",
            ExactSum(F("quantity"), filter=Q(L.Exact(F("order__status"), Value("paid")))),
        ),
        (
            "'big' if quantity > 5 else 'small'",
            UnifiedCase(
                When(Q(L.GreaterThan(F("quantity"), Value(5))), then=Value("big")),
                default=Value("small"),
            ),
        ),
    ],
)
def test_compiles_to(text, expected):
    assert parse(text).expression == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("quantity == 1", Q(L.Exact(F("quantity"), Value(1)))),
        ("quantity != 1", ~Q(L.Exact(F("quantity"), Value(1)))),
        ("quantity < 1", Q(L.LessThan(F("quantity"), Value(1)))),
        ("quantity <= 1", Q(L.LessThanOrEqual(F("quantity"), Value(1)))),
        ("quantity >= unit_price", Q(L.GreaterThanOrEqual(F("quantity"), F("unit_price")))),
        ("order.status in ('paid', 'shipped')", Q(L.In(F("order__status"), ["paid", "shipped"]))),
        ("order.status not in ['paid']", ~Q(L.In(F("order__status"), ["paid"]))),
        ("order.customer.name is None", Q(L.IsNull(F("order__customer__name"), True))),
        ("order.customer.name is not None", Q(L.IsNull(F("order__customer__name"), False))),
        ("product.active", Q(L.Exact(F("product__active"), True))),
        (
            "1 < quantity < 5",
            Q(L.LessThan(Value(1), F("quantity"))) & Q(L.LessThan(F("quantity"), Value(5))),
        ),
        (
            "product.active and not quantity == 1 or quantity > 9",
            (Q(L.Exact(F("product__active"), True)) & ~Q(L.Exact(F("quantity"), Value(1))))
            | Q(L.GreaterThan(F("quantity"), Value(9))),
        ),
    ],
)
def test_conditions(text, expected):
    parsed = parse(f"sum(quantity, filter={text})")
    assert parsed.expression == ExactSum(F("quantity"), filter=expected)


def test_condition_as_a_value_is_a_boolean():
    parsed = parse("quantity > 5")
    assert parsed.condition
    assert isinstance(
        parse("coalesce(quantity > 5, False)").expression.source_expressions[0], ExpressionWrapper
    )


def test_reports_kind_and_paths():
    parsed = parse("sum(quantity * product.price)")
    assert (parsed.aggregate, parsed.is_path, parsed.condition) == (True, False, False)
    assert [p.lookup for p in parsed.paths] == ["quantity", "product__price"]
    assert parse("product.sku").is_path


@pytest.mark.parametrize(
    ("text", "id", "message", "offset"),
    [
        ("quantity +", "E011", "is not a valid expression: invalid syntax.", 10),
        ("quantity ** 2", "E012", "uses the operator **, which is not allowed.", 0),
        ("quantity // 2", "E012", "uses the operator //, which is not allowed.", 0),
        ("~quantity", "E012", "uses the operator ~, which is not allowed.", 0),
        ("lambda: 1", "E012", "uses a lambda, which is not allowed.", 0),
        ("quantity[0]", "E012", "uses subscripts, which is not allowed.", 0),
        ("[1, 2]", "E012", "uses a list, which is not allowed.", 0),
        ("{'a': 1}", "E012", "uses a dict, which is not allowed.", 0),
        ("f'{quantity}'", "E012", "uses an f-string, which is not allowed.", 0),
        ("(x := 1)", "E012", "uses an assignment expression, which is not allowed.", 1),
        ("[q for q in quantity]", "E012", "uses a comprehension, which is not allowed.", 0),
        ("b'bytes'", "E012", "uses the literal b'bytes', which is not allowed.", 0),
        ("1j", "E012", "uses the literal 1j, which is not allowed.", 0),
        (
            "__import__('os')",
            "E013",
            "calls '__import__', which is not a known function or aggregate.",
            0,
        ),
        ("quantity.__class__", "E009", "is 'quantity.__class__', which is not a field path.", 0),
        ("order.pk.__class__", "E009", "is 'order.pk.__class__', which is not a field path.", 0),
        (
            "quantity.real",
            "E010",
            "refers to 'quantity.real', but 'quantity' is not a relation,"
            " so it has no field 'real'.",
            0,
        ),
        (
            "order.custmer",
            "E009",
            "refers to 'custmer', which is not a field of 'shop.Order'. Did you mean 'customer'?",
            0,
        ),
        (
            "sum(quantity).real",
            "E012",
            "uses an attribute of something that is not a field path.",
            0,
        ),
        ("product.name.upper()", "E012", "calls something that is not a function name.", 0),
        (
            "sum(quantity, where=1)",
            "E014",
            "calls 'sum' with the keyword 'where';"
            " usage: sum(x, filter=condition, default=value, over=[key, ...]).",
            20,
        ),
        (
            "sum(quantity, filter=quantity)",
            "E012",
            "uses a value where a condition (a comparison, and, or, not) is needed.",
            21,
        ),
        (
            "sum(quantity, default=quantity)",
            "E014",
            "calls 'sum' with a non-literal argument;"
            " usage: sum(x, filter=condition, default=value, over=[key, ...]).",
            22,
        ),
        ("abs()", "E014", "calls 'abs' with 0 argument(s); usage: abs(x).", 0),
        (
            "round(quantity, unit_price)",
            "E014",
            "calls 'round' with a non-literal argument; usage: round(x, places=0).",
            16,
        ),
        (
            "round(unit_price, places='two')",
            "E014",
            "calls 'round' wrongly: places must be a whole number from 0 to 15, not 'two';"
            " usage: round(x, places=0).",
            0,
        ),
        (
            "round(unit_price, 1, places=2)",
            "E014",
            "calls 'round' wrongly: _round() got multiple values for argument 'places';"
            " usage: round(x, places=0).",
            0,
        ),
        (
            "quantity in (1, quantity)",
            "E012",
            "uses 'in' with something other than a list of literals.",
            16,
        ),
        ("quantity in ()", "E012", "uses 'in' with an empty list.", 12),
        ("quantity is 1", "E012", "uses 'is' with something other than None.", 12),
        (
            "not quantity",
            "E012",
            "uses a value where a condition (a comparison, and, or, not) is needed.",
            4,
        ),
        (
            "9223372036854775808",
            "E026",
            "uses the number 9223372036854775808, which is too large.",
            0,
        ),
        ("1e999", "E026", "uses the number inf, which is not finite.", 0),
        ("sum(count())", "E025", "uses the aggregate 'count' inside another aggregate.", 4),
        ("abs(" * 50 + "1" + ")" * 50, "E011", "is nested too deeply.", 160),
        ("1 + " * 1200 + "1", "E011", "is longer than 2000 characters.", 0),
        (["quantity"], "E002", "must be an expression (a string), not ['quantity'].", 0),
    ],
)
def test_refused(text, id, message, offset):
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert caught.value.id == id
    assert caught.value.message == message
    assert caught.value.offset == offset


def test_number_alone_is_a_literal_not_an_error():
    # A bare number is a valid (constant) expression; 5 in YAML reaches us as an int.
    with pytest.raises(ExpressionError):
        parse(True)
    assert parse("5").expression == Value(5)


def test_aggregates_can_be_forbidden():
    with pytest.raises(
        ExpressionError, match=r"uses the aggregate 'sum', which is not allowed here\."
    ):
        parse("sum(quantity) > 1", allow_aggregates=False)


@override_settings(
    ADMIN_REPORTS_FUNCTIONS={
        "greatest": "django.db.models.functions.Greatest",
        "variance": "django.db.models.Variance",
    }
)
def test_the_project_can_add_functions_and_aggregates():
    assert parse("greatest(quantity, 2)").expression == db.Greatest(F("quantity"), Value(2))
    parsed = parse("variance(quantity, filter=quantity > 1)")
    assert parsed.aggregate
    with pytest.raises(ExpressionError, match="inside another aggregate"):
        parse("sum(variance(quantity))")


@override_settings(
    ADMIN_REPORTS_FUNCTIONS={
        "bad": "builtins.print",
        "greatest": "django.db.models.functions.Greatest",
    }
)
def test_a_bad_function_setting_is_left_out():
    # manage.py check reports it (admin_reports.E027, tests/test_checks.py).
    assert parse("greatest(quantity, 2)").expression == db.Greatest(F("quantity"), Value(2))
    with pytest.raises(ExpressionError, match=r"calls 'bad', which is not a known function"):
        parse("bad(quantity)")


# Property-based: any text compiles or is refused with an ExpressionError, and
# nothing is ever executed.

ALPHABET = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyz_.()[]{}'\",:=+-*/%<>!~&|^@ 0123456789\\\n\t#")
)
TOKENS = st.sampled_from(
    [
        "quantity",
        "unit_price",
        "order",
        ".",
        "customer",
        "name",
        "product",
        "sku",
        "__class__",
        "__import__",
        "eval",
        "exec",
        "open",
        "os",
        "system",
        "sum",
        "count",
        "count_distinct",
        "trunc",
        "extract",
        "coalesce",
        "concat",
        "round",
        "(",
        ")",
        ",",
        "[",
        "]",
        "'day'",
        "'x'",
        "1",
        "0.5",
        "-",
        "+",
        "*",
        "/",
        "%",
        "**",
        "==",
        "!=",
        "<",
        ">=",
        " in ",
        " not ",
        " and ",
        " or ",
        " if ",
        " else ",
        " is ",
        "None",
        "True",
        "lambda",
        ":",
        "filter=",
        "default=",
        " ",
    ]
)


def assert_compiles_or_refused(text):
    executed = AssertionError("code was executed")
    with (
        mock.patch.object(builtins, "eval", side_effect=executed),
        mock.patch.object(builtins, "exec", side_effect=executed),
        mock.patch.object(os, "system", side_effect=executed),
    ):
        try:
            parsed, error = parse(text), None
        except ExpressionError as exc:
            parsed, error = None, exc
    if error is None:
        assert parsed.expression is not None
    else:
        assert error.id in CHECK_IDS
        assert error.message
        assert 0 <= error.offset <= len(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=60))
def test_any_text_compiles_or_is_refused(text):
    assert_compiles_or_refused(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(TOKENS, max_size=14).map("".join))
def test_any_token_soup_compiles_or_is_refused(text):
    assert_compiles_or_refused(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_any_unicode_compiles_or_is_refused(text):
    assert_compiles_or_refused(text)
