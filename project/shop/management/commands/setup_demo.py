"""
Prepare the demo site: fixture, orders, and a staff user. Safe to run again.

    python manage.py setup_demo --lines 200000
"""

import os

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from project.shop.models import OrderLine

DEMO_USERNAME = "demo"


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
        # loaddata updates rows by primary key: running it twice duplicates nothing.
        call_command("loaddata", "demo_shop", verbosity=verbosity)
        if OrderLine.objects.exists():
            self.stdout.write("Orders already present: none generated.")
        else:
            call_command("generate_demo_data", lines=lines, seed=1, verbosity=verbosity)
        password = os.environ.get("DEMO_PASSWORD", "demo")
        user, _ = get_user_model().objects.get_or_create(username=DEMO_USERNAME)
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready. Log in at {url} as user {DEMO_USERNAME!r}"
                f" with password {password!r}."
            )
        )
