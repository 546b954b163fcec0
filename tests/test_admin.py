import pytest
from django.urls import reverse

from project.shop.models import Category, Customer, Order, OrderLine, Product, Region

from .factories import OrderLineFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

SHOP_MODELS = [Region, Customer, Category, Product, Order, OrderLine]


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_superuser=True))
    return client


def changelist(model) -> str:
    return reverse(f"admin:shop_{model._meta.model_name}_changelist")


@pytest.mark.parametrize("model", SHOP_MODELS, ids=lambda model: model.__name__)
def test_every_shop_model_has_a_working_changelist(staff_client, model):
    line = OrderLineFactory()
    response = staff_client.get(changelist(model))
    assert response.status_code == 200
    obj = {
        Region: line.order.customer.region,
        Customer: line.order.customer,
        Category: line.product.category,
        Product: line.product,
        Order: line.order,
        OrderLine: line,
    }[model]
    change_url = reverse(f"admin:shop_{model._meta.model_name}_change", args=[obj.pk])
    assert change_url in response.content.decode()
    assert staff_client.get(change_url).status_code == 200


def test_product_changelist_searches_sku_and_name(staff_client):
    kite = ProductFactory(sku="TOY-101", name="Kite")
    ProductFactory(sku="BOO-101", name="Atlas")
    for term in ["TOY-101", "kite"]:
        response = staff_client.get(changelist(Product), {"q": term})
        assert list(response.context["cl"].result_list) == [kite]


def test_product_changelist_filters_category_and_active(staff_client):
    toy = ProductFactory(category__slug="toys", category__name="Toys")
    ProductFactory(category__slug="toys", category__name="Toys", active=False)
    ProductFactory(category__slug="books", category__name="Books")
    response = staff_client.get(
        changelist(Product), {"category__id__exact": toy.category_id, "active__exact": "1"}
    )
    assert list(response.context["cl"].result_list) == [toy]
    assert response.context["cl"].list_per_page == 20  # the demo's 48 products: "Select all 48"


def test_anonymous_users_are_sent_to_login(client):
    response = client.get(changelist(Product))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
