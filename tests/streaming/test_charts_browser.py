"""
The demo's daily_product_sales chart in a real browser (Debian's chromium, Playwright):
drawn from the rows its compiled query gives on factory data, written to
test-artifacts/chart-daily_product_sales.svg and shown on its own and in a dark page.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import datetime as dt
import shutil
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from playwright.sync_api import sync_playwright

from admin_reports.charts import render_chart
from admin_reports.compiler import ReportParams, compile_report
from admin_reports.registry import registry
from project.shop.models import Product

from ..factories import OrderLineFactory, ProductFactory
from .browser import ARTIFACTS, BERLIN, screenshot
from .test_proxies import CHROMIUM_ARGS

pytestmark = [pytest.mark.server, pytest.mark.django_db]

DAYS = 12


@pytest.fixture
def sales():
    """Three products sold on most of DAYS days of March 2026 (each misses some days)."""
    for number, (sku, name) in enumerate((("KITE", "Kite"), ("YOYO", "Yo-yo"), ("TOP", "Top"))):
        product = ProductFactory(sku=sku, name=name)
        for day in range(1, DAYS + 1):
            if (day + number) % 5 == 0:
                continue  # a gap in the line
            OrderLineFactory(
                order__placed_at=dt.datetime(2026, 3, day, 12, tzinfo=BERLIN),
                product=product,
                quantity=day % 4 + number + 1,
                unit_price=Decimal("2.50") * (number + 1),
            )
    return Product.objects.all()


@contextmanager
def chromium_page():
    """A page of a Chromium started here: the ORM's work is done by then (a connection
    opened while Playwright's sync API runs is one the test's teardown never closes)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            yield browser.new_page(viewport={"width": 800, "height": 420})
        finally:
            browser.close()


def test_the_daily_sales_chart_renders_in_chromium(sales):
    spec = registry.get("daily_product_sales")
    params = ReportParams(
        start=dt.date(2026, 3, 1),
        end=dt.date(2026, 3, 31),
        selection=sales,
        selection_model=Product,
        tz=BERLIN,
    )
    rows = list(compile_report(spec, params).queryset)
    svg = render_chart(spec.chart, spec.columns, rows)
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "chart-daily_product_sales.svg"
    path.write_text(svg, encoding="utf-8")
    figure = render_to_string("admin/admin_reports/chart.html", {"chart": svg})
    css = Path(finders.find("admin_reports/chart.css")).read_text(encoding="utf-8")

    with chromium_page() as page:
        page.goto(path.as_uri())
        chart = page.locator("svg")
        box = chart.bounding_box()
        assert box is not None
        assert box["width"] > 0
        assert box["height"] > 0
        screenshot(chart, "chart-daily_product_sales")
        assert page.locator("g.series path").count() == 3
        assert page.locator("g.legend-entry text").all_text_contents() == ["KITE", "TOP", "YOYO"]
        assert page.locator("text.axis-label").all_text_contents() == ["Revenue", "Day"]
        assert page.title() == "Revenue by Day"

        # On a dark page the text and axes take the page's text colour.
        page.goto("about:blank")  # an HTML document: the SVG file's is not
        page.set_content(
            f"<html><head><style>{css}</style></head>"
            '<body style="background: #121212; color: rgb(238, 238, 238)">'
            f"{figure}</body></html>"
        )
        label = page.locator("text.axis-label").first
        assert label.evaluate("(e) => getComputedStyle(e).fill") == "rgb(238, 238, 238)"
        screenshot(page.locator("figure"), "chart-daily_product_sales-dark")
