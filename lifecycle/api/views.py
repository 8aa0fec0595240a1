"""The lifecycle's operations: deleting a copy's payload, an item's lifecycle explained, placement
rules, passes and their dry runs."""

from __future__ import annotations

from typing import Any

from accounts.roles import Role
from core.contract import Body, Param, operation, uuid_param
from core.paging import PAGING, page
from core.rows import json_value
from core.schemas import row_schema
from lifecycle import services
from lifecycle.engine import lifecycle_pass, rule_preview
from lifecycle.models import LifecyclePass, PlacementRule
from lifecycle.report import PassReport
from migrations_app.models import Deletion
from migrations_app.rows import DELETION_COLUMNS, deletion_row

DELETION_ROW = row_schema(Deletion, DELETION_COLUMNS)
OBJECT: dict[str, Any] = {"type": "object"}
OBJECTS: dict[str, Any] = {"type": "array", "items": {"type": "object"}}
RULE_ID = Param("rule_id", "int", required=True)
RULE_BODY = Body(
    "rule",
    required=True,
    description=(
        "The rule: {name, enabled, description, item_name_pattern, source_storage_name, item_type, "
        "metadata_key, metadata_value, copies, min_phase, storage_name, lifetime (ISO-8601 duration or seconds)}."
    ),
)


@operation(
    "POST",
    "/storage/delete_data_item_payload",
    operation_id="delete_data_item_payload",
    role=Role.OPERATOR,
    params=(
        uuid_param("uid", required=True, description="The copy whose payload is deleted."),
        Param("force", "bool", default=False, description="Delete even the last READY copy, or below target."),
    ),
    response=DELETION_ROW,
    tag="storage",
)
def delete_data_item_payload(request, *, uid, force) -> dict:
    """Delete one copy's payload, as a job; answers the deletion job's row.

    A worker removes the bytes (rclone `deletefile` for a file, `purge` for a container), checks
    they are gone, then marks the copy DELETED with `uid_deletion` set (a tombstone that stays),
    and every item inside a container with it. Follow it with `/migration/query_deletions`.

    422 `UnmetPreconditionForOperation` when the copy is the last READY one of its object, or when
    the copies left would be below the object's target phase or short of a placement rule it
    matches: the message says which; `force=true` deletes it anyway. 422 too while a copy job
    writes or reads the copy, or a deletion of it is under way; 404 for an unknown uid.
    """
    deletion = services.copy_delete(uid=uid, user=request.user.get_username(), force=force)
    return deletion_row(deletion)


@operation(
    "GET",
    "/request/query_item_lifecycle",
    operation_id="query_item_lifecycle",
    role=Role.VIEWER,
    params=(uuid_param("uid", description="Any copy of the object (wins over oid)."), uuid_param("oid")),
    response=OBJECT,
    tag="request",
)
def query_item_lifecycle(request, *, uid, oid) -> dict:
    """DLM extension: where an object stands in its lifecycle.

    Its phase (from its READY copies, by their storages' phase now) and target, its copies (which
    count, which expired and whether deleting them would be refused, which are being written or
    deleted), the placement rules it matches and what they still ask, the jobs under way, what the
    lifecycle is holding back and why, and why it is not at its target yet.
    """
    return services.item_lifecycle(uid=uid, oid=oid)


# --- rules ----------------------------------------------------------------------------------------


@operation(
    "GET", "/lifecycle/query_rules", operation_id="query_rules", role=Role.VIEWER, params=PAGING,
    response=OBJECTS, tag="lifecycle",
)  # fmt: skip
def query_rules(request, *, limit, offset) -> list[dict]:
    """DLM extension: the placement rules, by name."""
    rules = PlacementRule.objects.select_related("storage", "source_storage").order_by("name")
    return [services.rule_json(rule) for rule in page(rules, limit=limit, offset=offset)]


@operation(
    "POST", "/lifecycle/create_rule", operation_id="create_rule", role=Role.ADMIN, body=RULE_BODY,
    response=OBJECT, tag="lifecycle",
)  # fmt: skip
def create_rule(request, *, rule) -> dict:
    """DLM extension: add a placement rule; answers it.

    A rule matches items by name (`item_name_pattern`: a glob, or a prefix), a READY copy on
    `source_storage_name`, `item_type` or a metadata key (and value), all given combined; it asks
    for `copies` copies on storages of phase `min_phase` or more, and/or a copy on `storage_name`;
    `lifetime` sets the expiry of the copies it makes. The lifecycle pass makes the copies, and
    keeps expired copies a rule still needs.
    """
    return services.rule_json(services.rule_create(fields=rule, body="rule"))


@operation(
    "PATCH", "/lifecycle/update_rule", operation_id="update_rule", role=Role.ADMIN, params=(RULE_ID,),
    body=RULE_BODY, response=OBJECT, tag="lifecycle",
)  # fmt: skip
def update_rule(request, *, rule_id, rule) -> dict:
    """DLM extension: change the keys given of a placement rule; answers it."""
    return services.rule_json(services.rule_update(rule_id=rule_id, fields=rule, body="rule"))


@operation(
    "DELETE", "/lifecycle/delete_rule", operation_id="delete_rule", role=Role.ADMIN, params=(RULE_ID,),
    response={"type": "boolean"}, tag="lifecycle",
)  # fmt: skip
def delete_rule(request, *, rule_id) -> bool:
    """DLM extension: remove a placement rule (the copies it made stay)."""
    services.rule_delete(rule_id=rule_id)
    return True


@operation(
    "GET", "/lifecycle/preview_rule", operation_id="preview_rule", role=Role.VIEWER, params=(RULE_ID,),
    response=OBJECT, tag="lifecycle",
)  # fmt: skip
def preview_rule(request, *, rule_id) -> dict:
    """DLM extension: what the lifecycle would copy for this rule now, and why (nothing is changed)."""
    return report_json(rule_preview(services.rule_get(rule_id=rule_id)))


# --- passes ---------------------------------------------------------------------------------------


@operation(
    "GET", "/lifecycle/query_passes", operation_id="query_passes", role=Role.VIEWER, params=PAGING,
    response=OBJECTS, tag="lifecycle",
)  # fmt: skip
def query_passes(request, *, limit, offset) -> list[dict]:
    """DLM extension: the lifecycle's last passes, newest first: when, how long, what they did."""
    return [pass_json(row) for row in page(LifecyclePass.objects.order_by("-pass_id"), limit=limit, offset=offset)]


@operation(
    "POST", "/lifecycle/dry_run", operation_id="lifecycle_dry_run", role=Role.OPERATOR,
    response=OBJECT, tag="lifecycle",
)  # fmt: skip
def dry_run(request) -> dict:
    """DLM extension: what a lifecycle pass would delete, copy and keep now, and why (nothing is changed)."""
    return report_json(lifecycle_pass(dry_run=True))


def report_json(report: PassReport) -> dict:
    return {
        "pass_id": report.pass_id,
        "dry_run": report.dry_run,
        "state": report.state,
        "duration": report.duration,
        "counts": report.counts_dict(),
        "decisions": [decision.as_dict() for decision in report.decisions],
        "error": report.error,
    }


def pass_json(row: LifecyclePass) -> dict:
    return {
        "pass_id": row.pass_id,
        "dry_run": row.dry_run,
        "state": row.state,
        "started_at": json_value(row.started_at),
        "finished_at": json_value(row.finished_at),
        "duration": row.duration,
        "counts": row.counts,
        "decisions": row.decisions,
        "error": row.error,
    }
