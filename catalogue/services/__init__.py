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
from catalogue.services.locations import location_create
from catalogue.services.storages import ssh_public_key, storage_config_create, storage_create

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
    "ssh_public_key",
    "storage_config_create",
    "storage_create",
]
