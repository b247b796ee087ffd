"""The bulk writer: an import's new rows queued and inserted together on PostgreSQL (blocks with ``COPY``)."""

from __future__ import annotations

from typing import Any

from django.db import connection

from custodian.imports.reasons import ImportFailed
from custodian.models import IntervalBlock

_FLUSH_BLOCKS = 1000  # about 4 MB of packed readings


class RowQueue:
    """Write an import's new rows in bulk on PostgreSQL.

    New usage points, meter readings and interval blocks (each block with its packed readings, the
    volume of any first import) get ids taken ahead from their tables' identity sequences and are
    queued; a flush inserts them together: blocks with one ``COPY``, the others with one bulk INSERT
    per model. UPDATEs of rows that exist already are queued too and run after the inserts (the owner
    filter of each makes it a no-op, and the import fail, if the row moved since the plan). The queue
    is flushed before any other query on the connection (``before_query``, an execute wrapper), so
    every query sees what the import wrote before it; every ``_FLUSH_BLOCKS`` blocks, so memory stays
    flat; and at the end. Other databases write row by row (``batched`` is False).
    """

    _block_columns = (
        "id",
        "public_id",
        "uuid",
        "title",
        "published",
        "updated",
        "start",
        "duration",
        "meter_reading_id",
        "readings",
        "reading_count",
    )

    def __init__(self) -> None:
        self.batched = False  # set by start(), inside the import's transaction
        self._blocks: list[tuple[Any, ...]] = []  # new block rows not yet inserted
        self._objects: dict[Any, list[Any]] = {}  # model -> new rows (usage points, meter readings) not yet inserted
        self._pools: dict[Any, list[int]] = {}  # model -> ids taken from its sequence, not used yet
        self._updates: list[tuple[Any, int, dict[str, Any], dict[str, Any], str]] = []
        self._flushing = False

    def start(self) -> None:
        """Call inside the transaction: batch on PostgreSQL."""
        self.batched = connection.vendor == "postgresql"

    def new_id(self, model: Any) -> int:
        """Return an id for a new row of ``model`` from its identity sequence (taken ahead, 512 or 64 at a time)."""
        pool = self._pools.setdefault(model, [])
        if not pool:
            self.flush()
            table = connection.ops.quote_name(model._meta.db_table)
            with connection.cursor() as cursor:
                cursor.cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [table, 512 if model is IntervalBlock else 64],
                )
                pool.extend(row[0] for row in reversed(cursor.cursor.fetchall()))
        return pool.pop()

    def add_object(self, obj: Any) -> None:
        """Queue a new model instance (its pk from ``new_id``)."""
        self._objects.setdefault(type(obj), []).append(obj)

    def add_update(self, model: Any, pk: int, owner: dict[str, Any], fields: dict[str, Any], what: str) -> None:
        """Queue ``UPDATE model SET fields WHERE pk AND owner``."""
        self._updates.append((model, pk, owner, fields, what))

    def add_new_block(self, row: tuple[Any, ...]) -> None:
        """Queue a new block's row (``_block_columns``, its id from ``new_id``)."""
        self._blocks.append(row)
        if len(self._blocks) >= _FLUSH_BLOCKS:
            self.flush()

    def flush(self) -> None:
        """Insert the queued rows (objects, then blocks), then run the queued updates."""
        if self._flushing:
            return  # the queries below go through before_query
        self._flushing = True
        try:
            objects, self._objects = self._objects, {}
            for model, objs in objects.items():
                model.objects.bulk_create(objs, batch_size=500)
            if self._blocks:
                blocks, self._blocks = self._blocks, []
                table = connection.ops.quote_name(IntervalBlock._meta.db_table)
                columns = ", ".join(self._block_columns)
                with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # noqa: S608 - fixed names
                    for row in blocks:
                        copy.write_row(row)
            updates, self._updates = self._updates, []
            self._run_updates(updates)
        finally:
            self._flushing = False

    @staticmethod
    def _run_updates(updates: list[tuple[Any, int, dict[str, Any], dict[str, Any], str]]) -> None:
        """Run queued updates, one ``executemany`` (a single round trip) per model and set of columns.

        Each UPDATE matches the row's id and its planned owner, so a row that moved since the plan
        is not updated and the import fails.
        """
        # One update per row, later fields over earlier ones (as running them in order would leave it).
        latest: dict[tuple[Any, int], tuple[Any, int, dict[str, Any], dict[str, Any], str]] = {}
        for model, pk, owner, fields, what in updates:
            earlier = latest.get((model, pk))
            latest[(model, pk)] = (model, pk, owner, {**earlier[3], **fields} if earlier else fields, what)
        groups: dict[tuple[Any, tuple[str, ...], tuple[str, ...]], list[tuple[list[Any], str]]] = {}
        for model, pk, owner, fields, what in latest.values():
            meta = model._meta
            owner_columns = {meta.get_field(name).column: getattr(v, "pk", v) for name, v in owner.items()}
            key = (model, tuple(sorted(fields)), tuple(sorted(owner_columns)))
            values = [meta.get_field(name).get_db_prep_save(fields[name], connection) for name in key[1]]
            groups.setdefault(key, []).append(([*values, pk, *(owner_columns[c] for c in key[2])], what))
        quote = connection.ops.quote_name
        for (model, names, owner_names), rows in groups.items():
            meta = model._meta
            assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in names)
            conditions = "".join(f" AND {quote(column)} = %s" for column in owner_names)
            sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s{conditions}"  # noqa: S608 - names from the model
            with connection.cursor() as cursor:
                cursor.executemany(sql, [params for params, _what in rows])
                updated = cursor.rowcount
            if updated != len(rows):
                moved = _moved(model, names, owner_names, rows)
                raise ImportFailed(f"{moved}: the stored resource changed owner during the import")

    def abort(self) -> None:
        """On an error: drop what is queued (the transaction rolls back what was written)."""
        self._blocks = []
        self._objects = {}
        self._updates = []

    def before_query(self, execute: Any, sql: Any, params: Any, many: bool, context: Any) -> Any:
        """Execute wrapper: any ORM query first flushes the queue."""
        self.flush()
        return execute(sql, params, many, context)


def _moved(
    model: Any, names: tuple[str, ...], owner_columns: tuple[str, ...], rows: list[tuple[list[Any], str]]
) -> str:
    """Return the description of the first queued update whose row is gone or has another owner now."""
    width = len(names)
    expected = {params[width]: tuple(params[width + 1 :]) for params, _what in rows}
    stored = {
        row[0]: tuple(row[1:]) for row in model.objects.filter(pk__in=list(expected)).values_list("pk", *owner_columns)
    }
    return next((what for params, what in rows if stored.get(params[width]) != expected[params[width]]), rows[0][1])
