"""The fixity operations over HTTP: ``POST /storage/verify_data_item`` (operator) queues a check,
``GET /storage/query_fixity_checks`` (viewer) lists them."""

from __future__ import annotations

import uuid

import pytest
from django_q.models import OrmQ

from catalogue.choices import ItemState
from catalogue.models import DataItem
from integrity.fixity import FIXITY_TASK, fixity_check_run
from integrity.models import CheckOrigin, CheckState, FixityCheck
from tests.integrity.test_fixity import DATA, local_disk

pytestmark = pytest.mark.django_db

VERIFY = "/storage/verify_data_item"
QUERY = "/storage/query_fixity_checks"


@pytest.fixture
def item(tmp_path):
    return local_disk(tmp_path / "disk", storage_name="api-disk").register("v.bin", DATA)


def test_verify_needs_the_operator_role(anon_api, viewer_api, item):
    assert anon_api.post(VERIFY, {"uid": str(item.uid)}).status_code == 401
    assert viewer_api.post(VERIFY, {"uid": str(item.uid)}).status_code == 403
    assert not FixityCheck.objects.exists()


def test_verify_queues_one_check_now(operator_api, item, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api.post(VERIFY, {"uid": str(item.uid)})
    assert response.status_code == 200, response.content
    body = response.json()
    check = FixityCheck.objects.get()
    assert body["check_id"] == check.check_id
    assert (body["uid"], body["state"], body["origin"]) == (str(item.uid), "queued", CheckOrigin.CLIENT)
    assert check.requested_by == "operator-user"
    sent = [task.task for task in OrmQ.objects.all()]
    assert [(task["func"], task["args"]) for task in sent] == [(FIXITY_TASK, (check.check_id,))]

    again = operator_api.post(VERIFY, {"uid": str(item.uid)})  # one check of a copy at a time
    assert again.status_code == 200 and again.json()["check_id"] == check.check_id
    assert FixityCheck.objects.count() == 1


def test_verify_unknown_uid_is_404(operator_api):
    response = operator_api.post(VERIFY, {"uid": str(uuid.uuid4())})
    assert response.status_code == 404
    assert response.json()["exec"] == "ObjectNotFound"


def test_verify_copy_not_ready_is_422_naming_the_uid(operator_api, item):
    DataItem.objects.filter(uid=item.uid).update(item_state=ItemState.CORRUPTED)
    response = operator_api.post(VERIFY, {"uid": str(item.uid)})
    assert response.status_code == 422
    assert str(item.uid) in response.content.decode()
    assert "READY" in response.content.decode()
    assert not FixityCheck.objects.exists()


def test_verify_bad_uid_is_422_naming_the_field(operator_api):
    response = operator_api.post(VERIFY, {"uid": "not-a-uuid"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "uid"]
    missing = operator_api.post(VERIFY)
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["query", "uid"]


def test_query_fixity_checks(viewer_api, anon_api, operator_api, item):
    check_id = operator_api.post(VERIFY, {"uid": str(item.uid)}).json()["check_id"]
    fixity_check_run(check_id)

    assert anon_api.get(QUERY).status_code == 401
    response = viewer_api.get(QUERY, {"uid": str(item.uid)})
    assert response.status_code == 200
    [row] = response.json()
    assert (row["check_id"], row["state"], row["hash_type"]) == (check_id, CheckState.PASSED, "md5")
    assert viewer_api.get(QUERY, {"storage_name": "api-disk", "state": "passed"}).json() == [row]
    assert viewer_api.get(QUERY, {"storage_name": "elsewhere"}).json() == []
    assert viewer_api.get(QUERY, {"state": "lost"}).json() == []
    bad = viewer_api.get(QUERY, {"state": "bogus"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "state"]
    assert viewer_api.get(QUERY, {"limit": 0}).status_code == 422
