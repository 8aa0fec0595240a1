"""The jobs' events: ``dlm.migration.update``, as upstream's relay sends it (semantics §7), and
``dlm.deletion.update``, a deletion job's row at each change of its state.

Its payload is the migration row the API answers (``migrations_app.rows``): upstream's columns
first (uuids as strings, ISO times), then DLM's extras (``state``, ``attempts``, ``last_error``,
progress…). Emitted in the transaction of the row change it reports, so a consumer never hears of
a change that was rolled back.
"""

from __future__ import annotations

from core.events import DELETION_UPDATE, MIGRATION_UPDATE, emit, emit_many
from migrations_app.models import Deletion, Migration
from migrations_app.rows import deletion_rows, migration_rows


def migration_update(migration_id: int) -> None:
    """Emit ``dlm.migration.update`` with the job's row as it is now (in this transaction)."""
    found = migration_rows(Migration.objects.filter(pk=migration_id))
    if not found:
        return
    row = found[0]
    emit(MIGRATION_UPDATE, subjects={"migration_id": migration_id, "oid": row["oid"]}, payload=row)


def deletion_update(deletion_ids: list[int]) -> None:
    """Emit ``dlm.deletion.update`` with each job's row as it is now (in this transaction): the
    row ``query_deletions`` answers."""
    found = deletion_rows(Deletion.objects.filter(pk__in=deletion_ids))
    emit_many(
        [
            (DELETION_UPDATE, {"deletion_id": row["deletion_id"], "uid": row["uid"], "oid": row["oid"]}, row)
            for row in found
        ]
    )
