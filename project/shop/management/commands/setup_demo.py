"""
Prepare the demo site: fixture, orders, and a staff user. Safe to run again.

    python manage.py setup_demo --lines 200000
"""

import os

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from project.shop.models import OrderLine, Product

DEMO_USERNAME = "demo"
DEMO_EMAIL = "demo@example.com"


class Command(BaseCommand):
    help = "Load the demo fixture, generate orders if there are none, create the demo user."

    def add_arguments(self, parser):
        parser.add_argument(
            "--lines",
            type=int,
            default=200_000,
            help="Order lines to generate when the database has none (default 200,000).",
        )
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000/admin/",
            help="Where the admin will be served, for the printed login.",
        )

    def handle(self, *args, lines, url, verbosity, **options):
        # Once: a second run keeps the products and users as they were changed since.
        if Product.objects.exists():
            self.stdout.write("Demo products already present: fixture not loaded again.")
        else:
            call_command("loaddata", "demo_shop", verbosity=verbosity)
        if OrderLine.objects.exists():
            self.stdout.write("Orders already present: none generated.")
        else:
            call_command("generate_demo_data", lines=lines, seed=1, verbosity=verbosity)
        password = os.environ.get("DEMO_PASSWORD", "demo")
        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        if not user.email:  # "E-mail me" of background runs (the console shows the e-mail)
            user.email = DEMO_EMAIL
            user.save(update_fields=["email"])
        if created:
            user.set_password(password)
            user.save()
            login = f"with password {password!r}"
        else:
            login = "with the password it has (the first run set it to DEMO_PASSWORD or 'demo')"
        self.stdout.write(
            self.style.SUCCESS(f"Demo ready. Log in at {url} as user {DEMO_USERNAME!r} {login}.")
        )
