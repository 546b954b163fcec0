"""
Arbitrary input at the download endpoint and at the report form: never a server
error, and never a run started when the answer is a refusal.
"""

import datetime as dt
import string
from decimal import Decimal

import pytest
from django.contrib.admin import helpers
from django.urls import reverse
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from admin_reports.models import ReportRun
from admin_reports.runs import running_runs

from .factories import OrderLineFactory, UserFactory, grant
from .test_admin_reports import ACTION, PRODUCTS, REPORT_PERMISSIONS

pytestmark = pytest.mark.django_db(transaction=True)

URL = reverse("admin_reports:download", args=["daily_product_sales"])
KEYS = ["start", "end", "range", "select", "on", "bom", "run_token", "preset", "quick_range"]
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def dates() -> st.SearchStrategy[str]:
    return st.dates(min_value=dt.date(1, 1, 1)).map(dt.date.isoformat)


def values() -> st.SearchStrategy[str]:
    """Text that looks like what the fields take, and text that does not."""
    return st.one_of(
        dates(),
        st.sampled_from(
            [
                "",
                "last_month",
                "today",
                "last_mnth",
                "1",
                "0",
                "1,2",
                "abc",
                "' OR 1=1--",
                "99999999999999999999999",
                "-1",
                "shop.product",
                "shop.Region",
                "shop.order",
                "9999-12-31",
                "0001-01-01",
                "2026-02-30",
                "12345678-1234-5678-1234-567812345678",
            ]
        ),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.text(alphabet=string.printable + "\x00äß€\u202e", max_size=30),
        st.lists(st.integers(min_value=-5, max_value=2**64), max_size=4).map(
            lambda keys: ",".join(map(str, keys))
        ),
    )


MARCH = [("start", "2026-03-01"), ("end", "2026-03-31")]
EDGE_DATES = ["0001-01-01", "0001-01-02", "9998-12-31", "9999-12-31", "2026-03-01", "2026-03-31"]


def per_key() -> st.SearchStrategy[list[tuple[str, str]]]:
    """Each known input at most once, each with values its checks care about."""
    day = st.one_of(st.sampled_from(EDGE_DATES), dates(), values())
    optional = {key: values() for key in KEYS}
    optional.update(start=day, end=day, range=st.one_of(st.sampled_from(["last_month"]), values()))
    return st.fixed_dictionaries({}, optional=optional).map(lambda data: list(data.items()))


def params() -> st.SearchStrategy[list[tuple[str, str]]]:
    """Known inputs; anything, repeated keys included; or anything before a valid range."""
    anything = st.lists(
        st.tuples(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), values()), max_size=7
    )
    return st.one_of(per_key(), anything, anything.map(lambda pairs: pairs + MARCH))


def close(response) -> None:
    if response.streaming:
        b"".join(response.streaming_content)
    response.close()


@pytest.fixture
def staff(client):
    user = UserFactory()
    grant(user, *REPORT_PERMISSIONS)
    client.force_login(user)
    OrderLineFactory(
        order__placed_at=dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC), unit_price=Decimal("2")
    )
    return user


@FUZZ
@given(query=params())
def test_the_download_endpoint_never_fails(client, staff, query):
    before = ReportRun.objects.count()
    response = client.get(URL, query)
    status = response.status_code
    close(response)
    event(f"status {status}")
    assert status in (200, 400), (query, status)
    assert ReportRun.objects.count() == before + (status == 200)
    assert not running_runs().exists(), "every run has ended"


@FUZZ
@given(fields=params(), step=st.sampled_from(["download", "validate", "save_preset", "x"]))
def test_the_report_form_never_fails(client, staff, fields, step):
    product = staff.pk and OrderLineFactory._meta.model.objects.first().product_id
    data: dict[str, list[str]] = {}
    for key, value in fields:
        data.setdefault(key, []).append(value)
    data.update(
        action=[ACTION],
        _report_step=[step],
        select_across=["0"],
        **{helpers.ACTION_CHECKBOX_NAME: [str(product)]},
    )
    before = ReportRun.objects.count()
    response = client.post(PRODUCTS, data)
    status = response.status_code
    close(response)
    event(f"status {status} {response.get('Content-Type', '').split(';')[0]}")
    assert status in (200, 400), (data, status)
    started = ReportRun.objects.count() - before
    assert started == (1 if response.get("Content-Type", "").startswith("text/csv") else 0)
    assert not running_runs().exists(), "every run has ended"
