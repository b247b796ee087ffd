"""Trigram GIN indexes for the admin's name searches on Third Parties and bulk users (PostgreSQL only).

See custodian's 0011_admin_search_trigram_indexes for why they live here and not in ``Meta.indexes``.
"""

from django.db import migrations

from custodian.migrations import _trigram

TRIGRAM_COLUMNS = [("grants_thirdparty", "name"), ("grants_bulkuser", "name")]


class Migration(migrations.Migration):
    dependencies = [
        ("grants", "0014_thirdparty_lifecycle_sweep"),
        ("custodian", "0011_admin_search_trigram_indexes"),
    ]

    operations = [
        migrations.RunPython(
            _trigram.trigram_indexes(TRIGRAM_COLUMNS, create=True),
            _trigram.trigram_indexes(TRIGRAM_COLUMNS, create=False),
        ),
    ]
