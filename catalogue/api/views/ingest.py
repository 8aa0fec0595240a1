"""``/ingest``: creating data items (contract §6)."""

from __future__ import annotations

from accounts.roles import Role
from catalogue import services
from catalogue.choices import ChecksumMethod, ItemType, PhaseType
from core.contract import Body, Param, operation, uuid_param
from core.schemas import STRING, list_of

TAG = "ingest"


@operation(
    "POST",
    "/ingest/init_data_item",
    operation_id="init_data_item",
    role=Role.OPERATOR,
    params=(
        Param("item_name", description="When given, the body is ignored."),
        Param("uid_phase", "enum", default=PhaseType.GAS.value, choices=PhaseType),
    ),
    body=Body("json_data", description="Columns of the new data_item row (used when item_name is absent)."),
    response=STRING,
    tag=TAG,
)
def init_data_item(request, *, item_name, uid_phase, json_data) -> str:
    """Create an INITIALISED data item; answers its uid.

    ``item_owner`` is always the authenticated account, whatever the body says.
    """
    item = services.data_item_init(
        owner=request.user.get_username(), item_name=item_name, uid_phase=uid_phase, json_data=json_data
    )
    return str(item.uid)


_STORAGE_PARAMS = (
    Param("storage_name", default="", description="The storage holding the item (wins over storage_id)."),
    uuid_param("storage_id", description="The storage holding the item, by id."),
    Param(
        "do_storage_access_check",
        "bool",
        default=True,
        description="Check the bytes on the storage through rclone before registering.",
    ),
)


@operation(
    "POST",
    "/ingest/register_data_item",
    operation_id="register_data_item",
    role=Role.OPERATOR,
    params=(
        Param("item_name", required=True),
        Param(
            "uri",
            required=True,
            description="Path under the storage's root directory; a leading / stays under the root "
            "(no '..', control characters or backslashes).",
        ),
        Param("item_type", "enum", default=ItemType.FILE.value, choices=ItemType),
        Param("target_phase", "enum", default=PhaseType.SOLID.value, choices=PhaseType),
        Param("uid_expiration", "datetime", description="Default: now + 24 h. Naive values are UTC."),
        Param("oid_expiration", "datetime", description="Default: 2099-12-31 23:59:59. Naive values are UTC."),
        *_STORAGE_PARAMS[:2],
        uuid_param("parents", description="The uid of an existing item (e.g. the enclosing container)."),
        Param("item_size", "int", description="Bytes; with the access check it must match the storage."),
        Param("decompressed_size", "int"),
        _STORAGE_PARAMS[2],
        Param("checksum", description="DLM extension: the client's checksum, verified when rclone can compute it."),
        Param("checksum_method", "enum", choices=ChecksumMethod, description="DLM extension: the checksum's method."),
    ),
    body=Body("metadata", description="The item's metadata (a JSON object); uid and item_name are added."),
    response=STRING,
    tag=TAG,
)
def register_data_item(
    request,
    *,
    item_name,
    uri,
    item_type,
    target_phase,
    uid_expiration,
    oid_expiration,
    storage_name,
    storage_id,
    parents,
    item_size,
    decompressed_size,
    do_storage_access_check,
    checksum,
    checksum_method,
    metadata,
) -> str:
    """Register an item already on a storage, READY at once; answers its uid.

    The storage is named by `storage_name` or `storage_id` (one is required). `uri` is the
    item's path under the storage's root directory, stored as given: as upstream, a leading `/`
    stays under the root (`/a/b` on a storage rooted at `/data` is `/data/a/b`).

    With `do_storage_access_check` (the default) the storage must have an rclone config, and the
    bytes are checked through it before anything is written: a `file` (or `unknown`) item must be
    a file there, and its size (and md5, when the backend computes one) is recorded; a
    `container` item must be a directory tree holding files, its total size is recorded and its
    number of files is stored in the metadata under `"file_count"`. A given `item_size`, or
    `checksum` (with `checksum_method`, verified when rclone computes that method), must agree.
    `last_check` is set to the time of the check. Without the check the values are recorded as
    given and `last_check` stays null (unverified).

    The item is written in one transaction, with `item_owner` the authenticated account,
    `uid_phase` the storage's phase, and metadata = the body (or `{}`) plus `uid` and
    `item_name`. A name already registered on the storage is a 422 `ValueAlreadyInDB`.
    """
    item = services.data_item_register(
        owner=request.user.get_username(),
        item_name=item_name,
        uri=uri,
        storage_name=storage_name,
        storage_id=storage_id,
        item_type=item_type,
        target_phase=target_phase,
        uid_expiration=uid_expiration,
        oid_expiration=oid_expiration,
        parents=parents,
        item_size=item_size,
        decompressed_size=decompressed_size,
        checksum=checksum,
        checksum_method=checksum_method,
        do_storage_access_check=do_storage_access_check,
        metadata=metadata,
    )
    return str(item.uid)


_BULK_ITEM = {
    "type": "object",
    "required": ["item_name", "uri"],
    "additionalProperties": False,
    "properties": {
        "item_name": {"type": "string"},
        "uri": {"type": "string"},
        "item_type": {"type": "string", "enum": list(ItemType.values), "default": ItemType.FILE.value},
        "target_phase": {"type": "string", "enum": list(PhaseType.values), "default": PhaseType.SOLID.value},
        "item_size": {"type": "integer", "format": "int64"},
        "decompressed_size": {"type": "integer", "format": "int64"},
        "parents": {"type": "string", "format": "uuid"},
        "uid_expiration": {"type": "string", "format": "date-time"},
        "oid_expiration": {"type": "string", "format": "date-time"},
        "checksum": {"type": "string"},
        "checksum_method": {"type": "string", "enum": list(ChecksumMethod.values)},
        "metadata": {"type": "object", "additionalProperties": True},
    },
}


@operation(
    "POST",
    "/ingest/register_data_items",
    operation_id="register_data_items",
    role=Role.OPERATOR,
    params=_STORAGE_PARAMS,
    body=Body("items", required=True, array=True, schema={"type": "array", "items": _BULK_ITEM}),
    response=list_of(STRING),
    tag=TAG,
)
def register_data_items(request, *, storage_name, storage_id, do_storage_access_check, items) -> list[str]:
    """DLM extension: register many items on one storage at once; answers their uids in order.

    The body is a JSON array of objects, each with the values `register_data_item` takes as
    parameters (`item_name` and `uri` required) and its `metadata`. All the items are written
    in one transaction, or none: any problem (a bad value, an unknown parent, a name already on
    the storage or repeated in the list, an item not on the storage) is a 422 whose `detail`
    lists them, each located as `["body", <index>, <key>]`.

    With `do_storage_access_check` the files under the items' common directory are listed once
    through rclone (recursively), instead of one request per item; the checks are those of
    `register_data_item`.
    """
    created = services.data_items_register(
        owner=request.user.get_username(),
        items=items,
        storage_name=storage_name,
        storage_id=storage_id,
        do_storage_access_check=do_storage_access_check,
    )
    return [str(item.uid) for item in created]
