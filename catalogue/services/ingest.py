"""Registering data items that already sit on a storage (contract §6 I2, and its bulk form).

Upstream's ``register_data_item`` pings the remote, then makes four separate writes. Here the
bytes themselves are checked through rclone (when asked to: ``do_storage_access_check``) before
anything is written, and the item is then written in one insert, READY, with its location,
sizes, checksum and metadata: either the whole item exists or nothing was written. The check
through rclone is ``ingest_access``'s.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from catalogue import capacity
from catalogue.choices import ChecksumMethod, ItemState, ItemType, PhaseType
from catalogue.models import DataItem, Storage
from catalogue.services.data_items import data_items_insert
from catalogue.services.ingest_access import check_listed, check_one
from catalogue.services.storages import StorageForItem, storage_find, storage_find_for_item, storage_remote
from core import fastsql
from core import params as p
from core.errors import (
    FieldError,
    FieldErrors,
    InvalidQueryParameters,
    UnmetPreconditionForOperation,
    ValueAlreadyInDB,
)

# ChecksumMethod values rclone can compute (under the same name); others are stored unverified.
RCLONE_HASHES = frozenset({"md5", "sha1", "sha256", "sha512", "crc32", "xxh3"})
# Asked of rclone at registration beside md5 (and the method the caller named): where the backend
# computes it in the same read (a local disk does), it is recorded in ``hashes``, so that a large
# copy can later be verified by a hash far cheaper to compute than md5.
VERIFY_HASHES = ("xxh3",)
# The metadata key under which a verified container's number of files is recorded.
FILE_COUNT_KEY = "file_count"
# At most this many items in one bulk registration.
MAX_BULK_ITEMS = 10_000


@dataclass
class Registration:
    """One item to register, its values parsed, and what is refused in them (``errors``)."""

    item_name: str
    uri: str
    item_type: str = ItemType.FILE
    target_phase: str = PhaseType.SOLID
    uid_expiration: datetime | None = None
    oid_expiration: datetime | None = None
    parents: uuid.UUID | None = None
    item_size: int | None = None
    decompressed_size: int | None = None
    checksum: str | None = None
    checksum_method: str | None = None
    metadata: dict[str, Any] | None = None
    # An element of a list of items: the input holding the list, and the element's index in it.
    within: tuple[str, int] | None = None
    # Filled by the access check:
    checked: bool = False
    file_count: int | None = None
    hashes: dict[str, str] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)

    def error(self, name: str, msg: str, value: Any, kind: str = "value_error", ctx: dict | None = None) -> None:
        """Refuse the value of ``name``: the input itself, or its key in this element of a list."""
        if self.within is None:
            self.errors.append(FieldError(name, kind, msg, value, ctx=ctx))
        else:
            source, index = self.within
            self.errors.append(FieldError(source, kind, msg, value, at=(index, name), ctx=ctx))


def uri_problem(uri: str, name: str = "uri") -> str | None:
    """Why ``uri`` cannot name something inside a storage's root directory, or None.

    As upstream, a leading ``/`` (and any doubled ``/``) stays inside the root: the uri is joined
    under the storage's ``root_directory`` (``/a/b`` on a storage rooted at ``/data`` is
    ``/data/a/b``). What would leave the root, or is not a path, is refused. ``name`` is the
    parameter the messages speak of.
    """
    if not uri:
        return f"{name} cannot be empty"
    if "\x00" in uri:
        return f"{name} should not contain NUL characters"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in uri):
        return f"{name} should not contain control characters"
    if "\\" in uri:
        return f"{name} should not contain backslashes"
    if ".." in uri.split("/"):
        return f"{name} must not contain '..' segments (it would leave the storage's root directory)"
    if not uri.strip("/"):
        return f"{name} must name a path under the storage's root directory, not the root itself"
    return None


def _validate(reg: Registration) -> None:
    """Checks that need no database or storage; problems go to ``reg.errors``."""
    if not reg.item_name:
        reg.error("item_name", "item_name cannot be empty", reg.item_name, "string_too_short")
    elif len(reg.item_name) > DataItem._meta.get_field("item_name").max_length:
        reg.error("item_name", "String should have at most 1024 characters", reg.item_name, "string_too_long")
    problem = uri_problem(reg.uri)
    if problem:
        reg.error("uri", problem, reg.uri)
    elif len(reg.uri) > DataItem._meta.get_field("uri").max_length:
        reg.error("uri", "String should have at most 4096 characters", reg.uri, "string_too_long")
    for name in ("item_size", "decompressed_size"):
        value = getattr(reg, name)
        if value is not None and not 0 <= value < 2**63:
            reg.error(name, "Input should be between 0 and 2**63-1", value, "int_range")
    if reg.checksum and not reg.checksum_method:
        reg.error("checksum_method", "checksum_method is required with checksum", None, "missing")
    if reg.checksum_method and not reg.checksum:
        reg.error("checksum", "checksum is required with checksum_method", None, "missing")
    if reg.checksum and reg.checksum_method == ChecksumMethod.NONE:
        reg.error("checksum_method", "A checksum needs a method other than 'none'", reg.checksum_method)
    if reg.checksum and len(reg.checksum) > DataItem._meta.get_field("item_checksum").max_length:
        reg.error("checksum", "String should have at most 255 characters", reg.checksum, "string_too_long")
    if reg.checksum and reg.item_type == ItemType.CONTAINER:
        reg.error("checksum", "A container has no checksum", reg.checksum)


def _registered(storage: Storage, item_name: str) -> bool:
    """Whether ``item_name`` is registered on ``storage`` (cached SQL: every registration asks)."""
    return fastsql.exists(DataItem.objects.filter(storage_id=storage.pk, item_name=item_name))


def _names_registered(storage: Storage, names: set[str]) -> set[str]:
    """Which of ``names`` are registered on ``storage``. PostgreSQL takes the names as one array
    parameter: 10,000 placeholders cost its driver and planner more than the lookup (0.2 s)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT item_name FROM data_item WHERE storage_id = %s AND item_name = ANY(%s)",
                [storage.pk, list(names)],
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


def _check_duplicates(regs: list[Registration], storage: Storage, *, bulk: bool, taken: bool | None = None) -> None:
    """Refuse names registered on ``storage`` already (``taken``: whether a single item's is, when
    that was read with the storage)."""
    if not bulk:
        if _registered(storage, regs[0].item_name) if taken is None else taken:
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
        _validate(reg)
    _check_parents(regs)
    if not bulk:
        _raise_errors(regs)
    _check_duplicates(regs, storage, bulk=bulk, taken=found and found.name_taken)
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

_ENTRY_KEYS = (
    "item_name",
    "uri",
    "item_type",
    "target_phase",
    "item_size",
    "decompressed_size",
    "parents",
    "uid_expiration",
    "oid_expiration",
    "checksum",
    "checksum_method",
    "metadata",
)


def _entry(source: str, index: int, data: Any) -> Registration:
    """Element ``index`` of the list of items ``source``, parsed; its problems are in ``errors``,
    each at its index and key in ``source``."""
    reg = Registration(item_name="", uri="", within=(source, index))
    if not isinstance(data, dict):
        reg.errors.append(FieldError(source, "dict_type", "Input should be a valid dictionary", data, at=(index,)))
        return reg
    for key in data:
        if key not in _ENTRY_KEYS:
            reg.error(key, f"Unknown key '{key}'", data[key], "extra_forbidden")
    for key in ("item_name", "uri"):
        if key not in data:
            reg.error(key, "Field required", None, "missing")
    for key in _ENTRY_KEYS:
        value = data.get(key)
        if value is None:
            continue
        try:
            setattr(reg, key, _entry_value(key, value))
        except p.ParamError as exc:
            reg.error(key, exc.msg, value, exc.kind, exc.ctx)
    return reg


def _entry_value(key: str, value: Any) -> Any:
    if key in ("item_size", "decompressed_size"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise p.ParamError("int_type", "Input should be a valid integer")
        return value
    if key == "metadata":
        if not isinstance(value, dict):
            raise p.ParamError("dict_type", "Input should be a valid dictionary")
        return value
    if not isinstance(value, str):
        raise p.ParamError("string_type", "Input should be a valid string")
    choices = {"item_type": ItemType, "target_phase": PhaseType, "checksum_method": ChecksumMethod}
    if key in choices:
        return p.parse_enum(value, choices[key])
    if key == "parents":
        return p.parse_uuid(value)
    if key in ("uid_expiration", "oid_expiration"):
        return p.parse_datetime(value)
    return value


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
    regs = [_entry("items", index, data) for index, data in enumerate(items)]
    _raise_errors(regs)
    return _register(regs, owner=owner, storage=storage, do_storage_access_check=do_storage_access_check, bulk=True)
