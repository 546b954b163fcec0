"""Who may run what: checked on the server for every request."""

from __future__ import annotations

# Needed to run any report; a definition adds view permissions on what it reads.
RUN_PERMISSION = "admin_reports.run_report"


def may_run_reports(user) -> bool:
    return user.is_active and user.is_staff and user.has_perm(RUN_PERMISSION)


def may_run(user, spec) -> bool:
    """RUN_PERMISSION, and what the definition needs (`spec.permissions`)."""
    return user.is_active and user.is_staff and user.has_perms((RUN_PERMISSION, *spec.permissions))
