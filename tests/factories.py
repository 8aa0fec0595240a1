"""Test data, made through the same services the API uses."""

from __future__ import annotations

import itertools
from typing import Any

from catalogue import services
from catalogue.models import DataItem, Location, Storage

_seq = itertools.count(1)


def make_location(**overrides: Any) -> Location:
    values = {"location_name": f"loc-{next(_seq)}", "location_type": "local-dev", "location_country": "AU"}
    return services.location_create(**{**values, **overrides})


def make_storage(location: Location | None = None, **overrides: Any) -> Storage:
    location = location or make_location()
    values = {
        "storage_name": f"store-{next(_seq)}",
        "storage_type": "filesystem",
        "storage_interface": "posix",
        "root_directory": "/data",
        "location_id": location.location_id,
    }
    return services.storage_create(**{**values, **overrides})


def make_item(storage: Storage | None = None, **fields: Any) -> DataItem:
    values = {"item_name": f"item-{next(_seq)}", "storage_id": storage.storage_id if storage else None}
    return services.data_item_insert(fields={**values, **fields})
