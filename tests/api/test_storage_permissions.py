"""Who may call the nine ``/storage`` operations (contract §5)."""

from __future__ import annotations

import pytest

from catalogue.models import Location, Storage, StorageConfig
from tests.api.storage_helpers import storage_params
from tests.factories import make_location, make_storage

ALL_OPERATIONS = [
    ("GET", "/storage/query_location_facility"),
    ("GET", "/storage/get_ssh_public_key"),
    ("GET", "/storage/query_location"),
    ("POST", "/storage/init_location"),
    ("POST", "/storage/init_storage"),
    ("POST", "/storage/create_storage_config"),
    ("GET", "/storage/get_storage_config"),
    ("POST", "/storage/rclone_config"),
    ("GET", "/storage/query_storage"),
]


@pytest.mark.parametrize(("method", "path"), ALL_OPERATIONS)
def test_every_storage_operation_without_a_token_is_401(anon_api, settings, method, path):
    settings.TRUSTED_NETWORKS = []

    response = anon_api.call(method, path)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(("method", "path"), ALL_OPERATIONS)
def test_every_storage_operation_with_an_unknown_token_is_401(make_api, settings, method, path):
    settings.TRUSTED_NETWORKS = []
    caller = make_api(None)
    caller.token = "not-a-real-token"

    response = caller.call(method, path)

    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)


def _write_calls(location: Location, tmp_path) -> dict:
    return {
        "init_location": ("/storage/init_location", {"location_name": "new", "location_type": "local-dev"}, None),
        "init_storage": (
            "/storage/init_storage",
            storage_params(storage_name="new", location_id=str(location.location_id)),
            None,
        ),
        "create_storage_config": (
            "/storage/create_storage_config",
            {"storage_name": "existing"},
            {"name": "r", "type": "local"},
        ),
        "rclone_config": ("/storage/rclone_config", None, {"name": "r", "type": "local", "root_path": str(tmp_path)}),
    }


@pytest.mark.parametrize("role", ["viewer", "operator"])
@pytest.mark.parametrize("operation", ["init_location", "init_storage", "create_storage_config", "rclone_config"])
def test_write_operations_need_the_admin_role(make_api, tmp_path, role, operation):
    location = make_location(location_name="existing")
    make_storage(location, storage_name="existing")
    path, params, body = _write_calls(location, tmp_path)[operation]

    response = make_api(role).post(path, params, body)

    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
    assert Location.objects.count() == 1
    assert Storage.objects.count() == 1
    assert StorageConfig.objects.count() == 0


@pytest.mark.parametrize("operation", ["init_location", "init_storage", "create_storage_config", "rclone_config"])
def test_write_operations_work_for_an_admin(api, tmp_path, operation):
    location = make_location(location_name="existing")
    make_storage(location, storage_name="existing")
    path, params, body = _write_calls(location, tmp_path)[operation]

    response = api.post(path, params, body)

    assert response.status_code == 200
    assert response.json()


def test_read_operations_work_for_a_viewer(viewer_api, settings, tmp_path):
    key_file = tmp_path / "key.pub"
    key_file.write_text("ssh-rsa AAAA viewer\n")
    settings.SSH_PUBLIC_KEY_PATH = key_file
    make_storage(storage_name="st")

    for path, params in [
        ("/storage/query_location_facility", None),
        ("/storage/get_ssh_public_key", None),
        ("/storage/query_location", None),
        ("/storage/get_storage_config", {"storage_name": "st"}),
        ("/storage/query_storage", {"storage_name": "st"}),
    ]:
        response = viewer_api.get(path, params)

        assert response.status_code == 200, path
    assert viewer_api.get("/storage/query_storage", {"storage_name": "st"}).json()[0]["storage_name"] == "st"
