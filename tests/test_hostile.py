"""Hostile definitions: refused fast, and never breaking another report or a page."""

import time

import pytest
from django.urls import reverse

from admin_reports.registry import registry

from .factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Nine levels of nested YAML aliases: about 400 million strings once expanded.
BOMB = (
    "".join(
        f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
        for prev, name in zip([None, *"abcdefgh"], "abcdefghi", strict=True)
    )
    + "model: shop.OrderLine\ntitle: *i\ncolumns: []\n"
)
DEEP = "model: shop.OrderLine\ncolumns: " + "[" * 250 + "]" * 250 + "\n"


@pytest.fixture
def hostile_dir(tmp_path):
    (tmp_path / "bomb.yaml").write_text(BOMB)
    (tmp_path / "deep.yaml").write_text(DEEP)
    (tmp_path / "huge.yaml").write_text("columns:\n" + "  - {name: c, value: q}\n" * 500_000)
    return tmp_path


def test_hostile_files_are_refused_fast_and_the_others_keep_working(
    client, settings, hostile_dir, line
):
    started = time.monotonic()
    settings.ADMIN_REPORTS_DIRS = [*settings.ADMIN_REPORTS_DIRS, hostile_dir]
    client.force_login(UserFactory(is_superuser=True))
    products = client.get(reverse("admin:shop_product_changelist"))
    assert products.status_code == 200
    assert "Report: Daily sales by product" in products.content.decode()
    assert client.get(reverse("admin:shop_region_changelist")).status_code == 200
    assert client.get(reverse("admin:admin_reports_reportpreset_changelist")).status_code == 200
    download = client.get(
        reverse("admin_reports:download", args=["daily_product_sales"]),
        {"start": "2026-03-01", "end": "2026-03-31", "bom": "0"},
    )
    assert download.status_code == 200
    assert b"".join(download.streaming_content).endswith(b"TOY-1,Kite,2026-03-10,2,7.00,1\r\n")
    # Generous for a busy machine: the bomb alone took a minute and gigabytes before.
    assert time.monotonic() - started < 30
    ids = sorted(problem.id for problem in registry.problems())
    assert ids == ["E030", "E031", "E032"]


QUICK_RANGES = (
    "today, yesterday, last_7_days, last_30_days, this_month, last_month, this_quarter,"
    " last_quarter, year_to_date, last_year"
)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"range": "x" * 5000},
            "range: Unknown quick range '" + "x" * 80 + "…' (5,000 characters); choose one of: "
            f"{QUICK_RANGES}.",
        ),
        (
            {"start": "2" * 5000, "end": "2026-03-31"},
            "start: '" + "2" * 80 + "…' (5,000 characters) is not a date in the form YYYY-MM-DD.",
        ),
        (
            {"start": "2026-03-01", "end": "2026-03-31", "select": "9" * 5000},
            "select: '" + "9" * 80 + "…' (5,000 characters) is not a valid key of a product.",
        ),
    ],
)
def test_a_long_parameter_is_quoted_by_its_start(client, params, message):
    client.force_login(UserFactory(is_superuser=True))
    response = client.get(reverse("admin_reports:download", args=["daily_product_sales"]), params)
    assert response.status_code == 400
    assert response.content.decode().strip() == message
    assert len(message) < 300
