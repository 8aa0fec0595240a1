"""``/storage`` operations on storage configs (contract §5): create_storage_config and
get_storage_config."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection

from catalogue.models import StorageConfig
from core.secrets import join_secrets
from tests.api.storage_helpers import assert_exec, error_types, missing
from tests.factories import make_storage


def raw_storage_config_rows() -> str:
    """Every stored storage_config row as the database holds it, as text."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT config, secrets FROM storage_config")
        return repr(cursor.fetchall())


# --- S6 create_storage_config ----------------------------------------------------------------


def test_create_storage_config_stores_the_config_without_its_secrets(api, s3_server):
    storage = make_storage(storage_name="dlm-archive")
    endpoint = s3_server.config["parameters"]["endpoint"]

    response = api.post("/storage/create_storage_config", {"storage_name": "dlm-archive"}, s3_server.config)

    assert response.status_code == 200, response.content
    config_id = response.json()
    assert isinstance(config_id, str)
    stored = StorageConfig.objects.get()
    assert config_id == str(stored.config_id)
    assert stored.storage_id == storage.storage_id
    assert stored.config_type == "rclone"
    raw = raw_storage_config_rows()
    assert "AKTEST" in raw
    assert s3_server.secret not in raw
    # The secret is kept (encrypted), so that rclone can still be given the whole definition.
    assert join_secrets(stored.config, stored.secrets)["parameters"]["secret_access_key"] == s3_server.secret

    shown = api.get("/storage/get_storage_config", {"storage_name": "dlm-archive"})
    assert shown.status_code == 200
    assert s3_server.secret not in shown.content.decode()
    assert shown.json() == [
        {
            "name": "acacia",
            "type": "s3",
            "parameters": {
                "provider": "Rclone",
                "endpoint": endpoint,
                "access_key_id": "AKTEST",
                "secret_access_key": "***",
            },
            "root_path": "/",
        }
    ]


def test_create_storage_config_keeps_a_given_root_path(api, tmp_path):
    make_storage(storage_name="st")

    response = api.post(
        "/storage/create_storage_config",
        {"storage_name": "st"},
        {"name": "r", "type": "local", "root_path": str(tmp_path)},
    )

    assert response.status_code == 200
    assert StorageConfig.objects.get().config == {"name": "r", "type": "local", "root_path": str(tmp_path)}


def test_create_storage_config_by_storage_id(api):
    storage = make_storage()

    response = api.post(
        "/storage/create_storage_config", {"storage_id": str(storage.storage_id)}, {"name": "r", "type": "local"}
    )

    assert response.status_code == 200
    stored = StorageConfig.objects.get()
    assert stored.storage_id == storage.storage_id
    assert stored.config == {"name": "r", "type": "local", "root_path": "/"}


def test_create_storage_config_name_wins_over_id(api):
    by_name = make_storage(storage_name="by-name")
    by_id = make_storage(storage_name="by-id")

    response = api.post(
        "/storage/create_storage_config",
        {"storage_name": "by-name", "storage_id": str(by_id.storage_id)},
        {"name": "r", "type": "local"},
    )

    assert response.status_code == 200
    assert StorageConfig.objects.get().storage_id == by_name.storage_id


def test_create_storage_config_with_another_config_type(api):
    storage = make_storage()

    response = api.post(
        "/storage/create_storage_config",
        {"storage_id": str(storage.storage_id), "config_type": "ssh"},
        {"host": "archive.example.org", "password": "hunter2"},
    )

    assert response.status_code == 200
    stored = StorageConfig.objects.get()
    assert stored.config_type == "ssh"
    assert "hunter2" not in raw_storage_config_rows()


def test_create_storage_config_rejects_a_bad_config_type(api):
    storage = make_storage()

    response = api.post(
        "/storage/create_storage_config",
        {"storage_id": str(storage.storage_id), "config_type": "RCLONE"},
        {"name": "r", "type": "local"},
    )

    assert error_types(response) == {("query", "config_type"): "enum"}
    assert StorageConfig.objects.count() == 0


def test_create_storage_config_needs_a_storage(api):
    make_storage()

    response = api.post("/storage/create_storage_config", None, {"name": "r", "type": "local"})

    assert_exec(response, 422, "UnmetPreconditionForOperation", "Neither storage_id nor storage_name is specified.")
    assert StorageConfig.objects.count() == 0


def test_create_storage_config_with_an_unknown_storage_name_is_422_not_500(api):
    make_storage()

    response = api.post("/storage/create_storage_config", {"storage_name": "nope"}, {"name": "r", "type": "local"})

    assert_exec(response, 422, "UnmetPreconditionForOperation", "Can't get storage_id for nope")
    assert StorageConfig.objects.count() == 0


def test_create_storage_config_with_an_unknown_storage_id_is_422(api):
    make_storage()

    response = api.post(
        "/storage/create_storage_config", {"storage_id": str(uuid.uuid4())}, {"name": "r", "type": "local"}
    )

    assert_exec(response, 422, "UnmetPreconditionForOperation")
    assert StorageConfig.objects.count() == 0


def test_create_storage_config_with_a_malformed_storage_id_is_422(api):
    response = api.post("/storage/create_storage_config", {"storage_id": "xyz"}, {"name": "r", "type": "local"})

    assert error_types(response) == {("query", "storage_id"): "uuid_parsing"}


def test_create_storage_config_without_a_body_is_422_body_missing(api):
    make_storage(storage_name="st")

    response = api.post("/storage/create_storage_config", {"storage_name": "st"})

    assert response.status_code == 422
    assert response.json() == {"detail": [missing("body")]}
    assert StorageConfig.objects.count() == 0


@pytest.mark.parametrize("body", [["name", "type"], "local", 3, None])
def test_create_storage_config_with_a_body_that_is_not_an_object_is_422(api, body):
    make_storage(storage_name="st")

    response = api.post("/storage/create_storage_config", {"storage_name": "st"}, raw_body=json.dumps(body))

    assert error_types(response) == {("body",): "dict_type"}
    assert StorageConfig.objects.count() == 0


@pytest.mark.parametrize(
    ("config", "bad"),
    [
        ({"type": "local"}, [("body", "name")]),
        ({"name": "r"}, [("body", "type")]),
        ({}, [("body", "name"), ("body", "type")]),
        ({"name": "", "type": 7}, [("body", "name"), ("body", "type")]),
        ({"name": "r", "type": "local", "parameters": "x"}, [("body", "parameters")]),
        ({"name": "r", "type": "local", "root_path": 5}, [("body", "root_path")]),
    ],
)
def test_create_storage_config_rejects_a_config_without_name_or_type(api, config, bad):
    make_storage(storage_name="st")

    response = api.post("/storage/create_storage_config", {"storage_name": "st"}, config)

    assert sorted(error_types(response)) == sorted(bad)
    assert StorageConfig.objects.count() == 0


@pytest.mark.parametrize("option", ["a=b", "", "with space", "dash-ed"])
def test_create_storage_config_rejects_an_option_name_rclone_cannot_take(api, option):
    make_storage(storage_name="st")

    response = api.post(
        "/storage/create_storage_config",
        {"storage_name": "st"},
        {"name": "r", "type": "sftp", "parameters": {option: "x"}},
    )

    assert error_types(response) == {("body", "parameters", option): "value_error"}
    assert StorageConfig.objects.count() == 0


def test_create_storage_config_rejects_a_nul_character_with_422_not_500(api):
    make_storage(storage_name="st")

    response = api.post(
        "/storage/create_storage_config",
        {"storage_name": "st"},
        {"name": "r", "type": "sftp", "parameters": {"host": "h\x00st"}},
    )

    assert error_types(response) == {("body", "parameters", "host"): "string_type"}
    assert StorageConfig.objects.count() == 0


def test_create_storage_config_allows_several_configs_per_storage(api):
    make_storage(storage_name="st")

    first = api.post("/storage/create_storage_config", {"storage_name": "st"}, {"name": "one", "type": "local"})
    second = api.post("/storage/create_storage_config", {"storage_name": "st"}, {"name": "two", "type": "local"})

    assert first.status_code == second.status_code == 200
    assert first.json() != second.json()
    assert StorageConfig.objects.count() == 2
    shown = api.get("/storage/get_storage_config", {"storage_name": "st"}).json()
    assert sorted(config["name"] for config in shown) == ["one", "two"]


def test_create_storage_config_with_json_nested_too_deeply_is_422_not_500(api):
    make_storage(storage_name="st")
    for depth in (950, 5000):
        raw = '{"name": "x", "type": "local", "parameters": {"a": ' + "[" * depth + "]" * depth + "}}"

        response = api.post("/storage/create_storage_config", {"storage_name": "st"}, raw_body=raw)

        assert response.status_code == 422, depth
        assert response.json()["detail"][0]["type"] == "json_invalid"
    assert StorageConfig.objects.count() == 0


# --- S7 get_storage_config -------------------------------------------------------------------


@pytest.fixture
def two_storages_with_configs(api):
    """Storage "alpha" with an rclone and an ssh config, storage "beta" with an rclone config."""
    alpha = make_storage(storage_name="alpha")
    beta = make_storage(storage_name="beta")
    for params, body in [
        ({"storage_name": "alpha"}, {"name": "alpha-remote", "type": "local"}),
        ({"storage_name": "alpha", "config_type": "ssh"}, {"host": "alpha.example.org"}),
        ({"storage_name": "beta"}, {"name": "beta-remote", "type": "local"}),
    ]:
        assert api.post("/storage/create_storage_config", params, body).status_code == 200
    return alpha, beta


def test_get_storage_config_by_name_returns_only_the_config_objects(api, two_storages_with_configs):
    response = api.get("/storage/get_storage_config", {"storage_name": "alpha"})

    assert response.status_code == 200
    assert response.json() == [{"name": "alpha-remote", "type": "local", "root_path": "/"}]


def test_get_storage_config_by_id(api, two_storages_with_configs):
    _, beta = two_storages_with_configs

    response = api.get("/storage/get_storage_config", {"storage_id": str(beta.storage_id)})

    assert response.status_code == 200
    assert response.json() == [{"name": "beta-remote", "type": "local", "root_path": "/"}]


def test_get_storage_config_name_wins_over_id(api, two_storages_with_configs):
    _, beta = two_storages_with_configs

    response = api.get("/storage/get_storage_config", {"storage_name": "alpha", "storage_id": str(beta.storage_id)})

    assert [config["name"] for config in response.json()] == ["alpha-remote"]


def test_get_storage_config_filters_on_config_type(api, two_storages_with_configs):
    response = api.get("/storage/get_storage_config", {"storage_name": "alpha", "config_type": "ssh"})

    assert response.status_code == 200
    assert response.json() == [{"host": "alpha.example.org"}]


def test_get_storage_config_without_a_storage_returns_all_and_ignores_config_type(api, two_storages_with_configs):
    for config_type in [None, "rclone", "gcs"]:
        response = api.get("/storage/get_storage_config", {"config_type": config_type} if config_type else None)

        assert response.status_code == 200
        names = sorted(config.get("name") or config.get("host") for config in response.json())
        assert names == ["alpha-remote", "alpha.example.org", "beta-remote"]


def test_get_storage_config_of_a_storage_without_configs_is_empty(api):
    make_storage(storage_name="empty")

    response = api.get("/storage/get_storage_config", {"storage_name": "empty"})

    assert response.status_code == 200
    assert response.json() == []


def test_get_storage_config_with_an_unknown_name_is_422(api, two_storages_with_configs):
    response = api.get("/storage/get_storage_config", {"storage_name": "gamma"})

    assert_exec(response, 422, "UnmetPreconditionForOperation", "Can't get storage_id for gamma")


def test_get_storage_config_with_an_unknown_id_is_an_empty_list(api, two_storages_with_configs):
    response = api.get("/storage/get_storage_config", {"storage_id": str(uuid.uuid4())})

    assert response.status_code == 200
    assert response.json() == []


def test_get_storage_config_with_a_malformed_id_is_422(api):
    response = api.get("/storage/get_storage_config", {"storage_id": "123"})

    assert error_types(response) == {("query", "storage_id"): "uuid_parsing"}


def test_get_storage_config_pages(api, two_storages_with_configs):
    first = api.get("/storage/get_storage_config", {"limit": 2}).json()
    rest = api.get("/storage/get_storage_config", {"limit": 2, "offset": 2}).json()

    assert len(first) == 2
    assert len(rest) == 1
    assert rest[0] not in first


@pytest.mark.parametrize("option", ["secret_access_key", "pass", "key_file_pass", "token", "client_secret"])
def test_get_storage_config_never_shows_a_secret(api, sftp_server, option):
    make_storage(storage_name="st")
    # A reachable SFTP remote (its password is a secret) with the option added (ignored by sftp).
    secret = sftp_server.secret if option == "pass" else f"very-secret-value-of-{option}"
    config = {**sftp_server.config, "parameters": {**sftp_server.config["parameters"], option: secret}}
    assert api.post("/storage/create_storage_config", {"storage_name": "st"}, config).status_code == 200
    public = {key: value for key, value in sftp_server.config["parameters"].items() if key != "pass"}

    for params in [{"storage_name": "st"}, None]:
        response = api.get("/storage/get_storage_config", params)

        assert response.status_code == 200
        assert secret not in response.content.decode()
        assert sftp_server.secret not in response.content.decode()
        [shown] = response.json()
        assert shown["parameters"] == {**public, "pass": "***", option: "***"}
    assert secret not in raw_storage_config_rows()
    assert sftp_server.secret not in raw_storage_config_rows()
