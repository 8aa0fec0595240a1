"""``/request``: queries of the catalogue and the data-item setters (contract §7)."""

from __future__ import annotations

from accounts.roles import Role
from catalogue import selectors, services
from catalogue.api.schemas import DATA_ITEM_ROW
from catalogue.choices import ItemState, PhaseType
from catalogue.models import DataItem
from catalogue.rows import DATA_ITEM_COLUMNS
from core import params as p
from core.contract import Body, Param, operation, uuid_param
from core.errors import FieldError
from core.paging import PAGING, page
from core.rows import row_of, rows
from core.schemas import BOOLEAN, list_of, subset

TAG = "request"
IDENTIFIERS = (Param("item_name", default=""), uuid_param("oid"), uuid_param("uid"))


def _columns(*names: str) -> list[tuple[str, str]]:
    return [(name, name) for name in names]


EXPIRED_COLUMNS = _columns("uid", "uid_expiration", "item_type")
DELETED_COLUMNS = _columns("uid")
NEW_COLUMNS = _columns("uid", "item_name", "uid_creation", "storage_id")
ITEM_STORAGE_COLUMNS = _columns("oid", "uid", "item_name", "storage_id", "uri")
ITEM_STORAGE_ROW = subset(DATA_ITEM_ROW, [key for key, _ in ITEM_STORAGE_COLUMNS])


def _row(item: DataItem) -> dict:
    return row_of(item, DATA_ITEM_COLUMNS)


def _timestamp(name: str, raw: str):
    try:
        return p.parse_datetime(raw)
    except p.ParamError as exc:
        raise FieldError.unparsed(name, exc, raw) from None


def _fits(name: str, value: str, column: str) -> str:
    """A query value for a data_item text column, refused if too long (PostgreSQL: a 500)."""
    limit = DataItem._meta.get_field(column).max_length
    if limit is not None and len(value) > limit:
        raise FieldError(name, "string_too_long", f"String should have at most {limit} characters", value)
    return value


# --- queries --------------------------------------------------------------------------------


@operation(
    "GET",
    "/request/query_expired",
    operation_id="query_expired",
    role=Role.VIEWER,
    params=(
        Param("offset", "timedelta", description="Added to now: P1D, -PT1H, 01:00:00…"),
        Param("limit", "int", description=PAGING[0].description),
        Param("skip", "int", default=0, description="Skip this many rows (offset is taken)."),
    ),
    response=list_of(subset(DATA_ITEM_ROW, ["uid", "uid_expiration", "item_type"])),
    tag=TAG,
)
def query_expired(request, *, offset, limit, skip) -> list[dict]:
    """READY copies whose uid_expiration is before now + offset."""
    found = selectors.data_item_expired(offset=offset)
    return rows(page(found, limit=limit, offset=skip, offset_name="skip"), EXPIRED_COLUMNS)


@operation(
    "GET",
    "/request/query_deleted",
    operation_id="query_deleted",
    role=Role.VIEWER,
    params=(uuid_param("uid"), *PAGING),
    response=list_of(subset(DATA_ITEM_ROW, ["uid"])),
    tag=TAG,
)
def query_deleted(request, *, uid, limit, offset) -> list[dict]:
    """DELETED copies (or the one uid, if it is deleted)."""
    return rows(page(selectors.data_item_deleted(uid=uid), limit=limit, offset=offset), DELETED_COLUMNS)


@operation(
    "GET",
    "/request/query_new",
    operation_id="query_new",
    role=Role.VIEWER,
    params=(
        Param("check_date", required=True, description="ISO timestamp: items created after it."),
        uuid_param("uid"),
        *PAGING,
    ),
    response=list_of(subset(DATA_ITEM_ROW, ["uid", "item_name", "uid_creation", "storage_id"])),
    tag=TAG,
)
def query_new(request, *, check_date, uid, limit, offset) -> list[dict]:
    """READY GAS-phase copies created after check_date."""
    found = selectors.data_item_new(check_date=_timestamp("check_date", check_date), uid=uid)
    return rows(page(found, limit=limit, offset=offset), NEW_COLUMNS)


@operation(
    "GET",
    "/request/query_exists",
    operation_id="query_exists",
    role=Role.VIEWER,
    params=(*IDENTIFIERS, Param("ready", "bool", default=False)),
    response=BOOLEAN,
    tag=TAG,
)
def query_exists(request, *, item_name, oid, uid, ready) -> bool:
    """Whether an item named by uid > oid > item_name exists (and is READY, with ready=true)."""
    return selectors.data_item_exists(item_name=item_name, oid=oid, uid=uid, ready=ready)


@operation(
    "GET",
    "/request/query_exist_and_ready",
    operation_id="query_exists_and_ready",
    role=Role.VIEWER,
    params=IDENTIFIERS,
    response=BOOLEAN,
    tag=TAG,
)
def query_exist_and_ready(request, *, item_name, oid, uid) -> bool:
    """Whether a READY item named by uid > oid > item_name exists."""
    return selectors.data_item_exists(item_name=item_name, oid=oid, uid=uid, ready=True)


@operation(
    "GET",
    "/request/query_item_storage",
    operation_id="query_item_storage",
    role=Role.VIEWER,
    params=(*IDENTIFIERS, *PAGING),
    response=list_of(ITEM_STORAGE_ROW),
    tag=TAG,
)
def query_item_storage(request, *, item_name, oid, uid, limit, offset) -> list[dict]:
    """Where the READY copies of an item are: oid, uid, item_name, storage_id, uri."""
    found = selectors.data_item_storage(item_name=item_name, oid=oid, uid=uid)
    return rows(page(found, limit=limit, offset=offset), ITEM_STORAGE_COLUMNS)


@operation(
    "GET",
    "/request/query_data_item",
    operation_id="query_data_item",
    role=Role.VIEWER,
    params=(
        *IDENTIFIERS,
        uuid_param("storage_id"),
        Param("params", description='A JSON object of column filters, e.g. {"item_state": "READY"}.'),
        *PAGING,
    ),
    response=list_of(DATA_ITEM_ROW),
    tag=TAG,
)
def query_data_item(request, *, item_name, oid, uid, storage_id, params, limit, offset) -> list[dict]:
    """Data items by uid > oid > item_name, storage_id and column filters (all combined); all when none."""
    filters = selectors.data_item_params(params) if params else None
    found = selectors.data_item_query(item_name=item_name, oid=oid, uid=uid, storage_id=storage_id, params=filters)
    return rows(page(found, limit=limit, offset=offset), DATA_ITEM_COLUMNS)


# --- setters --------------------------------------------------------------------------------


@operation(
    "PATCH",
    "/request/update_data_item",
    operation_id="update_data_item",
    role=Role.OPERATOR,
    params=IDENTIFIERS,
    body=Body("post_data", description="Columns to set."),
    response=DATA_ITEM_ROW,
    tag=TAG,
)
def update_data_item(request, *, item_name, oid, uid, post_data) -> dict:
    """Set columns on every item named by uid > oid > item_name; answers the first row."""
    return _row(services.data_item_update(uid=uid, oid=oid, item_name=item_name, post_data=post_data))


@operation(
    "PATCH",
    "/request/set_uri",
    operation_id="set_uri",
    role=Role.OPERATOR,
    params=(uuid_param("uid", required=True), Param("uri", required=True), uuid_param("storage_id", required=True)),
    response=DATA_ITEM_ROW,
    tag=TAG,
)
def set_uri(request, *, uid, uri, storage_id) -> dict:
    """Set where a copy is: its uri and storage."""
    return _row(services.data_item_set(uid=uid, fields={"uri": _fits("uri", uri, "uri"), "storage_id": storage_id}))


@operation(
    "PATCH",
    "/request/set_metadata",
    operation_id="set_metadata",
    role=Role.OPERATOR,
    params=(uuid_param("uid", required=True),),
    body=Body("metadata_post", description="The new metadata."),
    response=DATA_ITEM_ROW,
    tag=TAG,
)
def set_metadata(request, *, uid, metadata_post) -> dict:
    """Replace a copy's metadata (no body: null)."""
    return _row(services.data_item_set(uid=uid, fields={"metadata": metadata_post}))


@operation(
    "PATCH",
    "/request/set_state",
    operation_id="set_state",
    role=Role.OPERATOR,
    params=(uuid_param("uid", required=True), Param("state", "enum", required=True, choices=ItemState)),
    response=DATA_ITEM_ROW,
    tag=TAG,
)
def set_state(request, *, uid, state) -> dict:
    """Set a copy's item_state."""
    return _row(services.data_item_set(uid=uid, fields={"item_state": state}))


@operation(
    "PATCH",
    "/request/set_oid_expiration",
    operation_id="set_oid_expiration",
    role=Role.OPERATOR,
    params=(uuid_param("oid", required=True), Param("expiration", required=True)),
    response=DATA_ITEM_ROW,
    tag=TAG,
)
def set_oid_expiration(request, *, oid, expiration) -> dict:
    """Set oid_expiration on every copy of an object; answers the first."""
    return _row(services.data_item_set(oid=oid, fields={"oid_expiration": _timestamp("expiration", expiration)}))


@operation(
    "PATCH",
    "/request/set_uid_expiration",
    operation_id="set_uid_expiration",
    role=Role.OPERATOR,
    params=(uuid_param("uid", required=True), Param("expiration", required=True)),
    response=DATA_ITEM_ROW,
    tag=TAG,
)
def set_uid_expiration(request, *, uid, expiration) -> dict:
    """Set a copy's uid_expiration (an offset, if given, is converted to UTC)."""
    return _row(services.data_item_set(uid=uid, fields={"uid_expiration": _timestamp("expiration", expiration)}))


@operation(
    "PATCH",
    "/request/set_user",
    operation_id="set_user",
    role=Role.OPERATOR,
    params=(uuid_param("oid"), uuid_param("uid"), Param("user", default="SKA")),
    response=DATA_ITEM_ROW,
    tag=TAG,
)
def set_user(request, *, oid, uid, user) -> dict:
    """Set item_owner of a copy (uid) or of every copy of an object (oid)."""
    return _row(services.data_item_set(uid=uid, oid=oid, fields={"item_owner": _fits("user", user, "item_owner")}))


@operation(
    "PATCH",
    "/request/set_group",
    operation_id="set_group",
    role=Role.OPERATOR,
    params=(uuid_param("oid"), uuid_param("uid"), Param("group", default="SKA")),
    response=DATA_ITEM_ROW,
    tag=TAG,
)
def set_group(request, *, oid, uid, group) -> dict:
    """Set item_group of a copy (uid) or of every copy of an object (oid)."""
    return _row(services.data_item_set(uid=uid, oid=oid, fields={"item_group": _fits("group", group, "item_group")}))


@operation(
    "PATCH",
    "/request/set_acl",
    operation_id="set_acl",
    role=Role.OPERATOR,
    params=(uuid_param("oid"), uuid_param("uid"), Param("acl", default="{}", description="A JSON object.")),
    response=DATA_ITEM_ROW,
    tag=TAG,
)
def set_acl(request, *, oid, uid, acl) -> dict:
    """Set the ACL (a JSON object, stored as one) of a copy (uid) or of every copy of an object (oid)."""
    return _row(services.data_item_set(uid=uid, oid=oid, fields={"acl": selectors.json_object("acl", acl)}))


@operation(
    "PATCH",
    "/request/set_phase",
    operation_id="set_phase",
    role=Role.OPERATOR,
    params=(uuid_param("uid", required=True), Param("phase", "enum", required=True, choices=PhaseType)),
    response=DATA_ITEM_ROW,
    tag=TAG,
)
def set_phase(request, *, uid, phase) -> dict:
    """Set a copy's uid_phase."""
    return _row(services.data_item_set(uid=uid, fields={"uid_phase": phase}))


@operation(
    "PATCH",
    "/request/update_item_tags",
    operation_id="update_item_tags",
    role=Role.OPERATOR,
    params=(Param("item_name", default=""), uuid_param("oid")),
    body=Body("item_tags", description="Tags to merge into the existing ones (new keys win)."),
    response=DATA_ITEM_ROW,
    tag=TAG,
)
def update_item_tags(request, *, item_name, oid, item_tags) -> dict:
    """Merge tags into an object's tags (named by oid > item_name), on all its copies."""
    return _row(services.data_item_update_tags(item_name=item_name, oid=oid, item_tags=item_tags))
