import pytest
from django.db import connection


def pytest_report_header(config) -> str:
    from django.conf import settings

    database = settings.DATABASES["default"]
    return f"database: {database['ENGINE'].rsplit('.', 1)[-1]} ({database['NAME']})"


@pytest.fixture
def vendor() -> str:
    """The database the suite runs on: 'sqlite' or 'postgresql'."""
    return connection.vendor
