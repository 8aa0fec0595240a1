"""Writes of the copy jobs: creating one (the destination copy and its job, at once), cancelling
and retrying. The API, the web UI, the admin and the lifecycle all call these; the worker runs
the jobs (``migrations_app.tasks``).

A copy's destination item is INITIALISED while its job is queued or running and READY once the
worker has verified the bytes. When the job fails, the row is removed with it (as upstream does:
a client polling the job until it has finished then finds no such uid); the job keeps the
destination uid, and a retry makes a fresh destination row. When the job is cancelled, the row
stays, CORRUPTED (whatever bytes are there are not to be trusted), and a retry sets it back to
INITIALISED.

A copy being deleted (an active ``Deletion``) is never a copy's source: its row is locked while
a copy from it is asked for, as it is while its deletion is asked for, so that of the two one
waits for the other and then sees it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalogue import capacity
from catalogue.choices import ItemState, ItemType
from catalogue.models import DataItem, Storage
from catalogue.services.data_items import data_item_insert
from catalogue.services.registrations import uri_problem
from catalogue.services.storages import storage_find, storage_remote
from core.crypto import SecretDecryptionError
from core.errors import (
    FieldError,
    InvalidQueryParameters,
    ObjectNotFound,
    UnmetPreconditionForOperation,
    ValueAlreadyInDB,
)
from migrations_app.choices import JobOrigin
from migrations_app.events import migration_update
from migrations_app.jobs import copy_job_enqueue
from migrations_app.models import Deletion, Migration
from migrations_app.selectors import active_deletion
from migrations_app.states import (
    ACTIVE,
    CANCELLABLE,
    INITIAL,
    RETRYABLE,
    WAITING,
    WORKING,
    JobState,
    TransitionRefused,
    ending,
    fenced_update,
    fresh_attempt,
    transition,
)

# Columns of the source copy that the destination copy carries over.
CARRIED_OVER = (
    "item_name",
    "item_type",
    "target_phase",
    "uid_expiration",
    "oid_expiration",
    "metadata",
    "item_size",
    "decompressed_size",
    "item_checksum",
    "checksum_method",
    "hashes",
)


# --- create -----------------------------------------------------------------------------------


def being_deleted(deletion: Deletion) -> UnmetPreconditionForOperation:
    """The refusal to read from a copy that ``deletion`` is removing."""
    return UnmetPreconditionForOperation(
        f"The copy {deletion.uid} is being deleted (deletion {deletion.deletion_id}, {deletion.state}): "
        "it cannot be a copy's source",
        field="uid",
    )


def _source_locked(uid: uuid.UUID) -> DataItem | None:
    """The copy ``uid``, its row locked until the transaction ends; None when it is being
    deleted (checked once the lock is held, so that a deletion asked for meanwhile is seen)."""
    source = DataItem.objects.select_for_update().filter(uid=uid).first()
    if source is None or active_deletion(source.uid) is not None:
        return None
    return source


def _source(*, uid: uuid.UUID | None, oid: uuid.UUID | None, item_name: str) -> DataItem:
    """The copy to read from, its row locked: the uid named, or else the first READY copy (in
    catalogue order) of the oid, or else of the item name, that is not being deleted. It must be
    READY and on a storage. Called inside a transaction."""
    if not (uid or oid or item_name):
        raise InvalidQueryParameters("Either an item_name or an OID or an UID have to be provided")
    if uid:
        source = DataItem.objects.select_for_update().filter(uid=uid).first()
        if source is None:
            raise UnmetPreconditionForOperation(f"No data item with uid={uid}")
        deletion = active_deletion(source.uid)
        if deletion is not None:
            raise being_deleted(deletion)
    else:
        copies = DataItem.objects.filter(oid=oid) if oid else DataItem.objects.filter(item_name=item_name)
        what = f"oid={oid}" if oid else f"item_name={item_name!r}"
        ready = copies.filter(item_state=ItemState.READY)
        candidates = ready.exclude(uid__in=Deletion.objects.filter(state__in=ACTIVE).values("uid"))
        source = None
        for candidate in candidates.values_list("uid", flat=True):
            source = _source_locked(candidate)
            if source is not None and source.item_state == ItemState.READY:
                break
            source = None
        if source is None:
            if not copies.exists():
                raise UnmetPreconditionForOperation(f"No data item with {what}")
            if ready.exists():
                raise UnmetPreconditionForOperation(
                    f"Every READY copy of the data item with {what} is being deleted: none can be a copy's source"
                )
            raise UnmetPreconditionForOperation(f"No READY copy of the data item with {what}")
    if source.item_state != ItemState.READY:
        raise UnmetPreconditionForOperation(
            f"The source copy {source.uid} is {source.item_state}, not READY: only a READY copy can be copied"
        )
    if source.storage_id is None:
        raise UnmetPreconditionForOperation(f"The source copy {source.uid} is on no storage")
    return source


def _destination(*, destination_name: str, destination_id: uuid.UUID | None) -> Storage:
    """The storage named by ``destination_name`` (which wins) or ``destination_id``."""
    if not destination_name and not destination_id:
        raise InvalidQueryParameters("Either destination_name or destination_id must be given")
    storage = storage_find(storage_name=destination_name, storage_id=destination_id)
    if storage is None:
        if destination_name:
            raise UnmetPreconditionForOperation(f"No destination storage named {destination_name!r}")
        raise UnmetPreconditionForOperation(f"No destination storage with storage_id={destination_id}")
    return storage


def _require_remote(storage: Storage, role: str) -> None:
    """The storage must have a usable rclone config (its secrets are not kept)."""
    try:
        storage_remote(storage)
    except UnmetPreconditionForOperation:
        raise UnmetPreconditionForOperation(
            f"The {role} storage {storage.storage_name} has no rclone config: copies need one at both ends"
        ) from None
    except SecretDecryptionError:
        raise UnmetPreconditionForOperation(
            f"The rclone config of the {role} storage {storage.storage_name} cannot be decrypted"
        ) from None


def _check_room(destination: Storage, size: int | None, field: str) -> None:
    """The destination must take ``size`` more bytes (``catalogue.capacity``): not above its high
    watermark, nor taken over it by them, and room for them in its measured free space."""
    refusal = capacity.storage_room_refusal(destination, size)
    if refusal:
        raise UnmetPreconditionForOperation(refusal, field=field)


def _destination_uri(path: str, source: DataItem) -> str:
    """Where the copy goes under the destination's root: ``path``, or the source's uri."""
    if path:
        problem = uri_problem(path, "path")
        if problem is None and len(path) > DataItem._meta.get_field("uri").max_length:
            problem = "path should have at most 4096 characters"
        if problem:
            raise FieldError("path", "value_error", problem, path)
        return path
    problem = uri_problem(source.uri or "")
    if problem:
        raise UnmetPreconditionForOperation(
            f"The source copy's uri {source.uri!r} cannot be used on the destination ({problem}): give a path"
        )
    return source.uri


def _active_job(oid: uuid.UUID, destination: Storage) -> Migration | None:
    return (
        Migration.objects.filter(oid=oid, destination_storage=destination, state__in=ACTIVE)
        .order_by("migration_id")
        .first()
    )


def _already_active(job: Migration) -> ValueAlreadyInDB:
    return ValueAlreadyInDB(
        f"A copy of {job.oid} to storage {job.destination_storage.storage_name} is already {job.state}: "
        f"migration {job.migration_id}"
    )


def _pending_lifecycle_copy(oid: uuid.UUID) -> Migration | None:
    return (
        Migration.objects.filter(oid=oid, origin=JobOrigin.LIFECYCLE, state__in=ACTIVE)
        .select_related("destination_storage")
        .order_by("migration_id")
        .first()
    )


def _lifecycle_duplicate(job: Migration) -> ValueAlreadyInDB:
    return ValueAlreadyInDB(
        f"The lifecycle is already copying {job.oid}: migration {job.migration_id} to storage "
        f"{job.destination_storage.storage_name} is {job.state}"
    )


def _conflict(oid: uuid.UUID, destination: Storage) -> ValueAlreadyInDB | None:
    """What a concurrent request that won one of the job's unique constraints left: the refusal
    naming its job, or None when no such job is found."""
    job = _active_job(oid, destination)
    if job is not None:
        return _already_active(job)
    job = _pending_lifecycle_copy(oid)
    if job is not None:
        return _lifecycle_duplicate(job)
    return None


def _check_not_there(source: DataItem, destination: Storage) -> None:
    """No job copying the object there now, and no READY copy of it there already."""
    job = _active_job(source.oid, destination)
    if job is not None:
        raise _already_active(job)
    ready = DataItem.objects.filter(oid=source.oid, storage=destination, item_state=ItemState.READY).first()
    if ready is not None:
        raise ValueAlreadyInDB(
            f"A READY copy of {source.oid} is already on storage {destination.storage_name}: {ready.uid}"
        )
    stale = (
        Migration.objects.filter(oid=source.oid, destination_storage=destination, state__in=RETRYABLE)
        .order_by("-migration_id")
        .first()
    )
    if stale is not None and DataItem.objects.filter(uid=stale.destination_uid).exists():
        raise ValueAlreadyInDB(
            f"A copy of {source.oid} to storage {destination.storage_name} {stale.state}: "
            f"migration {stale.migration_id} (retry it with retry_migration)"
        )


def copy_command(source: DataItem, source_storage: Storage, destination: Storage, uri: str) -> str:
    """The job's ``command``: a readable description of the copy, without any secret."""
    kind = "tree" if source.item_type == ItemType.CONTAINER else "file"
    return f"copy {source_storage.storage_name}:{source.uri} -> {destination.storage_name}:{uri} ({kind})"


def _destination_fields(
    source: DataItem, destination: Storage, uri: str, user: str, uid_expiration: datetime | None = None
) -> dict[str, Any]:
    fields = {name: getattr(source, name) for name in CARRIED_OVER}
    if uid_expiration is not None:
        fields["uid_expiration"] = uid_expiration
    fields.update(
        uid=uuid.uuid4(),
        oid=source.uid,  # the oid rule: joins the source's object (its root oid and oid_creation)
        storage_id=destination.storage_id,
        uri=uri,
        uid_phase=destination.storage_phase,
        item_state=ItemState.INITIALISED,
        item_owner=user,
    )
    return fields


def copy_job_create(
    *,
    user: str,
    uid: uuid.UUID | None = None,
    oid: uuid.UUID | None = None,
    item_name: str = "",
    destination_name: str = "",
    destination_id: uuid.UUID | None = None,
    path: str = "",
    origin: str = JobOrigin.CLIENT,
    reason: str = "",
    uid_expiration: datetime | None = None,
) -> Migration:
    """Start copying a READY copy to another storage: an INITIALISED destination copy and a
    queued job, written together, and the job handed to the workers when they commit.

    The source is the copy ``uid`` names, or else the first READY copy (catalogue order) of
    ``oid``, or else of ``item_name``, that is not being deleted. The destination is named by
    ``destination_name`` (which wins) or ``destination_id``; it must differ from the source's
    storage, and both need an rclone config. The copy goes to ``path`` (relative to the
    destination's root directory), or to the source's uri. The new copy carries the source's
    expiry, or ``uid_expiration`` when given (a placement rule's lifetime). ``origin`` and
    ``reason`` say who asked and why (the lifecycle: which rule).

    Refused (422 ``UnmetPreconditionForOperation``, field ``uid``) when the copy ``uid`` names is
    being deleted; (422, field ``destination_name`` or ``destination_id``) when the destination
    is above ``DLM_STORAGE_HIGH_PCT``, the copy would take it there, or the copy would not fit in
    its measured free space (``catalogue.capacity``; not for a repair); (422 ``ValueAlreadyInDB``)
    while a job is copying the object to that storage, when a READY copy of it is there already,
    or, for a lifecycle copy, while another lifecycle copy of the object is pending (naming it).
    Works inside the caller's transaction.
    """
    with transaction.atomic():
        source = _source(uid=uid, oid=oid, item_name=item_name)
        source_storage = source.storage
        destination = _destination(destination_name=destination_name, destination_id=destination_id)
        if destination.pk == source_storage.pk:
            raise InvalidQueryParameters(
                f"The destination {destination.storage_name} is the storage of the source copy {source.uid}"
            )
        uri = _destination_uri(path, source)
        _require_remote(source_storage, "source")
        _require_remote(destination, "destination")
        _check_not_there(source, destination)
        if origin != JobOrigin.REPAIR:  # a repair rewrites bytes the storage held already
            _check_room(destination, source.item_size, "destination_name" if destination_name else "destination_id")
        if origin == JobOrigin.LIFECYCLE:
            pending = _pending_lifecycle_copy(source.oid)
            if pending is not None:
                raise _lifecycle_duplicate(pending)
        fields = _destination_fields(source, destination, uri, user, uid_expiration)
        try:
            item = data_item_insert(fields=fields, storages_checked=True)
        except ValueAlreadyInDB:
            # Its name is taken on the destination: by a concurrent copy of the same object?
            job = _active_job(source.oid, destination)
            if job is not None:
                raise _already_active(job) from None
            raise
        try:
            with transaction.atomic():
                migration = Migration.objects.create(
                    oid=item.oid,
                    source_storage=source_storage,
                    destination_storage=destination,
                    source_uid=source.uid,
                    destination_uid=item.uid,
                    user=user,
                    state=INITIAL,
                    bytes_total=source.item_size,
                    command=copy_command(source, source_storage, destination, uri),
                    destination_path=uri,
                    origin=origin,
                    reason=reason,
                )
        except IntegrityError:
            # A concurrent request won a partial unique constraint (one active job per object
            # and destination; one pending lifecycle copy per object).
            raise _conflict(item.oid, destination) or ValueAlreadyInDB(
                f"A copy of {item.oid} to storage {destination.storage_name} exists already"
            ) from None
        copy_job_enqueue(migration.migration_id)
    return migration


# --- cancel and retry -------------------------------------------------------------------------


def _locked(migration_id: int, *, states: tuple[str, ...], only: str) -> Migration:
    """The job, locked until the transaction ends; a 422 saying ``only`` unless its state is one
    of ``states``."""
    migration = None
    if 1 <= migration_id < 2**63:
        migration = Migration.objects.select_for_update().filter(migration_id=migration_id).first()
    if migration is None:
        raise ObjectNotFound(f"No migration with migration_id={migration_id}")
    if migration.state not in states:
        raise UnmetPreconditionForOperation(f"Migration {migration.migration_id} is {migration.state}: {only}")
    return migration


def copy_job_cancel(*, migration_id: int, reason: str = "") -> Migration:
    """Cancel a job. A queued one is cancelled at once (its destination copy CORRUPTED); a
    running one gets ``cancel_requested``, and the worker stops rclone and finishes the
    cancellation. A finished job (completed, failed, cancelled) is a 422. A ``reason`` (why the
    lifecycle cancels it) is kept as the job's ``last_error``, and so in its audit record."""
    why = {"last_error": f"Cancelled: {reason}"} if reason else {}
    with transaction.atomic():
        migration = _locked(migration_id, states=CANCELLABLE, only="only a queued or running job can be cancelled")
        if migration.state in WAITING:
            DataItem.objects.filter(uid=migration.destination_uid, item_state=ItemState.INITIALISED).update(
                item_state=ItemState.CORRUPTED
            )
            now = timezone.now()  # ended as the worker ends a running job it cancels
            moved = transition(
                migration_id,
                to=JobState.CANCELLED,
                from_states=WAITING,
                cancel_requested=True,
                next_attempt_at=None,
                **why,
                **ending(now=now, status=migration.job_status, success=False, error="Cancelled"),
            )
        else:
            moved = bool(fenced_update(migration_id, states=WORKING, cancel_requested=True, **why))
        if not moved:  # the row is locked: only a mistake gets here
            raise TransitionRefused(f"Migration {migration_id} moved while it was locked")
        if migration.state in WAITING:
            migration_update(migration_id)
        migration.refresh_from_db()
    return migration


def _job_reset() -> dict[str, Any]:
    """The columns of a job queued again from its first attempt, as if new."""
    return {
        **fresh_attempt(started=None),
        "attempts": 0,
        "cancel_requested": False,
        "complete": False,
        "completion_date": None,
        "finished_at": None,
        "job_status": None,
        "job_stats": None,
    }


def copy_job_retry(*, migration_id: int) -> Migration:
    """Queue a failed or cancelled job again: attempts from 0, its destination copy INITIALISED
    again, or made afresh (a new uid) where the failure removed it (``last_error`` stays until
    the next attempt). Any other state is a 422, and so is a source or destination copy that is
    being deleted."""
    with transaction.atomic():
        migration = _locked(migration_id, states=RETRYABLE, only="only a failed or cancelled job can be retried")
        destination_item = DataItem.objects.select_for_update().filter(uid=migration.destination_uid).first()
        if destination_item is not None and destination_item.item_state not in (
            ItemState.CORRUPTED,
            ItemState.INITIALISED,
        ):
            raise UnmetPreconditionForOperation(
                f"The destination copy {migration.destination_uid} of migration {migration.migration_id} "
                f"is {destination_item.item_state}"
            )
        removal = active_deletion(migration.destination_uid) if destination_item is not None else None
        if removal is not None:
            raise UnmetPreconditionForOperation(
                f"The destination copy {migration.destination_uid} of migration {migration.migration_id} is being "
                f"deleted (deletion {removal.deletion_id}, {removal.state})"
            )
        source = DataItem.objects.select_for_update().filter(uid=migration.source_uid).first()
        deletion = active_deletion(migration.source_uid) if source is not None else None
        if deletion is not None:
            raise being_deleted(deletion)
        if source is None or source.item_state != ItemState.READY:
            raise UnmetPreconditionForOperation(
                f"The source copy {migration.source_uid} is {source.item_state if source else 'gone'}, not READY"
            )
        ready = DataItem.objects.filter(
            oid=migration.oid, storage_id=migration.destination_storage_id, item_state=ItemState.READY
        ).first()
        if ready is not None:
            raise ValueAlreadyInDB(f"A READY copy of {migration.oid} is already on that storage: {ready.uid}")
        fields = _job_reset()
        if destination_item is None:  # removed when the job failed: a fresh destination copy
            uri = migration.destination_path or source.uri
            item_fields = _destination_fields(source, migration.destination_storage, uri, migration.user)
            destination_item = data_item_insert(fields=item_fields, storages_checked=True)
            fields["destination_uid"] = destination_item.uid
        try:
            with transaction.atomic():
                moved = transition(migration_id, to=JobState.QUEUED, from_states=RETRYABLE, **fields)
        except IntegrityError:
            conflict = _conflict(migration.oid, migration.destination_storage)
            if conflict is not None:
                raise conflict from None
            raise
        if not moved:  # the row is locked: only a mistake gets here
            raise TransitionRefused(f"Migration {migration_id} moved while it was locked")
        migration.refresh_from_db()
        DataItem.objects.filter(uid=destination_item.uid).update(item_state=ItemState.INITIALISED)
        copy_job_enqueue(migration.migration_id)
    return migration
