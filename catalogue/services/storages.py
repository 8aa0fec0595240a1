"""Storages and their rclone remote definitions."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from catalogue.choices import ConfigType
from catalogue.columns import clean_columns, validate_instance
from catalogue.models import Location, Storage, StorageConfig
from core import rclone
from core.crypto import SecretDecryptionError
from core.errors import (
    DatabaseOperationError,
    InvalidQueryParameters,
    ObjectNotFound,
    RequestValidationError,
    UnmetPreconditionForOperation,
    validation_error,
)
from core.rows import json_value
from core.secrets import join_secrets, split_secrets

# The keys an ``init_storage`` body must carry (upstream answered 200 "" without them).
STORAGE_BODY_KEYS = (
    "storage_name",
    "storage_type",
    "storage_interface",
    "location_id",
    "storage_capacity",
    "storage_phase",
    "root_directory",
)


def storage_create(
    *,
    storage_name: str,
    storage_type: str,
    storage_interface: str,
    root_directory: str,
    location_id: uuid.UUID | None = None,
    location_name: str | None = None,
    storage_capacity: int = -1,
    storage_phase: str = "GAS",
    body: dict[str, Any] | None = None,
) -> Storage:
    """Create a storage at a location (``location_id`` wins over ``location_name``).

    With a ``body``, the body's columns are the new row (as upstream), and must include every key
    of ``STORAGE_BODY_KEYS``.
    """
    if body is not None:
        missing = [key for key in STORAGE_BODY_KEYS if key not in body]
        if missing:
            raise RequestValidationError(
                [validation_error("missing", ["body", key], "Field required", None) for key in missing]
            )
        columns = clean_columns(Storage, body, read_only=frozenset({"storage_date"}))
    else:
        if not location_id and location_name:
            location_id = Location.objects.filter(location_name=location_name).values_list("pk", flat=True).first()
            if location_id is None:
                raise UnmetPreconditionForOperation(f"No location found with location_name={location_name!r}")
        columns = {
            "storage_name": storage_name,
            "storage_type": storage_type,
            "storage_interface": storage_interface,
            "root_directory": root_directory,
            "location_id": location_id,
            "storage_capacity": storage_capacity,
            "storage_phase": storage_phase,
        }
    if not columns.get("storage_name"):
        raise InvalidQueryParameters("storage_name cannot be empty")
    if not columns.get("location_id"):
        raise InvalidQueryParameters("Either location_id or location_name must name an existing location")
    if not Location.objects.filter(pk=columns["location_id"]).exists():
        raise DatabaseOperationError(
            'insert or update on table "storage" violates foreign key constraint: '
            f"location_id {columns['location_id']} does not exist"
        )
    duplicate = DatabaseOperationError(
        f"duplicate key value violates unique constraint: a storage named {columns['storage_name']!r} exists already"
    )
    if Storage.objects.filter(storage_name=columns["storage_name"]).exists():
        raise duplicate
    storage = Storage(**columns)
    validate_instance(storage, loc="body" if body is not None else "query")
    try:
        with transaction.atomic():
            storage.save(force_insert=True)
    except IntegrityError:
        raise duplicate from None
    return storage


def storage_find(*, storage_name: str = "", storage_id: uuid.UUID | None = None) -> Storage | None:
    """The storage named by ``storage_name`` (which wins over the id) or ``storage_id``, or None.
    Each operation words its own refusal, as upstream's did."""
    if storage_name:
        return Storage.objects.filter(storage_name=storage_name).first()
    if storage_id:
        return Storage.objects.filter(pk=storage_id).first()
    return None


def storage_resolve(*, storage_id: uuid.UUID | None, storage_name: str) -> Storage:
    """The storage named by name (which wins) or id; a clear 422 when there is none."""
    if not storage_name and not storage_id:
        raise UnmetPreconditionForOperation("Neither storage_id nor storage_name is specified.")
    storage = storage_find(storage_name=storage_name, storage_id=storage_id)
    if storage is None:
        if storage_name:
            raise UnmetPreconditionForOperation(f"Can't get storage_id for {storage_name}")
        raise UnmetPreconditionForOperation(f"No storage found with storage_id={storage_id}")
    return storage


def rclone_config_clean(config: dict[str, Any]) -> dict[str, Any]:
    """An rclone remote definition checked for shape, with ``root_path`` defaulted to ``/``."""
    errors = []
    for key in ("name", "type"):
        if not isinstance(config.get(key), str) or not config.get(key):
            errors.append(validation_error("missing", ["body", key], "A non-empty string is required", config.get(key)))
    if "parameters" in config and not isinstance(config["parameters"], dict):
        errors.append(
            validation_error(
                "dict_type", ["body", "parameters"], "Input should be a valid dictionary", config["parameters"]
            )
        )
    parameters = config.get("parameters")
    for key in parameters if isinstance(parameters, dict) else ():
        if not re.fullmatch(r"[A-Za-z0-9_]+", key):  # rclone reads each option from an env variable
            errors.append(
                validation_error(
                    "value_error", ["body", "parameters", key], "An rclone option name is letters, digits and _", key
                )
            )
    if "root_path" in config and not isinstance(config["root_path"], str):
        errors.append(validation_error("string_type", ["body", "root_path"], "Input should be a valid string", None))
    if errors:
        raise RequestValidationError(errors)
    return {**config, "root_path": config.get("root_path") or "/"}


def storage_config_create(
    *,
    config: dict[str, Any],
    storage_id: uuid.UUID | None = None,
    storage_name: str = "",
    config_type: str = ConfigType.RCLONE,
    check_remote: bool = True,
) -> StorageConfig:
    """Add a remote definition to a storage (``storage_name`` wins over ``storage_id``).

    An rclone definition is first tried (a stat of its ``root_path`` by rclone): a remote rclone
    cannot reach (wrong keys, endpoint down, missing bucket or directory) is refused with
    ``UnmetPreconditionForOperation`` carrying rclone's reason, secrets masked, and nothing is
    stored. ``check_remote=False`` skips that (the start-up bootstrap, which must not depend on a
    remote being up). Secret options are stored encrypted and apart from the rest of the definition.
    """
    storage = storage_resolve(storage_id=storage_id, storage_name=storage_name)
    if config_type == ConfigType.RCLONE:
        config = rclone_config_clean(config)
        if check_remote:
            reach = rclone.remote_reachable(config)
            if not reach.reachable:
                raise UnmetPreconditionForOperation(
                    f"Configuring rclone server failed! Remote {config['name']!r} is not reachable: {reach.error}"
                )
    public, secrets = split_secrets(config)
    return StorageConfig.objects.create(storage=storage, config_type=config_type, config=public, secrets=secrets)


def ssh_public_key() -> str:
    """The public key in the file named by ``SSH_PUBLIC_KEY_PATH``, stripped."""
    path = settings.SSH_PUBLIC_KEY_PATH
    if path is None:
        raise UnmetPreconditionForOperation("No SSH public key is configured (set SSH_PUBLIC_KEY_PATH)")
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        raise UnmetPreconditionForOperation("Unable to open SSH key") from None


def storage_remote(storage: Storage) -> dict[str, Any]:
    """The rclone remote definition of a storage, with its secrets: its first rclone config (as
    upstream, every reader takes the first). For rclone calls only: never show or log it."""
    return storage_remotes(storage)[0]


def storage_remotes(*storages: Storage) -> list[dict[str, Any]]:
    """``storage_remote`` of each storage, in order, read in one query."""
    first: dict[Any, StorageConfig] = {}
    wanted = {storage.pk for storage in storages}
    configs = StorageConfig.objects.filter(storage__in=wanted, config_type=ConfigType.RCLONE)
    for config in configs:  # in the model's order: the first of each storage wins
        first.setdefault(config.storage_id, config)
    remotes = []
    for storage in storages:
        config = first.get(storage.pk)
        if config is None:
            raise UnmetPreconditionForOperation(f"No valid configuration for storage found: {storage.storage_name}")
        remotes.append(join_secrets(config.config, config.secrets))
    return remotes


def storage_check_access(*, storage: Storage) -> dict[str, Any]:
    """Whether rclone reaches the storage's remote now (a stat of its ``root_path``).

    Answers ``{"reachable", "error", "checked_at"}`` (``error`` is rclone's reason, secrets masked,
    or why there is nothing to try; ``checked_at`` naive UTC ISO text) and stores the outcome on the
    storage as ``storage_checked`` and ``storage_last_checked``.
    """
    try:
        result = rclone.remote_reachable(storage_remote(storage))
    except (UnmetPreconditionForOperation, SecretDecryptionError) as exc:
        result = rclone.Reachability(False, str(exc))
    checked_at = timezone.now()
    Storage.objects.filter(pk=storage.pk).update(storage_checked=result.reachable, storage_last_checked=checked_at)
    storage.storage_checked, storage.storage_last_checked = result.reachable, checked_at
    return {"reachable": result.reachable, "error": result.error, "checked_at": json_value(checked_at)}


def _placed(config: dict[str, Any], path: list[str], value: Any) -> None:
    node = config
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def storage_config_update(
    *,
    config_id: uuid.UUID,
    config: dict[str, Any],
    secrets_kept: list[list[str]] | tuple[list[str], ...] = (),
    check_remote: bool = True,
) -> StorageConfig:
    """Replace a stored remote definition (its storage, type and date stay).

    ``config`` is the new definition, with new secret values where they change; each path in
    ``secrets_kept`` (e.g. ``["parameters", "secret_access_key"]``) takes the stored secret at that
    path, so that a caller never needs to read a secret to keep it. A kept path with no stored
    secret is refused. An rclone definition is tried first, as by ``storage_config_create``: a
    remote rclone cannot reach is refused with ``UnmetPreconditionForOperation`` carrying
    rclone's reason (secrets masked), and nothing is stored. If the row changed while the
    remote was being tried, the update is refused rather than overwriting that change.
    """
    row = StorageConfig.objects.defer("secrets").filter(pk=config_id).first()
    if row is None:
        raise ObjectNotFound(f"No storage config with config_id={config_id}")
    full = json.loads(json.dumps(config))  # a deep copy: the caller's dict stays as it was
    stored_raw = _secrets_ciphertext(config_id)
    if secrets_kept:
        stored = {tuple(path): value for path, value in (row.secrets or [])}
        for path in secrets_kept:
            if tuple(path) not in stored:
                raise InvalidQueryParameters(f"No stored secret at {'.'.join(path)} to keep")
            _placed(full, list(path), stored[tuple(path)])
    if row.config_type == ConfigType.RCLONE:
        full = rclone_config_clean(full)
        if check_remote:
            reach = rclone.remote_reachable(full)
            if not reach.reachable:
                raise UnmetPreconditionForOperation(
                    f"Configuring rclone server failed! Remote {full['name']!r} is not reachable: {reach.error}"
                )
    public, secrets = split_secrets(full)
    with transaction.atomic():
        current = StorageConfig.objects.select_for_update().defer("secrets").filter(pk=config_id).first()
        if current is None:
            raise ObjectNotFound(f"No storage config with config_id={config_id}")
        if current.config != row.config or _secrets_ciphertext(config_id) != stored_raw:
            raise UnmetPreconditionForOperation("The storage config was changed meanwhile: load it again")
        current.config, current.secrets = public, secrets
        current.save(update_fields=["config", "secrets"])
    return current


def _secrets_ciphertext(config_id: uuid.UUID) -> str | None:
    """The stored ciphertext of a config's secrets (a fresh encryption of the same secrets
    differs, so this says whether they were rewritten)."""
    rows = StorageConfig.objects.filter(pk=config_id).annotate(raw=Cast("secrets", TextField()))
    return rows.values_list("raw", flat=True).first()


def storage_config_check(*, config: StorageConfig) -> rclone.Reachability:
    """Whether rclone reaches a stored rclone remote definition now (a stat of its ``root_path``);
    the reason, secrets masked, when it does not or when its secrets cannot be decrypted."""
    if config.config_type != ConfigType.RCLONE:
        return rclone.Reachability(False, f"a {config.config_type} config is not an rclone remote")
    try:
        remote = join_secrets(config.config, config.secrets)
    except SecretDecryptionError as exc:
        return rclone.Reachability(False, str(exc))
    return rclone.remote_reachable(remote)
