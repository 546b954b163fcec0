"""
Rows of any SQL, read the way a report's rows are (a server-side cursor inside
`admin_reports.sources.reading`): the slow and endless queries of the streaming tests.

    for n, label in sql_rows("SELECT n, label FROM ...", params):
"""

from collections.abc import Iterator, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS

from admin_reports.conf import app_settings
from admin_reports.sources import reading


def sql_rows(
    sql: str, params: Sequence[Any] = (), using: str = DEFAULT_DB_ALIAS
) -> Iterator[tuple[Any, ...]]:
    with reading(using) as connection, connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(app_settings.FETCH_ROWS):
            yield from rows
