"""The trigram index operation of the admin-search migrations (PostgreSQL only; nothing on SQLite)."""

from django.contrib.postgres.operations import TrigramExtension


class TrigramExtensionOnPostgres(TrigramExtension):
    """``pg_trgm``, on PostgreSQL only both ways (Django's backwards step queries ``pg_extension`` on any database)."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        super().database_backwards(app_label, schema_editor, from_state, to_state)


def trigram_indexes(columns, *, create: bool):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table, column in columns:
            name = f"{table}_{column}_trgm"[:63]
            if create:
                schema_editor.execute(
                    f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
                )
            else:
                schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')

    return run
