"""Interval readings move into their block's row, packed (``custodian.readings``).

Existing readings are packed block by block (a streaming pass over the old table, in start order),
then the old table is dropped. Going back unpacks them again. On PostgreSQL with lz4 the column is
compressed with lz4 rather than the default pglz.
"""

import django.db.models.deletion
from django.db import migrations, models

from custodian.readings import readings_pack, readings_unpack

_FIELDS = ("block_id", "start", "duration", "value", "cost", "quality", "tou")


def pack_readings(apps, schema_editor):
    IntervalBlock = apps.get_model("custodian", "IntervalBlock")
    IntervalReading = apps.get_model("custodian", "IntervalReading")
    rows = IntervalReading.objects.order_by("block_id", "start").values_list(*_FIELDS).iterator(chunk_size=5000)
    pending: list[IntervalBlock] = []
    block_id, readings = None, []

    def close_block():
        if block_id is not None:
            block = IntervalBlock(pk=block_id)
            block.readings, block.reading_count = readings_pack(readings)
            pending.append(block)

    for row in rows:
        if row[0] != block_id:
            close_block()
            block_id, readings = row[0], []
            if len(pending) >= 500:
                IntervalBlock.objects.bulk_update(pending, ["readings", "reading_count"])
                pending.clear()
        readings.append(tuple(row[1:]))
    close_block()
    if pending:
        IntervalBlock.objects.bulk_update(pending, ["readings", "reading_count"])


def unpack_readings(apps, schema_editor):
    IntervalBlock = apps.get_model("custodian", "IntervalBlock")
    IntervalReading = apps.get_model("custodian", "IntervalReading")
    for block_id, packed in IntervalBlock.objects.values_list("pk", "readings").iterator(chunk_size=500):
        IntervalReading.objects.bulk_create(
            IntervalReading(block_id=block_id, **dict(zip(_FIELDS[1:], reading, strict=True)))
            for reading in readings_unpack(packed)
        )


def compress_with_lz4(apps, schema_editor):
    """On PostgreSQL built with lz4, compress packed readings with it: several times cheaper to write than pglz."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        row = cursor.fetchone()
        if row and row[0]:
            table = schema_editor.quote_name(apps.get_model("custodian", "IntervalBlock")._meta.db_table)
            cursor.execute(f"ALTER TABLE {table} ALTER COLUMN readings SET COMPRESSION lz4")  # noqa: S608 - a fixed name


class Migration(migrations.Migration):
    dependencies = [
        ("custodian", "0004_intervalreading_block_index_covered_by_unique"),
    ]

    operations = [
        # The old rows' reverse accessor was also called ``readings``: renamed away (no database change)
        # so that the historical IntervalBlock's new ``readings`` field can be set in pack_readings.
        migrations.AlterField(
            model_name="intervalreading",
            name="block",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="custodian.intervalblock",
            ),
        ),
        migrations.AddField(
            model_name="intervalblock",
            name="readings",
            field=models.TextField(
                default="[]",
                editable=False,
                help_text="JSON [[start, duration, value, cost, quality, tou], ...], sorted by start, one per start.",
            ),
        ),
        migrations.AddField(
            model_name="intervalblock",
            name="reading_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddConstraint(
            model_name="intervalblock",
            constraint=models.CheckConstraint(
                condition=models.Q(("reading_count__gte", 0)), name="intervalblock_reading_count_nonnegative"
            ),
        ),
        migrations.RunPython(compress_with_lz4, migrations.RunPython.noop),
        migrations.RunPython(pack_readings, unpack_readings, elidable=True),
        migrations.DeleteModel(name="IntervalReading"),
    ]
