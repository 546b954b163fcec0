"""
admin-reports: heavy CSV reports from the Django admin.

Add the app to a project::

    INSTALLED_APPS = [..., "import_export", "admin_reports"]
    ADMIN_REPORTS_DIRS = [BASE_DIR / "report_defs"]

Settings are read through ``admin_reports.conf.app_settings``.
"""

__version__ = "0.1.0.dev0"
