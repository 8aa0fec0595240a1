"""Secret rclone options are encrypted at rest, under a key list, and never shown."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from catalogue import services
from catalogue.models import StorageConfig
from core.crypto import SecretDecryptionError
from core.secrets import MASK, is_secret_option, join_secrets, mask_secrets, split_secrets
from tests.factories import make_storage

pytestmark = pytest.mark.django_db


@pytest.fixture
def secrets(s3_server) -> dict[str, str]:
    """The secret options of ``config``: the S3 server's real key, and a session token it ignores."""
    return {"secret_access_key": s3_server.secret, "session_token": "ST-okapi-9921"}


@pytest.fixture
def config(s3_server, secrets) -> dict:
    """An S3 remote definition rclone reaches (storing checks that), with two secret options."""
    return {**s3_server.config, "parameters": {**s3_server.config["parameters"], **secrets}}


def _raw_rows() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM storage_config")
        return repr(cursor.fetchall())


def test_raw_database_row_holds_no_secret(config, secrets):
    services.storage_config_create(config=config, storage_id=make_storage().storage_id)
    raw = _raw_rows()
    for value in secrets.values():
        assert value not in raw
    assert "AKTEST" in raw  # the rest of the definition stays readable and queryable


def test_stored_definition_round_trips_with_its_secrets(config):
    created = services.storage_config_create(config=config, storage_id=make_storage().storage_id)
    stored = StorageConfig.objects.get(pk=created.pk)
    assert join_secrets(stored.config, stored.secrets) == {**config, "root_path": "/"}
    assert mask_secrets(stored.config, stored.secrets)["parameters"]["secret_access_key"] == MASK


def test_a_wrong_key_is_an_error_never_ciphertext(settings, config):
    created = services.storage_config_create(config=config, storage_id=make_storage().storage_id)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key()]
    with pytest.raises(SecretDecryptionError, match="DLM_FIELD_ENCRYPTION_KEYS"):
        StorageConfig.objects.get(pk=created.pk)


def test_an_older_key_later_in_the_list_still_decrypts(settings, config):
    created = services.storage_config_create(config=config, storage_id=make_storage().storage_id)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key(), *settings.FIELD_ENCRYPTION_KEYS]
    assert StorageConfig.objects.get(pk=created.pk).secrets


@pytest.mark.parametrize(
    "name", ["pass", "key_file_pass", "secret_access_key", "token", "client_secret", "sas_url", "password2", "key"]
)
def test_rclone_secret_options_are_recognised(name):
    assert is_secret_option(name)


@pytest.mark.parametrize("name", ["user", "host", "key_file", "access_key_id", "endpoint", "provider", "remote"])
def test_ordinary_options_are_not_secret(name):
    assert not is_secret_option(name)


def test_split_finds_secrets_at_any_depth_and_ignores_empty_values():
    public, secrets = split_secrets({"name": "x", "pass": "p1", "parameters": {"pass": "", "nested": {"token": "t"}}})
    assert public == {"name": "x", "parameters": {"pass": "", "nested": {}}}
    assert sorted(path for path, _ in secrets) == [["parameters", "nested", "token"], ["pass"]]
