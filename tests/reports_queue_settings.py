"""The test settings with a backend that takes only a queue of reports (no "default")."""

from tests.settings import *  # noqa: F403

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["reports"]}}
ADMIN_REPORTS_TASK_QUEUE = "reports"
