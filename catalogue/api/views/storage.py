"""``/storage``: locations, storages and their rclone remote definitions (contract §5)."""

from __future__ import annotations

from accounts.roles import Role
from catalogue import capacity, selectors, services
from catalogue.api.schemas import LOCATION_ROW, STORAGE_ROW
from catalogue.choices import ConfigType, LocationCountry, LocationType, PhaseType, StorageInterface, StorageType
from catalogue.models import Storage
from catalogue.rows import LOCATION_COLUMNS, STORAGE_COLUMNS
from catalogue.services.storages import storage_resolve
from core.actor import Via, acting_for_request, request_auth
from core.contract import Body, Param, operation, uuid_param
from core.paging import PAGING, page
from core.rows import rows
from core.schemas import BOOLEAN, OBJECT, STRING, list_of

TAG = "storage"

ACCESS_CHECK = {
    "type": "object",
    "properties": {
        "reachable": {"type": "boolean"},
        "error": {"type": "string", "nullable": True, "description": "rclone's reason, secrets masked"},
        "checked_at": {"type": "string", "format": "date-time", "description": "naive UTC, ISO-8601"},
    },
    "required": ["reachable", "error", "checked_at"],
}


@operation(
    "GET",
    "/storage/query_location_facility",
    operation_id="query_location_facility",
    role=Role.VIEWER,
    response=list_of(STRING),
    tag=TAG,
)
def query_location_facility(request) -> list[str]:
    """The facility ids a location may name."""
    return selectors.facility_list()


@operation(
    "GET", "/storage/get_ssh_public_key", operation_id="get_ssh_public_key", role=Role.VIEWER, response=STRING, tag=TAG
)
def get_ssh_public_key(request) -> str:
    """The SSH public key that storages should trust (the file named by SSH_PUBLIC_KEY_PATH)."""
    return services.ssh_public_key()


@operation(
    "GET",
    "/storage/query_location",
    operation_id="query_location",
    role=Role.VIEWER,
    params=(Param("location_name", default=""), uuid_param("location_id"), *PAGING),
    response=list_of(LOCATION_ROW),
    tag=TAG,
)
def query_location(request, *, location_name, location_id, limit, offset) -> list[dict]:
    """Locations by name (which wins over the id), by id, or all."""
    found = selectors.location_query(location_name=location_name, location_id=location_id)
    return rows(page(found, limit=limit, offset=offset), LOCATION_COLUMNS)


@operation(
    "POST",
    "/storage/init_location",
    operation_id="init_location",
    role=Role.ADMIN,
    params=(
        Param("location_name", required=True),
        Param("location_type", "enum", required=True, choices=LocationType),
        Param("location_country", "enum", choices=LocationCountry),
        Param("location_city", default=""),
        Param(
            "location_facility",
            default="",
            description="A facility's name, as query_location_facility lists them (for example `Pawsey Centre`).",
        ),
    ),
    response=STRING,
    tag=TAG,
)
def init_location(request, **values) -> str:
    """Create a location; answers its location_id."""
    return str(services.location_create(**values).location_id)


@operation(
    "POST",
    "/storage/init_storage",
    operation_id="init_storage",
    role=Role.ADMIN,
    params=(
        Param("storage_name", required=True),
        Param("storage_type", "enum", required=True, choices=StorageType),
        Param("root_directory", required=True),
        Param("storage_interface", "enum", required=True, choices=StorageInterface),
        uuid_param("location_id", description="Wins over location_name."),
        Param("location_name"),
        Param("storage_capacity", "int", default=-1),
        Param("storage_phase", "enum", default=PhaseType.GAS.value, choices=PhaseType),
    ),
    body=Body("storage_config", description="Optional: the whole storage row, replacing the query values."),
    response=STRING,
    tag=TAG,
)
def init_storage(request, *, storage_config, **values) -> str:
    """Create a storage at a location; answers its storage_id."""
    return str(services.storage_create(storage_config=storage_config, **values).storage_id)


@operation(
    "POST",
    "/storage/create_storage_config",
    operation_id="create_storage_config",
    role=Role.ADMIN,
    params=(
        uuid_param("storage_id"),
        Param("storage_name", default="", description="Wins over storage_id."),
        Param("config_type", "enum", default=ConfigType.RCLONE.value, choices=ConfigType),
    ),
    body=Body("config", required=True, description="The rclone remote: {name, type, parameters, root_path}."),
    response=STRING,
    tag=TAG,
)
def create_storage_config(request, *, config, **values) -> str:
    """Add a remote definition to a storage; answers its config_id. Secrets are stored encrypted.

    An rclone remote is tried first: one rclone cannot reach (wrong keys, endpoint down, missing
    bucket or directory) is refused with 422 UnmetPreconditionForOperation and rclone's reason,
    and nothing is stored.
    """
    return str(services.storage_config_create(config=config, **values).config_id)


@operation(
    "GET",
    "/storage/get_storage_config",
    operation_id="get_storage_config",
    role=Role.VIEWER,
    params=(
        uuid_param("storage_id"),
        Param("storage_name", default="", description="Wins over storage_id."),
        Param("config_type", "enum", default=ConfigType.RCLONE.value, choices=ConfigType),
        *PAGING,
    ),
    response=list_of(OBJECT),
    tag=TAG,
)
def get_storage_config(request, *, storage_id, storage_name, config_type, limit, offset) -> list[dict]:
    """The remote definitions of a storage (or of all storages), with every secret shown as "***".

    Unlike upstream, stored secrets are never returned.
    """
    storage = None
    if storage_name:
        storage = storage_resolve(storage_id=None, storage_name=storage_name)
    elif storage_id:
        storage = Storage.objects.filter(pk=storage_id).first()
        if storage is None:
            return []
    configs = selectors.storage_configs(storage=storage, config_type=config_type)
    return selectors.storage_configs_shown(page(configs, limit=limit, offset=offset))


@operation(
    "POST",
    "/storage/rclone_config",
    operation_id="create_rclone_config",
    role=Role.ADMIN,
    body=Body("config", required=True, description="The rclone remote: {name, type, parameters, root_path}."),
    response=BOOLEAN,
    tag=TAG,
)
def rclone_config(request, *, config) -> bool:
    """Check that rclone reaches a remote with this definition: true if so, false if not.

    Nothing is stored.
    """
    return services.rclone_config_try(config=config).reachable


@operation(
    "GET",
    "/storage/check_storage_access",
    operation_id="check_storage_access",
    role=Role.VIEWER,
    params=(Param("storage_name", default="", description="Wins over storage_id."), uuid_param("storage_id")),
    response=ACCESS_CHECK,
    tag=TAG,
)
def check_storage_access(request, *, storage_name, storage_id) -> dict:
    """Check now whether rclone reaches a storage's remote (not in upstream).

    Answers {reachable, error, checked_at}, and stores the outcome on the storage
    (storage_checked, storage_last_checked). A storage without an rclone config is unreachable.
    """
    storage = storage_resolve(storage_id=storage_id, storage_name=storage_name)
    # The contract sets an actor for changing methods only, and this GET records its outcome on
    # the storage: the audit trail says who checked (see ``storage_check_access``).
    with acting_for_request(request, auth=request_auth(request), via=Via.API, operation="check_storage_access"):
        return services.storage_check_access(storage=storage)


# A storage row with its remote definitions, as upstream's next version embeds them.
STORAGE_ROW_WITH_CONFIGS = {
    **STORAGE_ROW,
    "properties": {
        **STORAGE_ROW["properties"],
        "storage_config": {
            "type": "array",
            "items": {"type": "object", "properties": {"config": OBJECT}},
            "description": 'The storage\'s remote definitions (every type, oldest first), each secret shown as "***".',
        },
    },
}


@operation(
    "GET",
    "/storage/query_storage",
    operation_id="query_storage",
    role=Role.VIEWER,
    params=(Param("storage_name", default=""), uuid_param("storage_id"), *PAGING),
    response=list_of(STORAGE_ROW_WITH_CONFIGS),
    tag=TAG,
)
def query_storage(request, *, storage_name, storage_id, limit, offset) -> list[dict]:
    """Storages by name (which wins over the id), by id, or all; each row ends with its remote
    definitions under "storage_config", every secret shown as "***". ``storage_use_pct`` is the
    storage's use now: the sizes of its READY copies and of those on their way to it, in percent
    of ``storage_capacity`` (one decimal; 0 when the capacity is unknown)."""
    found = capacity.storages_with_use(selectors.storage_query(storage_name=storage_name, storage_id=storage_id))
    read = rows(page(found, limit=limit, offset=offset), STORAGE_COLUMNS + capacity.USE_COLUMNS)
    shown = capacity.rows_with_use_pct(read)
    return selectors.storage_configs_embedded(shown)
