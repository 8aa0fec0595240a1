"""Indexes for the web UI's items list (``ui/item_search.py``): keyset pages in the catalogue's
order, ``(uid_creation, uid)``, narrowed by a filter.

With only the ``uid_creation`` index, a filter whose rows sit late in that order (a new storage,
a new owner's items, a state reached by recent items) makes PostgreSQL walk the index from the
start, filtering row by row: at a million items, 0.4–0.6 s for one page. An index led by the
filtered column and followed by ``uid_creation`` reads the page directly (about 1 ms).

On PostgreSQL only, and in SQL, because Django's index declarations cannot say them portably:

* ``item_name varchar_pattern_ops`` serves the name prefix search (``LIKE 'x%'``) whatever the
  database's collation (the unique ``(item_name, storage_id)`` index serves it only under "C");
* a GIN ``jsonb_path_ops`` index serves the metadata filter (``metadata @> {"key": value}``).

The three ``(column, uid_creation)`` indexes are made on every database. None is declared on the
model: they exist for the UI's queries, and Django's state does not need to know them.
"""

from django.db import migrations

PORTABLE = {
    "data_item_storage_created": "CREATE INDEX IF NOT EXISTS data_item_storage_created ON data_item (storage_id, uid_creation, uid)",
    "data_item_owner_created": "CREATE INDEX IF NOT EXISTS data_item_owner_created ON data_item (item_owner, uid_creation, uid)",
    "data_item_state_created": "CREATE INDEX IF NOT EXISTS data_item_state_created ON data_item (item_state, uid_creation, uid)",
}
POSTGRESQL = {
    "data_item_name_pattern": "CREATE INDEX IF NOT EXISTS data_item_name_pattern ON data_item (item_name varchar_pattern_ops)",
    "data_item_metadata_gin": "CREATE INDEX IF NOT EXISTS data_item_metadata_gin ON data_item USING gin (metadata jsonb_path_ops)",
}


def _indexes(schema_editor) -> dict[str, str]:
    if schema_editor.connection.vendor == "postgresql":
        return {**PORTABLE, **POSTGRESQL}
    return PORTABLE


def create(apps, schema_editor) -> None:
    for sql in _indexes(schema_editor).values():
        schema_editor.execute(sql)


def drop(apps, schema_editor) -> None:
    for name in _indexes(schema_editor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0003_data_item_hashes"),
    ]

    operations = [
        migrations.RunPython(create, drop, elidable=False),
    ]
