"""The admin's bulk actions call the services: check a storage's access, retry and cancel copy
jobs, revoke API tokens (which stop working at once)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.roles import Role
from accounts.tokens import account_ensure, api_token_create
from catalogue.models import DataItem, Storage
from catalogue.services.storages import storage_config_create
from migrations_app.models import Migration
from migrations_app.states import JobState
from tests.conftest import Api
from tests.factories import make_copy_job, make_storage

pytestmark = pytest.mark.django_db


def _act(client: Client, url: str, action: str, *pks) -> list[str]:
    response = client.post(url, {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True)
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def _local_storage(path) -> Storage:
    storage = make_storage()
    storage_config_create(
        config={"name": storage.storage_name, "type": "local", "root_path": str(path)},
        storage_id=storage.storage_id,
        check_remote=False,
    )
    return storage


def test_check_access_records_each_storages_result(admin_client, tmp_path):
    here = _local_storage(tmp_path)
    gone = _local_storage(tmp_path / "not-there")

    shown = _act(admin_client, "/admin/catalogue/storage/", "check_access", here.pk, gone.pk)

    assert f"{here.storage_name}: reachable" in shown
    assert any(message.startswith(f"{gone.storage_name}: not reachable: ") for message in shown), shown
    here.refresh_from_db()
    gone.refresh_from_db()
    assert (here.storage_checked, gone.storage_checked) == (True, False)
    assert here.storage_last_checked is not None and gone.storage_last_checked is not None


def _failed_job(state: str = JobState.FAILED) -> Migration:
    return make_copy_job(
        state=state, copy={"item_state": "CORRUPTED"}, attempts=3, last_error="rclone: connection refused"
    )


def test_retry_queues_failed_jobs_and_reports_refusals(admin_client, django_capture_on_commit_callbacks):
    failed, done = _failed_job(), _failed_job(JobState.COMPLETED)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        shown = _act(admin_client, "/admin/migrations_app/migration/", "retry", failed.pk, done.pk)

    failed.refresh_from_db()
    done.refresh_from_db()
    assert (failed.state, failed.attempts) == (JobState.QUEUED, 0)
    assert DataItem.objects.get(uid=failed.destination_uid).item_state == "INITIALISED"
    assert done.state == JobState.COMPLETED
    assert f"Migration {failed.pk}: queued again" in shown
    assert any(
        f"Migration {done.pk}: refused: " in message and "only a failed or cancelled job" in message
        for message in shown
    )
    assert len(queued) == 1  # the retried job handed to the workers


def test_jobs_are_not_edited_or_deleted_in_the_admin(admin_client):
    job = _failed_job()
    url = f"/admin/migrations_app/migration/{job.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert 'name="state"' not in page and 'name="_save"' not in page
    assert admin_client.post(url, {"state": "completed"}).status_code == 403
    assert admin_client.post(f"/admin/migrations_app/migration/{job.pk}/delete/", {"post": "yes"}).status_code == 403
    job.refresh_from_db()
    assert job.state == JobState.FAILED


def test_revoked_tokens_stop_working_on_the_api_at_once(admin_client):
    owner = account_ensure(username="tess", role=Role.OPERATOR)
    row, token = api_token_create(user=owner, name="laptop")
    api = Api(Client(), token)
    assert api.get("/tokens/list_tokens").status_code == 200  # and now remembered by the worker

    shown = _act(admin_client, "/admin/knox/authtoken/", "revoke", row.digest)

    assert shown == [f"Revoked 1 token(s): {row.token_key}"]
    assert api.get("/tokens/list_tokens").status_code == 401
    assert not type(row).objects.filter(digest=row.digest).exists()


def test_a_token_deleted_from_its_page_stops_working_too(admin_client):
    row, token = api_token_create(user=account_ensure(username="uma", role=Role.VIEWER))
    api = Api(Client(), token)
    assert api.get("/tokens/list_tokens").status_code == 200

    response = admin_client.post(f"/admin/knox/authtoken/{row.digest}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert api.get("/tokens/list_tokens").status_code == 401


def test_tokens_are_not_made_in_the_admin(admin_client):
    assert admin_client.get("/admin/knox/authtoken/add/").status_code == 403
