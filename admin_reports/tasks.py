"""
The app's task on Django's tasks framework (the django-tasks backport of Django 6's
django.tasks: on Django 6 only the import below changes).

    manage.py db_worker                       # django-tasks-db: the embedded default
    manage.py rqworker default                # django-tasks-rq: RQ on Redis

Its one argument is the run's primary key: the run's row holds everything else.
"""

from __future__ import annotations

from django_tasks import task

from .background import execute_run
from .conf import app_settings


# The backend and queue of the settings: a backend validates a task's queue when the
# task is made (here, on import), and enqueue_run() picks them again when it queues.
@task(backend=app_settings.TASK_BACKEND, queue_name=app_settings.TASK_QUEUE)
def run_report(run_pk: int) -> str:
    """Run a queued background report run to its stored file; its final status."""
    return execute_run(run_pk)
