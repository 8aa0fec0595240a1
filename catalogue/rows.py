"""The rows the API returns, with upstream's column names and JSON forms.

uuids are strings, timestamps are naive UTC ISO text (as PostgREST printed upstream's
``timestamp without time zone``), numerics are numbers. Rows are built from ``.values()`` so that a
query returns exactly the columns it shows, without model instances.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from catalogue.fastsql import fetch

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


def json_value(value: Any) -> Any:
    """One column value in its JSON form."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def rows(queryset: QuerySet, columns: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The queryset's rows as JSON objects with the given columns.

    Simple querysets (all the API's lookups) run as cached SQL with the ORM's conversions
    (``catalogue.fastsql``); the others through the ORM as usual.
    """
    records = fetch(queryset, [attr for _, attr in columns])
    if records is None:
        return orm_rows(queryset, columns)
    keys = [key for key, _ in columns]
    return [{key: json_value(value) for key, value in zip(keys, record, strict=True)} for record in records]


def orm_rows(queryset: QuerySet, columns: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """``rows`` through the ORM alone."""
    attrs = [attr for _, attr in columns]
    keys = [key for key, _ in columns]
    return [
        {key: json_value(value) for key, value in zip(keys, record, strict=True)}
        for record in queryset.values_list(*attrs)
    ]


def row_of(instance: Any, columns: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """One model instance as a JSON row."""
    return {key: json_value(getattr(instance, attr)) for key, attr in columns}
