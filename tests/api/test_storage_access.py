"""The storage endpoints tell the truth about remotes: ``create_storage_config`` and
``rclone_config`` try the remote with a real rclone (against the loopback S3 and SFTP servers of
``tests/storage_servers.py``), and ``check_storage_access`` (a DLM extension) checks a stored
storage's remote and records the outcome. No secret ever reaches a response or a log."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from audit.models import AuditRecord
from catalogue.models import Location, Storage, StorageConfig
from catalogue.services import storage_config_create
from catalogue.services.bootstrap import catalogue_bootstrap
from catalogue.services.storages import storage_check_access
from core.rows import json_value
from tests.factories import make_location, make_storage
from tests.storage_servers import _free_port

CREATE = "/storage/create_storage_config"
CHECK = "/storage/check_storage_access"


def with_parameters(config: dict, **parameters) -> dict:
    return {**config, "parameters": {**config["parameters"], **parameters}}


def assert_refused(response, *reasons: str) -> str:
    """A 422 ``UnmetPreconditionForOperation`` naming the remote and carrying rclone's reason."""
    assert response.status_code == 422, response.content
    body = response.json()
    assert set(body) == {"exec", "message"}
    assert body["exec"] == "UnmetPreconditionForOperation"
    assert "not reachable" in body["message"]
    for reason in reasons:
        assert reason in body["message"]
    return body["message"]


def assert_naive_utc_now(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is None, text
    assert abs(moment.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=1)
    return moment


@pytest.fixture
def storage(db):
    return make_storage(storage_name="st")


@pytest.fixture
def short_rclone_timeout(settings):
    """rclone retries a closed port for longer than its 30 s default timeout: give up sooner."""
    settings.DLM_RCLONE_TIMEOUT = 4


@pytest.fixture
def no_secrets_in_logs(caplog):
    """``check(*secrets)``: none of the secrets is in any log record captured so far."""
    caplog.set_level(logging.DEBUG)

    def check(*secrets: str) -> None:
        logged = "\n".join(
            record.getMessage() + (str(record.exc_info) if record.exc_info else "") for record in caplog.records
        )
        for secret in secrets:
            assert secret not in logged

    return check


# --- create_storage_config: the remote is tried before anything is stored ----------------------


def test_good_s3_keys_are_stored(api, storage, s3_server, no_secrets_in_logs):
    response = api.post(CREATE, {"storage_name": "st"}, s3_server.config)

    assert response.status_code == 200, response.content
    stored = StorageConfig.objects.get()
    assert response.json() == str(stored.config_id)
    assert stored.storage_id == storage.storage_id
    assert s3_server.secret not in response.content.decode()
    no_secrets_in_logs(s3_server.secret)


def test_a_bucket_as_root_path_is_stored(api, storage, s3_server):
    response = api.post(CREATE, {"storage_name": "st"}, {**s3_server.config, "root_path": "/bucket1"})

    assert response.status_code == 200, response.content
    assert StorageConfig.objects.get().config["root_path"] == "/bucket1"


def test_a_wrong_s3_secret_is_422_with_rclones_reason_and_nothing_is_stored(
    api, storage, s3_server, no_secrets_in_logs
):
    wrong = "SK-wrong-" + s3_server.secret[::-1]
    config = with_parameters(s3_server.config, secret_access_key=wrong)

    response = api.post(CREATE, {"storage_name": "st"}, config)

    message = assert_refused(response, "SignatureDoesNotMatch", "'acacia'")
    assert message.startswith("Configuring rclone server failed!")
    assert wrong not in response.content.decode()
    assert s3_server.secret not in response.content.decode()
    assert StorageConfig.objects.count() == 0
    no_secrets_in_logs(wrong, s3_server.secret)


def test_an_unreachable_endpoint_is_422_and_nothing_is_stored(
    api, storage, s3_server, no_secrets_in_logs, short_rclone_timeout
):
    config = with_parameters(s3_server.config, endpoint=f"http://127.0.0.1:{_free_port()}")

    response = api.post(CREATE, {"storage_id": str(storage.storage_id)}, config)

    message = assert_refused(response)
    assert "connection refused" in message or "did not answer" in message
    assert s3_server.secret not in response.content.decode()
    assert StorageConfig.objects.count() == 0
    no_secrets_in_logs(s3_server.secret)


def test_a_missing_bucket_is_422_and_nothing_is_stored(api, storage, s3_server):
    response = api.post(CREATE, {"storage_name": "st"}, {**s3_server.config, "root_path": "/nobucket"})

    assert_refused(response, "not found")
    assert StorageConfig.objects.count() == 0


def test_a_wrong_sftp_password_is_422_and_nothing_is_stored(api, storage, sftp_server, no_secrets_in_logs):
    wrong = "pw-wrong-" + sftp_server.secret[::-1]

    response = api.post(CREATE, {"storage_name": "st"}, with_parameters(sftp_server.config, **{"pass": wrong}))

    assert_refused(response, "unable to authenticate")
    assert wrong not in response.content.decode()
    assert StorageConfig.objects.count() == 0
    no_secrets_in_logs(wrong, sftp_server.secret)


def test_a_good_sftp_password_is_stored(api, storage, sftp_server):
    response = api.post(CREATE, {"storage_name": "st"}, sftp_server.config)

    assert response.status_code == 200, response.content
    assert sftp_server.secret not in response.content.decode()
    assert StorageConfig.objects.count() == 1


@pytest.mark.parametrize(
    "config",
    [
        {"name": "x", "type": "local", "root_path": "/no/such/directory/for/dlm"},
        {"name": "x", "type": "alias", "parameters": {"remote": "/no/such/directory/for/dlm"}},
    ],
    ids=["local", "alias"],
)
def test_a_local_path_that_does_not_exist_is_422(api, storage, config):
    response = api.post(CREATE, {"storage_name": "st"}, config)

    assert_refused(response, "not found")
    assert StorageConfig.objects.count() == 0


def test_an_unknown_backend_is_422(api, storage):
    response = api.post(CREATE, {"storage_name": "st"}, {"name": "x", "type": "no-such-backend"})

    assert_refused(response)
    assert StorageConfig.objects.count() == 0


def test_rclones_error_text_is_masked_when_it_holds_a_secret(api, storage, no_secrets_in_logs):
    # rclone names the endpoint's host in its error; here that host is also the secret.
    secret = "sk-echoed-by-rclone"
    config = {
        "name": "x",
        "type": "s3",
        "parameters": {
            "provider": "Rclone",
            "endpoint": f"http://{secret}.invalid",
            "access_key_id": "AKTEST",
            "secret_access_key": secret,
        },
    }

    response = api.post(CREATE, {"storage_name": "st"}, config)

    message = assert_refused(response)
    assert "***" in message
    assert secret not in response.content.decode()
    assert StorageConfig.objects.count() == 0
    no_secrets_in_logs(secret)


def test_other_config_types_are_not_tried(api, storage):
    response = api.post(CREATE, {"storage_name": "st", "config_type": "ssh"}, {"host": "nowhere.invalid"})

    assert response.status_code == 200
    assert StorageConfig.objects.get().config_type == "ssh"


def test_the_service_skips_the_check_when_asked(storage):
    config = {"name": "x", "type": "local", "root_path": "/no/such/directory/for/dlm"}

    created = storage_config_create(config=config, storage_id=storage.storage_id, check_remote=False)

    assert StorageConfig.objects.get().pk == created.pk


# --- rclone_config: 200 true / 200 false, nothing stored ---------------------------------------


@pytest.mark.parametrize(
    ("server", "change", "expected"),
    [
        ("s3_server", {}, True),
        ("s3_server", {"root_path": "/bucket1"}, True),
        ("s3_server", {"parameters": {"secret_access_key": "SK-wrong"}}, False),
        ("s3_server", {"parameters": {"endpoint": "closed port"}}, False),
        ("s3_server", {"root_path": "/nobucket"}, False),
        ("sftp_server", {}, True),
        ("sftp_server", {"parameters": {"pass": "pw-wrong"}}, False),
    ],
    ids=["s3", "s3 bucket", "s3 wrong secret", "s3 closed port", "s3 missing bucket", "sftp", "sftp wrong password"],
)
def test_rclone_config_answers_whether_the_remote_is_reachable(
    api, request, short_rclone_timeout, server, change, expected
):
    served = request.getfixturevalue(server)
    parameters = dict(change.get("parameters", {}))
    if parameters.get("endpoint") == "closed port":
        parameters["endpoint"] = f"http://127.0.0.1:{_free_port()}"
    config = {**served.config, **{k: v for k, v in change.items() if k != "parameters"}}
    config = with_parameters(config, **parameters)

    response = api.post("/storage/rclone_config", None, config)

    assert response.status_code == 200, response.content
    assert response.json() is expected
    assert StorageConfig.objects.count() == 0


def test_rclone_config_with_a_missing_local_path_is_false(api, tmp_path):
    response = api.post(
        "/storage/rclone_config", None, {"name": "x", "type": "local", "root_path": str(tmp_path / "no")}
    )

    assert response.status_code == 200
    assert response.json() is False


# --- check_storage_access (extension) ----------------------------------------------------------


def test_check_storage_access_of_a_reachable_remote(api, storage, s3_server):
    storage_config_create(config=s3_server.config, storage_id=storage.storage_id)

    response = api.get(CHECK, {"storage_name": "st"})

    assert response.status_code == 200, response.content
    answer = response.json()
    assert set(answer) == {"reachable", "error", "checked_at"}
    assert answer["reachable"] is True
    assert answer["error"] is None
    assert_naive_utc_now(answer["checked_at"])
    storage.refresh_from_db()
    assert storage.storage_checked is True
    assert json_value(storage.storage_last_checked) == answer["checked_at"]
    # query_storage shows what was recorded.
    [row] = api.get("/storage/query_storage", {"storage_name": "st"}).json()
    assert row["storage_checked"] is True
    assert row["storage_last_checked"] == answer["checked_at"]


def test_check_storage_access_of_an_unreachable_remote(api, storage, s3_server, no_secrets_in_logs):
    wrong = "SK-wrong-" + s3_server.secret[::-1]
    config = with_parameters(s3_server.config, secret_access_key=wrong)
    storage_config_create(config=config, storage_id=storage.storage_id, check_remote=False)

    response = api.get(CHECK, {"storage_id": str(storage.storage_id)})

    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["reachable"] is False
    assert "SignatureDoesNotMatch" in answer["error"]
    assert wrong not in response.content.decode()
    assert s3_server.secret not in response.content.decode()
    storage.refresh_from_db()
    assert storage.storage_checked is False
    assert json_value(storage.storage_last_checked) == answer["checked_at"]
    no_secrets_in_logs(wrong, s3_server.secret)


def test_check_storage_access_sees_a_remote_go_away(api, storage, tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    storage_config_create(config={"name": "x", "type": "local", "root_path": str(root)}, storage_id=storage.storage_id)
    first = api.get(CHECK, {"storage_name": "st"}).json()
    assert first["reachable"] is True
    assert Storage.objects.get(pk=storage.pk).storage_checked is True

    shutil.rmtree(root)
    second = api.get(CHECK, {"storage_name": "st"}).json()

    assert second["reachable"] is False
    assert "not found" in second["error"]
    assert second["checked_at"] >= first["checked_at"]
    storage.refresh_from_db()
    assert storage.storage_checked is False
    assert json_value(storage.storage_last_checked) == second["checked_at"]


def test_check_storage_access_of_a_storage_without_a_config(api, storage):
    Storage.objects.filter(pk=storage.pk).update(storage_checked=True)

    response = api.get(CHECK, {"storage_name": "st"})

    assert response.status_code == 200
    answer = response.json()
    assert answer["reachable"] is False
    assert "No valid configuration for storage found: st" in answer["error"]
    storage.refresh_from_db()
    assert storage.storage_checked is False
    assert json_value(storage.storage_last_checked) == answer["checked_at"]


def test_check_storage_access_ignores_configs_of_other_types(api, storage):
    storage_config_create(config={"host": "h"}, storage_id=storage.storage_id, config_type="ssh")

    answer = api.get(CHECK, {"storage_name": "st"}).json()

    assert answer["reachable"] is False
    assert "No valid configuration" in answer["error"]


def test_check_storage_access_name_wins_over_id(api, storage, tmp_path):
    other = make_storage(storage_name="other")
    storage_config_create(config={"name": "x", "type": "local", "root_path": str(tmp_path)}, storage_id=storage.pk)

    answer = api.get(CHECK, {"storage_name": "st", "storage_id": str(other.storage_id)}).json()

    assert answer["reachable"] is True
    assert Storage.objects.get(pk=storage.pk).storage_last_checked is not None
    assert Storage.objects.get(pk=other.pk).storage_last_checked is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"storage_name": "nope"}, "Can't get storage_id for nope"),
        ({"storage_id": "00000000-0000-4000-8000-000000000000"}, None),
        ({}, "Neither storage_id nor storage_name is specified."),
    ],
    ids=["unknown name", "unknown id", "neither"],
)
def test_check_storage_access_without_a_known_storage_is_422(api, storage, params, message):
    response = api.get(CHECK, params)

    assert response.status_code == 422, response.content
    body = response.json()
    assert body["exec"] == "UnmetPreconditionForOperation"
    if message is not None:
        assert body["message"] == message
    assert Storage.objects.get(pk=storage.pk).storage_last_checked is None


def test_check_storage_access_with_a_malformed_id_is_422(api):
    response = api.get(CHECK, {"storage_id": "not-a-uuid"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "storage_id"]


def test_check_storage_access_without_a_token_is_401(anon_api, settings):
    settings.TRUSTED_NETWORKS = []

    response = anon_api.get(CHECK, {"storage_name": "st"})

    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_check_storage_access_is_allowed_to_every_role(make_api, storage, tmp_path, role):
    storage_config_create(config={"name": "x", "type": "local", "root_path": str(tmp_path)}, storage_id=storage.pk)

    response = make_api(role).get(CHECK, {"storage_name": "st"})

    assert response.status_code == 200
    assert response.json()["reachable"] is True


def test_check_storage_access_is_in_the_openapi_schema(client):
    schema = client.get("/openapi.json").json()

    operation = schema["paths"]["/storage/check_storage_access"]["get"]
    assert operation["operationId"] == "check_storage_access"
    assert {param["name"] for param in operation["parameters"]} >= {"storage_name", "storage_id"}


def test_the_service_answers_and_records(storage, tmp_path):
    storage_config_create(config={"name": "x", "type": "local", "root_path": str(tmp_path)}, storage_id=storage.pk)

    answer = storage_check_access(storage=storage)

    assert answer["reachable"] is True
    assert storage.storage_checked is True
    assert Storage.objects.get(pk=storage.pk).storage_checked is True


def test_check_storage_access_with_undecryptable_secrets_is_unreachable_not_500(api, storage, s3_server, settings):
    storage_config_create(config=s3_server.config, storage_id=storage.storage_id)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key()]

    response = api.get(CHECK, {"storage_name": "st"})

    assert response.status_code == 200
    answer = response.json()
    assert answer["reachable"] is False
    assert "DLM_FIELD_ENCRYPTION_KEYS" in answer["error"]
    assert Storage.objects.get(pk=storage.pk).storage_checked is False


# --- Start-up provisioning: a remote that is down does not stop the service --------------------


def _bootstrap(tmp_path, config: dict):
    location_file = tmp_path / "loc.json"
    location_file.write_text(json.dumps([{"name": "here", "type": "local-dev"}]))
    storage_file = tmp_path / "st.json"
    entry = {
        "name": "archive",
        "location": "here",
        "storage_type": "filesystem",
        "interface": "sftp",
        "root_directory": "/data",
        "config": config,
    }
    storage_file.write_text(json.dumps([entry]))
    return catalogue_bootstrap(location_file=location_file, storage_file=storage_file)


def test_bootstrap_with_an_unreachable_remote_creates_it_and_warns(db, tmp_path, sftp_server, caplog):
    wrong = "pw-wrong-" + sftp_server.secret[::-1]
    caplog.set_level(logging.DEBUG)

    created = _bootstrap(tmp_path, with_parameters(sftp_server.config, **{"pass": wrong}))

    assert created == {"locations": 1, "storages": 1, "configs": 1}
    storage = Storage.objects.get(storage_name="archive")
    assert StorageConfig.objects.filter(storage=storage).count() == 1
    assert storage.storage_checked is False
    assert storage.storage_last_checked is not None
    [warning] = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert warning.name == "catalogue.bootstrap"
    assert "'archive'" in warning.getMessage()
    assert "unable to authenticate" in warning.getMessage()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert wrong not in logged
    assert sftp_server.secret not in logged


def test_bootstrap_with_a_closed_port_still_starts(db, tmp_path, sftp_server, caplog, short_rclone_timeout):
    caplog.set_level(logging.WARNING)

    created = _bootstrap(tmp_path, with_parameters(sftp_server.config, port=str(_free_port())))

    assert created["configs"] == 1
    assert Storage.objects.get(storage_name="archive").storage_checked is False
    assert any("not reachable" in record.getMessage() for record in caplog.records)


def test_bootstrap_with_a_reachable_remote_does_not_warn(db, tmp_path, sftp_server, caplog):
    caplog.set_level(logging.WARNING)

    _bootstrap(tmp_path, sftp_server.config)

    storage = Storage.objects.get(storage_name="archive")
    assert storage.storage_checked is True
    assert not [record for record in caplog.records if record.name == "catalogue.bootstrap"]
    assert Location.objects.count() == 1


def test_bootstrap_does_not_check_a_storage_that_already_has_a_config(db, tmp_path, caplog):
    location = make_location(location_name="here")
    storage = make_storage(location, storage_name="archive")
    storage_config_create(config={"name": "x", "type": "local", "root_path": str(tmp_path)}, storage_id=storage.pk)
    caplog.set_level(logging.WARNING)

    created = _bootstrap(tmp_path, {"name": "x", "type": "local", "root_path": "/no/such/directory/for/dlm"})

    assert created == {"locations": 0, "storages": 0, "configs": 0}
    assert Storage.objects.get(pk=storage.pk).storage_last_checked is None
    assert not caplog.records


def test_check_storage_access_is_recorded_as_the_callers_change(api, storage, tmp_path):
    storage_config_create(config={"name": "x", "type": "local", "root_path": str(tmp_path)}, storage_id=storage.pk)

    answer = api.get(CHECK, {"storage_name": "st"}).json()

    [record] = AuditRecord.objects.filter(object_type="storage")
    assert (record.action, record.object_id) == ("update", str(storage.pk))
    assert (record.operation, record.via, record.auth, record.username) == (
        "check_storage_access",
        "api",
        "token",
        "admin-user",
    )
    assert set(record.changes) == {"storage_checked", "storage_last_checked"}
    assert record.changes["storage_checked"] == [False, True]
    assert datetime.fromisoformat(record.changes["storage_last_checked"][1]).replace(tzinfo=None) == (
        datetime.fromisoformat(answer["checked_at"])
    )


def test_an_unknown_storage_checked_records_nothing(api, storage):
    response = api.get(CHECK, {"storage_name": "nowhere"})

    assert response.status_code == 422
    assert not AuditRecord.objects.exists()
