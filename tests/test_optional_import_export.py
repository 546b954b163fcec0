"""Without "import_export" in INSTALLED_APPS the presets' admin works, with no import or
export buttons (a process of its own: INSTALLED_APPS is read once)."""

import subprocess
import sys

from django.conf import settings
from django.urls import reverse

SCRIPT = """
import django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment
from django.contrib.auth.models import Permission, User
setup_test_environment()
call_command("migrate", verbosity=0)
call_command("check", fail_level="WARNING")
for make in (User.objects.create_superuser, User.objects.create_user):
    user = make(f"{make.__name__}", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="run_report"))
    client = Client()
    client.force_login(user)
    page = client.get("/admin/admin_reports/reportpreset/")
    print(page.status_code, b"/import/" in page.content, b"/export/" in page.content)
"""


def test_the_presets_admin_works_without_import_export(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "tests.settings_without_import_export",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PYTHONPATH": str(settings.BASE_DIR),
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # A superuser, then staff who may run reports: the page, without the two buttons.
    assert done.stdout.split()[-6:] == ["200", "False", "False"] * 2


def test_with_import_export_the_presets_admin_has_its_buttons(admin_client):
    page = admin_client.get(reverse("admin:admin_reports_reportpreset_changelist"))
    assert page.status_code == 200
    assert reverse("admin:admin_reports_reportpreset_import") in page.content.decode()
    assert reverse("admin:admin_reports_reportpreset_export") in page.content.decode()
