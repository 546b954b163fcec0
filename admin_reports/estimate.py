"""
How many rows a compiled report will have, before it runs, cheaply.

    estimate = estimate_rows(compiled)
    estimate.rows      # 1234000, or None: unknown
    estimate.exact     # False: the planner's guess
    str(estimate)      # "about 1,234,000 rows"

PostgreSQL: the planner's estimate from EXPLAIN (no rows are read; a guess that
can be off several times over on joins and filters it has no statistics for).
SQLite: an exact COUNT, interrupted after ADMIN_REPORTS_ESTIMATE_SECONDS ("unknown"
then). Other databases: unknown.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .conf import app_settings

if TYPE_CHECKING:
    from .compiler import CompiledReport

logger = logging.getLogger("admin_reports")


@dataclass(frozen=True)
class RowEstimate:
    rows: int | None = None  # None: unknown
    exact: bool = False

    def __str__(self) -> str:
        if self.rows is None:
            return _("unknown")
        counted = ngettext("%(rows)s row", "%(rows)s rows", self.rows) % {"rows": f"{self.rows:,}"}
        return counted if self.exact else _("about %(counted)s") % {"counted": counted}

    @property
    def source(self) -> str:
        """Where the figure comes from, in words."""
        if self.rows is None:
            return _("no estimate on this database, or counting took too long")
        return _("counted") if self.exact else _("the database planner's estimate")


UNKNOWN = RowEstimate()


def estimate_rows(compiled: CompiledReport, seconds: float | None = None) -> RowEstimate:
    """The report's row count, exact or estimated; UNKNOWN when neither comes cheaply.

    Never raises for a database error: an estimate is a nicety, not the report."""
    seconds = app_settings.ESTIMATE_SECONDS if seconds is None else seconds
    queryset = compiled.queryset
    connection = connections[queryset.db]
    try:
        with timezone.override(compiled.tz):
            if connection.vendor == "postgresql":
                return _planner_estimate(queryset, seconds)
            if connection.vendor == "sqlite":
                return _counted(queryset, seconds)
    except EmptyResultSet:
        return RowEstimate(0, exact=True)
    except DatabaseError:
        logger.info("No row estimate for %s.", compiled.spec.name, exc_info=True)
    return UNKNOWN


def _planner_estimate(queryset: Any, seconds: float) -> RowEstimate:
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    with transaction.atomic(using=queryset.db), connections[queryset.db].cursor() as cursor:
        # Planning is quick, but a query over many partitions or with a slow function in
        # a constant expression need not be.
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [_ms(seconds)])
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return RowEstimate(int(plan[0]["Plan"]["Plan Rows"]))


def _counted(queryset: Any, seconds: float) -> RowEstimate:
    connection = connections[queryset.db]
    connection.ensure_connection()
    raw = connection.connection
    timer = threading.Timer(seconds, raw.interrupt)  # interrupt() is thread-safe
    timer.start()
    try:
        return RowEstimate(queryset.order_by().count(), exact=True)
    except DatabaseError as error:
        if "interrupted" in str(error):
            return UNKNOWN
        raise
    finally:
        timer.cancel()


def _ms(seconds: float) -> str:
    return f"{max(1, int(seconds * 1000))}ms"
