from django.apps import AppConfig


class LibraryConfig(AppConfig):
    """A second small domain for the tests: a lending library (docs/example-library.md)."""

    name = "tests.library"
    label = "library"
    default_auto_field = "django.db.models.BigAutoField"
