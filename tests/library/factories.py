"""factory-boy factories for the library."""

import datetime as dt
from decimal import Decimal

import factory

from .models import Author, Book, Branch, Loan, Member


class AuthorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Author

    name = factory.Sequence(lambda n: f"Author {n}")


class BookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Book

    title = factory.Sequence(lambda n: f"Book {n}")
    author = factory.SubFactory(AuthorFactory)
    genre = Book.Genre.FICTION
    price = Decimal("19.90")


class BranchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Branch
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Branch {n}")


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    name = factory.Sequence(lambda n: f"Member {n}")


class LoanFactory(factory.django.DjangoModelFactory):
    """A loan returned after a week, with a fee of 1.50."""

    class Meta:
        model = Loan

    book = factory.SubFactory(BookFactory)
    member = factory.SubFactory(MemberFactory)
    branch = factory.SubFactory(BranchFactory)
    borrowed_at = dt.datetime(2026, 3, 10, 9, 30, tzinfo=dt.UTC)
    returned_at = factory.LazyAttribute(lambda loan: loan.borrowed_at + dt.timedelta(days=7))
    fee = Decimal("1.50")
