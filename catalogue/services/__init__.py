"""Writes to the catalogue. The API, the web UI, the admin and the jobs all call these."""

from catalogue.services.data_items import (
    data_item_init,
    data_item_insert,
    data_item_set,
    data_item_update,
    data_item_update_tags,
    data_items_insert,
)
from catalogue.services.ingest import data_item_register, data_items_register
from catalogue.services.locations import location_create, location_delete, location_update
from catalogue.services.storages import (
    rclone_config_try,
    ssh_public_key,
    storage_check_access,
    storage_config_create,
    storage_config_delete,
    storage_config_update,
    storage_create,
    storage_delete,
    storage_update,
)

__all__ = [
    "data_item_init",
    "data_item_insert",
    "data_item_register",
    "data_item_set",
    "data_item_update",
    "data_item_update_tags",
    "data_items_insert",
    "data_items_register",
    "location_create",
    "location_delete",
    "location_update",
    "rclone_config_try",
    "ssh_public_key",
    "storage_check_access",
    "storage_config_create",
    "storage_config_delete",
    "storage_config_update",
    "storage_create",
    "storage_delete",
    "storage_update",
]
