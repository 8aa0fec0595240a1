"""A copy a job is writing keeps its state until the job ends: the catalogue's services that
change ``item_state`` ask the copy jobs' guard first, and the API refuses with its reason."""

from __future__ import annotations

import pytest

from catalogue.models import DataItem
from catalogue.services import data_item_set
from core.errors import UnmetPreconditionForOperation
from migrations_app.states import ACTIVE, FINISHED
from tests.factories import make_copy_job, make_item, make_storage

SET_STATE = "/request/set_state"


@pytest.fixture
def source(db) -> DataItem:
    return make_item(make_storage(storage_name="src"), item_name="obs/vis.ms", uri="obs/vis.ms", item_state="READY")


@pytest.mark.parametrize("state", ACTIVE)
def test_set_state_on_a_copy_being_written_is_refused_naming_the_job(operator_api, source, state):
    job = make_copy_job(source, make_storage(storage_name="dst"), state=state)
    before = DataItem.objects.filter(uid=job.destination_uid).values().get()

    response = operator_api.patch(SET_STATE, {"uid": str(job.destination_uid), "state": "READY"})

    assert response.status_code == 422, response.content
    assert response.json() == {
        "exec": "UnmetPreconditionForOperation",
        "message": f"Copy job {job.migration_id} ({state}) is writing the copy {job.destination_uid}: "
        "wait for it to end, or cancel it, before changing its state",
    }
    assert DataItem.objects.filter(uid=job.destination_uid).values().get() == before


@pytest.mark.parametrize("state", FINISHED)
def test_a_finished_job_does_not_hold_its_copy(operator_api, source, state):
    job = make_copy_job(source, make_storage(storage_name="dst"), state=state)

    response = operator_api.patch(SET_STATE, {"uid": str(job.destination_uid), "state": "DELETED"})

    assert response.status_code == 200, response.content
    assert response.json()["item_state"] == "DELETED"
    assert DataItem.objects.get(uid=job.destination_uid).item_state == "DELETED"


def test_the_source_of_a_running_copy_and_other_columns_are_not_held(operator_api, source):
    job = make_copy_job(source, make_storage(storage_name="dst"), state="running")

    response = operator_api.patch(SET_STATE, {"uid": str(source.uid), "state": "CORRUPTED"})

    assert response.status_code == 200, response.content
    assert data_item_set(uid=job.destination_uid, fields={"item_owner": "someone"}).item_owner == "someone"


def test_a_change_of_every_copy_of_an_object_is_refused_while_one_is_being_written(db, source):
    job = make_copy_job(source, make_storage(storage_name="dst"), state="queued")

    with pytest.raises(UnmetPreconditionForOperation, match=f"Copy job {job.migration_id} "):
        data_item_set(oid=source.oid, fields={"item_state": "CORRUPTED"})

    assert set(DataItem.objects.filter(oid=source.oid).values_list("item_state", flat=True)) == {
        "READY",
        "INITIALISED",
    }
