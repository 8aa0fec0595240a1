"""A storage's rclone remote definitions: checked for shape, tried against the remote, stored
with their secrets encrypted apart, read back for rclone, and used to check the storage's access."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from catalogue.choices import ConfigType
from catalogue.models import DataItem, Storage, StorageConfig
from catalogue.phases import lifecycle_holds_release
from catalogue.services.storages.storage import STORAGE_ATTRS, storage_resolve
from core import fastsql, rclone
from core.crypto import SecretDecryptionError, decrypt_json
from core.errors import (
    FieldError,
    FieldErrors,
    InvalidQueryParameters,
    ObjectNotFound,
    UnmetPreconditionForOperation,
)
from core.rows import json_value
from core.secrets import join_secrets, split_secrets


def rclone_config_clean(config: dict[str, Any]) -> dict[str, Any]:
    """An rclone remote definition checked for shape, with ``root_path`` defaulted to ``/``.

    Each refused part is a ``FieldError`` of the field ``config``, at the part's key."""
    errors = []
    for key in ("name", "type"):
        if not isinstance(config.get(key), str) or not config.get(key):
            errors.append(FieldError("config", "missing", "A non-empty string is required", config.get(key), at=(key,)))
    if "parameters" in config and not isinstance(config["parameters"], dict):
        errors.append(
            FieldError(
                "config", "dict_type", "Input should be a valid dictionary", config["parameters"], at=("parameters",)
            )
        )
    parameters = config.get("parameters")
    for key in parameters if isinstance(parameters, dict) else ():
        if not re.fullmatch(r"[A-Za-z0-9_]+", key):  # rclone reads each option from an env variable
            message = "An rclone option name is letters, digits and _"
            errors.append(FieldError("config", "value_error", message, key, at=("parameters", key)))
    if "root_path" in config and not isinstance(config["root_path"], str):
        errors.append(FieldError("config", "string_type", "Input should be a valid string", None, at=("root_path",)))
    if errors:
        raise FieldErrors(errors)
    return {**config, "root_path": config.get("root_path") or "/"}


def rclone_config_try(*, config: dict[str, Any]) -> rclone.Reachability:
    """Whether rclone reaches a remote with this definition now (a stat of its ``root_path``), and
    its reason (secrets masked) when not. The definition is checked for shape first; nothing is
    stored."""
    return rclone.remote_reachable(rclone_config_clean(config))


def _reachable_or_refused(config: dict[str, Any]) -> None:
    """Try a cleaned definition: one rclone cannot reach is refused, with rclone's reason."""
    reach = rclone.remote_reachable(config)
    if not reach.reachable:
        raise UnmetPreconditionForOperation(
            f"Configuring rclone server failed! Remote {config['name']!r} is not reachable: {reach.error}",
            field="config",
        )


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
            _reachable_or_refused(config)
    public, secrets = split_secrets(config)
    created = StorageConfig.objects.create(storage=storage, config_type=config_type, config=public, secrets=secrets)
    lifecycle_holds_release()  # the storage can take copies now
    return created


def storage_remote(storage: Storage) -> dict[str, Any]:
    """The rclone remote definition of a storage, with its secrets: its first rclone config (as
    upstream, every reader takes the first). For rclone calls only: never show or log it."""
    rows = fastsql.fetch(  # cached SQL: every checked registration asks
        StorageConfig.objects.filter(storage_id=storage.pk, config_type=ConfigType.RCLONE)[:1], ["config", "secrets"]
    )
    if not rows:  # not a simple query after all, or no config: storage_remotes answers, or refuses
        return storage_remotes(storage)[0]
    return join_secrets(*rows[0])


@dataclass(frozen=True)
class StorageForItem:
    """A storage as ``storage_find`` finds it, with what a registration of one item asks of it
    beside: whether the name is taken there, and (when asked for) its first rclone config."""

    storage: Storage
    name_taken: bool
    config: dict[str, Any] | None = None
    secrets_token: str | None = field(default=None, repr=False)  # still encrypted

    def remote(self) -> dict[str, Any]:
        """``storage_remote`` of the storage: its secrets are decrypted here, when needed."""
        if self.config is None:  # none read (or none there: storage_remote refuses in its words)
            return storage_remote(self.storage)
        return join_secrets(self.config, None if self.secrets_token is None else decrypt_json(self.secrets_token))


# ``storage_find_for_item``'s statements, by (database vendor, found by name, with the config).
_FOR_ITEM: dict[tuple[str, bool, bool], str] = {}


def storage_find_for_item(
    *, storage_name: str = "", storage_id: uuid.UUID | None = None, item_name: str, with_remote: bool
) -> StorageForItem | None:
    """``storage_find``, whether ``item_name`` is registered on that storage and, ``with_remote``,
    its first rclone config (its secrets still encrypted), in one statement: a registration asks
    all three, and three statements cost it a third of its time in the database's round trips and
    Django's building of each query."""
    by_name = bool(storage_name)
    if not by_name and not storage_id:
        return None
    key = (connection.vendor, by_name, with_remote)
    sql = _FOR_ITEM.get(key)
    if sql is None:
        sql = _FOR_ITEM[key] = _for_item_sql(by_name, with_remote)
    params: list[Any] = [item_name]
    if with_remote:
        params.append(ConfigType.RCLONE.value)
    params.append(storage_name if by_name else Storage._meta.pk.get_db_prep_value(storage_id, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        record = cursor.fetchone()
    if record is None:
        return None
    count = len(STORAGE_ATTRS)
    storage = Storage.from_db(connection.alias, STORAGE_ATTRS, _converted(Storage, STORAGE_ATTRS, record[:count]))
    taken, config, token = record[count:]
    if config is not None:
        (config,) = _converted(StorageConfig, ["config"], (config,))
    return StorageForItem(storage, bool(taken), config, token)


def _converted(model, attrs: list[str], values: tuple) -> tuple:
    """``values`` of ``attrs`` as the ORM gives them."""
    return fastsql.convert([values], fastsql.column_converters(model, attrs, connection), connection)[0]


def _for_item_sql(by_name: bool, with_remote: bool) -> str:
    quote = connection.ops.quote_name
    fields = {field.attname: field.column for field in Storage._meta.concrete_fields}
    columns = ", ".join(f"s.{quote(fields[attr])}" for attr in STORAGE_ATTRS)
    storages, items, configs = (quote(model._meta.db_table) for model in (Storage, DataItem, StorageConfig))
    # The name's own index, whatever PostgreSQL's statistics of the table say: before it had first
    # analysed a new table, it took the (storage_id, uri) index here and read every row of the
    # storage (0.6 ms a registration at 2,000 items, growing with them). Storage ids compared as
    # text leave it only the indexes that lead with the name.
    text = connection.vendor == "postgresql"
    same_storage = "d.storage_id::text = s.storage_id::text" if text else "d.storage_id = s.storage_id"
    taken = f"EXISTS (SELECT 1 FROM {items} d WHERE d.item_name = %s AND {same_storage})"
    sql = f"SELECT {columns}, {taken}, "
    if with_remote:
        first = (
            f"SELECT c2.config_id FROM {configs} c2 WHERE c2.storage_id = s.storage_id AND c2.config_type = %s"
            " ORDER BY c2.config_date, c2.config_id LIMIT 1"
        )
        sql += f"c.config, c.secrets FROM {storages} s LEFT JOIN {configs} c ON c.config_id = ({first})"
    else:
        sql += f"NULL, NULL FROM {storages} s"
    return sql + f" WHERE s.{'storage_name' if by_name else 'storage_id'} = %s LIMIT 1"


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

    A check is a write, on purpose: the storage lists and pages show when a storage was last
    checked and whether it was reachable then, whoever checked it, and ``query_storage`` answers
    those columns. So it is recorded in the audit trail like any other change, under the actor
    the caller has set (the API's GET sets one for this operation; the web UI and the admin check
    by POST); the start-up bootstrap sets none, and its checks are not recorded.
    """
    try:
        result = rclone.remote_reachable(storage_remote(storage))
    except (UnmetPreconditionForOperation, SecretDecryptionError) as exc:
        result = rclone.Reachability(False, str(exc))
    checked_at = timezone.now()
    Storage.objects.filter(pk=storage.pk).update(storage_checked=result.reachable, storage_last_checked=checked_at)
    if result.reachable and not storage.storage_checked:
        lifecycle_holds_release()  # reachable again: it can take copies
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
        raise ObjectNotFound(f"No storage config with config_id={config_id}", field="config_id")
    full = json.loads(json.dumps(config))  # a deep copy: the caller's dict stays as it was
    stored_raw = _secrets_ciphertext(config_id)
    if secrets_kept:
        try:
            stored = {tuple(path): value for path, value in (row.secrets or [])}
        except SecretDecryptionError as exc:
            raise UnmetPreconditionForOperation(str(exc), field="secrets_kept") from None
        for path in secrets_kept:
            if tuple(path) not in stored:
                raise InvalidQueryParameters(f"No stored secret at {'.'.join(path)} to keep", field="secrets_kept")
            _placed(full, list(path), stored[tuple(path)])
    if row.config_type == ConfigType.RCLONE:
        full = rclone_config_clean(full)
        if check_remote:
            _reachable_or_refused(full)
    public, secrets = split_secrets(full)
    with transaction.atomic():
        current = StorageConfig.objects.select_for_update().defer("secrets").filter(pk=config_id).first()
        if current is None:
            raise ObjectNotFound(f"No storage config with config_id={config_id}", field="config_id")
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


def storage_config_delete(*, config_id: uuid.UUID) -> None:
    """Delete a stored remote definition (a storage's first rclone one is its remote: the next,
    if any, takes its place)."""
    deleted, _ = StorageConfig.objects.filter(pk=config_id).delete()
    if not deleted:
        raise ObjectNotFound(f"No storage config with config_id={config_id}", field="config_id")
