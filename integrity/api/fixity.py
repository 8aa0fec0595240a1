"""The fixity operations: a check of one copy queued now, and the checks made."""

from __future__ import annotations

from typing import Any

from accounts.roles import Role
from core.contract import Param, operation, uuid_param
from core.paging import PAGING, page
from core.rows import row_of, rows
from core.schemas import list_of, row_schema
from integrity import fixity
from integrity.models import CheckState, FixityCheck

# (JSON key, ORM attribute)
CHECK_COLUMNS = [
    ("check_id", "check_id"),
    ("uid", "item_id"),
    ("storage_id", "storage_id"),
    ("origin", "origin"),
    ("requested_by", "requested_by"),
    ("state", "state"),
    ("created_at", "created_at"),
    ("started_at", "started_at"),
    ("finished_at", "finished_at"),
    ("hash_type", "hash_type"),
    ("downloaded", "downloaded"),
    ("bytes_checked", "bytes_checked"),
    ("detail", "detail"),
    ("repair_migration_id", "repair_migration_id"),
]
CHECK_ROW = row_schema(FixityCheck, CHECK_COLUMNS)


def check_row(check: FixityCheck) -> dict[str, Any]:
    return row_of(check, CHECK_COLUMNS)


@operation(
    "POST",
    "/storage/verify_data_item",
    operation_id="verify_data_item",
    role=Role.OPERATOR,
    params=(uuid_param("uid", required=True, description="The READY copy to verify."),),
    response=CHECK_ROW,
    tag="storage",
    errors={404: 'No such copy: `{"exec": "ObjectNotFound", …}`'},
)
def verify_data_item(request, *, uid) -> dict:
    """DLM extension: queue a fixity check of one copy now; answers the check's row.

    A worker reads the copy on its storage (paced per storage, as the scheduled checks are) and
    compares its size and recorded checksum, by a hash the storage serves or by reading the bytes
    back. `state` goes queued, running, then passed (the copy's `last_verified_at` set), corrupted
    or lost (the copy CORRUPTED and a repair job, `repair_migration_id`, copying it again from a
    good READY copy; `detail` says why there is none), or error (the storage could not be read:
    the copy is not judged). A check of the copy already queued or running is answered instead
    of a new one. 422 for a copy that is not READY; 404 for an unknown uid.
    """
    return check_row(fixity.fixity_check_create(uid=uid, user=request.user.get_username()))


@operation(
    "GET",
    "/storage/query_fixity_checks",
    operation_id="query_fixity_checks",
    role=Role.VIEWER,
    params=(
        uuid_param("uid", description="The checks of this copy."),
        Param("storage_name", description="The checks of copies on this storage."),
        Param("state", "enum", choices=CheckState, description="Only checks in this state."),
        *PAGING,
    ),
    response=list_of(CHECK_ROW),
    tag="storage",
)
def query_fixity_checks(request, *, uid, storage_name, state, limit, offset) -> list[dict]:
    """DLM extension: the fixity checks, newest first, filtered by copy, storage and state (combined)."""
    checks = fixity.checks_query(uid=uid, storage_name=storage_name or "", state=state or "")
    return rows(page(checks, limit=limit, offset=offset), CHECK_COLUMNS)
