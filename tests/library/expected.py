"""
The four library reports computed in plain Python from the loans themselves: no
ORM aggregate, no database function, Decimal arithmetic and zoneinfo for local
months and days. Each function gives the CSV's rows as text cells, header first,
in the report's order, with the cell rules of docs/definitions.md ("format").
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from .models import Loan

BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt.UTC
GRACE = dt.timedelta(days=21)  # 21 days of 24 hours: a length of time, not of the calendar

Rows = list[list[str]]


def all_loans() -> list[Loan]:
    return list(Loan.objects.select_related("book", "member", "branch").order_by("pk"))


def local(when: dt.datetime) -> dt.datetime:
    return when.astimezone(BERLIN)


def in_range(loans: Iterable[Loan], start: dt.date, end: dt.date) -> list[Loan]:
    """The loans whose local borrowing day is in [start, end]: the report's date range."""
    return [loan for loan in loans if start <= local(loan.borrowed_at).date() <= end]


def text(value: str) -> str:
    """A text cell: a leading quote before what a spreadsheet would run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def number(value: Decimal, places: int) -> str:
    return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def quotient(dividend: Decimal, divisor: Decimal) -> Decimal:
    """`/` in a definition (docs/definitions.md, Numbers): half away from zero, 6 places."""
    exact = dividend / divisor
    rounded = abs(exact).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    return rounded.copy_sign(exact)


def moment(when: dt.datetime | None, empty: str = "") -> str:
    return empty if when is None else local(when).strftime("%Y-%m-%d %H:%M:%S")


def whole_days(length: dt.timedelta) -> int:
    """Whole days of 24 hours in `length`, truncated toward zero (-1.5 days: -1)."""
    micro = length // dt.timedelta(microseconds=1)
    day = 86_400 * 10**6
    return abs(micro) // day * (1 if micro >= 0 else -1)


def branch_monthly_loans(loans: Iterable[Loan], start: dt.date, end: dt.date) -> Rows:
    """Per branch name and local month of borrowed_at ('%Y-%m'): loans, distinct members,
    the sum of fees (2 places). Ordered by branch name, then month."""
    groups: dict[tuple[str, str], list] = defaultdict(lambda: [0, set(), Decimal(0)])
    for loan in in_range(loans, start, end):
        group = groups[loan.branch.name, local(loan.borrowed_at).strftime("%Y-%m")]
        group[0] += 1
        group[1].add(loan.member_id)
        group[2] += loan.fee
    header = ["Branch", "Month", "Loans", "Members", "Fees"]
    return [header] + [
        [text(branch), month, str(count), str(len(members)), number(fees, 2)]
        for (branch, month), (count, members, fees) in sorted(groups.items())
    ]


def book_loans(loans: Iterable[Loan], start: dt.date, end: dt.date) -> Rows:
    """Each loan: title, member, borrowed and returned (local time), and the whole days of
    24 hours between them, truncated toward zero; empty while out. By title, borrowed_at, pk."""
    chosen = sorted(in_range(loans, start, end), key=lambda x: (x.book.title, x.borrowed_at, x.pk))
    header = ["Book", "Member", "Borrowed at", "Returned at", "Days borrowed"]
    return [header] + [
        [
            text(loan.book.title),
            text(loan.member.name),
            moment(loan.borrowed_at),
            moment(loan.returned_at),
            ""
            if loan.returned_at is None
            else str(whole_days(loan.returned_at - loan.borrowed_at)),
        ]
        for loan in chosen
    ]


def is_overdue(loan: Loan, end: dt.date) -> bool:
    """Borrowed on a day before the range's last day minus 21 days (a datetime compared
    with a date compares its local date), and not back within 21 days of 24 hours of
    borrowing: still out, or returned late."""
    if not local(loan.borrowed_at).date() < end - GRACE:
        return False
    return loan.returned_at is None or loan.returned_at > loan.borrowed_at + GRACE


def overdue_loans(loans: Iterable[Loan], start: dt.date, end: dt.date) -> Rows:
    """The overdue loans borrowed in the range: branch, member, book, borrowed, due (21 days
    of 24 hours on), returned or 'still out'. By branch name, borrowed_at, pk."""
    chosen = [loan for loan in in_range(loans, start, end) if is_overdue(loan, end)]
    chosen.sort(key=lambda loan: (loan.branch.name, loan.borrowed_at, loan.pk))
    header = ["Branch", "Member", "Book", "Borrowed at", "Due", "Returned at"]
    return [header] + [
        [
            text(loan.branch.name),
            text(loan.member.name),
            text(loan.book.title),
            moment(loan.borrowed_at),
            moment(loan.borrowed_at + GRACE),
            moment(loan.returned_at, empty="still out"),
        ]
        for loan in chosen
    ]


def genre_revenue(loans: Iterable[Loan], start: dt.date, end: dt.date) -> Rows:
    """Per genre label (get_genre_display: the stored value when it is not a choice): the sum
    of fees (2 places); genres whose sum is 0 left out (having); the share of the sum of the
    rows shown (the language's division: the quotient rounded half away from zero to 6
    places, then shown with the column's 4 places, half up), and the rank by revenue, ties sharing the lower rank
    (SQL's RANK: 1, 2, 2, 4). By revenue descending, then genre label."""
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for loan in in_range(loans, start, end):
        revenue[loan.book.get_genre_display()] += loan.fee
    kept = sorted(
        ((genre, total) for genre, total in revenue.items() if total > 0),
        key=lambda item: (-item[1], item[0]),
    )
    whole = sum(total for _, total in kept)
    header = ["Genre", "Revenue", "Share", "Rank"]
    rows = [header]
    for genre, total in kept:
        rank = 1 + sum(1 for _, other in kept if other > total)
        rows.append([text(genre), number(total, 2), number(quotient(total, whole), 4), str(rank)])
    return rows
