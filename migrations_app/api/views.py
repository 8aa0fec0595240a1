"""``/migration``: copying a data item to another storage, and following the copy jobs (contract §8);
DLM's extensions: following, cancelling and retrying the deletions of copies' bytes."""

from __future__ import annotations

from typing import Any

from accounts.roles import Role
from core.contract import Param, operation, uuid_param
from core.paging import PAGING, page
from core.schemas import row_schema
from migrations_app import selectors, services
from migrations_app.models import Deletion, Migration
from migrations_app.rows import (
    DELETION_COLUMNS,
    MIGRATION_COLUMNS,
    deletion_row,
    deletion_rows,
    migration_row,
    migration_rows,
)
from migrations_app.states import JobState

TAG = "migration"

MIGRATION_ROW = row_schema(Migration, MIGRATION_COLUMNS)
MIGRATION_LIST: dict[str, Any] = {"type": "array", "items": MIGRATION_ROW}
COPY_RESULT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "uid": {"type": "string", "format": "uuid", "description": "The new destination copy."},
        "migration_id": {"type": "integer", "format": "int64"},
    },
    "required": ["uid", "migration_id"],
}
MIGRATION_ID = Param("migration_id", "int", required=True)
DELETION_ROW = row_schema(Deletion, DELETION_COLUMNS)
DELETION_LIST: dict[str, Any] = {"type": "array", "items": DELETION_ROW}
DELETION_ID = Param("deletion_id", "int", required=True)


@operation(
    "GET",
    "/migration/query_migrations",
    operation_id="query_migrations",
    role=Role.VIEWER,
    params=(
        Param("start_date", description="Jobs created at or after: YYYYMMDD or ISO (a date alone is midnight UTC)."),
        Param(
            "end_date",
            description="Jobs completed at or before: YYYYMMDD or ISO. Jobs not completed have no completion_date.",
        ),
        uuid_param("storage_id", description="Jobs with this storage as source or destination."),
        Param("user", default="", description="DLM extension: only the jobs of this account."),
        *PAGING,
    ),
    response=MIGRATION_LIST,
    tag=TAG,
)
def query_migrations(request, *, start_date, end_date, storage_id, user, limit, offset) -> list[dict]:
    """Copy jobs, in migration_id order, filtered by dates, storage and user (all combined).

    Every caller sees every job (roles govern access; upstream showed a token's own jobs only);
    `user` narrows to one account's jobs.
    """
    jobs = selectors.migration_query(user=user, start_date=start_date, end_date=end_date, storage_id=storage_id)
    return migration_rows(page(jobs, limit=limit, offset=offset))


@operation(
    "GET",
    "/migration/get_migration",
    operation_id="get_migration_record",
    role=Role.VIEWER,
    params=(MIGRATION_ID,),
    response=MIGRATION_LIST,
    tag=TAG,
)
def get_migration(request, *, migration_id) -> list[dict]:
    """One copy job, as a list of 0 or 1 rows (an unknown id: `[]`)."""
    return migration_rows(selectors.migration_get(migration_id=migration_id))


@operation(
    "POST",
    "/migration/copy_data_item",
    operation_id="copy_data_item",
    role=Role.OPERATOR,
    params=(
        Param("item_name", default=""),
        uuid_param("oid"),
        uuid_param("uid"),
        Param("destination_name", default="", description="The destination storage (wins over destination_id)."),
        uuid_param("destination_id"),
        Param("path", default="", description="Where under the destination's root (default: the source's uri)."),
    ),
    response=COPY_RESULT,
    tag=TAG,
)
def copy_data_item(request, *, item_name, oid, uid, destination_name, destination_id, path) -> dict:
    """Copy a READY data item to another storage; answers the new copy's uid and the job's id.

    The source is the copy named by `uid`, or else the first READY copy of `oid`, or else of
    `item_name`. The destination storage is named by `destination_name` or `destination_id`; both
    storages need an rclone config. The new copy (INITIALISED, same oid, name, type, sizes,
    checksum, expirations and metadata; `uid_phase` the destination's phase; `item_owner` the
    caller) and a queued job are written in one transaction; a worker then copies and verifies
    the bytes, and the copy becomes READY. When the job fails (after its last attempt, or at once
    on a permanent error such as permission denied), the new copy's row is removed, as upstream
    does; when it is cancelled, the row stays, CORRUPTED. `path` may start with `/`: it stays
    under the destination's root directory.

    422 `ValueAlreadyInDB` while a job is copying the object to that storage, or when a READY
    copy of it is there already; 422 `UnmetPreconditionForOperation` for an unknown or not READY
    item, an unknown destination, or a storage without rclone config.
    """
    migration = services.copy_job_create(
        user=request.user.get_username(),
        uid=uid,
        oid=oid,
        item_name=item_name,
        destination_name=destination_name,
        destination_id=destination_id,
        path=path,
    )
    return {"uid": str(migration.destination_uid), "migration_id": migration.migration_id}


@operation(
    "POST",
    "/migration/cancel_migration",
    operation_id="cancel_migration",
    role=Role.OPERATOR,
    params=(MIGRATION_ID,),
    response=MIGRATION_ROW,
    tag=TAG,
    errors={404: 'No such migration: `{"exec": "ObjectNotFound", …}`'},
)
def cancel_migration(request, *, migration_id) -> dict:
    """DLM extension: cancel a copy job; answers its row.

    A queued job is cancelled at once and its destination copy marked CORRUPTED; a running job
    gets `cancel_requested` and the worker stops it. A finished job is a 422.
    """
    return migration_row(services.copy_job_cancel(migration_id=migration_id))


@operation(
    "POST",
    "/migration/retry_migration",
    operation_id="retry_migration",
    role=Role.OPERATOR,
    params=(MIGRATION_ID,),
    response=MIGRATION_ROW,
    tag=TAG,
    errors={404: 'No such migration: `{"exec": "ObjectNotFound", …}`'},
)
def retry_migration(request, *, migration_id) -> dict:
    """DLM extension: queue a failed or cancelled copy job again; answers its row.

    Its attempts start again from 0 and its destination copy is INITIALISED again, or made afresh
    with a new uid (`destination_uid` in the answer) where the failure removed it. Other states
    are a 422.
    """
    return migration_row(services.copy_job_retry(migration_id=migration_id))


# --- deletions (DLM extensions) -----------------------------------------------------------------


@operation(
    "GET",
    "/migration/query_deletions",
    operation_id="query_deletions",
    role=Role.VIEWER,
    params=(
        Param("deletion_id", "int", description="Only this deletion."),
        uuid_param("uid", description="Deletions of this copy."),
        uuid_param("oid", description="Deletions of copies of this object."),
        Param("state", "enum", choices=JobState, description="Only deletions in this state."),
        *PAGING,
    ),
    response=DELETION_LIST,
    tag=TAG,
)
def query_deletions(request, *, deletion_id, uid, oid, state, limit, offset) -> list[dict]:
    """DLM extension: the deletions of copies' bytes, in deletion_id order, filtered by id, copy,
    object and state (all combined).

    A deletion is queued, then running (the bytes being removed), verifying (checked gone), and
    completed: the copy and every item inside it are DELETED (`items_deleted` of them). A failed
    one says why in `last_error`; it left the copy as it was, or CORRUPTED where bytes were
    partly removed. `origin` says who asked (a client, or the lifecycle) and `reason` why.
    """
    deletions = selectors.deletion_query(deletion_id=deletion_id, uid=uid, oid=oid, state=state)
    return deletion_rows(page(deletions, limit=limit, offset=offset))


@operation(
    "POST",
    "/migration/cancel_deletion",
    operation_id="cancel_deletion",
    role=Role.OPERATOR,
    params=(DELETION_ID,),
    response=DELETION_ROW,
    tag=TAG,
    errors={404: 'No such deletion: `{"exec": "ObjectNotFound", …}`'},
)
def cancel_deletion(request, *, deletion_id) -> dict:
    """DLM extension: cancel a queued deletion; answers its row. The copy is untouched.

    A running deletion is a 422: its worker has begun removing the copy's bytes. A finished one
    is a 422 too.
    """
    return deletion_row(services.deletion_job_cancel(deletion_id=deletion_id))


@operation(
    "POST",
    "/migration/retry_deletion",
    operation_id="retry_deletion",
    role=Role.OPERATOR,
    params=(DELETION_ID,),
    response=DELETION_ROW,
    tag=TAG,
    errors={404: 'No such deletion: `{"exec": "ObjectNotFound", …}`'},
)
def retry_deletion(request, *, deletion_id) -> dict:
    """DLM extension: queue a failed or cancelled deletion again, from its first attempt; answers
    its row.

    A 422 in any other state, and when the copy cannot be deleted now: DELETED already, being
    deleted by another deletion, or read or written by a copy job.
    """
    return deletion_row(services.deletion_job_retry(deletion_id=deletion_id))
