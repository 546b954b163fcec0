import json
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from project.shop.models import Category, Customer, Product, Region

pytestmark = pytest.mark.django_db

FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "demo_shop.json"


def fixture_counts() -> Counter:
    return Counter(item["model"] for item in json.loads(FIXTURE.read_text(encoding="utf-8")))


def test_fixture_loads_every_object():
    expected = fixture_counts()
    call_command("loaddata", "demo_shop", verbosity=0)
    assert Region.objects.count() == expected["shop.region"]
    assert Category.objects.count() == expected["shop.category"]
    assert Product.objects.count() == expected["shop.product"]
    assert Customer.objects.count() == expected["shop.customer"]


def test_fixture_has_the_promised_shape():
    counts = fixture_counts()
    assert 24 <= counts["shop.product"] <= 100, "a few dozen products"
    assert 200 <= counts["shop.customer"] <= 1000, "a few hundred customers"
    call_command("loaddata", "demo_shop", verbosity=0)
    assert Product.objects.filter(active=False).exists()
    assert Product.objects.filter(active=True).count() > counts["shop.product"] // 2
    assert Region.objects.filter(name="Île-de-France").exists(), "non-ASCII text in the data"


def test_loading_twice_duplicates_nothing():
    call_command("loaddata", "demo_shop", verbosity=0)
    first = [Model.objects.count() for Model in (Region, Category, Product, Customer)]
    call_command("loaddata", "demo_shop", verbosity=0)
    assert [Model.objects.count() for Model in (Region, Category, Product, Customer)] == first


def test_new_rows_after_the_fixture_get_fresh_keys():
    """loaddata resets the sequences on PostgreSQL: the next insert must not collide."""
    call_command("loaddata", "demo_shop", verbosity=0)
    region = Region.objects.create(code="NEW", name="New region")
    assert region.pk > max(Region.objects.exclude(pk=region.pk).values_list("pk", flat=True))
