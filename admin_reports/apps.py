from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.utils.autoreload import autoreload_started
from django.utils.translation import gettext_lazy as _


def watch_definitions(sender: Any, **kwargs: Any) -> None:
    """runserver restarts when a definition changes (its checks read the files anew)."""
    from .conf import app_settings

    for directory in app_settings.DIRS:
        path = Path(directory)
        if path.is_dir():
            sender.watch_dir(path.resolve(), "**/*.yaml")
            sender.watch_dir(path.resolve(), "**/*.yml")
            # The directories too: their times change when a definition is added or
            # removed (the reloader notices changed files only, not new ones).
            sender.watch_dir(path.resolve(), "**/")


class AdminReportsConfig(AppConfig):
    name = "admin_reports"
    verbose_name = _("Admin reports")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  registers the system checks

        autoreload_started.connect(watch_definitions, dispatch_uid="admin_reports_definitions")
