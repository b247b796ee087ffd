"""Trigram GIN indexes for the admin's text searches (custodian.admin_tools.IndexedSearchMixin), PostgreSQL only.

The admin's ``^column`` search runs ``UPPER(column::text) LIKE UPPER('term%')``; these indexes are on
that very expression with ``gin_trgm_ops`` (pg_trgm), so PostgreSQL serves it from the index at any
table size. They are not in the models' ``Meta.indexes``: SQLite (development) has no GIN, so there
the migration does nothing and the search is a scan of a small table.
"""

from django.db import migrations

from custodian.migrations._trigram import TrigramExtensionOnPostgres, trigram_indexes

# (table, column): every "^column" of an admin's search_fields on this app's tables.
TRIGRAM_COLUMNS = [
    ("custodian_user", "username"),
    ("custodian_user", "email"),
    ("custodian_retailcustomer", "name"),
    ("custodian_usagepoint", "title"),
    ("custodian_readingtype", "title"),
    ("custodian_customerrecord", "label"),
    ("custodian_auditevent", "summary"),
]


class Migration(migrations.Migration):
    dependencies = [("custodian", "0010_retailcustomer_language")]

    operations = [
        TrigramExtensionOnPostgres(),
        migrations.RunPython(
            trigram_indexes(TRIGRAM_COLUMNS, create=True), trigram_indexes(TRIGRAM_COLUMNS, create=False)
        ),
    ]
