"""The migration row the API returns (contract §4.5), then DLM's job columns; and DLM's deletion row.

Upstream's keys come first, in upstream's order; the extras follow. uuids are strings and
timestamps naive UTC ISO text, as in the catalogue's rows.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.rows import row_of, rows
from migrations_app.models import Deletion, Migration

# (JSON key, ORM attribute)
MIGRATION_COLUMNS = [
    ("migration_id", "migration_id"),
    ("job_id", "job_id"),
    ("oid", "oid"),
    ("url", "url"),
    ("source_storage_id", "source_storage_id"),
    ("destination_storage_id", "destination_storage_id"),
    ("user", "user"),
    ("group", "group"),
    ("job_status", "job_status"),
    ("job_stats", "job_stats"),
    ("complete", "complete"),
    ("date", "date"),
    ("completion_date", "completion_date"),
    ("command", "command"),
    # DLM's extras:
    ("source_uid", "source_uid"),
    ("destination_uid", "destination_uid"),
    ("state", "state"),
    ("attempts", "attempts"),
    ("last_error", "last_error"),
    ("bytes_done", "bytes_done"),
    ("bytes_total", "bytes_total"),
    ("rate", "rate"),
    ("started_at", "started_at"),
    ("finished_at", "finished_at"),
    ("heartbeat_at", "heartbeat_at"),
]

# (JSON key, ORM attribute): the deletion row of ``query_deletions`` (a DLM extension).
DELETION_COLUMNS = [
    ("deletion_id", "deletion_id"),
    ("uid", "uid"),
    ("oid", "oid"),
    ("item_name", "item_name"),
    ("item_type", "item_type"),
    ("path", "path"),
    ("storage_id", "storage_id"),
    ("state", "state"),
    ("complete", "complete"),
    ("attempts", "attempts"),
    ("last_error", "last_error"),
    ("url", "url"),
    ("job_id", "job_id"),
    ("date", "date"),
    ("started_at", "started_at"),
    ("heartbeat_at", "heartbeat_at"),
    ("next_attempt_at", "next_attempt_at"),
    ("finished_at", "finished_at"),
    ("user", "user"),
    ("origin", "origin"),
    ("reason", "reason"),
    ("forced", "forced"),
    ("items_deleted", "items_deleted"),
]


def migration_rows(queryset: QuerySet) -> list[dict[str, Any]]:
    return rows(queryset, MIGRATION_COLUMNS)


def migration_row(migration: Migration) -> dict[str, Any]:
    return row_of(migration, MIGRATION_COLUMNS)


def deletion_rows(queryset: QuerySet) -> list[dict[str, Any]]:
    return rows(queryset, DELETION_COLUMNS)


def deletion_row(deletion: Deletion) -> dict[str, Any]:
    return row_of(deletion, DELETION_COLUMNS)
