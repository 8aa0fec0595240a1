"""Facts of the ska-dlm contract that several tests check the API against, written out here
independently of the code under test."""

# Contract §4.4: the data_item columns, in table order.
DATA_ITEM_COLUMNS = [
    "uid", "oid", "item_version", "item_name", "item_tags", "storage_id", "uri", "item_value", "item_type",
    "item_format", "item_encoding", "item_mime_type", "item_level", "uid_phase", "oid_phase", "item_state",
    "target_phase", "uid_creation", "oid_creation", "uid_expiration", "oid_expiration", "uid_deletion",
    "oid_deletion", "expired", "deleted", "last_access", "last_check", "item_checksum", "checksum_method",
    "item_owner", "item_group", "acl", "activate_method", "item_size", "decompressed_size",
    "compression_method", "parents", "children", "metadata",
]  # fmt: skip
