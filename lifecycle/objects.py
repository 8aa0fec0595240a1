"""What the lifecycle knows of an object when it decides: every copy, where it is, whether it
counts, and what jobs are under way for it. Loaded for many objects at once (a few queries per
batch, whatever its size)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from catalogue.choices import ItemState, ItemType
from catalogue.models import DataItem
from catalogue.phases import combine, objects_lock
from migrations_app.choices import JobOrigin
from migrations_app.models import Deletion, Migration
from migrations_app.states import ACTIVE

COPY_COLUMNS = (
    "uid",
    "oid",
    "item_name",
    "item_type",
    "item_state",
    "storage_id",
    "storage__storage_name",
    "storage__storage_phase",
    "target_phase",
    "uid_creation",
    "uid_expiration",
    "oid_expiration",
    "item_size",
    "parents",
    "metadata",
    "expired",
    "uri",
)


@dataclass
class Copy:
    """One copy of an object, as the lifecycle sees it."""

    uid: uuid.UUID
    oid: uuid.UUID
    item_name: str | None
    item_type: str | None
    item_state: str | None
    storage_id: uuid.UUID | None
    storage_name: str | None
    storage_phase: str | None  # the storage's phase now (not the copy's recorded ``uid_phase``)
    target_phase: str | None
    uid_creation: datetime
    uid_expiration: datetime | None
    oid_expiration: datetime | None
    item_size: int | None
    parents: uuid.UUID | None
    metadata: dict | None
    expired: bool | None
    uri: str | None
    deletion_id: int | None = None  # an active deletion is removing it
    written_by: int | None = None  # an active copy job is writing it (its migration_id)

    @property
    def counts(self) -> bool:
        """It gives its object resilience: READY (verified: a copy job makes a copy READY only
        once its bytes are checked), on a storage, and not being deleted."""
        return self.item_state == ItemState.READY and self.storage_id is not None and self.deletion_id is None

    @property
    def container(self) -> bool:
        return self.item_type == ItemType.CONTAINER

    def describe(self) -> str:
        return f"{self.uid} on {self.storage_name or 'no storage'}"


@dataclass
class PendingCopy:
    migration_id: int
    destination_id: uuid.UUID
    origin: str
    state: str
    reason: str
    cancel_requested: bool = False
    source_uid: uuid.UUID | None = None


@dataclass
class ObjectState:
    """An object: its copies (DELETED ones left out) and the copy jobs under way to it."""

    oid: uuid.UUID
    copies: list[Copy] = field(default_factory=list)
    pending: list[PendingCopy] = field(default_factory=list)
    # Storages where its name is taken by another row (a deleted copy's tombstone, another item):
    # a copy cannot be registered there under the name (one name per storage).
    name_taken: set[uuid.UUID] = field(default_factory=set)

    @property
    def counted(self) -> list[Copy]:
        return [copy for copy in self.copies if copy.counts]

    @property
    def phase(self) -> str:
        """Its phase now, from the copies that count."""
        return combine(copy.storage_phase for copy in self.counted)

    def phase_without(self, uid: uuid.UUID) -> str:
        """Its phase were the copy ``uid`` gone."""
        return combine(copy.storage_phase for copy in self.counted if copy.uid != uid)

    @property
    def target(self) -> str | None:
        """Its target phase (every copy carries the same; the first READY one's wins otherwise)."""
        for copy in self.counted or self.copies:
            if copy.target_phase:
                return copy.target_phase
        return None

    @property
    def newest(self) -> datetime | None:
        return max((copy.uid_creation for copy in self.copies), default=None)

    @property
    def name(self) -> str:
        for copy in self.copies:
            if copy.item_name:
                return copy.item_name
        return ""

    def holds_on(self) -> set[uuid.UUID]:
        """The storages that hold a copy of it, or have one on its way there."""
        held = {copy.storage_id for copy in self.copies if copy.storage_id is not None}
        return held | {job.destination_id for job in self.pending}

    @property
    def lifecycle_copy(self) -> PendingCopy | None:
        """The copy job under way that the lifecycle asked for (at most one at a time)."""
        return next((job for job in self.pending if job.origin == JobOrigin.LIFECYCLE), None)


def objects_load(oids: Iterable[uuid.UUID], *, lock: bool = False) -> dict[uuid.UUID, ObjectState]:
    """The objects ``oids``, each with its copies that are not DELETED and its copy jobs under way.
    ``lock``: their rows are locked until the transaction ends, in the order every writer of an
    object's rows keeps (``catalogue.phases.objects_lock``)."""
    oids = list(dict.fromkeys(oids))
    objects = {oid: ObjectState(oid) for oid in oids}
    if not oids:
        return objects
    rows = DataItem.objects.filter(oid__in=oids).exclude(item_state=ItemState.DELETED)
    if lock:
        objects_lock(oids)
    copies = [Copy(*values) for values in rows.order_by("uid").values_list(*COPY_COLUMNS)]
    by_uid = {copy.uid: copy for copy in copies}
    for uid, deletion_id in Deletion.objects.filter(uid__in=list(by_uid), state__in=ACTIVE).values_list(
        "uid", "deletion_id"
    ):
        by_uid[uid].deletion_id = deletion_id
    jobs = Migration.objects.filter(oid__in=oids, state__in=ACTIVE).values_list(
        "migration_id", "oid", "destination_uid", "destination_storage_id", "origin", "state", "reason",
        "cancel_requested", "source_uid",
    )  # fmt: skip
    for migration_id, oid, destination_uid, destination_id, origin, state, reason, cancelling, source_uid in jobs:
        if destination_uid in by_uid:
            by_uid[destination_uid].written_by = migration_id
        objects[oid].pending.append(
            PendingCopy(migration_id, destination_id, origin, state, reason, cancelling, source_uid)
        )
    for copy in copies:
        objects[copy.oid].copies.append(copy)
    names = {obj.name: obj for obj in objects.values() if obj.name}
    if names:
        rows = DataItem.objects.filter(item_name__in=list(names), storage__isnull=False)
        for name, storage_id, uid in rows.values_list("item_name", "storage_id", "uid"):
            if uid not in by_uid:
                names[name].name_taken.add(storage_id)
    return objects
