import datetime as dt
from collections import Counter
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.utils import timezone

from project.shop.demo_data import DemoDataPlan
from project.shop.models import Customer, Order, OrderLine, Product

from .factories import CustomerFactory, OrderLineFactory, ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)

END = dt.date(2025, 3, 31)


@pytest.fixture
def shop():
    """Customers and products to generate orders over, created in a fixed order."""
    CustomerFactory.create_batch(25)
    prices = ["1.00", "2.50", "9.99", "19.99", "120.00"]
    for i in range(20):
        ProductFactory(price=Decimal(prices[i % len(prices)]))


def generate(*args: str) -> str:
    out = StringIO()
    call_command("generate_demo_data", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def all_rows() -> tuple[list[tuple], list[tuple]]:
    orders = list(
        Order.objects.order_by("pk").values_list("pk", "customer_id", "placed_at", "status")
    )
    lines = list(
        OrderLine.objects.order_by("pk").values_list(
            "pk", "order_id", "product_id", "quantity", "unit_price"
        )
    )
    return orders, lines


def test_creates_exactly_the_lines_asked_for(shop):
    output = generate("--lines", "5000", "--seed", "3", "--end", END.isoformat())
    assert OrderLine.objects.count() == 5000
    plan_orders = Order.objects.count()
    assert 5000 / 12 <= plan_orders < 5000
    assert f"Created {plan_orders:,} orders and 5,000 order lines" in output
    per_order = Counter(OrderLine.objects.values_list("order_id", flat=True))
    assert set(per_order) == set(Order.objects.values_list("pk", flat=True))
    assert sum(per_order.values()) == 5000


def test_same_seed_gives_the_same_rows(shop):
    generate("--lines", "3000", "--seed", "7", "--end", END.isoformat())
    first = all_rows()
    generate("--lines", "3000", "--seed", "7", "--end", END.isoformat(), "--reset")
    assert all_rows() == first
    generate("--lines", "3000", "--seed", "8", "--end", END.isoformat(), "--reset")
    other = all_rows()
    assert other != first
    assert len(other[1]) == len(first[1]) == 3000


def test_orders_span_the_days_before_the_end_date_in_local_time(shop):
    generate("--lines", "4000", "--end", END.isoformat(), "--days", "30")
    local_days = {
        timezone.localdate(at) for at in Order.objects.values_list("placed_at", flat=True)
    }
    assert min(local_days) == END - dt.timedelta(days=29)
    assert max(local_days) == END
    placed = list(Order.objects.order_by("pk").values_list("placed_at", flat=True))
    assert placed == sorted(placed), "ids rise with time"


def test_values_are_plausible_and_skewed(shop):
    generate("--lines", "6000", "--end", END.isoformat())
    prices = dict(Product.objects.values_list("pk", "price"))
    lines = list(OrderLine.objects.values_list("product_id", "quantity", "unit_price"))
    for product, quantity, unit_price in lines:
        assert quantity >= 1
        assert unit_price in {
            prices[product],
            (prices[product] * Decimal("0.9")).quantize(Decimal("0.01"), rounding="ROUND_DOWN"),
        }
    sales = Counter(product for product, _, _ in lines).most_common()
    top_quarter = sum(count for _, count in sales[: len(prices) // 4])
    assert top_quarter > len(lines) / 2, "a few products sell most"
    assert set(Order.objects.values_list("status", flat=True)) == set(Order.Status.values)


def test_appends_after_existing_rows_without_reset(shop):
    existing = OrderLineFactory()
    generate("--lines", "500", "--end", END.isoformat())
    assert OrderLine.objects.count() == 501
    assert OrderLine.objects.order_by("pk").first() == existing
    new_order = OrderLine.objects.create(
        order=existing.order, product=existing.product, quantity=1, unit_price=Decimal(1)
    )
    assert new_order.pk == OrderLine.objects.exclude(pk=new_order.pk).order_by("-pk")[0].pk + 1


def test_plan_depends_only_on_its_inputs(shop):
    a = DemoDataPlan.build(lines=2000, seed=5, end=END)
    b = DemoDataPlan.build(lines=2000, seed=5, end=END)
    assert list(a.iter_orders()) == list(b.iter_orders())
    assert list(a.iter_lines()) == list(b.iter_lines())
    assert sum(a.lines_per_order) == 2000


def test_needs_customers_and_products():
    with pytest.raises(CommandError, match="load the fixture first"):
        generate("--lines", "10")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lines", "-1"], "--lines must be zero or more."),
        (["--lines", "1", "--days", "0"], "--days must be at least 1."),
    ],
)
def test_rejects_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        generate(*args)


def test_setup_demo_is_idempotent():
    out = StringIO()
    call_command("setup_demo", "--lines", "2000", stdout=out, stderr=StringIO())
    counts = (Customer.objects.count(), Order.objects.count(), OrderLine.objects.count())
    assert counts[2] == 2000
    assert "as user 'demo' with password 'demo'" in out.getvalue()
    user = authenticate(username="demo", password="demo")
    assert user is not None
    assert user.is_staff
    assert user.email == "demo@example.com", "E-mail me works in the demo"
    # What people changed since stays changed.
    user.set_password("changed-password")
    user.save()
    product = Product.objects.order_by("pk").first()
    Product.objects.filter(pk=product.pk).update(name="Renamed")
    again = StringIO()
    call_command("setup_demo", "--lines", "2000", stdout=again, stderr=StringIO())
    assert (Customer.objects.count(), Order.objects.count(), OrderLine.objects.count()) == counts
    assert authenticate(username="demo", password="changed-password") is not None
    assert Product.objects.get(pk=product.pk).name == "Renamed"
    assert "with the password it has" in again.getvalue()
