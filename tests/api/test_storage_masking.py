"""Every answer that embeds a storage's remote definition shows its secrets as "***": query_storage
(which embeds them as upstream's next version does) masks exactly as get_storage_config does, and
neither carries a secret as typed, escaped, base64-encoded or obscured by rclone."""

from __future__ import annotations

import base64
import json
import os

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.test import Client

from accounts.roles import Role
from accounts.tokens import account_ensure
from catalogue.models import Storage, StorageConfig
from catalogue.rows import STORAGE_COLUMNS
from catalogue.services.storages import storage_config_create
from core.actor import acting
from core.secrets import MASK, join_secrets
from tests.factories import make_location, make_storage
from tests.test_secret_leaks import _OBSCURE_KEY, Detector, canary

pytestmark = pytest.mark.django_db

STORAGE_KEYS = [key for key, _ in STORAGE_COLUMNS]


def obscured(clear: str) -> str:
    """What ``rclone obscure`` prints for ``clear`` (AES-CTR under rclone's public key, random IV)."""
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(_OBSCURE_KEY), modes.CTR(iv)).encryptor()
    return base64.urlsafe_b64encode(iv + encryptor.update(clear.encode()) + encryptor.finalize()).decode().rstrip("=")


@pytest.fixture
def world(db):
    """An S3 storage (secret key and session token), an sftp storage (an obscured password and a
    PEM key, plus an older ssh definition), a storage whose legacy definition kept a secret in its
    public part, and a storage without any; with a detector that knows every secret."""
    detector = Detector()
    secret = {
        "s3": canary("s3-secret-key"),
        "s3_token": canary("s3-session-token"),
        "sftp_pass": canary("sftp-pass"),
        "key_pem": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{canary('sftp-pem')}\n-----END OPENSSH PRIVATE KEY-----",
        "ssh_pass": canary("ssh-pass"),
        "legacy": canary("legacy-api-key"),
    }
    for name, value in secret.items():
        detector.add(name, value)
    pass_obscured = obscured(secret["sftp_pass"])
    detector.add("sftp_pass obscured", pass_obscured)

    location = make_location(location_name="masking")
    s3 = make_storage(location, storage_name="mask-s3", storage_type="objectstore", storage_interface="s3")
    sftp = make_storage(location, storage_name="mask-sftp")
    legacy = make_storage(location, storage_name="mask-legacy")
    bare = make_storage(location, storage_name="mask-bare")
    with acting(username="ops", user_id=None, auth="command", via="command", operation="test"):
        storage_config_create(
            storage_id=s3.pk,
            check_remote=False,
            config={
                "name": "mask-s3",
                "type": "s3",
                "parameters": {
                    "provider": "Minio",
                    "endpoint": "http://127.0.0.1:9",
                    "access_key_id": "AKIAMASKTEST",
                    "secret_access_key": secret["s3"],
                    "session_token": secret["s3_token"],
                },
            },
        )
        storage_config_create(
            storage_id=sftp.pk,
            check_remote=False,
            config={
                "name": "mask-sftp",
                "type": "sftp",
                "parameters": {"host": "127.0.0.1", "user": "dlm", "pass": pass_obscured, "key_pem": secret["key_pem"]},
            },
        )
        storage_config_create(
            storage_id=sftp.pk,
            config_type="ssh",
            check_remote=False,
            config={"name": "mask-ssh", "host": "127.0.0.1", "password": secret["ssh_pass"]},
        )
    # As stored before "api_key" was known to be secret: in the public part, in clear.
    StorageConfig.objects.create(
        storage=legacy,
        config={
            "name": "mask-legacy",
            "type": "webdav",
            "parameters": {"url": "http://h", "api_key": secret["legacy"]},
        },
    )
    return {"detector": detector, "s3": s3, "sftp": sftp, "legacy": legacy, "bare": bare}


MASKED = {
    "mask-s3": [
        {
            "name": "mask-s3",
            "type": "s3",
            "root_path": "/",
            "parameters": {
                "provider": "Minio",
                "endpoint": "http://127.0.0.1:9",
                "access_key_id": "AKIAMASKTEST",
                "secret_access_key": MASK,
                "session_token": MASK,
            },
        }
    ],
    "mask-sftp": [
        {
            "name": "mask-sftp",
            "type": "sftp",
            "root_path": "/",
            "parameters": {"host": "127.0.0.1", "user": "dlm", "pass": MASK, "key_pem": MASK},
        },
        {"name": "mask-ssh", "host": "127.0.0.1", "password": MASK},
    ],
    "mask-legacy": [{"name": "mask-legacy", "type": "webdav", "parameters": {"url": "http://h", "api_key": MASK}}],
    "mask-bare": [],
}


def _assert_clean(world, label: str, response) -> None:
    detector = world["detector"]
    detector.response(label, response)
    assert detector.findings == [], "\n".join(str(finding) for finding in detector.findings)


def _by_name(rows: list[dict]) -> dict[str, list[dict]]:
    return {row["storage_name"]: [embedded["config"] for embedded in row["storage_config"]] for row in rows}


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({}, ["mask-bare", "mask-legacy", "mask-s3", "mask-sftp"]),
        ({"storage_name": "mask-sftp"}, ["mask-sftp"]),
        ({"storage_id": "sftp"}, ["mask-sftp"]),
        ({"storage_name": "mask-s3", "storage_id": "sftp"}, ["mask-s3"]),  # the name wins
        ({"limit": 2}, ["mask-bare", "mask-legacy"]),
        ({"limit": 2, "offset": 2}, ["mask-s3", "mask-sftp"]),
        ({"location_id": "ignored"}, ["mask-bare", "mask-legacy", "mask-s3", "mask-sftp"]),
    ],
)
def test_query_storage_embeds_each_storages_configs_masked(world, viewer_api, params, names):
    params = {key: str(world[value].pk) if key == "storage_id" else value for key, value in params.items()}

    response = viewer_api.get("/storage/query_storage", params)

    assert response.status_code == 200, response.content
    rows = response.json()
    assert [row["storage_name"] for row in rows] == names
    for row in rows:
        assert list(row) == [*STORAGE_KEYS, "storage_config"]  # upstream's columns first, unchanged
    assert _by_name(rows) == {name: MASKED[name] for name in names}
    _assert_clean(world, f"query_storage {params}", response)


@pytest.mark.parametrize("params", [{"storage_name": "nope"}, {"storage_id": "00000000-0000-0000-0000-000000000000"}])
def test_query_storage_with_no_match_is_still_an_empty_list(world, viewer_api, params):
    response = viewer_api.get("/storage/query_storage", params)
    assert (response.status_code, response.json()) == (200, [])


def test_query_storage_masks_exactly_as_get_storage_config(world, viewer_api):
    embedded = _by_name(viewer_api.get("/storage/query_storage").json())

    for name in ("mask-s3", "mask-legacy"):
        response = viewer_api.get("/storage/get_storage_config", {"storage_name": name})
        assert response.status_code == 200
        assert response.json() == embedded[name] == MASKED[name]
        _assert_clean(world, f"get_storage_config {name}", response)
    by_id = viewer_api.get("/storage/get_storage_config", {"storage_id": str(world["sftp"].pk)})
    by_type = viewer_api.get("/storage/get_storage_config", {"storage_id": str(world["sftp"].pk), "config_type": "ssh"})
    everything = viewer_api.get("/storage/get_storage_config")
    assert by_id.json() == embedded["mask-sftp"][:1]
    assert by_type.json() == embedded["mask-sftp"][1:]
    assert sorted(map(str, everything.json())) == sorted(str(c) for configs in embedded.values() for c in configs)
    for label, response in (("by id", by_id), ("by type", by_type), ("all", everything)):
        _assert_clean(world, f"get_storage_config {label}", response)


def test_query_storage_reads_every_storages_configs_in_one_query(world, viewer_api, django_assert_max_num_queries):
    for n in range(20):
        storage = make_storage(storage_name=f"mask-many-{n:02}")
        StorageConfig.objects.create(storage=storage, config={"name": f"m{n}", "type": "local"}, secrets=[])
    viewer_api.get("/storage/query_storage")  # the token is now remembered

    with django_assert_max_num_queries(2):  # the storages, then their configs
        response = viewer_api.get("/storage/query_storage")

    assert len(response.json()) == 24


def test_a_config_whose_secrets_cannot_be_decrypted_is_shown_without_them(world, viewer_api, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key()]  # the key the secrets were made with is gone

    response = viewer_api.get("/storage/query_storage", {"storage_name": "mask-s3"})

    assert response.status_code == 200
    [config] = _by_name(response.json())["mask-s3"]
    assert config["parameters"] == {
        "provider": "Minio",
        "endpoint": "http://127.0.0.1:9",
        "access_key_id": "AKIAMASKTEST",
    }
    _assert_clean(world, "query_storage, secrets unreadable", response)


def test_the_audit_trail_of_configs_shows_no_secret(world, api):
    response = api.get("/audit/query_audit", {"object_type": "storage_config"})

    assert response.status_code == 200
    records = response.json()
    assert len(records) == 3
    assert MASK in str(records)
    _assert_clean(world, "query_audit storage_config", response)


@pytest.mark.parametrize(
    "storage",
    [
        "s3",
        "sftp",
        "legacy",
    ],
)
def test_the_storage_page_of_the_web_ui_shows_no_secret(world, storage):
    client = Client()
    client.force_login(account_ensure(username="ui-admin", role=Role.ADMIN))

    response = client.get(f"/storages/{world[storage].pk}")

    assert response.status_code == 200
    _assert_clean(world, f"UI storage page {storage}", response)


def test_the_detector_would_see_each_secret_stored(world):
    # The checks above mean something only if the stored secrets, shown unmasked, are found.
    detector = world["detector"]
    for config in StorageConfig.objects.all():
        detector.scan(f"config {config.pk}", json.dumps(join_secrets(config.config, config.secrets)))
    found = {finding.secret for finding in detector.findings}
    assert {"s3", "s3_token", "sftp_pass obscured", "sftp_pass", "key_pem", "ssh_pass", "legacy"} <= found


def test_an_empty_storage_row_still_has_its_columns(world, viewer_api):
    [row] = viewer_api.get("/storage/query_storage", {"storage_name": "mask-bare"}).json()
    storage = Storage.objects.get(storage_name="mask-bare")
    assert row["storage_id"] == str(storage.pk)
    assert row["storage_config"] == []
