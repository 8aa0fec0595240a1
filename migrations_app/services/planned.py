"""Many jobs at once, for a caller that has already judged them under lock: the lifecycle pass.

``copy_job_create`` and ``deletion_job_create`` check everything themselves, one job at a time,
which costs about twenty statements a job. The lifecycle decides a batch of objects with every
row of those objects locked (``catalogue.phases.objects_lock``), and has read their copies, their
jobs under way and their deletions while holding the lock: no other copy or deletion of these
objects can be asked for until it commits (each of those locks a row of the object first). So it
may ask for its jobs here, written with a few statements per batch: the destination copies in one
insert, the jobs in one insert, their audit records in one insert each. The database's own rules
still hold (one active job per object and destination, one pending lifecycle copy per object,
one active deletion per copy, one name per storage): a batch that breaks one is refused whole
(``ValueAlreadyInDB``), written nothing, and the caller asks one job at a time instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from catalogue.choices import ItemType
from catalogue.models import DataItem, Storage
from catalogue.services.data_items import data_items_insert
from core.errors import ValueAlreadyInDB
from migrations_app.events import deletion_update
from migrations_app.jobs import COPY_TASK, DELETION_TASK, jobs_enqueue_with
from migrations_app.models import Deletion, Migration
from migrations_app.services.copies import _destination_fields, copy_command
from migrations_app.states import INITIAL


@dataclass(frozen=True)
class PlannedCopy:
    """A copy the caller has judged: READY source ``source_uid`` (a file or container on a storage
    with an rclone config, not being deleted), to ``destination_id`` (configured, holding no copy
    of the object, none on its way), to the source's uri."""

    source_uid: uuid.UUID
    destination_id: uuid.UUID
    reason: str
    uid_expiration: datetime | None = None


@dataclass(frozen=True)
class PlannedDeletion:
    """A deletion the caller has judged: the copy ``uid`` (a file on a storage, not being deleted,
    no copy job reading or writing it)."""

    uid: uuid.UUID
    reason: str
    forced: bool = False


def copy_jobs_create_planned(*, plans: list[PlannedCopy], user: str, origin: str) -> list[Migration]:
    """The copy jobs of ``plans`` (see the module), in their order; queued for the workers when
    the caller's transaction commits (their tasks are written in it)."""
    if not plans:
        return []
    sources = {item.uid: item for item in DataItem.objects.filter(uid__in=[plan.source_uid for plan in plans])}
    storage_ids = {plan.destination_id for plan in plans} | {item.storage_id for item in sources.values()}
    storages = {storage.pk: storage for storage in Storage.objects.filter(pk__in=storage_ids)}
    rows = []
    for plan in plans:
        source = sources[plan.source_uid]
        destination = storages[plan.destination_id]
        rows.append(_destination_fields(source, destination, source.uri, user, plan.uid_expiration))
    try:
        with transaction.atomic():
            items = data_items_insert(rows=rows, storages_checked=True)
            migrations = Migration.objects.bulk_create(
                [
                    Migration(
                        oid=item.oid,
                        source_storage=storages[sources[plan.source_uid].storage_id],
                        destination_storage=storages[plan.destination_id],
                        source_uid=plan.source_uid,
                        destination_uid=item.uid,
                        user=user,
                        state=INITIAL,
                        bytes_total=sources[plan.source_uid].item_size,
                        command=copy_command(
                            sources[plan.source_uid],
                            storages[sources[plan.source_uid].storage_id],
                            storages[plan.destination_id],
                            item.uri,
                        ),
                        destination_path=item.uri,
                        origin=origin,
                        reason=plan.reason,
                    )
                    for plan, item in zip(plans, items, strict=True)
                ]
            )
            jobs_enqueue_with(COPY_TASK, [migration.migration_id for migration in migrations])
    except (IntegrityError, ValueAlreadyInDB):
        raise ValueAlreadyInDB("A planned copy broke a rule of the catalogue: ask one job at a time") from None
    return migrations


def deletion_jobs_create_planned(*, plans: list[PlannedDeletion], user: str, origin: str) -> list[Deletion]:
    """The deletion jobs of ``plans`` (see the module), in their order; queued for the workers
    when the caller's transaction commits (their tasks are written in it)."""
    if not plans:
        return []
    copies = {item.uid: item for item in DataItem.objects.filter(uid__in=[plan.uid for plan in plans])}
    deletions = []
    for plan in plans:
        copy = copies[plan.uid]
        if copy.storage_id is None or copy.item_type == ItemType.CONTAINER:
            raise ValueError(f"copy {plan.uid}: a planned deletion is of a file on a storage")
        deletions.append(
            Deletion(
                uid=copy.uid,
                oid=copy.oid,
                item_name=copy.item_name or "",
                item_type=copy.item_type or "",
                path=copy.uri or "",
                storage_id=copy.storage_id,
                user=user,
                origin=origin,
                reason=plan.reason,
                forced=plan.forced,
                state=INITIAL,
            )
        )
    try:
        with transaction.atomic():
            created = Deletion.objects.bulk_create(deletions)
            deletion_update([deletion.deletion_id for deletion in created])
            jobs_enqueue_with(DELETION_TASK, [deletion.deletion_id for deletion in created])
    except IntegrityError:
        raise ValueAlreadyInDB("A planned deletion broke a rule of the catalogue: ask one job at a time") from None
    return created
