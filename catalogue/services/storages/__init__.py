"""Storages and their rclone remote definitions: the storage rows (``storage``) and their remotes
(``remotes``), one name space for their callers."""

from catalogue.services.storages.remotes import (
    StorageForItem,
    rclone_config_clean,
    rclone_config_try,
    storage_check_access,
    storage_config_check,
    storage_config_create,
    storage_config_delete,
    storage_config_update,
    storage_find_for_item,
    storage_remote,
    storage_remotes,
)
from catalogue.services.storages.storage import (
    STORAGE_BODY_KEYS,
    ssh_public_key,
    storage_create,
    storage_delete,
    storage_delete_check,
    storage_find,
    storage_resolve,
    storage_update,
)

__all__ = [
    "STORAGE_BODY_KEYS",
    "StorageForItem",
    "rclone_config_clean",
    "rclone_config_try",
    "ssh_public_key",
    "storage_check_access",
    "storage_config_check",
    "storage_config_create",
    "storage_config_delete",
    "storage_config_update",
    "storage_create",
    "storage_delete",
    "storage_delete_check",
    "storage_find",
    "storage_find_for_item",
    "storage_remote",
    "storage_remotes",
    "storage_resolve",
    "storage_update",
]
