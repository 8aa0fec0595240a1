"""The catalogue in the admin console: locations, storages, their rclone remotes, and data items.

What identifies a row or locates bytes is read-only here (uids, oids, an item's storage and uri,
its size and hashes); a storage's remote is edited as fields and tried against the real remote
before it is stored (``catalogue.admin_forms``). Secret options are never shown. Every add,
change and delete is a call to the catalogue's services (``catalogue.admin.writes``).
"""

from catalogue.admin.items import DataItemAdmin
from catalogue.admin.links import DATA_ITEM_LINKS, STORAGE_LINKS
from catalogue.admin.places import LocationAdmin, LocationFacilityAdmin, StorageAdmin
from catalogue.admin.remotes import StorageConfigAdmin

__all__ = [
    "DATA_ITEM_LINKS",
    "STORAGE_LINKS",
    "DataItemAdmin",
    "LocationAdmin",
    "LocationFacilityAdmin",
    "StorageAdmin",
    "StorageConfigAdmin",
]
