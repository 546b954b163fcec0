from django.apps import AppConfig
from django.db.backends.signals import connection_created


class TestsConfig(AppConfig):
    name = "tests"
    label = "tests"

    def ready(self) -> None:
        from .slow import register_sqlite_function

        connection_created.connect(register_sqlite_function)
