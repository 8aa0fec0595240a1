"""The catalogue's columns as the API returns them: (JSON key, ORM attribute) in upstream's
column order (``core.rows`` turns querysets into rows of them)."""

from __future__ import annotations

# (JSON key, ORM attribute) in upstream column order.
LOCATION_COLUMNS = [
    ("location_id", "location_id"),
    ("location_name", "location_name"),
    ("location_type", "location_type"),
    ("location_country", "location_country"),
    ("location_city", "location_city"),
    ("location_facility", "location_facility_id"),
    ("location_check_url", "location_check_url"),
    ("location_last_check", "location_last_check"),
    ("location_date", "location_date"),
]

STORAGE_COLUMNS = [
    ("storage_id", "storage_id"),
    ("location_id", "location_id"),
    ("storage_name", "storage_name"),
    ("root_directory", "root_directory"),
    ("storage_type", "storage_type"),
    ("storage_interface", "storage_interface"),
    ("storage_phase", "storage_phase"),
    ("storage_capacity", "storage_capacity"),
    ("storage_use_pct", "storage_use_pct"),
    ("storage_permissions", "storage_permissions"),
    ("storage_checked", "storage_checked"),
    ("storage_check_url", "storage_check_url"),
    ("storage_last_checked", "storage_last_checked"),
    ("storage_num_objects", "storage_num_objects"),
    ("storage_available", "storage_available"),
    ("storage_retired", "storage_retired"),
    ("storage_retire_date", "storage_retire_date"),
    ("storage_date", "storage_date"),
]

DATA_ITEM_FIELDS = [
    "uid", "oid", "item_version", "item_name", "item_tags", "storage_id", "uri", "item_value", "item_type",
    "item_format", "item_encoding", "item_mime_type", "item_level", "uid_phase", "oid_phase", "item_state",
    "target_phase", "uid_creation", "oid_creation", "uid_expiration", "oid_expiration", "uid_deletion",
    "oid_deletion", "expired", "deleted", "last_access", "last_check", "item_checksum", "checksum_method",
    "item_owner", "item_group", "acl", "activate_method", "item_size", "decompressed_size",
    "compression_method", "parents", "children", "metadata",
]  # fmt: skip
DATA_ITEM_COLUMNS = [(name, name) for name in DATA_ITEM_FIELDS]
