"""
System checks: `manage.py check` fails with every problem of every definition.

Ids are admin_reports.E001 and up; docs/checks.md lists them all.
"""

from __future__ import annotations

from django.core import checks

from .registry import registry


@checks.register("admin_reports")
def check_definitions(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    registry.reload()  # a check always reads the files as they are now
    return [problem.to_check() for problem in registry.problems()]
