"""The deletions as clients and operators meet them: ``GET /migration/query_deletions``,
``POST /migration/cancel_deletion`` and ``retry_deletion`` (DLM extensions), the refusals other
operations give while a copy is being deleted, and the admin's deletion page and its actions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.test import Client

from accounts.roles import Role
from accounts.tokens import account_ensure
from audit.models import AuditRecord
from catalogue.models import DataItem, Storage, StorageConfig
from migrations_app import jobs
from migrations_app.models import Deletion, Migration
from migrations_app.services import deletion_job_create
from migrations_app.states import JobState
from tests.factories import make_copy_job, make_item, make_storage
from tests.migrations_app.test_deletions import make_deletion

QUERY = "/migration/query_deletions"
CANCEL = "/migration/cancel_deletion"
RETRY = "/migration/retry_deletion"
ADMIN = "/admin/migrations_app/deletion/"

KEYS = [
    "deletion_id", "uid", "oid", "item_name", "item_type", "path", "storage_id", "state", "complete", "attempts",
    "last_error", "url", "job_id", "date", "started_at", "heartbeat_at", "next_attempt_at", "finished_at", "user",
    "origin", "reason", "forced", "items_deleted",
]  # fmt: skip


@pytest.fixture
def queued(monkeypatch):
    """What the commit hooks hand to django-q2 (``async_task`` calls), without queueing anything."""
    calls = []
    monkeypatch.setattr(jobs, "async_task", lambda *args, **kwargs: calls.append((args, kwargs)))
    return calls


@pytest.fixture
def storage(db) -> Storage:
    storage = make_storage(storage_name="disk")
    StorageConfig.objects.create(storage=storage, config={"name": "d", "type": "local", "root_path": "/"}, secrets=[])
    return storage


def _copy(storage: Storage, name: str = "obs/vis.ms") -> DataItem:
    return make_item(storage, item_name=name, uri=name, item_state="READY")


def _refused(response, status: int, exec_name: str, *fragments: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["exec"] == exec_name, body
    for fragment in fragments:
        assert fragment in body["message"], body
    return body


# --- query_deletions ------------------------------------------------------------------------------


def test_query_deletions_answers_the_rows_with_strings_and_iso_times(viewer_api, storage):
    copy = _copy(storage)
    deletion = make_deletion(copy, reason="uid expired at 2026-01-01", origin="lifecycle")
    Deletion.objects.filter(pk=deletion.pk).update(date=datetime(2026, 5, 10, 12, 0, tzinfo=UTC))

    response = viewer_api.get(QUERY)

    assert response.status_code == 200, response.content
    [row] = response.json()
    assert list(row) == KEYS
    assert row["deletion_id"] == deletion.pk and row["uid"] == str(copy.uid) and row["oid"] == str(copy.oid)
    assert row["storage_id"] == str(storage.storage_id) and row["path"] == "obs/vis.ms"
    assert (row["state"], row["complete"], row["attempts"], row["items_deleted"]) == ("queued", False, 0, 0)
    assert row["date"] == "2026-05-10T12:00:00" and row["finished_at"] is None
    assert (row["origin"], row["reason"], row["user"]) == ("lifecycle", "uid expired at 2026-01-01", "alice")


def test_query_deletions_filters_and_pages(viewer_api, storage):
    one, two = _copy(storage, "one"), _copy(storage, "two")
    first = make_deletion(one, state=JobState.FAILED)
    second = make_deletion(one)
    third = make_deletion(two, state=JobState.COMPLETED)

    def ids(**params) -> list[int]:
        response = viewer_api.get(QUERY, params)
        assert response.status_code == 200, response.content
        return [row["deletion_id"] for row in response.json()]

    assert ids() == [first.pk, second.pk, third.pk]
    assert ids(uid=one.uid) == [first.pk, second.pk]
    assert ids(oid=two.oid) == [third.pk]
    assert ids(state="failed") == [first.pk]
    assert ids(deletion_id=second.pk) == [second.pk]
    assert ids(deletion_id=10**9) == [] and ids(deletion_id=-1) == []
    assert ids(uid=one.uid, state="completed") == []
    assert ids(limit=1, offset=1) == [second.pk]


@pytest.mark.parametrize(("name", "raw"), [("state", "paused"), ("uid", "not-a-uuid"), ("deletion_id", "x")])
def test_query_deletions_refuses_a_bad_parameter_naming_it(viewer_api, name, raw):
    response = viewer_api.get(QUERY, {name: raw})
    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["loc"] == ["query", name]


def test_query_deletions_needs_a_token(anon_api):
    assert anon_api.get(QUERY).status_code == 401


def test_query_deletions_reads_a_page_in_a_few_queries(viewer_api, storage, django_assert_max_num_queries):
    for n in range(30):
        make_deletion(_copy(storage, f"item-{n}"))
    with django_assert_max_num_queries(8):
        response = viewer_api.get(QUERY)
    assert len(response.json()) == 30


# --- cancel_deletion --------------------------------------------------------------------------------


def test_cancel_a_queued_deletion(operator_api, storage, queued):
    copy = _copy(storage)
    deletion = deletion_job_create(uid=copy.uid, user="operator-user")

    response = operator_api.post(CANCEL, {"deletion_id": deletion.pk})

    assert response.status_code == 200, response.content
    row = response.json()
    assert row["deletion_id"] == deletion.pk and row["state"] == "cancelled" and row["complete"] is True
    assert row["finished_at"] is not None
    assert Deletion.objects.get(pk=deletion.pk).state == JobState.CANCELLED
    assert DataItem.objects.get(uid=copy.uid).item_state == "READY"
    record = AuditRecord.objects.get(object_type="deletion", object_id=str(deletion.pk), action="update")
    assert (record.username, record.via, record.operation) == ("operator-user", "api", "cancel_deletion")


@pytest.mark.parametrize("state", [JobState.RUNNING, JobState.VERIFYING])
def test_cancel_a_running_deletion_is_refused_saying_why(operator_api, storage, state):
    deletion = make_deletion(_copy(storage), state=state)
    _refused(
        operator_api.post(CANCEL, {"deletion_id": deletion.pk}), 422, "UnmetPreconditionForOperation",
        f"Deletion {deletion.pk} is {state}", "begun removing the copy's bytes",
    )  # fmt: skip
    assert Deletion.objects.get(pk=deletion.pk).state == state


def test_cancel_a_finished_deletion_is_refused(operator_api, storage):
    deletion = make_deletion(_copy(storage), state=JobState.COMPLETED)
    _refused(
        operator_api.post(CANCEL, {"deletion_id": deletion.pk}), 422, "UnmetPreconditionForOperation",
        "only a queued deletion can be cancelled",
    )  # fmt: skip


def test_cancel_an_unknown_deletion_is_not_found(operator_api, db):
    _refused(operator_api.post(CANCEL, {"deletion_id": 4242}), 404, "ObjectNotFound", "deletion_id=4242")


@pytest.mark.parametrize("path", [CANCEL, RETRY])
def test_cancel_and_retry_need_the_operator_role(path, anon_api, viewer_api, operator_api, storage, queued):
    deletion = make_deletion(_copy(storage), state=JobState.FAILED)
    assert anon_api.post(path, {"deletion_id": deletion.pk}).status_code == 401
    refused = viewer_api.post(path, {"deletion_id": deletion.pk})
    assert refused.status_code == 403 and "operator" in refused.json()["detail"]
    assert Deletion.objects.get(pk=deletion.pk).state == JobState.FAILED
    missing = operator_api.post(path)
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["query", "deletion_id"]


# --- retry_deletion ---------------------------------------------------------------------------------


def test_retry_a_failed_deletion(operator_api, storage, queued, django_capture_on_commit_callbacks):
    copy = _copy(storage)
    deletion = make_deletion(copy, state=JobState.FAILED, attempts=3, last_error="rclone: connection refused")

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api.post(RETRY, {"deletion_id": deletion.pk})

    assert response.status_code == 200, response.content
    row = response.json()
    assert (row["state"], row["attempts"], row["complete"], row["finished_at"]) == ("queued", 0, False, None)
    assert [call[0] for call in queued] == [("migrations_app.tasks.deletion_job_run", deletion.pk)]
    assert Deletion.objects.get(pk=deletion.pk).state == JobState.QUEUED


def test_retry_is_refused_for_a_deleted_copy_or_while_another_deletion_runs(
    operator_api, storage, queued, django_capture_on_commit_callbacks
):
    copy = _copy(storage)
    failed = make_deletion(copy, state=JobState.FAILED)
    running = make_deletion(copy, state=JobState.RUNNING)

    with django_capture_on_commit_callbacks(execute=True):
        retry = operator_api.post(RETRY, {"deletion_id": failed.pk})
        _refused(retry, 422, "ValueAlreadyInDB", f"deletion {running.pk}")
        Deletion.objects.filter(pk=running.pk).update(state=JobState.COMPLETED, complete=True)
        DataItem.objects.filter(uid=copy.uid).update(item_state="DELETED")
        retry = operator_api.post(RETRY, {"deletion_id": failed.pk})
        _refused(retry, 422, "UnmetPreconditionForOperation", "DELETED")
        _refused(operator_api.post(RETRY, {"deletion_id": 99_999}), 404, "ObjectNotFound")
    assert Deletion.objects.get(pk=failed.pk).state == JobState.FAILED and queued == []


# --- other operations while a copy is being deleted -------------------------------------------------


def test_copy_data_item_refuses_a_source_being_deleted(operator_api, storage, queued):
    copy = _copy(storage)
    other = make_storage(storage_name="elsewhere")
    StorageConfig.objects.create(storage=other, config={"name": "e", "type": "local", "root_path": "/"}, secrets=[])
    deletion = deletion_job_create(uid=copy.uid, user="alice")
    before = (DataItem.objects.count(), Migration.objects.count())

    response = operator_api.post("/migration/copy_data_item", {"uid": copy.uid, "destination_name": "elsewhere"})

    _refused(response, 422, "UnmetPreconditionForOperation", f"is being deleted (deletion {deletion.pk}, queued)")
    assert (DataItem.objects.count(), Migration.objects.count()) == before


def test_set_state_is_refused_while_the_copy_is_being_deleted(operator_api, storage, queued):
    copy = _copy(storage)
    deletion = deletion_job_create(uid=copy.uid, user="alice")

    response = operator_api.patch("/request/set_state", {"uid": str(copy.uid), "state": "DELETED"})

    _refused(response, 422, "UnmetPreconditionForOperation", f"Deletion {deletion.pk} (queued) is removing the copy")
    assert DataItem.objects.get(uid=copy.uid).item_state == "READY"


def test_a_copy_being_written_or_read_cannot_be_deleted(storage):
    source = _copy(storage)
    job = make_copy_job(source, make_storage(storage_name="dst"))
    with pytest.raises(Exception, match=f"Copy job {job.migration_id} \\(queued\\) is copying from"):
        deletion_job_create(uid=source.uid, user="alice")
    with pytest.raises(Exception, match=f"Copy job {job.migration_id} \\(queued\\) is writing"):
        deletion_job_create(uid=job.destination_uid, user="alice")
    assert not Deletion.objects.exists()


# --- the admin ----------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(account_ensure(username="ada", role=Role.ADMIN))
    return client


def _act(client: Client, action: str, *pks) -> list[str]:
    response = client.post(ADMIN, {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True)
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def test_the_admin_lists_filters_and_finds_deletions(admin_client, storage):
    copy = _copy(storage, "findme")
    deletion = make_deletion(copy, last_error="rclone: connection refused", state=JobState.FAILED)
    other = make_deletion(_copy(storage, "other"))

    page = admin_client.get(ADMIN).content.decode()
    assert "findme" in page and "rclone: connection refused" in page
    for query, shown, hidden in [
        ({"q": str(copy.uid)}, deletion, other),
        ({"q": "findme"}, deletion, other),
        ({"state__exact": "queued"}, other, deletion),
        ({"origin__exact": "client", "q": "other"}, other, deletion),
        ({"storage__storage_id__exact": str(storage.storage_id), "q": str(copy.oid)}, deletion, other),
    ]:
        response = admin_client.get(ADMIN, query)
        assert response.status_code == 200, query
        listed = list(response.context["cl"].result_list)
        assert shown in listed and hidden not in listed, query
    detail = admin_client.get(f"{ADMIN}{deletion.pk}/change/")
    assert detail.status_code == 200 and 'name="state"' not in detail.content.decode()
    assert admin_client.get(f"{ADMIN}add/").status_code == 403


def test_the_admin_cancels_and_retries_and_shows_refusals(
    admin_client, storage, queued, django_capture_on_commit_callbacks
):
    waiting = deletion_job_create(uid=_copy(storage, "a").uid, user="alice")
    running = make_deletion(_copy(storage, "b"), state=JobState.RUNNING)
    failed = make_deletion(_copy(storage, "c"), state=JobState.FAILED, attempts=3)
    queued.clear()

    shown = _act(admin_client, "cancel", waiting.pk, running.pk)

    assert f"Deletion {waiting.pk}: cancelled" in shown
    assert any(
        f"Deletion {running.pk}: refused: " in message and "begun removing the copy's bytes" in message
        for message in shown
    ), shown
    assert Deletion.objects.get(pk=waiting.pk).state == JobState.CANCELLED
    assert Deletion.objects.get(pk=running.pk).state == JobState.RUNNING

    with django_capture_on_commit_callbacks(execute=True):
        shown = _act(admin_client, "retry", failed.pk, running.pk)

    assert f"Deletion {failed.pk}: queued again" in shown
    assert any(f"Deletion {running.pk}: refused: " in message for message in shown), shown
    assert (Deletion.objects.get(pk=failed.pk).state, Deletion.objects.get(pk=failed.pk).attempts) == ("queued", 0)
    assert [call[0] for call in queued] == [("migrations_app.tasks.deletion_job_run", failed.pk)]
    record = AuditRecord.objects.filter(object_type="deletion", object_id=str(failed.pk)).get()
    assert (record.username, record.via) == ("ada", "admin")


def test_a_data_items_admin_page_links_to_its_deletions(admin_client, storage):
    copy = _copy(storage)
    page = admin_client.get(f"/admin/catalogue/dataitem/{copy.uid}/change/").content.decode()
    assert f"{ADMIN}?q={copy.uid}" in page


def test_unknown_uuid_search_finds_nothing(admin_client, storage):
    make_deletion(_copy(storage))
    response = admin_client.get(ADMIN, {"q": str(uuid.uuid4())})
    assert list(response.context["cl"].result_list) == []
