"""Write the request-outcome counters: one upsert per ESPI API request (see ``batch.models.ApiRequestCount``)."""

from __future__ import annotations

from datetime import date

from django.db import connection

from batch.models import ApiRequestCount

#: Methods counted under their own name; anything else is counted as OTHER.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE"})


def api_request_kind(url_name: str | None) -> str:
    """Return the kind of request counted for a resolved URL name (``espi-batch-bulk`` is ``batch-bulk``)."""
    if not url_name:
        return "unknown"
    return url_name.removeprefix("espi-")[:48]


def api_request_record(
    *, day: date, third_party_id: int | None, kind: str, method: str, status: int, bytes_sent: int
) -> None:
    """Count one answered request and the bytes sent with it: one statement, whatever the traffic.

    An ``INSERT ... ON CONFLICT DO UPDATE`` (PostgreSQL and SQLite) adds to the day's row, so
    concurrent requests of one client never race to create it. The row of an unidentified caller
    has its own partial unique index (NULLs are never equal in a unique index).

    On PostgreSQL in autocommit (the middleware writes after the response, outside any
    transaction) the statement is its own transaction and turns ``synchronous_commit`` off for it
    alone (``set_config(..., true)`` in the statement): a statistic need not wait for the WAL flush,
    and a crash may lose the last few hundred milliseconds of counts, never a customer's data.
    Inside a transaction it is a plain upsert, so it never changes how that transaction commits.
    """
    table = connection.ops.quote_name(ApiRequestCount._meta.db_table)
    if third_party_id is None:
        target = "(day, kind, method, status_class) WHERE third_party_id IS NULL"
    else:
        target = "(day, third_party_id, kind, method, status_class) WHERE third_party_id IS NOT NULL"
    columns = "(day, third_party_id, kind, method, status_class, requests, bytes)"
    values = "%s, %s, %s, %s, %s, 1, %s"
    if connection.vendor == "postgresql" and connection.get_autocommit() and not connection.in_atomic_block:
        unflushed = "WITH unflushed AS (SELECT set_config('synchronous_commit', 'off', true)) "
        head = f"{unflushed}INSERT INTO {table} {columns} SELECT {values} FROM unflushed"  # noqa: S608 - names, not input
    else:
        head = f"INSERT INTO {table} {columns} VALUES ({values})"  # noqa: S608 - names, not input
    sql = (
        f"{head} ON CONFLICT {target} "
        f"DO UPDATE SET requests = {table}.requests + 1, bytes = {table}.bytes + excluded.bytes"
    )
    params = [
        connection.ops.adapt_datefield_value(day),
        third_party_id,
        kind,
        method if method in _METHODS else "OTHER",
        max(1, min(5, status // 100)),
        max(0, bytes_sent),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
