from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection
from django.db.models import ProtectedError

from project.shop.models import Order, OrderLine, Product

from .factories import OrderFactory, OrderLineFactory, ProductFactory

pytestmark = pytest.mark.django_db


def indexed_columns(model) -> set[tuple[str, ...]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {tuple(info["columns"]) for info in constraints.values() if info["index"]}


def test_str_of_each_model():
    line = OrderLineFactory(
        order__customer__name="Zoë Müller",
        order__customer__region__name="Île-de-France",
        product__sku="TOY-101",
        product__name="Kite",
        product__category__name="Toys",
        quantity=3,
    )
    assert str(line.product) == "TOY-101 Kite"
    assert str(line.product.category) == "Toys"
    assert str(line.order.customer) == "Zoë Müller"
    assert str(line.order.customer.region) == "Île-de-France"
    assert str(line.order) == f"Order #{line.order.pk}"
    assert str(line) == f"3 x {line.product.pk} on order {line.order.pk}"


def test_line_total_is_quantity_times_unit_price():
    line = OrderLineFactory.build(quantity=3, unit_price=Decimal("2.35"))
    assert line.total == Decimal("7.05")


def test_decimal_and_datetime_round_trip():
    order = OrderFactory()
    line = OrderLineFactory(order=order, unit_price=Decimal("12345678.91"))
    line.refresh_from_db()
    stored = Order.objects.get(pk=order.pk)
    assert line.unit_price == Decimal("12345678.91")
    assert stored.placed_at == order.placed_at
    assert stored.placed_at.utcoffset() is not None


def test_sku_is_unique():
    ProductFactory(sku="DUP-1")
    with pytest.raises(IntegrityError):
        ProductFactory(sku="DUP-1")


def test_order_status_choices():
    assert Order.Status.values == ["pending", "paid", "shipped", "refunded", "cancelled"]
    assert OrderFactory.build().status == "paid"
    assert Order().status == "pending"


def test_products_in_orders_are_protected():
    line = OrderLineFactory()
    with pytest.raises(ProtectedError):
        line.product.delete()
    line.order.delete()
    assert not OrderLine.objects.filter(pk=line.pk).exists()
    assert Product.objects.filter(pk=line.product.pk).exists()


def test_indexes_where_reports_filter():
    assert ("placed_at",) in indexed_columns(Order)
    assert ("product_id",) in indexed_columns(OrderLine)
    assert ("order_id",) in indexed_columns(OrderLine)


def test_migrations_match_the_models():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
