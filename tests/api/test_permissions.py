"""Every operation needs the role stated here, and enforces it: anonymous 401, too little role
403 naming the role, enough role the operation's own answer (with no parameters: 200 where none is
required, 422 naming the first missing one), never a 500. The roles are stated in this file, not
read from the declarations under test, and the table must cover every operation of the OpenAPI
document."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.roles import Role

PUBLIC = {"heartbeat", "scope"}  # /scope judges the token it is given, not the caller
RANKS = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]

# (operation id, method, path, the role it needs, its status called with enough role and no parameters)
OPERATIONS = [
    ("query_audit", "GET", "/audit/query_audit", Role.ADMIN, 200),
    ("init_data_item", "POST", "/ingest/init_data_item", Role.OPERATOR, 422),
    ("register_data_item", "POST", "/ingest/register_data_item", Role.OPERATOR, 422),
    ("register_data_items", "POST", "/ingest/register_data_items", Role.OPERATOR, 422),
    ("query_expired", "GET", "/request/query_expired", Role.VIEWER, 200),
    ("query_deleted", "GET", "/request/query_deleted", Role.VIEWER, 200),
    ("query_new", "GET", "/request/query_new", Role.VIEWER, 422),
    ("query_exists", "GET", "/request/query_exists", Role.VIEWER, 422),
    ("query_exists_and_ready", "GET", "/request/query_exist_and_ready", Role.VIEWER, 422),
    ("query_item_storage", "GET", "/request/query_item_storage", Role.VIEWER, 422),
    ("query_data_item", "GET", "/request/query_data_item", Role.VIEWER, 200),
    ("update_data_item", "PATCH", "/request/update_data_item", Role.OPERATOR, 422),
    ("set_uri", "PATCH", "/request/set_uri", Role.OPERATOR, 422),
    ("set_metadata", "PATCH", "/request/set_metadata", Role.OPERATOR, 422),
    ("set_state", "PATCH", "/request/set_state", Role.OPERATOR, 422),
    ("set_oid_expiration", "PATCH", "/request/set_oid_expiration", Role.OPERATOR, 422),
    ("set_uid_expiration", "PATCH", "/request/set_uid_expiration", Role.OPERATOR, 422),
    ("set_user", "PATCH", "/request/set_user", Role.OPERATOR, 422),
    ("set_group", "PATCH", "/request/set_group", Role.OPERATOR, 422),
    ("set_acl", "PATCH", "/request/set_acl", Role.OPERATOR, 422),
    ("set_phase", "PATCH", "/request/set_phase", Role.OPERATOR, 422),
    ("update_item_tags", "PATCH", "/request/update_item_tags", Role.OPERATOR, 422),
    ("query_location_facility", "GET", "/storage/query_location_facility", Role.VIEWER, 200),
    ("get_ssh_public_key", "GET", "/storage/get_ssh_public_key", Role.VIEWER, 422),
    ("query_location", "GET", "/storage/query_location", Role.VIEWER, 200),
    ("init_location", "POST", "/storage/init_location", Role.ADMIN, 422),
    ("init_storage", "POST", "/storage/init_storage", Role.ADMIN, 422),
    ("create_storage_config", "POST", "/storage/create_storage_config", Role.ADMIN, 422),
    ("get_storage_config", "GET", "/storage/get_storage_config", Role.VIEWER, 200),
    ("create_rclone_config", "POST", "/storage/rclone_config", Role.ADMIN, 422),
    ("check_storage_access", "GET", "/storage/check_storage_access", Role.VIEWER, 422),
    ("query_storage", "GET", "/storage/query_storage", Role.VIEWER, 200),
    ("list_tokens", "GET", "/tokens/list_tokens", Role.VIEWER, 200),
    ("create_token", "POST", "/tokens/create_token", Role.VIEWER, 200),
    ("revoke_token", "POST", "/tokens/revoke_token", Role.VIEWER, 422),
    ("query_migrations", "GET", "/migration/query_migrations", Role.VIEWER, 200),
    ("get_migration_record", "GET", "/migration/get_migration", Role.VIEWER, 422),
    ("copy_data_item", "POST", "/migration/copy_data_item", Role.OPERATOR, 422),
    ("cancel_migration", "POST", "/migration/cancel_migration", Role.OPERATOR, 422),
    ("retry_migration", "POST", "/migration/retry_migration", Role.OPERATOR, 422),
    ("query_deletions", "GET", "/migration/query_deletions", Role.VIEWER, 200),
    ("cancel_deletion", "POST", "/migration/cancel_deletion", Role.OPERATOR, 422),
    ("retry_deletion", "POST", "/migration/retry_deletion", Role.OPERATOR, 422),
    ("delete_data_item_payload", "POST", "/storage/delete_data_item_payload", Role.OPERATOR, 422),
    ("query_item_lifecycle", "GET", "/request/query_item_lifecycle", Role.VIEWER, 422),
    ("query_rules", "GET", "/lifecycle/query_rules", Role.VIEWER, 200),
    ("create_rule", "POST", "/lifecycle/create_rule", Role.ADMIN, 422),
    ("update_rule", "PATCH", "/lifecycle/update_rule", Role.ADMIN, 422),
    ("delete_rule", "DELETE", "/lifecycle/delete_rule", Role.ADMIN, 422),
    ("preview_rule", "GET", "/lifecycle/preview_rule", Role.VIEWER, 422),
    ("query_passes", "GET", "/lifecycle/query_passes", Role.VIEWER, 200),
    ("lifecycle_dry_run", "POST", "/lifecycle/dry_run", Role.OPERATOR, 200),
    ("create_webhook", "POST", "/webhooks/create_webhook", Role.ADMIN, 422),
    ("query_webhooks", "GET", "/webhooks/query_webhooks", Role.ADMIN, 200),
    ("update_webhook", "PATCH", "/webhooks/update_webhook", Role.ADMIN, 422),
    ("delete_webhook", "DELETE", "/webhooks/delete_webhook", Role.ADMIN, 422),
    ("query_deliveries", "GET", "/webhooks/query_deliveries", Role.ADMIN, 422),
    ("retry_deliveries", "POST", "/webhooks/retry_deliveries", Role.ADMIN, 422),
    ("verify_data_item", "POST", "/storage/verify_data_item", Role.OPERATOR, 422),
    ("query_fixity_checks", "GET", "/storage/query_fixity_checks", Role.VIEWER, 200),
    ("scan_storage", "POST", "/storage/scan_storage", Role.OPERATOR, 422),
    ("query_scans", "GET", "/storage/query_scans", Role.VIEWER, 200),
    ("cancel_scan", "POST", "/storage/cancel_scan", Role.OPERATOR, 422),
    ("query_scan_findings", "GET", "/storage/query_scan_findings", Role.VIEWER, 422),
    ("scan_report", "GET", "/storage/scan_report", Role.VIEWER, 422),
    ("register_dark_files", "POST", "/storage/register_dark_files", Role.OPERATOR, 422),
    ("quarantine_dark_files", "POST", "/storage/quarantine_dark_files", Role.OPERATOR, 422),
]  # fmt: skip


@pytest.fixture(scope="module")
def schema_operations(django_db_blocker) -> set[tuple[str, str, str]]:
    with django_db_blocker.unblock():
        document = Client().get("/openapi.json").json()
    return {
        (op["operationId"], method.upper(), path)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if "operationId" in op
    }


def test_the_table_covers_every_operation_of_the_schema(schema_operations):
    stated = {(operation_id, method, path) for operation_id, method, path, *_ in OPERATIONS}
    assert {row for row in schema_operations if row[0] not in PUBLIC} == stated


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("operation_id", "method", "path", "role", "status"), OPERATIONS, ids=[r[0] for r in OPERATIONS]
)
def test_role_is_enforced(operation_id, method, path, role, status, make_api, anon_api):
    response = anon_api.call(method, path)
    assert response.status_code == 401, response.content
    for rank in RANKS:
        response = make_api(rank.value).call(method, path)
        if RANKS.index(rank) < RANKS.index(role):
            assert response.status_code == 403, f"as {rank}: {response.content!r}"
            assert role.value in response.json()["detail"]
        else:
            assert response.status_code == status, f"as {rank}: {response.content!r}"
            if status == 422:  # a parameter missing, or the contract's domain error naming what is needed
                body = response.json()
                assert body.get("exec") or body["detail"][0]["type"] == "missing", body


@pytest.mark.django_db
@pytest.mark.parametrize("operation_id", sorted(PUBLIC))
def test_public_operations_answer_without_a_token(operation_id, anon_api, schema_operations):
    [(_, method, path)] = [row for row in schema_operations if row[0] == operation_id]
    assert anon_api.call(method, path).status_code in {"heartbeat": {200}, "scope": {200, 422}}[operation_id]
