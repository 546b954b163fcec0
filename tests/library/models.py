"""A lending library: the models of docs/example-library.md's four reports.

The app has no migrations: the test database creates its tables from the models
(run_syncdb), and `makemigrations --check` leaves an app without a migrations
package alone.
"""

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    class Genre(models.TextChoices):
        FICTION = "fiction", "Fiction"
        MYSTERY = "mystery", "Mystery"
        SCIENCE = "science", "Popular science"
        HISTORY = "history", "History"
        CHILDREN = "children", "Children's books"
        POETRY = "poetry", "Poetry"

    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.PROTECT, related_name="books")
    # A value outside the choices can be stored (a genre since retired): label() shows it as is.
    genre = models.CharField(max_length=16, choices=Genre)
    price = models.DecimalField(max_digits=8, decimal_places=2)

    def __str__(self) -> str:
        return self.title


class Branch(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        verbose_name_plural = "branches"

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    name = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.name


class Loan(models.Model):
    book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="loans")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="loans")
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="loans")
    borrowed_at = models.DateTimeField(db_index=True)
    returned_at = models.DateTimeField(null=True, blank=True)  # None: still out
    fee = models.DecimalField(max_digits=8, decimal_places=2)

    def __str__(self) -> str:
        return f"Loan #{self.pk}"
