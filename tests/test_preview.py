"""The preview (the first rows, as the file has them, and the row estimate) and the
estimate a run records as it starts."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from admin_reports.compiler import compile_report
from admin_reports.engine import IdentityWire, SyncStream
from admin_reports.estimate import RowEstimate, estimate_rows
from admin_reports.exceptions import ReportPermissionDenied
from admin_reports.models import ReportRun
from admin_reports.preview import PreviewFailed, range_in_words, run_preview
from admin_reports.registry import load_definition, registry
from admin_reports.run_request import RunRequest, parse_run_request
from admin_reports.runs import start_run, write_run
from project.shop.models import Product

from .factories import OrderLineFactory, ProductFactory, UserFactory, grant
from .test_admin_reports import REPORT_PERMISSIONS, first_step, second_step, shop  # noqa: F401
from .waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

EARLY, LATE = dt.date(2000, 1, 1), dt.date(2100, 1, 1)
VALID = settings.BASE_DIR / "tests" / "definitions" / "valid"
SLOW_DIRS = [*settings.ADMIN_REPORTS_DIRS, settings.BASE_DIR / "tests" / "report_defs"]


def lines_request(**data) -> RunRequest:
    return parse_run_request(
        registry.get("order_lines"), {"start": EARLY, "end": LATE, "bom": "0", **data}
    )


def staff(*reports: str):
    user = UserFactory()
    grant(user, "admin_reports.run_report")
    for name in reports:
        grant(user, *registry.get(name).permissions)
    return user


def downloaded(request: RunRequest) -> list[list[str]]:
    out = io.BytesIO()
    write_run(request, out)
    return list(csv.reader(io.StringIO(out.getvalue().decode("utf-8"))))


@override_settings(ADMIN_REPORTS_PREVIEW_ROWS=7)
def test_the_preview_is_the_first_rows_of_the_file_and_stores_no_run():
    OrderLineFactory.create_batch(12)
    request = lines_request()
    preview = run_preview(request, user=staff("order_lines"))
    assert ReportRun.objects.count() == 0, "a preview is not a run"
    header, *rows = downloaded(request)
    assert preview.headers == header
    assert preview.rows == rows[:7]
    assert preview.more
    assert preview.estimate.rows is not None
    assert preview.estimate.rows >= 7
    if connection.vendor == "sqlite":
        assert preview.estimate == RowEstimate(12, exact=True)
        assert str(preview.estimate) == "12 rows"
    else:
        assert str(preview.estimate).startswith("about ")


def test_a_short_report_is_counted_whole_and_its_range_said_in_words():
    OrderLineFactory.create_batch(3)
    request = parse_run_request(
        registry.get("order_lines"), {"start": "2026-10-01", "end": "2026-10-31"}
    )
    wide = run_preview(lines_request(), user=staff("order_lines"))
    assert (wide.estimate, wide.more) == (RowEstimate(3, exact=True), False)
    assert range_in_words(request) == "1 Oct 2026 - 31 Oct 2026, Europe/Berlin"
    assert range_in_words(RunRequest(registry.get("order_lines"))) == ""


def test_a_preview_is_refused_without_the_reports_permissions():
    user = UserFactory()
    grant(user, "admin_reports.run_report")
    with pytest.raises(ReportPermissionDenied):
        run_preview(lines_request(), user=user)


@override_settings(ADMIN_REPORTS_DIRS=SLOW_DIRS, ADMIN_REPORTS_PREVIEW_TIMEOUT=1.0)
def test_a_preview_stops_at_its_time_cap():
    OrderLineFactory.create_batch(300)  # 10 ms a row: 3 s
    request = parse_run_request(registry.get("slow_lines"), {})
    with pytest.raises(PreviewFailed, match="stopped after 1 s"):
        run_preview(request, user=staff("slow_lines"))


def test_estimates_in_words():
    assert str(RowEstimate()) == "unknown"
    assert str(RowEstimate(1, exact=True)) == "1 row"
    assert str(RowEstimate(1234567)) == "about 1,234,567 rows"
    assert RowEstimate(5).source == "the database planner's estimate"


def test_the_estimate_follows_the_filters():
    OrderLineFactory.create_batch(5)
    compiled = compile_report(registry.get("order_lines"), lines_request().params())
    estimate = estimate_rows(compiled)
    assert estimate.rows is not None
    if connection.vendor == "sqlite":
        assert estimate == RowEstimate(5, exact=True)
    empty = compile_report(
        registry.get("order_lines"), lines_request(start="1990-01-01", end="1990-01-02").params()
    )
    if connection.vendor == "sqlite":
        assert estimate_rows(empty) == RowEstimate(0, exact=True)


@override_settings(ADMIN_REPORTS_DIRS=SLOW_DIRS)
def test_a_run_records_its_estimate_as_it_starts():
    OrderLineFactory.create_batch(200)
    handle = start_run(parse_run_request(registry.get("slow_lines"), {}))
    stream = iter(SyncStream(handle.job, IdentityWire(heartbeats=False)))
    next(stream)  # the header: the run has started, and cannot end while nobody reads on
    estimated = ReportRun.objects.filter(pk=handle.run.pk, rows_estimate__isnull=False)
    assert wait_until(estimated.exists, 30) is not None, "recorded while the run runs"
    for _chunk in stream:
        pass
    handle.tracker.wait()
    run = ReportRun.objects.get(pk=handle.run.pk)
    assert run.rows == 200
    assert run.rows_estimate is not None
    if connection.vendor == "sqlite":
        assert run.rows_estimate == 200


@override_settings(ADMIN_REPORTS_ESTIMATE_SECONDS=0)
def test_no_estimate_when_switched_off():
    OrderLineFactory.create_batch(2)
    run = write_run(lines_request(), io.BytesIO())
    assert wait_until(lambda: ReportRun.objects.filter(pk=run.pk).exists(), 10)
    assert ReportRun.objects.get(pk=run.pk).rows_estimate is None


def test_the_form_pages_preview_shows_the_rows_the_estimate_and_the_dates(client, shop):  # noqa: F811
    user = UserFactory()
    grant(user, *REPORT_PERMISSIONS)
    client.force_login(user)
    page = first_step(client, [shop["kite"].pk, shop["ball"].pk])
    fields = {"start": "2026-03-01", "end": "2026-03-31"}
    response = second_step(client, page, _report_step="preview", **fields)
    assert response.status_code == 200
    preview = response.context["preview"]
    assert preview.rows == [
        ["TOY-1", "Kite", "2026-03-10", "2", "4.00", "1"],
        ["TOY-2", "Ball", "2026-03-10", "1", "2.00", "1"],
    ]
    html = response.content.decode()
    assert "1 Mar 2026 - 31 Mar 2026, Europe/Berlin" in html
    assert (
        "<td>TOY-2</td><td>Ball</td><td>2026-03-10</td><td>1</td><td>2.00</td><td>1</td>" in html
    )
    assert "2 rows: all of them" in html
    assert ReportRun.objects.count() == 0

    bad = second_step(client, page, _report_step="preview", start="2026-03-31", end="2026-03-01")
    assert bad.status_code == 400
    assert bad.context["preview"] is None
    assert "The start date is after the end date." in bad.content.decode()


@override_settings(ADMIN_REPORTS_CHART_ROWS=3, ADMIN_REPORTS_PREVIEW_ROWS=2)
def test_a_report_with_a_chart_reads_more_rows_for_it():
    kite = ProductFactory(sku="TOY-1")
    for day in range(1, 6):  # five days of one product: five rows
        OrderLineFactory(
            order__status="paid",
            order__placed_at=dt.datetime(2000, 1, day, 12, tzinfo=dt.UTC),
            product=kite,
        )
    request = parse_run_request(
        registry.get("daily_product_sales"), {"start": "2000-01-01", "end": "2000-12-31"}
    )
    preview = run_preview(request, user=staff("daily_product_sales"))
    assert len(preview.rows) == 2
    assert len(preview.values) == 3, "the chart's rows"
    assert preview.chart is not None
    assert preview.chart.count('class="series ') == 1
    assert "Drawn from the first 3 rows of " in preview.chart.caption


@override_settings(ADMIN_REPORTS_PREVIEW_ROWS=2)
def test_a_previews_windows_are_over_the_whole_report_not_the_rows_shown():
    """A share of the total in the first two rows is a share of every row's total."""
    spec, problems = load_definition(VALID / "windows_groups.yaml")
    assert problems == []
    for sku in ("W-1", "W-2", "W-3"):
        OrderLineFactory.create_batch(2, product=ProductFactory(sku=sku))
    skus = ",".join(str(pk) for pk in Product.objects.values_list("pk", flat=True))
    request = parse_run_request(
        spec, {"start": EARLY, "end": LATE, "bom": "0", "model": "shop.product", "ids": skus}
    )
    preview = run_preview(request, user=UserFactory(is_staff=True, is_superuser=True))
    header, *rows = downloaded(request)
    assert len(rows) == 3
    assert preview.headers == header
    assert preview.rows == rows[:2]
    assert preview.more
    share = header.index("Share")
    assert sum(Decimal(row[share]) for row in preview.rows) < 1  # the third row has the rest
