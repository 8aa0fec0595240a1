"""``/audit``: the audit trail, for admins (a DLM extension)."""

from __future__ import annotations

from typing import Any

from accounts.roles import Role
from audit import selectors
from audit.choices import Action, ObjectType
from core.actor import Auth, Via
from core.contract import Param, operation
from core.paging import page
from core.rows import orm_rows

TAG = "audit"

AUDIT_ROW: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "format": "int64"},
        "at": {"type": "string", "format": "date-time", "description": "naive UTC, ISO-8601"},
        "username": {"type": "string"},
        "user_id": {"type": "integer", "nullable": True},
        "auth": {"type": "string", "enum": Auth.values},
        "via": {"type": "string", "enum": Via.values},
        "operation": {"type": "string", "description": 'The API operation id, or "admin:…", "ui:…".'},
        "action": {"type": "string", "enum": Action.values},
        "object_type": {"type": "string", "enum": ObjectType.values},
        "object_id": {"type": "string"},
        "changes": {
            "type": "object",
            "additionalProperties": True,
            "description": 'Update: {column: [before, after]}. Create or delete: {column: value}. Secrets: "***".',
        },
        "request_id": {"type": "string"},
        "remote_addr": {"type": "string", "nullable": True},
    },
}
DEFAULT_LIMIT = 100


@operation(
    "GET",
    "/audit/query_audit",
    operation_id="query_audit",
    role=Role.ADMIN,
    params=(
        Param("object_type", "enum", choices=ObjectType, description="Records of this kind of object."),
        Param("object_id", description="Records of this object (its uid, id, name or token key)."),
        Param("username", description="Records of changes by this account."),
        Param("operation", description='Records of this operation: an API operation id, "admin:…" or "ui:…".'),
        Param("since", "datetime", description="Records at or after this time (ISO; naive is UTC)."),
        Param("until", "datetime", description="Records at or before this time (ISO; naive is UTC)."),
        Param("limit", "int", default=DEFAULT_LIMIT, description="At most this many records (1 to 1000, default 100)."),
        Param("offset", "int", default=0, description="Skip this many records of the ordered result."),
    ),
    response={"type": "array", "items": AUDIT_ROW},
    tag=TAG,
)
def query_audit(request, *, object_type, object_id, username, operation, since, until, limit, offset) -> list[dict]:
    """DLM extension: audit records, newest first, filtered by every parameter given (admin role).

    One record per changed object: who (account, how authenticated), when, through what (`api`,
    `ui`, `admin`, `command`; the operation), and the values before and after. Secrets show as
    `"***"`. The trail is append-only.
    """
    records = selectors.audit_query(
        object_type=object_type,
        object_id=object_id,
        username=username,
        operation=operation,
        since=since,
        until=until,
    )
    return orm_rows(page(records, limit=limit, offset=offset), selectors.AUDIT_COLUMNS)
