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


@pytest.fixture
def time_machine_today(time_machine):
    """Today is Wednesday 15 April 2026, noon in Berlin."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    time_machine.move_to(
        dt.datetime(2026, 4, 15, 12, tzinfo=ZoneInfo("Europe/Berlin")), tick=False
    )
    return dt.date(2026, 4, 15)


@pytest.fixture
def line():
    """One order line: 2 kites at 3.50, on 10 March 2026."""
    import datetime as dt
    from decimal import Decimal

    from .factories import OrderLineFactory

    return OrderLineFactory(
        order__placed_at=dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC),
        product__sku="TOY-1",
        product__name="Kite",
        quantity=2,
        unit_price=Decimal("3.50"),
    )
