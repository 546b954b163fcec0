"""
RQ on Redis as the tasks backend (django-tasks-rq), set up as docs/background.md says:
for the workers that tests.server_settings configures (TASKS_BACKEND=rq, REDIS_URL) and
for the test process that enqueues onto them (override_settings(**rq_settings(url))).

Background runs go to their own queue, "reports", as the docs suggest; "default" stays
in RQ_QUEUES because django-tasks-rq looks task results up on its connection.
"""

# The worker command needs these apps (rqworker comes from django_rq); enqueueing does not.
RQ_APPS = ["django_rq", "django_tasks_rq"]
QUEUE = "reports"
JOB_CLASS = "django_tasks_rq.Job"  # what `rqworker --job-class` takes


def rq_settings(redis_url: str) -> dict:
    """The settings that put background runs on RQ at `redis_url`."""
    return {
        "TASKS": {
            "default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default", QUEUE]}
        },
        "RQ_QUEUES": {
            "default": {"URL": redis_url},
            QUEUE: {"URL": redis_url, "DEFAULT_TIMEOUT": 3600},
        },
        "ADMIN_REPORTS_TASK_QUEUE": QUEUE,
    }
