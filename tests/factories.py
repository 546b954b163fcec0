"""factory-boy factories for the demo shop."""

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from project.shop.models import Category, Customer, Order, OrderLine, Product, Region


def grant(user, *names: str) -> None:
    """Give `user` permissions named "app_label.codename"."""
    for name in names:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    is_staff = True
    password = factory.django.Password("secret-password")


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"R{n}")
    name = factory.Sequence(lambda n: f"Region {n}")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    region = factory.SubFactory(RegionFactory)


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    category = factory.SubFactory(CategoryFactory)
    price = Decimal("9.99")
    active = True


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    customer = factory.SubFactory(CustomerFactory)
    placed_at = factory.LazyFunction(
        lambda: timezone.now().replace(microsecond=0) - dt.timedelta(days=1)
    )
    status = Order.Status.PAID


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    product = factory.SubFactory(ProductFactory)
    quantity = 1
    unit_price = factory.LazyAttribute(lambda line: line.product.price)


class ReportPresetFactory(factory.django.DjangoModelFactory):
    """A preset of daily_product_sales for March 2026 that asks for its selection.

    ReportPresetFactory(owner=user, products=[kite]) saves the products as its selection.
    """

    class Meta:
        model = "admin_reports.ReportPreset"

    class Params:
        products = None

    name = factory.Sequence(lambda n: f"preset {n}")
    report = "daily_product_sales"
    owner = factory.SubFactory(UserFactory)
    range_kind = "fixed"
    start = dt.date(2026, 3, 1)
    end = dt.date(2026, 3, 31)
    selection_kind = factory.LazyAttribute(lambda o: "saved" if o.products else "ask")
    selection_model = factory.LazyAttribute(lambda o: "shop.Product" if o.products else "")
    selection_pks = factory.LazyAttribute(
        lambda o: [str(product.pk) for product in o.products or []]
    )
