"""``POST /migration/copy_data_item`` (contract §8 M3, §10 #16 #20 #31) and the DLM extensions
``cancel_migration`` and ``retry_migration``: what is written, what is refused, and what is
queued for the workers (the worker itself is not run here)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection

from catalogue.models import DataItem, Storage, StorageConfig
from migrations_app import jobs
from migrations_app.models import Migration
from migrations_app.states import JobState
from tests.conftest import Api, race
from tests.factories import job_callbacks, make_copy_job, make_item, make_storage

COPY = "/migration/copy_data_item"
CANCEL = "/migration/cancel_migration"
RETRY = "/migration/retry_migration"


def _configure(storage: Storage, name: str = "disk") -> Storage:
    StorageConfig.objects.create(storage=storage, config={"name": name, "type": "local", "root_path": "/"}, secrets=[])
    return storage


@pytest.fixture
def source_storage(db) -> Storage:
    return _configure(make_storage(storage_name="src", root_directory="/data/src"))


@pytest.fixture
def destination(db) -> Storage:
    return _configure(make_storage(storage_name="dst", root_directory="/data/dst", storage_phase="LIQUID"))


@pytest.fixture
def source(source_storage) -> DataItem:
    return make_item(
        source_storage,
        item_name="obs/vis.ms",
        uri="obs/vis.ms",
        item_state="READY",
        item_type="file",
        target_phase="SOLID",
        uid_expiration=datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC),
        oid_expiration=datetime(2035, 6, 7, 8, 9, 10, tzinfo=UTC),
        metadata={"execution_block": "eb-1", "uid": "x"},
        item_size=1234,
        decompressed_size=5678,
        item_checksum="0123abcd",
        checksum_method="md5",
        hashes={"md5": "0123abcd", "xxh3": "5d90bc7b3dfdf1cb"},
        item_owner="someone-else",
    )


@pytest.fixture
def queued(monkeypatch):
    """What the commit hooks hand to django-q2 (``async_task`` calls), without queueing anything."""
    calls = []
    monkeypatch.setattr(jobs, "async_task", lambda *args, **kwargs: calls.append((args, kwargs)))
    return calls


def _copy(api: Api, **params):
    return api.post(COPY, params)


def _counts() -> tuple[int, int]:
    return DataItem.objects.count(), Migration.objects.count()


def _refused(response, status: int, exec_name: str, *fragments: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["exec"] == exec_name, body
    for fragment in fragments:
        assert fragment in body["message"], body
    return body


def _job(source: DataItem, destination: Storage, state: str, **fields) -> Migration:
    """A job as the services leave it: its destination copy exists (with ``fields``)."""
    return make_copy_job(source, destination, state=state, copy=fields)


# --- the happy path ---------------------------------------------------------------------------


def test_copy_by_uid_writes_one_destination_copy_and_one_queued_job(
    operator_api, source, destination, django_capture_on_commit_callbacks, queued
):
    before = _counts()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _copy(operator_api, uid=source.uid, destination_name="dst")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"uid", "migration_id"}
    assert _counts() == (before[0] + 1, before[1] + 1)

    copy = DataItem.objects.get(uid=body["uid"])
    assert copy.storage_id == destination.storage_id
    assert copy.item_state == "INITIALISED"
    assert copy.oid == source.oid and copy.oid_creation == source.oid_creation
    assert copy.uri == source.uri
    assert copy.uid_phase == "LIQUID"  # the destination's phase
    assert copy.item_owner == "operator-user"
    for name in (
        "item_name", "item_type", "target_phase", "uid_expiration", "oid_expiration", "metadata",
        "item_size", "decompressed_size", "item_checksum", "checksum_method", "hashes",
    ):  # fmt: skip
        assert getattr(copy, name) == getattr(source, name), name
    assert copy.last_check is None

    job = Migration.objects.get(migration_id=body["migration_id"])
    assert job.state == JobState.QUEUED
    assert job.oid == source.oid
    assert job.source_storage_id == source.storage_id
    assert job.destination_storage_id == destination.storage_id
    assert job.source_uid == source.uid
    assert job.destination_uid == copy.uid
    assert job.user == "operator-user"
    assert job.bytes_total == 1234
    assert job.attempts == 0 and not job.complete and job.completion_date is None
    assert job.command == "copy src:obs/vis.ms -> dst:obs/vis.ms (file)"

    assert len(job_callbacks(callbacks)) == 1  # queued only once the transaction commits
    assert queued == []
    job_callbacks(callbacks)[0]()
    assert queued == [((jobs.COPY_TASK, job.migration_id), {"task_name": f"copy-{job.migration_id}", "save": False})]


def test_the_command_carries_no_secret(operator_api, source, destination, queued):
    StorageConfig.objects.filter(storage=destination).update(
        config={"name": "acacia", "type": "s3", "root_path": "/"}, secrets=[]
    )
    response = _copy(operator_api, uid=source.uid, destination_id=destination.storage_id, path="elsewhere/vis.ms")

    job = Migration.objects.get(migration_id=response.json()["migration_id"])
    assert job.command == "copy src:obs/vis.ms -> dst:elsewhere/vis.ms (file)"
    assert DataItem.objects.get(uid=response.json()["uid"]).uri == "elsewhere/vis.ms"


def test_a_container_is_copied_as_a_tree(operator_api, source_storage, destination):
    tree = make_item(source_storage, item_name="tree", uri="trees/t1", item_type="container", item_state="READY")

    response = _copy(operator_api, item_name="tree", destination_name="dst")

    assert response.status_code == 200, response.content
    assert Migration.objects.get().command == "copy src:trees/t1 -> dst:trees/t1 (tree)"
    assert DataItem.objects.get(uid=response.json()["uid"]).item_type == "container"
    assert Migration.objects.get().source_uid == tree.uid


def test_by_oid_the_source_is_the_first_ready_copy(operator_api, source_storage, destination):
    first = make_item(source_storage, item_name="a", uri="a", item_state="INITIALISED")
    other = _configure(make_storage(storage_name="other"))
    ready = make_item(other, item_name="a", uri="b", oid=first.uid, item_state="READY")

    response = _copy(operator_api, oid=first.oid, destination_name="dst")

    assert response.status_code == 200, response.content
    job = Migration.objects.get()
    assert job.source_uid == ready.uid and job.source_storage_id == other.storage_id
    assert DataItem.objects.get(uid=response.json()["uid"]).uri == "b"


def test_by_name_the_source_is_the_first_ready_copy_with_that_name(operator_api, source, destination):
    response = _copy(operator_api, item_name="obs/vis.ms", destination_name="dst")

    assert response.status_code == 200, response.content
    assert Migration.objects.get().source_uid == source.uid


def test_uid_wins_over_oid_and_name(operator_api, source, source_storage, destination):
    decoy = make_item(source_storage, item_name="decoy", uri="decoy", item_state="READY")

    response = _copy(operator_api, uid=source.uid, oid=decoy.oid, item_name="decoy", destination_name="dst")

    assert response.status_code == 200, response.content
    assert Migration.objects.get().source_uid == source.uid


def test_destination_name_wins_over_id(operator_api, source, destination):
    response = _copy(operator_api, uid=source.uid, destination_name="dst", destination_id=uuid.uuid4())
    assert response.status_code == 200, response.content


# --- refusals: nothing written, nothing queued --------------------------------------------------


@pytest.fixture
def refuse(operator_api, django_capture_on_commit_callbacks, queued):
    """``refuse(params, status, exec, *fragments)``: the copy is refused and leaves no trace."""

    def check(params: dict, status: int, exec_name: str | None, *fragments: str):
        before = _counts()
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = _copy(operator_api, **params)
        assert response.status_code == status, response.content
        if exec_name is not None:
            _refused(response, status, exec_name, *fragments)
        assert _counts() == before
        assert job_callbacks(callbacks) == [] and queued == []
        return response

    return check


def test_no_identifier(refuse, destination):
    refuse({"destination_name": "dst"}, 422, "InvalidQueryParameters", "item_name")


def test_unknown_uid(refuse, destination):
    missing = uuid.uuid4()
    refuse({"uid": missing, "destination_name": "dst"}, 422, "UnmetPreconditionForOperation", str(missing))


def test_unknown_oid(refuse, destination):
    refuse({"oid": uuid.uuid4(), "destination_name": "dst"}, 422, "UnmetPreconditionForOperation", "No data item")


def test_unknown_name(refuse, destination):
    refuse({"item_name": "nope", "destination_name": "dst"}, 422, "UnmetPreconditionForOperation", "'nope'")


def test_a_source_not_ready_is_refused(refuse, source_storage, destination):
    item = make_item(source_storage, item_name="new", uri="new")  # INITIALISED
    refuse({"uid": item.uid, "destination_name": "dst"}, 422, "UnmetPreconditionForOperation", "not READY")
    refuse({"oid": item.oid, "destination_name": "dst"}, 422, "UnmetPreconditionForOperation", "No READY copy")
    refuse({"item_name": "new", "destination_name": "dst"}, 422, "UnmetPreconditionForOperation", "No READY copy")


def test_a_source_on_no_storage_is_refused(refuse, destination):
    item = make_item(None, item_name="floating", uri="f", item_state="READY")
    refuse({"uid": item.uid, "destination_name": "dst"}, 422, "UnmetPreconditionForOperation", "on no storage")


def test_no_destination(refuse, source):
    refuse({"uid": source.uid}, 422, "InvalidQueryParameters", "destination_name or destination_id")


def test_unknown_destination(refuse, source):
    refuse({"uid": source.uid, "destination_name": "nowhere"}, 422, "UnmetPreconditionForOperation", "'nowhere'")
    missing = uuid.uuid4()
    refuse({"uid": source.uid, "destination_id": missing}, 422, "UnmetPreconditionForOperation", str(missing))


def test_an_unknown_destination_name_is_not_saved_by_a_good_id(refuse, source, destination):
    params = {"uid": source.uid, "destination_name": "nowhere", "destination_id": destination.storage_id}
    refuse(params, 422, "UnmetPreconditionForOperation", "'nowhere'")


def test_the_source_storage_is_not_a_destination(refuse, source):
    refuse({"uid": source.uid, "destination_name": "src"}, 422, "InvalidQueryParameters", "src")


def test_storages_without_rclone_config(refuse, source, source_storage, destination):
    bare = make_storage(storage_name="bare")
    refuse({"uid": source.uid, "destination_name": "bare"}, 422, "UnmetPreconditionForOperation", "bare", "rclone")
    StorageConfig.objects.filter(storage=source_storage).delete()
    refuse({"uid": source.uid, "destination_name": "dst"}, 422, "UnmetPreconditionForOperation", "src", "rclone")
    assert bare.configs.count() == 0


@pytest.mark.parametrize("path", ["/../etc/file", "a/../../etc", "a\\b", "a\x00b", "a\nb", "/"])
def test_a_bad_path_is_refused(refuse, source, destination, path):
    response = refuse({"uid": source.uid, "destination_name": "dst", "path": path}, 422, None)
    assert response.json()["detail"][0]["loc"] == ["query", "path"]


def test_a_malformed_uuid_is_a_422_naming_it(refuse, destination):
    response = refuse({"uid": "not-a-uuid", "destination_name": "dst"}, 422, None)
    assert response.json()["detail"][0]["loc"] == ["query", "uid"]


def test_a_source_uri_unusable_as_a_path_needs_a_path(refuse, source, destination, queued):
    DataItem.objects.filter(uid=source.uid).update(uri="../outside/vis.ms")
    refuse({"uid": source.uid, "destination_name": "dst"}, 422, "UnmetPreconditionForOperation", "give a path")


def test_a_ready_copy_already_on_the_destination(refuse, source, destination):
    there = make_item(destination, item_name="renamed", uri="x", oid=source.uid, item_state="READY")
    refuse({"uid": source.uid, "destination_name": "dst"}, 422, "ValueAlreadyInDB", str(there.uid))


@pytest.mark.parametrize("state", [JobState.QUEUED, JobState.RUNNING, JobState.VERIFYING])
def test_a_copy_already_under_way(refuse, source, destination, state):
    job = _job(source, destination, state)
    refuse({"uid": source.uid, "destination_name": "dst"}, 422, "ValueAlreadyInDB", f"migration {job.migration_id}")


@pytest.mark.parametrize("state", [JobState.FAILED, JobState.CANCELLED])
def test_a_failed_copy_is_retried_not_copied_again(refuse, source, destination, state):
    job = _job(source, destination, state, item_state="CORRUPTED")
    refuse(
        {"uid": source.uid, "destination_name": "dst"},
        422,
        "ValueAlreadyInDB",
        f"migration {job.migration_id}",
        "retry_migration",
    )


def test_the_name_taken_on_the_destination_by_another_object(refuse, source, destination):
    make_item(destination, item_name=source.item_name, uri="other", item_state="READY")
    refuse({"uid": source.uid, "destination_name": "dst"}, 422, "ValueAlreadyInDB", source.item_name)


def test_two_identical_copies_give_one_job(operator_api, source, destination, queued):
    first = _copy(operator_api, uid=source.uid, destination_name="dst")
    second = _copy(operator_api, uid=source.uid, destination_name="dst")

    assert first.status_code == 200
    _refused(second, 422, "ValueAlreadyInDB", f"migration {first.json()['migration_id']}")
    assert Migration.objects.count() == 1
    assert DataItem.objects.filter(storage=destination).count() == 1


def test_a_copy_from_the_new_destination_is_refused_until_ready(operator_api, source, destination, queued):
    """The destination copy is INITIALISED: it cannot be a source yet."""
    uid = _copy(operator_api, uid=source.uid, destination_name="dst").json()["uid"]
    third = _configure(make_storage(storage_name="third"))

    _refused(_copy(operator_api, uid=uid, destination_name="third"), 422, "UnmetPreconditionForOperation", "READY")
    assert not DataItem.objects.filter(storage=third).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_identical_copies_give_one_job_and_one_422(make_api):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite's in-memory test database cannot hold concurrent writers; run on PostgreSQL")
    src = _configure(make_storage(storage_name="src"))
    dst = _configure(make_storage(storage_name="dst"))
    token = make_api("operator").token
    for round_ in range(3):  # a few rounds: the race is on
        item = make_item(src, item_name=f"race-{round_}", uri=f"race-{round_}", item_state="READY")
        results = race(token, lambda api, item=item: api.post(COPY, {"uid": item.uid, "destination_name": "dst"}))
        assert sorted(r.status_code for r in results) == [200, 422], [r.content for r in results]
        refused = next(r for r in results if r.status_code == 422)
        assert refused.json()["exec"] == "ValueAlreadyInDB"
        assert Migration.objects.filter(oid=item.oid).count() == 1
        assert DataItem.objects.filter(oid=item.oid, storage=dst).count() == 1


# --- cancel -----------------------------------------------------------------------------------


def test_cancel_a_queued_job(operator_api, source, destination, queued):
    created = _copy(operator_api, uid=source.uid, destination_name="dst").json()

    response = operator_api.post(CANCEL, {"migration_id": created["migration_id"]})

    assert response.status_code == 200, response.content
    row = response.json()
    assert row["migration_id"] == created["migration_id"]
    assert row["state"] == "cancelled" and row["finished_at"] is not None
    assert row["complete"] is True  # ended (contract: complete once finished); job_status says how
    assert row["job_status"] == {"finished": True, "success": False, "error": "Cancelled"}
    assert row["completion_date"] == row["finished_at"]  # as when the worker cancels a running job
    job = Migration.objects.get()
    assert job.state == JobState.CANCELLED and job.cancel_requested
    copy = DataItem.objects.get(uid=created["uid"])
    assert copy.item_state == "CORRUPTED"  # kept, never READY


@pytest.mark.parametrize("state", [JobState.RUNNING, JobState.VERIFYING])
def test_cancel_a_running_job_asks_the_worker(operator_api, source, destination, state):
    job = _job(source, destination, state)

    response = operator_api.post(CANCEL, {"migration_id": job.migration_id})

    assert response.status_code == 200, response.content
    assert response.json()["state"] == state
    job.refresh_from_db()
    assert job.cancel_requested and job.state == state and job.finished_at is None
    assert DataItem.objects.get(uid=job.destination_uid).item_state == "INITIALISED"


@pytest.mark.parametrize("state", [JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED])
def test_a_finished_job_cannot_be_cancelled(operator_api, source, destination, state):
    job = _job(source, destination, state)

    _refused(operator_api.post(CANCEL, {"migration_id": job.migration_id}), 422, "UnmetPreconditionForOperation", state)
    job.refresh_from_db()
    assert job.state == state and not job.cancel_requested


def test_cancel_unknown_and_malformed_ids(operator_api):
    _refused(operator_api.post(CANCEL, {"migration_id": 999}), 404, "ObjectNotFound", "999")
    _refused(operator_api.post(CANCEL, {"migration_id": 2**70}), 404, "ObjectNotFound")
    response = operator_api.post(CANCEL, {"migration_id": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "migration_id"]
    assert operator_api.post(CANCEL).json()["detail"][0]["type"] == "missing"


# --- retry ------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [JobState.FAILED, JobState.CANCELLED])
def test_retry_a_failed_or_cancelled_job(operator_api, source, destination, state, django_capture_on_commit_callbacks):
    job = _job(source, destination, state, item_state="CORRUPTED")
    Migration.objects.filter(pk=job.pk).update(
        attempts=3, last_error="rclone: connection refused", cancel_requested=True, bytes_done=10
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = operator_api.post(RETRY, {"migration_id": job.migration_id})

    assert response.status_code == 200, response.content
    row = response.json()
    assert row["state"] == "queued" and row["attempts"] == 0
    assert row["last_error"] == "rclone: connection refused"  # until the next attempt
    assert row["finished_at"] is None and row["bytes_done"] == 0
    job.refresh_from_db()
    assert not job.cancel_requested
    assert DataItem.objects.get(uid=job.destination_uid).item_state == "INITIALISED"
    assert len(job_callbacks(callbacks)) == 1


@pytest.mark.parametrize("state", [JobState.QUEUED, JobState.RUNNING, JobState.VERIFYING, JobState.COMPLETED])
def test_only_failed_or_cancelled_jobs_are_retried(operator_api, source, destination, state, queued):
    job = _job(source, destination, state)

    _refused(operator_api.post(RETRY, {"migration_id": job.migration_id}), 422, "UnmetPreconditionForOperation", state)
    job.refresh_from_db()
    assert job.state == state


def test_retry_of_a_failed_job_whose_copy_was_removed_makes_a_fresh_one(
    operator_api, source, destination, django_capture_on_commit_callbacks
):
    job = _job(source, destination, JobState.FAILED, item_state="CORRUPTED")
    Migration.objects.filter(pk=job.pk).update(destination_path="elsewhere/vis.ms", complete=True, attempts=3,
                                               job_status={"finished": True, "success": False})  # fmt: skip
    old_uid = job.destination_uid
    DataItem.objects.filter(uid=old_uid).delete()  # as the worker leaves a failed job

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = operator_api.post(RETRY, {"migration_id": job.migration_id})

    assert response.status_code == 200, response.content
    row = response.json()
    assert row["state"] == "queued" and row["complete"] is False and row["job_status"] is None
    assert row["destination_uid"] != str(old_uid)
    copy = DataItem.objects.get(uid=row["destination_uid"])
    assert (copy.item_state, copy.oid, copy.storage_id) == ("INITIALISED", source.oid, destination.storage_id)
    assert copy.uri == "elsewhere/vis.ms" and copy.item_name == source.item_name
    assert len(job_callbacks(callbacks)) == 1


def test_retry_needs_a_ready_source_and_no_ready_copy_there(operator_api, source, destination, queued):
    job = _job(source, destination, JobState.FAILED, item_state="READY")
    response = operator_api.post(RETRY, {"migration_id": job.migration_id})
    _refused(response, 422, "UnmetPreconditionForOperation", "READY")
    DataItem.objects.filter(uid=job.destination_uid).delete()
    Migration.objects.filter(pk=job.pk).delete()

    job2 = _job(source, destination, JobState.FAILED, item_state="CORRUPTED")
    DataItem.objects.filter(uid=source.uid).update(item_state="DELETED")
    _refused(
        operator_api.post(RETRY, {"migration_id": job2.migration_id}), 422, "UnmetPreconditionForOperation", "DELETED"
    )
    assert Migration.objects.get(pk=job2.pk).state == JobState.FAILED
    assert queued == []


def test_retry_unknown(operator_api):
    _refused(operator_api.post(RETRY, {"migration_id": 12345}), 404, "ObjectNotFound", "12345")


def test_cancel_then_retry_then_copy_again_is_refused(operator_api, source, destination, queued):
    created = _copy(operator_api, uid=source.uid, destination_name="dst").json()
    operator_api.post(CANCEL, {"migration_id": created["migration_id"]})
    assert operator_api.post(RETRY, {"migration_id": created["migration_id"]}).status_code == 200

    again = _copy(operator_api, uid=source.uid, destination_name="dst")

    _refused(again, 422, "ValueAlreadyInDB", f"migration {created['migration_id']}")
    assert Migration.objects.count() == 1


# --- permissions ------------------------------------------------------------------------------


def test_without_a_token_every_migration_operation_is_401(anon_api):
    for method, path in (
        ("post", COPY),
        ("post", CANCEL),
        ("post", RETRY),
        ("get", "/migration/query_migrations"),
        ("get", "/migration/get_migration"),
    ):
        response = getattr(anon_api, method)(path, {"migration_id": 1})
        assert response.status_code == 401, path


def test_a_viewer_cannot_copy_cancel_or_retry(viewer_api, source, destination):
    job = _job(source, destination, JobState.FAILED)
    before = _counts()
    assert viewer_api.post(COPY, {"uid": source.uid, "destination_name": "dst"}).status_code == 403
    assert viewer_api.post(CANCEL, {"migration_id": job.migration_id}).status_code == 403
    assert viewer_api.post(RETRY, {"migration_id": job.migration_id}).status_code == 403
    assert _counts() == before
    assert Migration.objects.get().state == JobState.FAILED
    assert viewer_api.get("/migration/query_migrations").status_code == 200
    assert viewer_api.get("/migration/get_migration", {"migration_id": job.migration_id}).status_code == 200
