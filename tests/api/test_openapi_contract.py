"""The OpenAPI document carries every path, method, operation id and query parameter of the
ska-dlm contract (§5–§8), so that clients generated from upstream's spec work unchanged."""

from __future__ import annotations

import pytest

# (method, path, operation id, query parameters, required parameters, body: None / "optional" / "required")
CONTRACT = [
    ("get", "/heartbeat", "heartbeat", [], [], None),
    ("get", "/storage/query_location_facility", "query_location_facility", [], [], None),
    ("get", "/storage/get_ssh_public_key", "get_ssh_public_key", [], [], None),
    ("get", "/storage/query_location", "query_location", ["location_name", "location_id"], [], None),
    ("post", "/storage/init_location", "init_location",
     ["location_name", "location_type", "location_country", "location_city", "location_facility"],
     ["location_name", "location_type"], None),
    ("post", "/storage/init_storage", "init_storage",
     ["storage_name", "storage_type", "root_directory", "storage_interface", "location_id", "location_name",
      "storage_capacity", "storage_phase"],
     ["storage_name", "storage_type", "root_directory", "storage_interface"], "optional"),
    ("post", "/storage/create_storage_config", "create_storage_config",
     ["storage_id", "storage_name", "config_type"], [], "required"),
    ("get", "/storage/get_storage_config", "get_storage_config", ["storage_id", "storage_name", "config_type"], [],
     None),
    ("post", "/storage/rclone_config", "create_rclone_config", [], [], "required"),
    ("get", "/storage/query_storage", "query_storage", ["storage_name", "storage_id"], [], None),
    ("post", "/ingest/init_data_item", "init_data_item", ["item_name", "uid_phase"], [], "optional"),
    ("post", "/ingest/register_data_item", "register_data_item",
     ["item_name", "uri", "item_type", "target_phase", "uid_expiration", "oid_expiration", "storage_name",
      "storage_id", "parents", "item_size", "decompressed_size", "do_storage_access_check"],
     ["item_name", "uri"], "optional"),
    ("get", "/request/query_expired", "query_expired", ["offset"], [], None),
    ("get", "/request/query_deleted", "query_deleted", ["uid"], [], None),
    ("get", "/request/query_new", "query_new", ["check_date", "uid"], ["check_date"], None),
    ("get", "/request/query_exists", "query_exists", ["item_name", "oid", "uid", "ready"], [], None),
    ("get", "/request/query_exist_and_ready", "query_exists_and_ready", ["item_name", "oid", "uid"], [], None),
    ("get", "/request/query_item_storage", "query_item_storage", ["item_name", "oid", "uid"], [], None),
    ("get", "/request/query_data_item", "query_data_item", ["item_name", "oid", "uid", "storage_id", "params"], [],
     None),
    ("patch", "/request/update_data_item", "update_data_item", ["item_name", "oid", "uid"], [], "optional"),
    ("patch", "/request/set_uri", "set_uri", ["uid", "uri", "storage_id"], ["uid", "uri", "storage_id"], None),
    ("patch", "/request/set_metadata", "set_metadata", ["uid"], ["uid"], "optional"),
    ("patch", "/request/set_state", "set_state", ["uid", "state"], ["uid", "state"], None),
    ("patch", "/request/set_oid_expiration", "set_oid_expiration", ["oid", "expiration"], ["oid", "expiration"], None),
    ("patch", "/request/set_uid_expiration", "set_uid_expiration", ["uid", "expiration"], ["uid", "expiration"], None),
    ("patch", "/request/set_user", "set_user", ["oid", "uid", "user"], [], None),
    ("patch", "/request/set_group", "set_group", ["oid", "uid", "group"], [], None),
    ("patch", "/request/set_acl", "set_acl", ["oid", "uid", "acl"], [], None),
    ("patch", "/request/set_phase", "set_phase", ["uid", "phase"], ["uid", "phase"], None),
    ("patch", "/request/update_item_tags", "update_item_tags", ["item_name", "oid"], [], "optional"),
    ("get", "/migration/query_migrations", "query_migrations", ["start_date", "end_date", "storage_id"], [], None),
    ("get", "/migration/get_migration", "get_migration_record", ["migration_id"], ["migration_id"], None),
    ("post", "/migration/copy_data_item", "copy_data_item",
     ["item_name", "oid", "uid", "destination_name", "destination_id", "path"], [], None),
]  # fmt: skip


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def test_openapi_json_is_served_without_a_token(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"]


def test_no_contract_operation_is_missing(schema):
    present = {op["operationId"] for item in schema["paths"].values() for op in item.values() if "operationId" in op}
    missing = {operation_id for _, _, operation_id, *_ in CONTRACT if operation_id not in present}
    assert missing == set()


@pytest.mark.parametrize(
    ("method", "path", "operation_id", "params", "required", "body"),
    CONTRACT,
    ids=[row[2] for row in CONTRACT],
)
def test_contract_operation_is_in_the_schema(schema, method, path, operation_id, params, required, body):
    assert path in schema["paths"], f"{path} missing"
    assert method in schema["paths"][path], f"{method.upper()} {path} missing"
    op = schema["paths"][path][method]
    assert op["operationId"] == operation_id
    query = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
    assert set(params) <= set(query), f"missing query parameters: {set(params) - set(query)}"
    assert {name for name in params if query[name].get("required")} == set(required)
    if body is None:
        assert "requestBody" not in op
    else:
        assert op["requestBody"]["content"]["application/json"]
        assert bool(op["requestBody"].get("required")) == (body == "required")


def test_swagger_ui_is_served_from_local_static_files(client):
    response = client.get("/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_location_facility_is_documented_as_the_name_the_api_accepts(schema, api):
    [param] = [
        p for p in schema["paths"]["/storage/init_location"]["post"]["parameters"] if p["name"] == "location_facility"
    ]
    facilities = api.get("/storage/query_location_facility").json()
    assert "name" in param["description"] and facilities
    response = api.post(
        "/storage/init_location",
        {"location_name": "Pawsey", "location_type": "low-operations", "location_facility": facilities[0]},
    )
    assert response.status_code == 200, response.content
