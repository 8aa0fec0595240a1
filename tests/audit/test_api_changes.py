"""Changes made through the API land in the audit trail: who, how, which operation, what changed.
Reads, refusals and the copy worker's progress writes leave nothing there."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from audit.models import AuditRecord
from catalogue.models import DataItem, Location, Storage, StorageConfig
from migrations_app import jobs, runner
from migrations_app.models import Migration
from tests.audit.conftest import raw_audit_rows, records
from tests.factories import make_item, make_storage

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    """Copy jobs are not handed to django-q2 (no worker runs here)."""
    calls = []
    monkeypatch.setattr(jobs, "async_task", lambda *args, **kwargs: calls.append(args))
    return calls


def _configured(name: str, **fields) -> Storage:
    storage = make_storage(storage_name=name, **fields)
    StorageConfig.objects.create(storage=storage, config={"name": name, "type": "local", "root_path": "/"}, secrets=[])
    return storage


def test_init_location_storage_and_config_are_recorded_as_creates(api, tmp_path):
    admin = get_user_model().objects.get(username="admin-user")
    location = api.post("/storage/init_location", {"location_name": "Pawsey", "location_type": "low-operations"})
    storage = api.post(
        "/storage/init_storage",
        {
            "storage_name": "disk",
            "storage_type": "filesystem",
            "storage_interface": "posix",
            "root_directory": str(tmp_path),
            "location_name": "Pawsey",
        },
    )
    config = api.post(
        "/storage/create_storage_config",
        {"storage_name": "disk"},
        {"name": "disk", "type": "local", "root_path": "/"},
    )
    assert [location.status_code, storage.status_code, config.status_code] == [200, 200, 200]

    made = records()
    assert [(r.action, r.object_type, r.operation) for r in made] == [
        ("create", "location", "init_location"),
        ("create", "storage", "init_storage"),
        ("create", "storage_config", "create_storage_config"),
    ]
    for record in made:
        assert (record.username, record.user_id, record.auth, record.via) == ("admin-user", admin.pk, "token", "api")
        assert record.remote_addr == "127.0.0.1"
        assert record.request_id
    assert len({record.request_id for record in made}) == 3  # one per request
    assert made[0].object_id == location.json() == str(Location.objects.get().location_id)
    assert made[0].changes["location_name"] == "Pawsey"
    assert made[0].changes["location_type"] == "low-operations"
    assert made[1].object_id == storage.json()
    assert made[1].changes["location_id"] == location.json()
    assert made[1].changes["root_directory"] == str(tmp_path)
    assert made[2].object_id == config.json()
    assert made[2].changes["config"] == {"name": "disk", "type": "local", "root_path": "/"}
    assert made[2].changes["secrets"] == "***"


def test_a_storage_config_secret_never_reaches_the_trail(api, s3_server):
    make_storage(storage_name="archive")

    response = api.post("/storage/create_storage_config", {"storage_name": "archive"}, s3_server.config)

    assert response.status_code == 200, response.content
    [record] = records(object_type="storage_config")
    assert record.object_id == response.json()
    assert record.changes["secrets"] == "***"
    assert record.changes["config"]["parameters"]["access_key_id"] == "AKTEST"
    trail = raw_audit_rows()
    assert s3_server.secret not in trail
    assert "AKTEST" in trail  # (the raw rows are the ones with the config in them)
    with connection.cursor() as cursor:  # not even encrypted: the stored ciphertext is not there
        cursor.execute("SELECT secrets FROM storage_config")
        [(ciphertext,)] = cursor.fetchall()
    assert len(ciphertext) > 20 and ciphertext not in trail
    shown = api.get("/audit/query_audit", {"object_type": "storage_config"})
    assert shown.status_code == 200
    assert s3_server.secret not in shown.content.decode()


def test_a_setter_records_each_changed_copy_with_before_and_after(operator_api):
    storage = make_storage()
    first = make_item(storage, item_name="obs/x")
    second = make_item(make_storage(), item_name="obs/x", oid=first.uid)
    operator = get_user_model().objects.get(username="operator-user")

    tags = operator_api.patch("/request/update_item_tags", {"item_name": "obs/x"}, {"quality": "good"})
    state = operator_api.patch("/request/set_state", {"uid": str(first.uid), "state": "READY"})
    expiration = operator_api.patch(
        "/request/set_oid_expiration", {"oid": str(first.oid), "expiration": "2030-01-02T03:04:05Z"}
    )

    assert [tags.status_code, state.status_code, expiration.status_code] == [200, 200, 200]
    made = records()
    expires = {"oid_expiration": ["2099-12-31T23:59:59+00:00", "2030-01-02T03:04:05+00:00"]}
    assert sorted((r.operation, r.object_id, str(r.changes)) for r in made) == sorted(
        [
            ("update_item_tags", str(first.uid), str({"item_tags": [None, {"quality": "good"}]})),
            ("update_item_tags", str(second.uid), str({"item_tags": [None, {"quality": "good"}]})),
            ("set_state", str(first.uid), str({"item_state": ["INITIALISED", "READY"]})),
            ("set_oid_expiration", str(first.uid), str(expires)),
            ("set_oid_expiration", str(second.uid), str(expires)),
        ]
    )
    assert {(r.action, r.object_type, r.username, r.user_id, r.via) for r in made} == {
        ("update", "data_item", "operator-user", operator.pk, "api")
    }
    assert DataItem.objects.get(uid=first.uid).item_state == "READY"


def test_a_setter_that_changes_nothing_records_nothing(operator_api):
    item = make_item(make_storage(), item_state="READY")

    response = operator_api.patch("/request/set_state", {"uid": str(item.uid), "state": "READY"})

    assert response.status_code == 200
    assert records() == []


def test_copy_data_item_records_the_new_copy_and_its_job(operator_api, queued):
    source_storage = _configured("src")
    _configured("dst", storage_phase="LIQUID")
    source = make_item(
        source_storage,
        item_name="obs/vis.ms",
        uri="obs/vis.ms",
        item_state="READY",
        item_size=1234,
        uid_expiration=datetime(2031, 1, 2, tzinfo=UTC),
    )

    response = operator_api.post("/migration/copy_data_item", {"uid": str(source.uid), "destination_name": "dst"})

    assert response.status_code == 200, response.content
    body = response.json()
    item, job = records()
    assert (item.action, item.object_type, item.object_id) == ("create", "data_item", body["uid"])
    assert (job.action, job.object_type, job.object_id) == ("create", "migration", str(body["migration_id"]))
    assert {r.operation for r in (item, job)} == {"copy_data_item"}
    assert item.request_id == job.request_id
    assert item.changes["item_state"] == "INITIALISED"
    assert item.changes["uid_phase"] == "LIQUID"
    assert item.changes["item_owner"] == "operator-user"
    assert item.changes["uid_expiration"] == "2031-01-02T00:00:00+00:00"
    assert job.changes["state"] == "queued"
    assert job.changes["source_uid"] == str(source.uid)
    assert job.changes["destination_uid"] == body["uid"]
    assert job.changes["bytes_total"] == 1234


def test_cancel_migration_records_the_job_and_its_copy(operator_api, queued):
    _configured("src")
    _configured("dst")
    source = make_item(Storage.objects.get(storage_name="src"), item_name="x", uri="x", item_state="READY")
    copied = operator_api.post("/migration/copy_data_item", {"uid": str(source.uid), "destination_name": "dst"}).json()
    created = AuditRecord.objects.count()

    response = operator_api.post("/migration/cancel_migration", {"migration_id": copied["migration_id"]})

    assert response.status_code == 200, response.content
    assert response.json()["state"] == "cancelled"
    item, job = records()[created:]
    assert (item.action, item.object_type, item.object_id) == ("update", "data_item", copied["uid"])
    assert item.changes == {"item_state": ["INITIALISED", "CORRUPTED"]}
    assert (job.action, job.object_type, job.object_id) == ("update", "migration", str(copied["migration_id"]))
    assert job.operation == "cancel_migration"
    assert job.changes["state"] == ["queued", "cancelled"]
    assert job.changes["cancel_requested"] == [False, True]
    assert job.changes["finished_at"][0] is None and job.changes["finished_at"][1].startswith("20")
    assert set(job.changes) == {"state", "cancel_requested", "finished_at", "completion_date", "complete", "job_status"}


def test_the_copy_worker_writes_nothing_to_the_trail(operator_api, queued):
    _configured("src")
    _configured("dst")
    source = make_item(Storage.objects.get(storage_name="src"), item_name="x", uri="x", item_state="READY")
    copied = operator_api.post("/migration/copy_data_item", {"uid": str(source.uid), "destination_name": "dst"}).json()
    created = AuditRecord.objects.count()

    claimed = runner.copy_job_claim(copied["migration_id"])
    for done in (10, 20, 30):
        Migration.objects.filter(pk=claimed.pk).update(bytes_done=done, heartbeat_at=datetime.now(UTC))
    DataItem.objects.filter(uid=copied["uid"]).update(item_state="READY")

    assert Migration.objects.get(pk=claimed.pk).state == "running"
    assert Migration.objects.get(pk=claimed.pk).bytes_done == 30
    assert AuditRecord.objects.count() == created == 2


def test_get_requests_write_nothing_but_the_access_check_which_is_audited(api, operator_api):
    storage = make_storage(storage_name="disk")  # no rclone config: the access check fails...
    item = make_item(storage, item_state="READY")

    for path, params in (
        ("/storage/query_storage", {}),
        ("/request/query_data_item", {"uid": str(item.uid)}),
        ("/storage/check_storage_access", {"storage_name": "disk"}),  # ...and records it on the storage
        ("/audit/query_audit", {}),
    ):
        assert api.get(path, params).status_code == 200, path

    assert Storage.objects.get(pk=storage.pk).storage_last_checked is not None
    [check] = records()  # the only write: the access check's outcome, recorded as the caller's
    assert (check.action, check.object_type, check.object_id, check.operation, check.via) == (
        "update",
        "storage",
        str(storage.pk),
        "check_storage_access",
        "api",
    )


def test_a_refused_change_records_nothing(api, operator_api):
    api.post("/storage/init_location", {"location_name": "here", "location_type": "local-dev"})
    created = AuditRecord.objects.count()

    again = api.post("/storage/init_location", {"location_name": "here", "location_type": "local-dev"})
    unknown = operator_api.patch("/request/set_state", {"uid": str(uuid.uuid4()), "state": "READY"})

    assert (again.status_code, unknown.status_code) == (422, 404)
    assert AuditRecord.objects.count() == created == 1
