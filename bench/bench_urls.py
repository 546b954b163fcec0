"""
The demo site's URLs, and the two exports the benchmark sets against the reports.

    GET /bench/hack/<report>/?start=...&end=...     the original hack
    GET /bench/import-export/?start=...&end=...     django-import-export, order lines

Both take the query string of the report's download and export the same rows.
The hack is the code this project replaced: a thread loads the whole result into a
list while the response sends a space every second, then the whole CSV goes out in
one piece. The import-export view does what its admin export does: a ModelResource
over OrderLine with the order_lines report's columns, exported into a tablib
Dataset, then into CSV text, answered as one response.
"""

from __future__ import annotations

import csv
import io
import threading

from django.contrib.admin.views.decorators import staff_member_required
from django.db import connection
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from import_export import fields, resources

from admin_reports.compiler import compile_report
from admin_reports.registry import registry
from admin_reports.run_request import parse_run_request
from project.shop.models import OrderLine
from project.urls import urlpatterns as site_urlpatterns


def compiled_report(request, name: str):
    spec = registry.get(name)
    return compile_report(spec, parse_run_request(spec, request.GET).params())


@staff_member_required
def hack(request, name: str) -> StreamingHttpResponse:
    compiled = compiled_report(request, name)
    rows: list = []

    def load() -> None:
        try:
            with timezone.override(compiled.tz):
                rows.extend(compiled.queryset)
        finally:
            connection.close()

    def stream():
        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        while loader.is_alive():
            yield b" "  # a proxy cuts a silent connection
            loader.join(1.0)
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(compiled.headers)
        writer.writerows(rows)
        yield text.getvalue().encode()

    return StreamingHttpResponse(stream(), content_type="text/csv")


class OrderLineResource(resources.ModelResource):
    """The order_lines report's columns, the import-export way."""

    order_id = fields.Field(attribute="order__id", column_name="Order")
    placed_at = fields.Field(attribute="order__placed_at", column_name="Placed at")
    status = fields.Field(attribute="order__status", column_name="Status")
    customer = fields.Field(attribute="order__customer__name", column_name="Customer")
    region = fields.Field(attribute="order__customer__region__name", column_name="Region")
    sku = fields.Field(attribute="product__sku", column_name="SKU")
    quantity = fields.Field(attribute="quantity", column_name="Quantity")
    unit_price = fields.Field(attribute="unit_price", column_name="Unit price")
    line_total = fields.Field(column_name="Line total")

    class Meta:
        model = OrderLine
        fields = [
            "order_id",
            "placed_at",
            "status",
            "customer",
            "region",
            "sku",
            "quantity",
            "unit_price",
            "line_total",
        ]

    def dehydrate_line_total(self, line: OrderLine):
        return line.quantity * line.unit_price


@staff_member_required
def import_export(request) -> HttpResponse:
    lines = compiled_report(request, "order_lines").queryset.values("pk")
    queryset = (
        OrderLine.objects.filter(pk__in=lines)
        .select_related("order__customer__region", "product")
        .order_by("order_id", "product__sku")
    )
    dataset = OrderLineResource().export(queryset=queryset)
    return HttpResponse(dataset.csv, content_type="text/csv")


urlpatterns = [
    path("bench/hack/<slug:name>/", hack),
    path("bench/import-export/", import_export),
    *site_urlpatterns,
]
