"""Repair jobs: a copy found bad (CORRUPTED, or its bytes lost) copied again, from a good READY copy
of the same object, into its own row and path, by an ordinary copy job (origin ``repair``). The
worker copies and verifies it as it does any copy; the copy is READY again once verified.

The integrity checks ask for them (``integrity.repair``); the copy keeps its uid, so that clients
holding it find it READY again.
"""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction

from catalogue.choices import ItemState
from catalogue.models import DataItem
from core.errors import ObjectNotFound, UnmetPreconditionForOperation, ValueAlreadyInDB
from migrations_app.choices import JobOrigin
from migrations_app.jobs import copy_job_enqueue
from migrations_app.models import Migration
from migrations_app.selectors import active_deletion
from migrations_app.services.copies import _conflict, _require_remote, _source, copy_command
from migrations_app.states import ACTIVE, INITIAL

# The states of a copy a repair may write over: found bad, or left half-written by a repair that
# was cancelled or is retried.
REPAIRABLE = (ItemState.CORRUPTED, ItemState.INITIALISED)


def _target_locked(uid: uuid.UUID) -> DataItem:
    """The copy to repair, its row locked; a 404 or 422 saying why it cannot be."""
    target = DataItem.objects.select_for_update().filter(uid=uid).first()
    if target is None:
        raise ObjectNotFound(f"No data item with uid={uid}", field="uid")
    if target.item_state not in REPAIRABLE:
        raise UnmetPreconditionForOperation(
            f"The copy {uid} is {target.item_state}: only a CORRUPTED copy is repaired", field="uid"
        )
    if target.storage_id is None:
        raise UnmetPreconditionForOperation(f"The copy {uid} is on no storage: nothing to repair", field="uid")
    deletion = active_deletion(uid)
    if deletion is not None:
        raise UnmetPreconditionForOperation(
            f"The copy {uid} is being deleted (deletion {deletion.deletion_id}, {deletion.state})", field="uid"
        )
    writing = Migration.objects.filter(destination_uid=uid, state__in=ACTIVE).first()
    if writing is not None:
        raise ValueAlreadyInDB(f"Copy job {writing.migration_id} ({writing.state}) is already writing the copy {uid}")
    return target


def repair_job_create(*, uid: uuid.UUID, user: str, reason: str) -> Migration:
    """Start copying the object of the bad copy ``uid`` again into it: from the first READY copy
    (catalogue order) of the same object that is not being deleted, to the copy's own storage
    and uri, by a queued copy job of origin ``repair`` (``reason`` says what was found). The
    copy is set INITIALISED with it, and the worker makes it READY once the bytes are verified.

    Refused (404) for an unknown uid; (422 ``UnmetPreconditionForOperation``) when the copy is
    not CORRUPTED (or INITIALISED), is being deleted, or when no good copy can be its source
    (the message says why); (422 ``ValueAlreadyInDB``) while a job writes it already. Works
    inside the caller's transaction.
    """
    with transaction.atomic():
        target = _target_locked(uid)
        destination = target.storage
        source = _source(uid=None, oid=target.oid, item_name="")
        if source.uid == target.uid:  # only a mistake gets here: the target is not READY
            raise UnmetPreconditionForOperation(f"No other READY copy of {target.oid} to repair {uid} from")
        _require_remote(source.storage, "source")
        _require_remote(destination, "destination")
        uri = target.uri or ""
        try:
            with transaction.atomic():
                migration = Migration.objects.create(
                    oid=target.oid,
                    source_storage=source.storage,
                    destination_storage=destination,
                    source_uid=source.uid,
                    destination_uid=target.uid,
                    user=user,
                    state=INITIAL,
                    bytes_total=source.item_size,
                    command=copy_command(source, source.storage, destination, uri),
                    destination_path=uri,
                    origin=JobOrigin.REPAIR,
                    reason=reason,
                )
        except IntegrityError:
            conflict = _conflict(target.oid, destination)
            if conflict is not None:
                raise conflict from None
            writing = Migration.objects.filter(destination_uid=target.uid, state__in=ACTIVE).first()
            if writing is not None:  # one job at a time writes a copy
                raise ValueAlreadyInDB(
                    f"Copy job {writing.migration_id} is already writing the copy {uid} ({writing.state})"
                ) from None
            raise
        DataItem.objects.filter(uid=target.uid).update(item_state=ItemState.INITIALISED)
        copy_job_enqueue(migration.migration_id)
    return migration
