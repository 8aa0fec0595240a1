"""What the jobs ask of the catalogue: that no one changes the state of a copy a copy job is
writing, or of a copy a deletion is removing."""

from __future__ import annotations

from django.db.models import QuerySet

from migrations_app.models import Deletion, Migration
from migrations_app.states import ACTIVE


def copy_being_written(rows: QuerySet) -> str | None:
    """Why the state of these copies (``DataItem`` rows) may not change now: one of them is the
    destination of a copy job that has not ended (its worker makes it READY once the bytes are
    verified). None when no job is writing any of them."""
    job = (
        Migration.objects.filter(state__in=ACTIVE, destination_uid__in=rows.values("uid"))
        .order_by("migration_id")
        .values_list("migration_id", "destination_uid", "state")
        .first()
    )
    if job is None:
        return None
    migration_id, uid, state = job
    return (
        f"Copy job {migration_id} ({state}) is writing the copy {uid}: "
        "wait for it to end, or cancel it, before changing its state"
    )


def copy_being_deleted(rows: QuerySet) -> str | None:
    """Why the state of these copies (``DataItem`` rows) may not change now: one of them is being
    removed by a deletion that has not ended (its worker marks it DELETED once the bytes are
    gone). None when no deletion is removing any of them."""
    job = (
        Deletion.objects.filter(state__in=ACTIVE, uid__in=rows.values("uid"))
        .order_by("deletion_id")
        .values_list("deletion_id", "uid", "state")
        .first()
    )
    if job is None:
        return None
    deletion_id, uid, state = job
    return (
        f"Deletion {deletion_id} ({state}) is removing the copy {uid}: "
        "wait for it to end, or cancel it while it is queued, before changing its state"
    )
