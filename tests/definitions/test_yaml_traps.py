"""
YAML's quoting traps: an expression YAML reads differently is one problem that says what
YAML did and gives the value back quoted (docs/definitions.md, "YAML note").
"""

import datetime as dt

import pytest
import yaml

from admin_reports.definitions import Mark, Problem
from admin_reports.definitions.loader import load_yaml
from admin_reports.registry import load_definition

BASE = "model: shop.OrderLine\ncolumns:\n  - name: sku\n    value: product.sku\n"


def column(line: str) -> str:
    """BASE and a second column written as `line` (the definition's line 5 and on)."""
    return BASE + line + "\n"


QUOTE_FIX = "Quote the value: value: "
# the definition's text, then id, message, line, column, hint of its one problem
CASES = [
    (
        column("  - {name: share, value: sum(unit_price) / sum(unit_price, over=True)}"),
        "E056",
        "The value of 'columns[1].value' was cut at a comma: in a flow mapping {...} a comma"
        " ends a value, so YAML read 'sum(unit_price) / sum(unit_price' and then a key"
        " 'over=True)'.",
        5,
        60,
        "Quote the value: value: 'sum(unit_price) / sum(unit_price, over=True)'.",
    ),
    (
        column("  - {name: share, value: sum(unit_price) / sum(unit_price, over=[sku])}"),
        "E056",
        "The value of 'value' was cut at a comma: in a flow mapping {...} a comma ends a value,"
        " and YAML could not read what followed (while parsing a flow mapping: expected ','"
        " or '}', but got '[').",
        5,
        65,
        QUOTE_FIX + '"sum(unit_price) / sum(unit_price, over=[sku])".',
    ),
    (
        column("  - {name: day, value: trunc(order.placed_at, 'day')}"),
        "E056",
        "The value of 'value' was cut at a comma: in a flow mapping {...} a comma ends a value,"
        " and YAML could not read what followed (while parsing a flow mapping: expected ','"
        " or '}', but got '<scalar>').",
        5,
        52,
        QUOTE_FIX + "\"trunc(order.placed_at, 'day')\".",
    ),
    (
        column("  - name: code\n    value: concat(product.sku, ': ', product.name)"),
        "E001",
        "Invalid YAML: the unquoted value of 'value' contains ': ', which YAML reads as the"
        " colon of a key.",
        6,
        33,
        QUOTE_FIX + "\"concat(product.sku, ': ', product.name)\".",
    ),
    (
        BASE + "filters:\n  product.name: a: b\n",
        "E001",
        "Invalid YAML: the unquoted value of 'product.name' contains ': ', which YAML reads as"
        " the colon of a key.",
        6,
        18,
        'Quote the value: product.name: "a: b".',
    ),
    (
        column("  - name: code\n    value: concat(product.sku, ' #', product.name)"),
        "E011",
        "The value of 'columns[1].value' is not a valid expression: unterminated string"
        " literal (detected at line 1).",
        6,
        32,
        "YAML ended the value at ' #', which starts a comment: quote it,"
        " value: \"concat(product.sku, ' #', product.name)\".",
    ),
    (
        column("  - name: code\n    value: 'concat(product.sku, 'x')'"),
        "E001",
        "Invalid YAML: the value of 'value' starts with a quote, so YAML read the quoted part"
        " as the whole value and then found more text after it.",
        6,
        34,
        "Quote the whole value with the other quote (inside single quotes, write ' as ''):"
        " value: \"concat(product.sku, 'x')\".",
    ),
    (
        column("  - name: code\n    value: 'x' == product.sku"),
        "E001",
        "Invalid YAML: the value of 'value' starts with a quote, so YAML read the quoted part"
        " as the whole value and then found more text after it.",
        6,
        16,
        "Quote the whole value with the other quote (inside single quotes, write ' as ''):"
        " value: \"'x' == product.sku\".",
    ),
    (
        column("  - name: code\n    value: @sku"),
        "E001",
        "Invalid YAML: YAML reserves '@': an unquoted value cannot start with it.",
        6,
        12,
        QUOTE_FIX + '"@sku".',
    ),
    (
        column("  - name: code\n    value: %sku"),
        "E001",
        "Invalid YAML: YAML reserves '%': an unquoted value cannot start with it.",
        6,
        12,
        QUOTE_FIX + '"%sku".',
    ),
    (
        column("  - name: code\n    value: `sku`"),
        "E001",
        "Invalid YAML: YAML reserves a backtick: an unquoted value cannot start with it.",
        6,
        12,
        QUOTE_FIX + '"`sku`".',
    ),
    (
        column("  - name: code\n    value: !quantity"),
        "E001",
        "Invalid YAML: YAML reads a value that starts with '!' as a tag.",
        6,
        12,
        QUOTE_FIX + '"!quantity".',
    ),
    (
        column("  - name: code\n    value: > quantity"),
        "E001",
        "Invalid YAML: YAML reads a value that starts with '>' as a block of text.",
        6,
        14,
        QUOTE_FIX + '"> quantity".',
    ),
    (
        column("  - name: code\n    value: *quantity"),
        "E031",
        "The definition uses the YAML alias '*quantity': aliases are not allowed in definitions.",
        6,
        12,
        "Write the value out where it is needed (a value that starts with '*' is quoted: '*...').",
    ),
    (
        # YAML drops an anchor from the value it names: '&a quantity' would read 'quantity'
        column("  - name: code\n    value: &a quantity"),
        "E031",
        "The definition uses the YAML anchor '&a': anchors and aliases are not allowed in"
        " definitions.",
        6,
        12,
        "A value that starts with '&' is quoted: '&...'.",
    ),
    (
        column("  - name: active\n    value: product.active\n    format: {true_label: true}"),
        "E002",
        "The value of 'columns[1].format.true_label' must be a string, not true.",
        7,
        26,
        "YAML reads true as a boolean: quote it, true_label: 'true'.",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "check_id", "message", "line", "col", "hint"),
    CASES,
    ids=[f"{case[1]}-{number}" for number, case in enumerate(CASES)],
)
def test_a_quoting_trap_is_one_problem_with_the_quoted_value(
    tmp_path, text, check_id, message, line, col, hint
):
    path = tmp_path / "report.yaml"
    path.write_text(text, encoding="utf-8")
    spec, problems = load_definition(path)
    assert spec is None
    assert problems == [Problem(check_id, message, Mark(path, line, col), hint)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "line",
    [
        '  - {name: code, value: "sum(unit_price) / sum(unit_price, over=True)"}',
        "  - {name: code, value: \"trunc(order.placed_at, 'day')\"}",
        "  - name: code\n    value: \"concat(product.sku, ': ', product.name)\"",
        "  - name: code\n    value: \"concat(product.sku, ' #', product.name)\"",
        "  - name: code\n    value: 'concat(product.sku, ''x'')'",
        "  - name: code\n    value: concat(product.sku, 'x')  # a comment after a whole value",
    ],
)
def test_the_quoted_value_a_hint_gives_is_valid(tmp_path, line):
    path = tmp_path / "report.yaml"
    path.write_text(column(line), encoding="utf-8")
    spec, problems = load_definition(path)
    assert problems == []
    assert spec.columns[1].name == "code"


@pytest.mark.django_db
@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes", "NO"])
def test_yes_no_on_off_stay_text(tmp_path, word):
    path = tmp_path / "report.yaml"
    format_ = f"{{true_label: {word}, false_label: {word}}}"
    path.write_text(column(f"  - name: active\n    value: product.active\n    format: {format_}"))
    spec, problems = load_definition(path)
    assert problems == []
    assert (spec.columns[1].format.true_label, spec.columns[1].format.false_label) == (word, word)


def test_a_word_after_a_comma_in_a_flow_mapping_may_be_the_value_before(tmp_path):
    path = tmp_path / "report.yaml"
    path.write_text(
        "model: shop.OrderLine\ncolumns:\n  - {name: t, value: quantity, label: Units, total}\n",
        encoding="utf-8",
    )
    _, problems = load_definition(path)
    assert [(p.id, p.message, p.hint) for p in problems] == [
        (
            "E003",
            "'total' is not a valid key of 'columns[0]'.",
            "In a flow mapping {...} a comma ends a value: if 'total' belongs to the value of"
            " 'label', quote it: label: \"Units, total\".",
        )
    ]


# How YAML 1.1 would read it; what a definition's value is (YAML 1.2's core schema).
NUMBERS = [
    ("010", 8, 10),
    ("0o17", "0o17", 15),
    ("0x1f", 31, 31),
    ("1_2", 12, "1_2"),
    ("1_000.5", 1000.5, "1_000.5"),
    ("12:30", 750, "12:30"),
    ("0b101", 5, "0b101"),
    ("-3", -3, -3),
    ("1e5", "1e5", 100000.0),
    (".5", 0.5, 0.5),
    ("2026-02-30", "error", "2026-02-30"),  # a date that does not exist stays text
    ("2026-02-28", dt.date(2026, 2, 28), dt.date(2026, 2, 28)),
]


@pytest.mark.parametrize(("text", "yaml_1_1", "read"), NUMBERS, ids=[n[0] for n in NUMBERS])
def test_numbers_and_dates_are_read_as_yaml_1_2_reads_them(text, yaml_1_1, read):
    try:
        assert yaml.safe_load(f"a: {text}")["a"] == yaml_1_1
    except ValueError:
        assert yaml_1_1 == "error"
    data, problems = load_yaml(f"a: {text}\n")
    assert problems == []
    assert data["a"] == read
    assert type(data["a"]) is type(read)
