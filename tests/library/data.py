"""
A deterministic library for the golden tests: build_library() creates it.

About 330 loans from January to May 2026 in four branches, across the spring DST
change in Europe/Berlin (29 March, a 23-hour day): open loans, loans returned late,
fees with cents, a genre with no loans (poetry), a genre whose loans are all free
(children's books), a book whose genre is not among the choices ('atlas'), and two
genres with the same revenue (mystery and history: a tie for rank()). Edge loans sit
on the first and last instants of months in local time and span the DST change.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from .factories import AuthorFactory, BookFactory, BranchFactory, LoanFactory, MemberFactory
from .models import Book, Branch, Loan, Member

UTC = dt.UTC
SEED = 13
LOANS = 320
FIRST = dt.datetime(2026, 1, 10, tzinfo=UTC)
LAST = dt.datetime(2026, 5, 20, tzinfo=UTC)
BRANCHES = ["Central", "Nordstadt", "Süd", "=Harbour"]
MEMBERS = [
    "Anna Müller", "@Mia", "Deniz, Ünal", 'Jo "JJ" Jones', "-Minus", "Li Wei",
    "Ólafur Arnalds", "Sam", "Zoë Kravitz", "Bernd", "Chiara", "Dmitri",
]  # fmt: skip
BOOKS = [
    # (title, author, genre, price)
    ("The Quiet Shore", "Mara Lind", "fiction", "18.90"),
    ("Rain, Again", "Mara Lind", "fiction", "14.50"),
    ("A Long Winter", "Tomasz Nowak", "fiction", "21.00"),
    ("Glass Houses", "Tomasz Nowak", "fiction", "9.99"),
    ("The Third Key", "E. Blackwood", "mystery", "12.00"),
    ("Murder at Noon", "E. Blackwood", "mystery", "11.50"),
    ('"Who?" Said Fox', "E. Blackwood", "mystery", "13.25"),
    ("Small Numbers", "R. Feyn", "science", "24.00"),
    ("Why Stars Burn", "R. Feyn", "science", "27.50"),
    ("The Cell", "R. Feyn", "science", "30.00"),
    ("Rome, 44 BC", "Livia Marr", "history", "22.00"),
    ("The Hanseatic League", "Livia Marr", "history", "19.00"),
    ("Salt Roads", "Livia Marr", "history", "16.40"),
    ("Otto the Otter", "Pia Klee", "children", "8.00"),
    ("Counting Clouds", "Pia Klee", "children", "7.50"),
    ("Odes", "Selma Ferro", "poetry", "12.00"),  # never lent
    ("Night Verses", "Selma Ferro", "poetry", "10.00"),  # never lent
    ("World Atlas 1998", "Cartographia", "atlas", "45.00"),  # not among the choices
]


@dataclass
class Library:
    branches: dict[str, Branch]
    members: dict[str, Member]
    books: dict[str, Book]


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def build_library() -> Library:
    """Create the library's objects and loans; the same rows on every call."""
    authors = {name: AuthorFactory(name=name) for name in {book[1] for book in BOOKS}}
    books = {
        title: BookFactory(title=title, author=authors[author], genre=genre, price=Decimal(price))
        for title, author, genre, price in BOOKS
    }
    library = Library(
        {name: BranchFactory(name=name) for name in BRANCHES},
        {name: MemberFactory(name=name) for name in MEMBERS},
        books,
    )
    loans = _random_loans(library, random.Random(SEED)) + _edge_loans(library)
    loans.append(_tie(library, loans))
    Loan.objects.bulk_create(loans)
    return library


def _random_loans(library: Library, rng: random.Random) -> list[Loan]:
    lendable = [book for book in library.books.values() if book.genre != "poetry"]
    span = int((LAST - FIRST).total_seconds())
    loans = []
    for _ in range(LOANS):
        book = rng.choice(lendable)
        borrowed_at = FIRST + dt.timedelta(
            seconds=rng.randrange(span), microseconds=rng.choice([0, 0, rng.randrange(10**6)])
        )
        returned_at = None
        if rng.random() >= 0.15:
            kept = dt.timedelta(seconds=rng.randrange(3600, 40 * 86400))
            returned_at = borrowed_at + kept
        free = book.genre == "children"
        fee = Decimal(0) if free else Decimal(rng.choice([0, 50, rng.randrange(1, 500)])) / 100
        loans.append(
            LoanFactory.build(
                book=book,
                member=rng.choice(list(library.members.values())),
                branch=rng.choice(list(library.branches.values())),
                borrowed_at=borrowed_at,
                returned_at=returned_at,
                fee=fee,
            )
        )
    return loans


def _edge_loans(library: Library) -> list[Loan]:
    """Loans on the edges of months and days in Berlin, and across the DST change."""
    b, m, k = library.books, library.members, library.branches
    edges = [
        # (book, member, branch, borrowed_at, returned_at, fee)
        ("The Cell", "Sam", "Central", utc(2026, 2, 28, 22, 59, 59, 999999), None, "0.01"),
        ("The Cell", "Sam", "Central", utc(2026, 2, 28, 23), utc(2026, 3, 2, 23), "0.99"),
        ("Salt Roads", "Bernd", "Süd", utc(2026, 3, 31, 21, 59, 59), None, "2.00"),
        ("Rain, Again", "@Mia", "Süd", utc(2026, 3, 31, 22), utc(2026, 4, 30, 21, 59, 59), "5.55"),
        # 12:00 CET to 12:30 CEST: 47.5 hours, one whole day (two by the calendar).
        ("Rain, Again", "Sam", "=Harbour", utc(2026, 3, 28, 11), utc(2026, 3, 30, 10, 30), "1.05"),
        # Entered wrongly: returned 36 hours before it was borrowed (days: -1, toward zero).
        ("Glass Houses", "Li Wei", "Nordstadt", utc(2026, 3, 12, 12), utc(2026, 3, 11), "0.00"),
        # Open since before the DST change: due (21 days on) after it.
        ("Small Numbers", "Chiara", "Central", utc(2026, 3, 20, 10), None, "3.10"),
        ("World Atlas 1998", "Dmitri", "Nordstadt", utc(2026, 4, 2, 8), None, "4.44"),
    ]
    return [
        LoanFactory.build(
            book=b[book],
            member=m[member],
            branch=k[branch],
            borrowed_at=borrowed,
            returned_at=returned,
            fee=Decimal(fee),
        )
        for book, member, branch, borrowed, returned, fee in edges
    ]


def _tie(library: Library, loans: list[Loan]) -> Loan:
    """A loan that gives mystery and history the same total fees."""
    totals = {"mystery": Decimal(0), "history": Decimal(0)}
    for loan in loans:
        if loan.book.genre in totals:
            totals[loan.book.genre] += loan.fee
    lower = min(totals, key=totals.get)
    book = next(book for book in library.books.values() if book.genre == lower)
    return LoanFactory.build(
        book=book,
        member=library.members["Sam"],
        branch=library.branches["Central"],
        borrowed_at=utc(2026, 4, 15, 12),
        returned_at=utc(2026, 4, 20, 12),
        fee=abs(totals["mystery"] - totals["history"]),
    )
