"""``/storage/get_ssh_public_key`` (contract §5): the public SSH key DLM reaches storages with."""

from __future__ import annotations

import pytest

from tests.api.storage_helpers import assert_exec


def test_get_ssh_public_key_answers_the_key_file_stripped(api, settings, tmp_path):
    key_file = tmp_path / "id_ed25519.pub"
    key_file.write_text("\n  ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey dlm@test  \n\n")
    settings.SSH_PUBLIC_KEY_PATH = key_file

    response = api.get("/storage/get_ssh_public_key")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey dlm@test"


def test_get_ssh_public_key_without_a_configured_path_is_422_not_500(api, settings):
    settings.SSH_PUBLIC_KEY_PATH = None

    response = api.get("/storage/get_ssh_public_key")

    message = assert_exec(response, 422, "UnmetPreconditionForOperation")
    assert "SSH_PUBLIC_KEY_PATH" in message


@pytest.mark.parametrize("kind", ["absent file", "directory"])
def test_get_ssh_public_key_with_an_unreadable_path_is_422(api, settings, tmp_path, kind):
    settings.SSH_PUBLIC_KEY_PATH = tmp_path / "missing.pub" if kind == "absent file" else tmp_path

    response = api.get("/storage/get_ssh_public_key")

    assert_exec(response, 422, "UnmetPreconditionForOperation", "Unable to open SSH key")
