"""A filter's value its field cannot take is one problem (E045) of its definition, with
what to write instead; never an exception out of validation or the registry.

Each case is a `filters:` entry on the demo's shop.OrderLine; it goes through
`registry.load_definition`, the path `manage.py check` and the pages take.
"""

import pytest

from admin_reports.definitions.parts import NAIVE_HINT, WHERE_HINT
from admin_reports.registry import load_definition

BASE = "model: shop.OrderLine\ncolumns:\n  - {name: sku, value: product.sku}\n"
NO_ROW_HINT = "Give a value some row can have, or leave the filter out."
DATETIME = "It must be in YYYY-MM-DD HH:MM[:ss[.uuuuuu]][TZ] format."
NAIVE = "a datetime field holds instants, and Django would assume TIME_ZONE's."
CHOICES = "Its choices: 'pending', 'paid', 'shipped', 'refunded', 'cancelled'."
IN_WHERE = "To compare all the same, use where:."
WHOLE_HINT = "An integer field compares 1.5 as 1: write a whole number, or __gt/__lt."
NEVER_NULL_HINT = "Leave the filter out, or compare with a value."
WEEK_DAY_HINT = "Sunday is 1 and Saturday 7 (iso_week_day: Monday is 1)."

# the filter, its message after "The value of 'filters.<key>' is ", its hint
CASES = [
    (
        'order.placed_at__lt: "end - 21"',
        f"'end - 21', which the field does not take: “end - 21” value has an invalid"
        f" format. {DATETIME}",
        WHERE_HINT,
    ),
    (
        "unit_price__gt: quantity",  # another field: where: compares two fields
        "'quantity', which the field does not take: “quantity” value must be a decimal number.",
        WHERE_HINT,
    ),
    (
        "order.placed_at__gt: 12:30",  # YAML 1.1 read it as 750; it is text, as it reads
        f"'12:30', which the field does not take: “12:30” value has an invalid format. {DATETIME}",
        WHERE_HINT,
    ),
    (
        "unit_price__gt: abc",
        "'abc', which the field does not take: “abc” value must be a decimal number.",
        WHERE_HINT,
    ),
    (
        "unit_price__in: [1, abc]",
        "[1, 'abc'], which the field does not take: “abc” value must be a decimal number.",
        WHERE_HINT,
    ),
    (
        "quantity__gt: 1.5x",
        "'1.5x', which the field does not take: a number is needed.",
        WHERE_HINT,
    ),
    (
        "order__in: [1, two]",
        "[1, 'two'], which the field does not take: a number is needed.",
        WHERE_HINT,
    ),
    (
        "order.placed_at__year: this",
        "'this', which the field does not take: a number is needed.",
        WHERE_HINT,
    ),
    (
        "product.active: maybe",
        "'maybe', which the field does not take: “maybe” value must be either True or False.",
        WHERE_HINT,
    ),
    (
        "product.active__in: [true, maybe]",
        "[true, 'maybe'], which the field does not take: “maybe” value must be either True"
        " or False.",
        WHERE_HINT,
    ),
    (
        "quantity__isnull: maybe",
        "'maybe', which the field does not take: The QuerySet value for an isnull lookup"
        " must be True or False.",
        WHERE_HINT,
    ),
    (
        'order.placed_at__date: "2026-02-30"',
        "'2026-02-30', which the field does not take: “2026-02-30” value has the correct"
        " format (YYYY-MM-DD) but it is an invalid date.",
        WHERE_HINT,
    ),
    (
        'order.placed_at__date__gte: "yesterday"',
        "'yesterday', which the field does not take: “yesterday” value has an invalid date"
        " format. It must be in YYYY-MM-DD format.",
        WHERE_HINT,
    ),
    # A day or a time without an offset for a datetime field: Django would guess the zone.
    (
        "order.placed_at__gte: 2026-01-01",
        f"'2026-01-01', which has no time zone: {NAIVE}",
        NAIVE_HINT,
    ),
    (
        'order.placed_at__lt: "2026-01-01 10:00"',
        f"'2026-01-01 10:00', which has no time zone: {NAIVE}",
        NAIVE_HINT,
    ),
    (
        'order.placed_at__in: ["2026-01-01T00:00Z", 2026-02-01]',
        f"['2026-01-01T00:00Z', '2026-02-01'], which has no time zone: {NAIVE}",
        NAIVE_HINT,
    ),
    (
        "product.sku__in: abc",  # Django would take it letter by letter
        "'abc', which is not a list: __in takes a list, e.g. [a, b].",
        None,
    ),
    ("quantity__in: 5", "5, which is not a list: __in takes a list, e.g. [a, b].", None),
    (
        'order.placed_at__range: ["2026-01-01"]',
        "['2026-01-01'], a list of 1: __range takes two, e.g. [first, last].",
        None,
    ),
    (
        "quantity__in: []",
        "[], which the field does not take: no row can match it (an empty list, or beyond"
        " the field's range).",
        NO_ROW_HINT,
    ),
    # Values the field takes but no row can have: the filter would match nothing.
    (
        "order.status: payed",
        "'payed', but 'payed' is not one of the field's choices: no row has it.",
        f"{CHOICES} Did you mean 'paid'? {IN_WHERE}",
    ),
    (
        "order.status: PAID",  # exact is exact: iexact would match
        "'PAID', but 'PAID' is not one of the field's choices: no row has it.",
        f"{CHOICES} Did you mean 'paid'? {IN_WHERE}",
    ),
    (
        "order.status__in: [paid, shiped]",
        "['paid', 'shiped'], but 'shiped' is not one of the field's choices: no row has it.",
        f"{CHOICES} Did you mean 'shipped'? {IN_WHERE}",
    ),
    (
        "order.placed_at__week_day: 9",
        "9, but 9 is not a week day: a week day is 1 to 7.",
        WEEK_DAY_HINT,
    ),
    (
        "order.placed_at__month__in: [1, 13]",
        "[1, 13], but 13 is not a month: a month is 1 to 12.",
        None,
    ),
    ("order.placed_at__hour: 24", "24, but 24 is not an hour: an hour is 0 to 23.", None),
    (
        "order.placed_at__month__gt: 12",
        "12, which no row can match: a month is 1 to 12.",
        None,
    ),
    (
        "order.placed_at__quarter__range: [5, 9]",
        "[5, 9], which no row can match: a quarter is 1 to 4.",
        None,
    ),
    (
        "order.placed_at__date__range: [2026-02-01, 2026-01-01]",
        "[2026-02-01, 2026-01-01], whose first value is after its last: no row is between them.",
        "Write the smaller value first.",
    ),
    (
        "quantity__range: [10, 1]",
        "[10, 1], whose first value is after its last: no row is between them.",
        "Write the smaller value first.",
    ),
    (
        "quantity__range: [null, 5]",
        "[null, 5], with an empty bound: no row is between null and a value.",
        "For a range open at one end, use __gte or __lte.",
    ),
    (
        "order.status: null",  # IS NULL on a field never empty, through an inner join
        "null, but the field is never empty (null): no row has it.",
        NEVER_NULL_HINT,
    ),
    (
        "quantity__isnull: true",
        "true, but the field is never empty (null): no row has it.",
        NEVER_NULL_HINT,
    ),
    (
        "order.placed_at__month__iexact: 13",
        "13, but 13 is not a month: a month is 1 to 12.",
        None,
    ),
    (
        "order.placed_at__year__lt: 1",
        "1, which no row can match: a year is 1 to 9999.",
        None,
    ),
    (
        "order.placed_at__month: 12.5",  # Django would read it as 12
        "12.5, but 12.5 is not a whole number: a month is 1 to 12.",
        None,
    ),
    (
        "order.placed_at__month: true",  # and this as 1
        "true, but true is not a whole number: a month is 1 to 12.",
        None,
    ),
    (
        "order.placed_at__month: 1_2",  # text in YAML 1.2, and 12 to Python's int()
        "'1_2', but '1_2' is not a whole number: a month is 1 to 12.",
        None,
    ),
    (
        "order.placed_at__date: 2026-02-30",  # unquoted: a date YAML cannot make
        "'2026-02-30', which the field does not take: “2026-02-30” value has the correct"
        " format (YYYY-MM-DD) but it is an invalid date.",
        WHERE_HINT,
    ),
    # Numbers Python's int() and Decimal() read, but no row holds as written.
    ("quantity: 1.5", "1.5, but 1.5 is not a whole number, as the field's are.", WHOLE_HINT),
    (
        "quantity__in: [1.5, 2.5]",  # Django would match 1 and 2
        "[1.5, 2.5], but 1.5 is not a whole number, as the field's are.",
        WHOLE_HINT,
    ),
    ("quantity: 1_2", "'1_2', but '1_2' is not a number.", None),
    ("unit_price__lt: '1_0'", "'1_0', but '1_0' is not a number.", None),
    ("quantity: true", "true, but true is not a number.", None),
    (
        "unit_price: 49.999",
        "49.999, but 49.999 has more decimal places than the field's 2.",
        None,
    ),
    (
        "order.status__in: [paid, null]",  # Django would drop the null
        "['paid', null], with null in the list: no value equals null.",
        'Leave null out. To take the empty ones too, use where:, e.g. where: "status in'
        " ('paid',) or status is None\".",
    ),
    (
        "quantity: 99999999999999999999999",
        "99999999999999999999999, which the field does not take: no row can match it (an"
        " empty list, or beyond the field's range).",
        NO_ROW_HINT,
    ),
]


@pytest.mark.parametrize(("entry", "message", "hint"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_filter_value_is_one_e045(tmp_path, entry, message, hint):
    path = tmp_path / "report.yaml"
    path.write_text(f"{BASE}filters:\n  {entry}\n", encoding="utf-8")
    spec, problems = load_definition(path)
    key = entry.split(": ")[0]
    assert spec is None
    assert [(p.id, p.message, p.hint, p.mark.line, p.mark.column) for p in problems] == [
        ("E045", f"The value of 'filters.{key}' is {message}", hint, 5, 3)
    ]


def test_exclude_and_filters_through_a_join_are_checked_too(tmp_path):
    path = tmp_path / "report.yaml"
    path.write_text(
        BASE
        + "joins:\n"
        + "  paid: {path: order, condition: \"status == 'paid'\"}\n"
        + "  placed: {path: order, condition: 'placed_at >= range.start'}\n"
        + "filters:\n  paid.placed_at__lt: end - 21\n  placed.id__gt: x\n"
        + "exclude:\n  unit_price__gt: abc\n"
        + "date_range: {field: order.placed_at}\n",
        encoding="utf-8",
    )
    _, problems = load_definition(path)
    assert [(p.id, p.message.split(", which")[0], p.mark.line) for p in problems] == [
        ("E045", "The value of 'filters.paid.placed_at__lt' is 'end - 21'", 8),
        ("E045", "The value of 'filters.placed.id__gt' is 'x'", 9),
        ("E045", "The value of 'exclude.unit_price__gt' is 'abc'", 11),
    ]


def test_a_good_filter_of_each_kind_stays_valid(tmp_path):
    path = tmp_path / "report.yaml"
    path.write_text(
        BASE
        + "filters:\n"
        + "  order.placed_at__date__gte: 2026-01-01\n"
        + "  order.placed_at__year: 2026\n"
        + '  order.placed_at__range: ["2026-01-01 00:00+01:00", "2026-02-01T00:00Z"]\n'
        + '  order.placed_at__date__lt: "2026-02-01"\n'
        + "  unit_price__gt: '9.99'\n"
        + "  quantity__in: [1, 2]\n"
        + "  quantity__range: [1, 10]\n"
        + "  product.active: true\n"
        + "  order.placed_at__isnull: false\n"
        + "  product.sku__in: [a, b]\n"
        + "  order.status__in: [paid, shipped]\n"
        + "  order.status__iexact: PAID\n"
        + "  order.status__startswith: pa\n"  # not an equality: not checked
        + "  order.placed_at__week_day__in: [1, 7]\n"
        + "  order.placed_at__hour__range: [20, 30]\n"  # 20 to 23 can match
        + "  order.placed_at__month__lte: 12\n"
        + "  order.placed_at__iso_week_day__gt: 0\n"
        + "  order.placed_at__month: '12'\n"
        + "  order.placed_at__year__gte: 2000\n"
        + "  quantity__isnull: false\n"
        + "  quantity__lte: 010\n"  # YAML 1.2: ten, not octal eight
        + "  quantity__gt: 1.5\n"  # Django compares it as written
        + "  quantity__lt: 2.0\n"
        + "  unit_price__gte: 49.990\n"
        + "  order.placed_at__day__lte: 1e1\n",  # 10.0: a whole number
        encoding="utf-8",
    )
    spec, problems = load_definition(path)
    assert problems == []
    assert spec is not None


def test_an_empty_value_through_a_relation_a_row_may_lack_stays_valid(tmp_path):
    """A product with no order lines has none of their quantities: null matches it."""
    path = tmp_path / "report.yaml"
    path.write_text(
        "model: shop.Product\ncolumns:\n  - {name: sku, value: sku}\n"
        "filters:\n  order_lines.quantity: null\n  order_lines__isnull: true\n",
        encoding="utf-8",
    )
    spec, problems = load_definition(path)
    assert problems == []
    assert spec is not None
