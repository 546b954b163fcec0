"""Who may run what: checked on the server for every request.

missing_permissions(user, spec)   # ["shop.view_order"]: what stops the user, or []
may_run(user, spec)               # no permission missing
refusal(user, spec)               # ReportPermissionDenied naming what is missing, or None
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .exceptions import ReportPermissionDenied

# Needed to run any report; a definition adds view permissions on what it reads. It also
# lets staff see their own runs and presets, save presets and change or delete their own.
RUN_PERMISSION = "admin_reports.run_report"


def may_run_reports(user: Any) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perm(RUN_PERMISSION))


def missing_permissions(user: Any, spec: Any) -> list[str]:
    """The permissions `user` lacks to run `spec` (empty: they may run it)."""
    needed = dict.fromkeys([RUN_PERMISSION, *spec.permissions])
    return [name for name in needed if not user.has_perm(name)]


def may_run(user: Any, spec: Any) -> bool:
    return bool(user.is_active and user.is_staff) and not missing_permissions(user, spec)


def refusal(user: Any, spec: Any) -> ReportPermissionDenied | None:
    """Why `user` may not run `spec`, in words for people; None when they may."""
    if not (user.is_active and user.is_staff):
        return ReportPermissionDenied(_("Only active staff members may run reports."))
    missing = missing_permissions(user, spec)
    if not missing:
        return None
    names = ", ".join(f"“{permission_label(name)}” ({name})" for name in missing)
    message = ngettext(
        "You may not run the report “%(title)s”: it needs the permission %(names)s.",
        "You may not run the report “%(title)s”: it needs the permissions %(names)s.",
        len(missing),
    ) % {"title": spec.title, "names": names}
    return ReportPermissionDenied(message, missing)


def permission_label(name: str) -> str:
    """ "shop.view_order" -> "Can view order" (the name staff see in the user admin)."""
    app_label, _dot, codename = name.partition(".")
    permission = Permission.objects.filter(
        content_type__app_label=app_label, codename=codename
    ).first()
    return str(permission.name) if permission else name
