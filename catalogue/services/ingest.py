"""Registering data items that already sit on a storage (contract §6 I2, and its bulk form).

Upstream's ``register_data_item`` pings the remote, then makes four separate writes. Here the
bytes themselves are checked through rclone (when asked to: ``do_storage_access_check``) before
anything is written, and the item is then written in one insert, READY, with its location,
sizes, checksum and metadata: either the whole item exists or nothing was written. The check
through rclone is ``ingest_access``'s; the values of an item, and their checks that need no
database or storage, are ``registrations``'.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from catalogue import capacity
from catalogue.choices import ChecksumMethod, ItemState, ItemType, PhaseType
from catalogue.models import DataItem, Storage
from catalogue.services.data_items import data_items_insert
from catalogue.services.ingest_access import check_listed, check_one
from catalogue.services.registrations import (
    FILE_COUNT_KEY,
    MAX_BULK_ITEMS,
    RCLONE_HASHES,
    VERIFY_HASHES,
    Registration,
    entry,
    validate,
)
from catalogue.services.storages import StorageForItem, storage_find, storage_find_for_item, storage_remote
from core.errors import (
    FieldError,
    FieldErrors,
    InvalidQueryParameters,
    UnmetPreconditionForOperation,
    ValueAlreadyInDB,
)
from core.gcpause import collector_paused


def _names_registered(storage: Storage, names: set[str]) -> set[str]:
    """Which of ``names`` are registered on ``storage``. PostgreSQL takes the names as one array
    parameter: 10,000 placeholders cost its driver and planner more than the lookup (0.2 s). The
    storage id compared as text leaves it only the indexes that lead with the name: before it had
    first analysed a new table, it read every item of the storage instead."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT item_name FROM data_item WHERE item_name = ANY(%s) AND storage_id::text = %s",
                [list(names), str(storage.pk)],
            )
            return {name for (name,) in cursor.fetchall()}
    found = DataItem.objects.filter(storage=storage, item_name__in=names).order_by()  # a set: no order to pay for
    return set(found.values_list("item_name", flat=True))


def _resolve_storage(storage_name: str, storage_id: uuid.UUID | None) -> Storage:
    """The storage named by name (which wins) or id (upstream used the first storage without
    either), if it takes registrations."""
    _require_storage(storage_name, storage_id)
    return _taking(storage_find(storage_name=storage_name, storage_id=storage_id), storage_name, storage_id)


def _resolve_for_item(
    storage_name: str, storage_id: uuid.UUID | None, item_name: str, *, with_remote: bool
) -> StorageForItem:
    """``_resolve_storage``, with whether ``item_name`` is registered there and (``with_remote``)
    its rclone config read in the same statement."""
    _require_storage(storage_name, storage_id)
    found = storage_find_for_item(
        storage_name=storage_name, storage_id=storage_id, item_name=item_name, with_remote=with_remote
    )
    _taking(found and found.storage, storage_name, storage_id)
    return found


def _require_storage(storage_name: str, storage_id: uuid.UUID | None) -> None:
    if not storage_name and not storage_id:
        raise InvalidQueryParameters("Either storage_name or storage_id must be given", field="storage_name")


def _taking(storage: Storage | None, storage_name: str, storage_id: uuid.UUID | None) -> Storage:
    """``storage`` if it takes registrations; the refusal naming what the caller gave, if not."""
    if storage is None:
        raise UnmetPreconditionForOperation(
            f"No storages found for storage_name='{storage_name}', storage_id='{storage_id or ''}'",
            field="storage_name" if storage_name else "storage_id",
        )
    # Above its high watermark a storage takes no registrations (free of cost when its capacity
    # is unknown). The bytes are there already: the measured free space does not count.
    refusal = capacity.storage_room_refusal(storage)
    if refusal:
        raise UnmetPreconditionForOperation(refusal, field="storage_name" if storage_name else "storage_id")
    return storage


def _check_parents(regs: list[Registration]) -> None:
    wanted = {reg.parents for reg in regs if reg.parents is not None}
    if not wanted:
        return
    known = set(DataItem.objects.filter(uid__in=wanted).values_list("uid", flat=True))
    for reg in regs:
        if reg.parents is not None and reg.parents not in known:
            msg = f"No data item with uid={reg.parents} (parents must be an existing uid)"
            reg.error("parents", msg, str(reg.parents))


def _check_duplicates(regs: list[Registration], storage: Storage, *, bulk: bool, taken: bool) -> None:
    """Refuse names registered on ``storage`` already (``taken``: whether a single item's is, read
    with its storage)."""
    if not bulk:
        if taken:
            raise ValueAlreadyInDB(f"Item is already registered on storage! {regs[0].item_name}", field="item_name")
        return
    registered = _names_registered(storage, {reg.item_name for reg in regs})
    seen: set[str] = set()
    for reg in regs:
        if not bulk and reg.item_name in registered:
            raise ValueAlreadyInDB(f"Item is already registered on storage! {reg.item_name}", field="item_name")
        if reg.item_name in registered or reg.item_name in seen:
            msg = f"Item is already registered on storage! {reg.item_name}"
            reg.error("item_name", msg, reg.item_name, "value_already_in_db")
        seen.add(reg.item_name)


def _hash_names(regs: list[Registration]) -> tuple[str, ...]:
    names = {"md5", *VERIFY_HASHES} | {reg.checksum_method for reg in regs if reg.checksum_method in RCLONE_HASHES}
    return tuple(sorted(names))


def _fields(reg: Registration, storage: Storage, owner: str, checked_at: datetime | None) -> dict[str, Any]:
    uid = uuid.uuid4()
    metadata = dict(reg.metadata or {})
    if reg.file_count is not None:
        metadata[FILE_COUNT_KEY] = reg.file_count
    metadata.update(uid=str(uid), item_name=reg.item_name)
    fields: dict[str, Any] = {
        "uid": uid,
        "item_name": reg.item_name,
        "storage_id": storage.storage_id,
        "uri": reg.uri,
        "uid_phase": storage.storage_phase,
        "oid_phase": storage.storage_phase,  # a new object, with this one READY copy
        "target_phase": reg.target_phase,
        "item_type": reg.item_type,
        "item_state": ItemState.READY,
        "item_owner": owner,
        "parents": reg.parents,
        "item_size": reg.item_size,
        "decompressed_size": reg.decompressed_size,
        "item_checksum": reg.checksum,
        "checksum_method": reg.checksum_method or ChecksumMethod.NONE,
        "last_check": checked_at if reg.checked else None,
        "metadata": metadata,
        "hashes": reg.hashes,
    }
    if reg.uid_expiration is not None:
        fields["uid_expiration"] = reg.uid_expiration
    if reg.oid_expiration is not None:
        fields["oid_expiration"] = reg.oid_expiration
    return fields


def _register(
    regs: list[Registration],
    *,
    owner: str,
    storage: Storage,
    do_storage_access_check: bool,
    bulk: bool,
    found: StorageForItem | None = None,
) -> list[DataItem]:
    """Check and insert ``regs``; ``found``: what was read with a single item's storage."""
    for reg in regs:
        validate(reg)
    _check_parents(regs)
    if not bulk:
        _raise_errors(regs)
    _check_duplicates(regs, storage, bulk=bulk, taken=found is not None and found.name_taken)
    _raise_errors(regs)
    checked_at = None
    if do_storage_access_check:
        config = found.remote() if found else storage_remote(storage)
        if bulk:
            check_listed(regs, storage, config, hashes=_hash_names(regs))
        else:
            check_one(regs[0], storage, config, hashes=_hash_names(regs))
            if regs[0].errors:  # the contract's shape for a storage that does not hold the item
                raise _not_held(regs[0].errors)
        _raise_errors(regs)
        checked_at = timezone.now()
    rows = [_fields(reg, storage, owner, checked_at) for reg in regs]
    return data_items_insert(rows=rows, storages_checked=True)


def _not_held(errors: list[FieldError]) -> UnmetPreconditionForOperation:
    """What the access check refused in a single registration, as one error (naming its field,
    when all the refusals are about one)."""
    fields = {error.field for error in errors}
    return UnmetPreconditionForOperation(
        "; ".join(error.message for error in errors), field=fields.pop() if len(fields) == 1 else None
    )


def _raise_errors(regs: list[Registration]) -> None:
    errors = [error for reg in regs for error in reg.errors]
    if errors:
        raise FieldErrors(errors)


def data_item_register(
    *,
    owner: str,
    item_name: str,
    uri: str,
    storage_name: str = "",
    storage_id: uuid.UUID | None = None,
    item_type: str = ItemType.FILE,
    target_phase: str = PhaseType.SOLID,
    uid_expiration: datetime | None = None,
    oid_expiration: datetime | None = None,
    parents: uuid.UUID | None = None,
    item_size: int | None = None,
    decompressed_size: int | None = None,
    checksum: str | None = None,
    checksum_method: str | None = None,
    do_storage_access_check: bool = True,
    metadata: dict[str, Any] | None = None,
) -> DataItem:
    """Register an item that sits at ``uri`` under a storage's root directory; READY at once.

    With ``do_storage_access_check`` the bytes are checked through the storage's rclone remote
    first: a file must be there (its size and md5, when the backend has one, are recorded, and a
    given size or checksum must agree); a container's tree must hold files (its total size is
    recorded, its file count under ``metadata["file_count"]``); ``last_check`` is set. Without
    it, the values are recorded as given and ``last_check`` stays null (unverified).
    """
    found = _resolve_for_item(storage_name, storage_id, item_name, with_remote=do_storage_access_check)
    reg = Registration(
        item_name=item_name,
        uri=uri,
        item_type=item_type,
        target_phase=target_phase,
        uid_expiration=uid_expiration,
        oid_expiration=oid_expiration,
        parents=parents,
        item_size=item_size,
        decompressed_size=decompressed_size,
        checksum=checksum or None,
        checksum_method=checksum_method or None,
        metadata=metadata,
    )
    checked, storage = do_storage_access_check, found.storage
    return _register([reg], owner=owner, storage=storage, do_storage_access_check=checked, bulk=False, found=found)[0]


# --- bulk -------------------------------------------------------------------------------------


def data_items_register(
    *,
    owner: str,
    items: list[Any],
    storage_name: str = "",
    storage_id: uuid.UUID | None = None,
    do_storage_access_check: bool = True,
) -> list[DataItem]:
    """Register many items on one storage at once: all of them, or none.

    Each element of ``items`` is an object with the keys of ``register_data_item``'s parameters
    (``item_name`` and ``uri`` required) and ``metadata``. The access check lists the files under
    the items' common directory once (recursively) instead of asking for each item.
    """
    storage = _resolve_storage(storage_name, storage_id)
    if not items:
        raise FieldError("items", "too_short", "At least one item is required", [])
    if len(items) > MAX_BULK_ITEMS:
        raise FieldError("items", "too_long", f"At most {MAX_BULK_ITEMS} items at once", None)
    with collector_paused():  # tens of objects an item, all kept to the end (core/gcpause.py)
        regs = [entry("items", index, data) for index, data in enumerate(items)]
        _raise_errors(regs)
        return _register(regs, owner=owner, storage=storage, do_storage_access_check=do_storage_access_check, bulk=True)
