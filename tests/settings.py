"""The demo site's settings, with what a test run needs changed."""

import os
import tempfile

from project.settings import *  # noqa: F403
from project.settings import STORAGES

# No collectstatic before tests: serve from the apps' static dirs, without a manifest.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

# Report files: a directory of this run, shared with the servers and workers it starts.
MEDIA_ROOT = os.environ.setdefault(
    "ADMIN_REPORTS_TEST_MEDIA", tempfile.mkdtemp(prefix="admin-reports-test-media-")
)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: the servers that streaming tests start must see the test database.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"admin-reports-test-{os.getpid()}.sqlite3")
    }

# A second alias for the same database, as a read replica is (tests/test_replica.py): in
# tests it connects to the test database, and tests that use it list it in `databases`.
DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}  # noqa: F405

# tests.library: the second domain of docs/example-library.md (its reports load in its tests).
INSTALLED_APPS = [*INSTALLED_APPS, "tests.apps.TestsConfig", "tests.library"]  # noqa: F405
ADMIN_REPORTS_FUNCTIONS = {"slow_down": "tests.slow.SlowDown"}
ADMIN_REPORTS_SITE_URL = ""  # the tests give addresses of their own
