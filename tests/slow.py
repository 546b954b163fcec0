"""
A test-only expression function that makes a report slow row by row.

    slow_down(quantity)   # quantity, after SLOW_DOWN_SECONDS per row

PostgreSQL: pg_sleep in the select list, run as each row is fetched; SQLite: a Python function registered on every
new connection (see tests.apps).
"""

import time

from django.db.models import Func

SLOW_DOWN_SECONDS = 0.01


class SlowDown(Func):
    function = "slow_down"
    arity = 1

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            # The argument inside pg_sleep() makes it run once a row, not once a query; in
            # the select list itself (volatile, not needed by the sort), PostgreSQL runs it
            # after any sort, as rows are fetched.
            template=(
                f"(%(expressions)s + 0 * length(pg_sleep({SLOW_DOWN_SECONDS}"
                " + 0 * %(expressions)s)::text))"
            ),
            **extra_context,
        )


def slow_down(value):
    time.sleep(SLOW_DOWN_SECONDS)
    return value


def register_sqlite_function(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function("slow_down", 1, slow_down)
