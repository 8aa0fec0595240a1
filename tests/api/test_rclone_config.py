"""``/storage/rclone_config`` (contract §5, operation id create_rclone_config): whether rclone reaches a
remote, with nothing stored."""

from __future__ import annotations

import pytest

from catalogue.models import Location, Storage, StorageConfig
from tests.api.storage_helpers import error_types, missing
from tests.factories import make_storage


def test_rclone_config_with_a_reachable_local_remote_is_true(api, tmp_path):
    response = api.post("/storage/rclone_config", None, {"name": "x", "type": "local", "root_path": str(tmp_path)})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() is True
    assert StorageConfig.objects.count() == 0


def test_rclone_config_with_an_alias_to_an_existing_directory_is_true(api, tmp_path):
    config = {"name": "local", "type": "alias", "parameters": {"remote": str(tmp_path)}}

    response = api.post("/storage/rclone_config", None, config)

    assert response.status_code == 200
    assert response.json() is True


@pytest.mark.parametrize(
    "config",
    [
        {"name": "x", "type": "local", "root_path": "/no/such/directory/for/dlm"},
        {"name": "x", "type": "no-such-backend"},
        {"name": "x", "type": "alias", "parameters": {"remote": "/no/such/directory/for/dlm"}},
    ],
    ids=["missing root", "bogus type", "alias to missing directory"],
)
def test_rclone_config_with_an_unreachable_remote_is_200_false(api, config):
    response = api.post("/storage/rclone_config", None, config)

    assert response.status_code == 200
    assert response.json() is False


def test_rclone_config_does_not_write_to_the_database(api, tmp_path):
    make_storage(storage_name="st")
    counts = (Location.objects.count(), Storage.objects.count(), StorageConfig.objects.count())

    api.post("/storage/rclone_config", None, {"name": "st", "type": "local", "root_path": str(tmp_path)})
    api.post("/storage/rclone_config", None, {"name": "st", "type": "no-such-backend"})

    assert (Location.objects.count(), Storage.objects.count(), StorageConfig.objects.count()) == counts


def test_rclone_config_without_a_body_is_422_body_missing(api):
    response = api.post("/storage/rclone_config")

    assert response.status_code == 422
    assert response.json() == {"detail": [missing("body")]}


def test_rclone_config_with_a_body_that_is_not_an_object_is_422(api):
    response = api.post("/storage/rclone_config", None, ["local"])

    assert error_types(response) == {("body",): "dict_type"}


def test_rclone_config_without_a_type_is_422(api):
    response = api.post("/storage/rclone_config", None, {"name": "x"})

    assert error_types(response) == {("body", "type"): "missing"}


@pytest.mark.parametrize(
    ("config", "loc", "kind"),
    [
        ({"name": "x", "type": "local", "parameters": {"a=b": "1"}}, ["body", "parameters", "a=b"], "value_error"),
        (
            {"name": "x", "type": "local", "parameters": {"a\x00b": "1"}},
            ["body", "parameters", "a\x00b"],
            "string_type",
        ),
        ({"name": "x", "type": "sftp", "parameters": {"pass": "p\x00"}}, ["body", "parameters", "pass"], "string_type"),
        ({"name": "x", "type": "local", "root_path": "/tmp\x00"}, ["body", "root_path"], "string_type"),
    ],
    ids=["= in option name", "NUL in option name", "NUL in password", "NUL in root_path"],
)
def test_rclone_config_that_rclone_cannot_be_given_is_422_not_500(api, config, loc, kind):
    response = api.post("/storage/rclone_config", None, config)

    assert response.status_code == 422, response.content
    [entry] = response.json()["detail"]
    assert (entry["loc"], entry["type"]) == (loc, kind)


def test_rclone_config_with_json_nested_too_deeply_is_422_not_500(api):
    depth = 950  # within what the JSON parser accepts, beyond what storing or rendering can take
    raw = '{"name": "x", "type": "local", "parameters": {"a": ' + "[" * depth + "]" * depth + "}}"

    response = api.post("/storage/rclone_config", None, raw_body=raw)

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
