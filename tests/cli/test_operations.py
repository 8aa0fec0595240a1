"""Every operation's command against a live DLM: upstream's command names and argument order,
``--json`` answers exactly the API's bodies, and the table of operations matches the server's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import requests
from click.testing import CliRunner

from dlm_cli.app import cli
from dlm_cli.operations import OPERATIONS
from tests.cli.conftest import ROOT

# ska-dlm's operations (contract §3, §5–§8) that a client of the REST API calls: the gateway's
# login flows are browser pages (``dlm login`` uses /token_by_auth_flow), not commands.
CONTRACT = {
    "heartbeat", "scope",
    "query_location_facility", "get_ssh_public_key", "query_location", "init_location", "init_storage",
    "create_storage_config", "get_storage_config", "create_rclone_config", "query_storage",
    "init_data_item", "register_data_item",
    "query_expired", "query_deleted", "query_new", "query_exists", "query_exists_and_ready", "query_item_storage",
    "query_data_item", "update_data_item", "set_uri", "set_metadata", "set_state", "set_oid_expiration",
    "set_uid_expiration", "set_user", "set_group", "set_acl", "set_phase", "update_item_tags",
    "query_migrations", "get_migration_record", "copy_data_item",
}  # fmt: skip


def served_operations(url: str) -> dict[str, tuple]:
    """Each operation of the server's OpenAPI document: method, path, query parameters, body."""
    schema = requests.get(f"{url}/openapi.json", timeout=30).json()
    served = {}
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            params = {p["name"]: bool(p.get("required")) for p in op.get("parameters", []) if p["in"] == "query"}
            served[op["operationId"]] = (method.upper(), path, params, "requestBody" in op)
    return served


def test_every_operation_of_the_server_has_its_command(cli_server):
    served = served_operations(cli_server.url)
    ours = {
        op.operation: (op.method, op.path, {p.name: p.required for p in op.params}, op.body is not None)
        for op in OPERATIONS
    }
    assert CONTRACT <= set(ours) and CONTRACT <= set(served)
    for operation, shape in ours.items():  # each command calls an operation the server has, as it has it
        assert served.get(operation) == shape, operation
    groups = {op.operation: op.group for op in OPERATIONS}
    assert groups["set_state"] == groups["query_data_item"] == "data-item"  # upstream's groups
    assert groups["query_new"] == groups["query_exists_and_ready"] == "request"
    assert groups["copy_data_item"] == groups["get_migration_record"] == "migration"


def test_every_command_has_help():
    runner = CliRunner()
    for op in OPERATIONS:
        result = runner.invoke(cli, [op.group, op.command, "--help"])
        assert result.exit_code == 0, (op.operation, result.output)
        for p in op.params:
            assert "--" + p.name.replace("_", "-") in result.output


def test_storage_commands(dlm, disks, tmp_path):
    locations = dlm.ok("storage", "query-location", "--location-name", "cli-loc")
    assert [row["location_name"] for row in locations] == ["cli-loc"]
    assert "local" in dlm.ok("storage", "query-location-facility")
    storages = dlm.ok("storage", "query-storage", "--storage-name", "cli-src")
    assert storages[0]["storage_name"] == "cli-src" and storages[0]["root_directory"] == "/"
    configs = dlm.ok("storage", "get-storage-config", "--storage-name", "cli-dst")
    assert configs == [{"name": "cli-dst", "type": "local", "root_path": str(disks.dst)}]
    # upstream's rclone_config, under its operation's name and its path's
    config = json.dumps({"name": "cli-scratch", "type": "local", "root_path": str(tmp_path)})
    assert dlm.ok("storage", "create-rclone-config", config) is True
    assert dlm.ok("storage", "rclone-config", "--config", config) is True


def test_secrets_are_masked(dlm, disks, tmp_path, s3_server):
    dlm.ok("storage", "init-storage", "cli-s3", "objectstore", "bucket1", "s3", "--location-name", "cli-loc")
    secret = s3_server.secret
    (tmp_path / "s3.json").write_text(json.dumps(s3_server.config))
    dlm.ok("storage", "create-storage-config", f"@{tmp_path / 's3.json'}", "--storage-name", "cli-s3")
    for args in (("--json", "storage", "get-storage-config", "--storage-name", "cli-s3"),
                 ("storage", "get-storage-config", "--storage-name", "cli-s3"),
                 ("--json", "storage", "query-storage", "--storage-name", "cli-s3"),
                 ("storage", "query-storage", "--storage-name", "cli-s3")):  # fmt: skip
        run = dlm(*args)
        assert run.code == 0, run.err
        assert secret not in run.out + run.err
    shown = dlm.ok("storage", "get-storage-config", "--storage-name", "cli-s3")
    assert shown[0]["parameters"]["secret_access_key"] == "***"


def test_ingest_request_and_data_item_commands(dlm, disks, tmp_path):
    (disks.src / "obs-1.fits").write_bytes(b"x" * 1000)
    before = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")
    uid = dlm.ok("ingest", "register-data-item", "obs-1.fits", "obs-1.fits", "--storage-name", "cli-src")
    assert isinstance(uid, str) and len(uid) == 36
    row = dlm.ok("data-item", "query-data-item", "--uid", uid)[0]
    assert (row["item_name"], row["item_state"], row["item_size"]) == ("obs-1.fits", "READY", 1000)
    assert dlm.ok("ingest", "init-data-item", "--item-name", "cli-planned")
    assert dlm.ok("request", "query-exists", "--item-name", "obs-1.fits") is True
    assert dlm.ok("request", "query-exists", "--item-name", "cli-planned", "--ready") is False
    assert dlm.ok("request", "query-exists-and-ready", "--uid", uid) is True
    assert dlm.ok("request", "query-exist-and-ready", "--item-name", "cli-planned") is False
    assert [r["uid"] for r in dlm.ok("request", "query-item-storage", "--item-name", "obs-1.fits")] == [uid]
    assert uid in [r["uid"] for r in dlm.ok("request", "query-new", before)]
    assert dlm.ok("request", "query-expired") == []
    assert dlm.ok("request", "query-deleted", "--uid", uid) == []

    storage_id = row["storage_id"]
    metadata = tmp_path / "meta.json"
    metadata.write_text(json.dumps({"observer": "cli"}))
    assert dlm.ok("data-item", "set-metadata", uid, "--metadata-post", f"@{metadata}")["metadata"] == {
        "observer": "cli"
    }
    assert (
        dlm.ok("data-item", "update-data-item", "--uid", uid, "--post-data", '{"item_format": "fits"}')["item_format"]
        == "fits"
    )
    assert dlm.ok("data-item", "set-uri", uid, "obs-1.fits", storage_id)["uri"] == "obs-1.fits"
    assert dlm.ok("data-item", "set-state", uid, "READY")["item_state"] == "READY"
    assert dlm.ok("data-item", "set-phase", "--uid", uid, "--phase", "LIQUID")["uid_phase"] == "LIQUID"
    assert dlm.ok("data-item", "set-uid-expiration", uid, "2099-01-02T03:04:05")["uid_expiration"].startswith(
        "2099-01-02T03:04:05"
    )
    assert dlm.ok("data-item", "set-oid-expiration", row["oid"], "2099-06-01T00:00:00")["oid_expiration"].startswith(
        "2099-06-01"
    )
    assert dlm.ok("data-item", "set-user", "--uid", uid, "--user", "astro")["item_owner"] == "astro"
    assert dlm.ok("data-item", "set-group", "--uid", uid, "--group", "radio")["item_group"] == "radio"
    assert dlm.ok("data-item", "set-acl", "--uid", uid, "--acl", '{"read": ["all"]}')["acl"]
    tags = dlm.ok("data-item", "update-item-tags", "--item-name", "obs-1.fits", "--item-tags", '{"band": "L"}')
    assert tags["item_tags"] == {"band": "L"}


def test_gateway_and_migration_queries(dlm, disks):
    assert dlm.ok("gateway", "heartbeat") == "ACK"
    read = ("--permission", "res:storage#scope:read")
    granted = {"is_logged_in": True, "is_authorized": True, "missing_permissions": []}
    assert dlm.ok("gateway", "scope", "--token", dlm.server.token, *read) == granted
    assert dlm.ok("gateway", "scope", "--token", "not-a-token", *read)["is_logged_in"] is False
    assert dlm.ok("migration", "get-migration-record", "999999") == []
    assert dlm.ok("migration", "get-migration", "--migration-id", "999999") == []
    assert isinstance(dlm.ok("migration", "query-migrations", "--storage-id", disks_storage_id(dlm)), list)


def disks_storage_id(dlm) -> str:
    return dlm.ok("storage", "query-storage", "--storage-name", "cli-dst")[0]["storage_id"]


def test_readable_output_is_a_table(dlm, disks):
    run = dlm("storage", "query-storage", "--storage-name", "cli-src")
    assert run.code == 0
    assert "storage_name" in run.out and "cli-src" in run.out
    assert not run.out.lstrip().startswith("[")  # not JSON


def test_the_command_line_loads_nothing_of_the_server():
    code = (
        "import sys, dlm_cli.app, dlm_cli.commands, dlm_cli.watcher, dlm_cli.copying; "
        "server = ('django', 'rest_framework', 'core', 'catalogue', 'accounts', 'migrations_app', 'dlm.'); "
        "print([m for m in sys.modules if m.startswith(server)])"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"
