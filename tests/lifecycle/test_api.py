"""The lifecycle's operations over HTTP: deleting a copy's payload (refused, forced), an item's
lifecycle explained, placement rules and dry runs; with real rclone on local directories and on
the S3 test server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from catalogue.models import DataItem
from migrations_app.models import Deletion, Migration
from tests.factories import make_copy_job
from tests.lifecycle.helpers import age, copies_of, expire, local_place, register, remote_place, run_jobs

pytestmark = pytest.mark.django_db

DELETE = "/storage/delete_data_item_payload"
LIFECYCLE = "/request/query_item_lifecycle"


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.DLM_COPY_RETRY_DELAY = 0


def _copy(item, place):
    make_copy_job(item, place.storage)
    run_jobs()
    return DataItem.objects.get(oid=item.oid, storage=place.storage)


# --- delete_data_item_payload ---------------------------------------------------------------------


def test_the_last_ready_copy_is_refused_with_the_reason_and_nothing_changes(operator_api, place_on):
    gas = place_on("gas", "GAS")
    item = register(gas, "obs/one.ms")

    response = operator_api.post(DELETE, {"uid": str(item.uid)})

    assert response.status_code == 422
    body = response.json()
    assert body["exec"] == "UnmetPreconditionForOperation"
    assert "last READY copy" in body["message"] and "force=true" in body["message"]
    assert not Deletion.objects.exists()
    assert gas.path("obs/one.ms").exists()


def test_a_copy_whose_loss_would_fall_below_target_is_refused(operator_api, gas, place_on):
    liquid = place_on("liquid", "LIQUID")
    item = register(gas, "obs/two.ms")
    copy = _copy(item, liquid)

    response = operator_api.post(DELETE, {"uid": str(copy.uid)})

    assert response.status_code == 422
    assert "would leave the object at GAS below its target SOLID" in response.json()["message"]
    assert not Deletion.objects.exists()
    run_jobs()
    assert copies_of(item.oid) == {"gas": "READY", "liquid": "READY"}
    assert liquid.path("obs/two.ms").read_bytes() == b"payload"


def test_a_forced_deletion_removes_the_payload_and_leaves_a_tombstone(operator_api, gas):
    item = register(gas, "obs/three.ms")

    response = operator_api.post(DELETE, {"uid": str(item.uid), "force": "true"})
    assert response.status_code == 200, response.content
    row = response.json()
    assert row["uid"] == str(item.uid) and row["state"] == "queued" and row["forced"] is True
    run_jobs()

    assert not gas.path("obs/three.ms").exists()
    item.refresh_from_db()
    assert item.item_state == "DELETED" and item.deleted and item.uid_deletion is not None
    listed = operator_api.get("/migration/query_deletions", {"uid": str(item.uid)}).json()
    assert [d["state"] for d in listed] == ["completed"]


def test_a_copy_that_is_not_needed_is_deleted_without_force(operator_api, gas, solid):
    item = register(gas, "obs/four.ms")
    _copy(item, solid)

    response = operator_api.post(DELETE, {"uid": str(item.uid)})
    assert response.status_code == 200, response.content
    run_jobs()

    assert copies_of(item.oid) == {"gas": "DELETED", "solid": "READY"}
    assert set(DataItem.objects.filter(oid=item.oid).values_list("oid_phase", flat=True)) == {"SOLID"}


def test_two_deletions_of_an_objects_last_two_copies_cannot_both_pass(operator_api, gas, solid):
    item = register(gas, "obs/five.ms", target_phase="GAS")
    copy = _copy(item, solid)

    first = operator_api.post(DELETE, {"uid": str(item.uid)})
    second = operator_api.post(DELETE, {"uid": str(copy.uid)})

    assert first.status_code == 200
    assert second.status_code == 422 and "last READY copy" in second.json()["message"]


def test_a_container_is_purged_with_its_children_and_grandchildren(operator_api, gas):
    for name in ("run/a.dat", "run/sub/b.dat", "run/sub/deeper/c.dat"):
        gas.write(name, b"x")
    from catalogue.services.ingest import data_item_register

    container = data_item_register(
        owner="t", item_name="run", uri="run", storage_id=gas.storage.storage_id, item_type="container"
    )
    sub = data_item_register(
        owner="t", item_name="run/sub", uri="run/sub", storage_id=gas.storage.storage_id, item_type="container",
        parents=container.uid,
    )  # fmt: skip
    leaf = data_item_register(
        owner="t", item_name="run/sub/deeper/c.dat", uri="run/sub/deeper/c.dat", storage_id=gas.storage.storage_id,
        parents=sub.uid,
    )  # fmt: skip

    response = operator_api.post(DELETE, {"uid": str(container.uid), "force": "true"})
    assert response.status_code == 200, response.content
    run_jobs()

    assert not gas.path("run").exists()
    states = dict(DataItem.objects.filter(uid__in=[container.uid, sub.uid, leaf.uid]).values_list("uid", "item_state"))
    assert set(states.values()) == {"DELETED"}
    assert Deletion.objects.get(uid=container.uid).items_deleted == 3


def test_deleting_a_copy_on_s3(operator_api, gas, s3_server):
    place = remote_place(s3_server.config, "bucket1/dlm", "s3-solid", "SOLID")
    item = register(gas, "obs/six.ms", b"six")
    copy = _copy(item, place)
    assert copy.item_state == "READY"

    response = operator_api.post(DELETE, {"uid": str(copy.uid), "force": "true"})
    assert response.status_code == 200
    run_jobs()

    copy.refresh_from_db()
    assert copy.item_state == "DELETED"
    from catalogue.services.storages import storage_remote
    from core import rclone

    assert rclone.stat(storage_remote(place.storage), rclone.full_path("bucket1/dlm", "obs/six.ms")) is None
    assert not (s3_server.root / "bucket1" / "dlm" / "obs" / "six.ms").exists()


def test_a_viewer_cannot_delete(viewer_api, gas):
    item = register(gas, "obs/seven.ms")
    assert viewer_api.post(DELETE, {"uid": str(item.uid), "force": "true"}).status_code == 403


def test_bad_input_names_the_field(operator_api):
    response = operator_api.post(DELETE, {"uid": "not-a-uuid"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "uid"]
    missing = operator_api.post(DELETE, {"uid": "6d1f2c7e-1111-4222-8333-444455556666"})
    assert missing.status_code == 404


# --- query_item_lifecycle -------------------------------------------------------------------------


def test_an_items_lifecycle_explained(viewer_api, gas, liquid):
    item = register(gas, "obs/eight.ms")
    copy = _copy(item, liquid)
    expire(item)

    answer = viewer_api.get(LIFECYCLE, {"uid": str(copy.uid)}).json()

    assert answer["oid"] == str(item.oid) and answer["item_name"] == "obs/eight.ms"
    assert (answer["phase"], answer["target_phase"], answer["at_target"]) == ("LIQUID", "SOLID", False)
    by_uid = {c["uid"]: c for c in answer["copies"]}
    assert by_uid[str(item.uid)]["expired"] is True
    assert by_uid[str(item.uid)]["deletion_refused"] == "would leave the object at LIQUID below its target SOLID"
    assert answer["why_not_at_target"]
    by_oid = viewer_api.get(LIFECYCLE, {"oid": str(item.oid)}).json()
    assert by_oid["oid"] == answer["oid"]


def test_an_items_lifecycle_names_its_rules_its_jobs_and_what_is_held(viewer_api, gas, liquid, solid):
    from lifecycle.engine import lifecycle_pass
    from lifecycle.services import rule_create

    item = register(gas, "obs/told.ms")
    _copy(item, liquid)
    age(item.oid)
    expire(item)
    rule_create(fields={"name": "on-liquid", "item_name_pattern": "obs/", "storage_name": "liquid"})
    rule_create(fields={"name": "elsewhere", "item_name_pattern": "raw/", "storage_name": "solid"})
    lifecycle_pass()  # the expired copy kept; a copy to SOLID asked for
    job = Migration.objects.get(state="queued")

    answer = viewer_api.get(LIFECYCLE, {"uid": str(item.uid)}).json()

    assert answer["rules"] == [{"rule": "on-liquid", "satisfied": True, "needs": ""}]
    assert answer["pending"] == [
        {"kind": "copy", "migration_id": job.migration_id, "state": "queued", "origin": "lifecycle",
         "reason": "the object is at LIQUID, below its target SOLID"}
    ]  # fmt: skip
    [hold] = answer["holds"]
    assert hold["kind"] == "expired-kept" and hold["since"]
    assert hold["reason"] == "kept: would leave the object at LIQUID below its target SOLID"
    assert answer["why_not_at_target"] == ["1 copy job(s) under way"]


@pytest.mark.parametrize("case", ["recent", "nowhere", "next-pass"])
def test_why_an_item_is_not_at_its_target_is_worded_for_each_case(viewer_api, tmp_path, gas, settings, case):
    from core.rows import json_value
    from lifecycle.engine import lifecycle_pass

    item = register(gas, "obs/why.ms", aged=case != "recent")
    if case != "nowhere":
        local_place(tmp_path, "solid", "SOLID")
    else:
        lifecycle_pass()  # no other storage: held

    answer = viewer_api.get(LIFECYCLE, {"uid": str(item.uid)}).json()

    created = DataItem.objects.get(uid=item.uid).uid_creation
    expected = {
        "recent": "its newest copy is recent: the lifecycle copies it after "
        + json_value(created + timedelta(seconds=settings.DLM_PHASE_GRACE)),
        "nowhere": "below target: no storage can take a copy (none other exists)",
        "next-pass": "the next lifecycle pass will ask for a copy",
    }[case]
    assert (answer["phase"], answer["at_target"]) == ("GAS", False)
    assert answer["why_not_at_target"] == [expected]


def test_an_unknown_item_is_a_404(viewer_api):
    response = viewer_api.get(LIFECYCLE, {"uid": "6d1f2c7e-1111-4222-8333-444455556666"})
    assert response.status_code == 404
    assert viewer_api.get(LIFECYCLE).status_code == 422


# --- rules and dry runs ---------------------------------------------------------------------------


def test_rules_are_created_refused_on_the_field_listed_and_previewed(api, viewer_api, gas, liquid, solid):
    register(gas, "raw/x.fits")
    register(gas, "cal/y.fits")

    bad = api.post("/lifecycle/create_rule", body={"name": "two", "copies": 0, "min_phase": "LIQUID", "colour": 1})
    assert bad.status_code == 422
    locs = {tuple(entry["loc"]) for entry in bad.json()["detail"]}
    assert ("body", "colour") in locs and ("body", "copies") in locs

    made = api.post(
        "/lifecycle/create_rule",
        body={"name": "raw-twice", "item_name_pattern": "raw/*.fits", "copies": 2, "min_phase": "LIQUID"},
    )
    assert made.status_code == 200, made.content
    rule = made.json()
    assert viewer_api.get("/lifecycle/query_rules").json()[0]["name"] == "raw-twice"

    preview = viewer_api.get("/lifecycle/preview_rule", {"rule_id": rule["rule_id"]}).json()
    assert [(d["action"], d["item_name"]) for d in preview["decisions"]] == [("copy", "raw/x.fits")]
    assert viewer_api.post("/lifecycle/create_rule", body={"name": "x", "storage_name": "gas"}).status_code == 403

    taken = api.post("/lifecycle/create_rule", body={"name": "raw-twice", "storage_name": "solid"})
    assert taken.status_code == 422 and taken.json()["exec"] == "ValueAlreadyInDB"
    assert (
        api.patch("/lifecycle/update_rule", {"rule_id": rule["rule_id"]}, body={"enabled": False}).json()["enabled"]
        is False
    )
    assert api.call("DELETE", "/lifecycle/delete_rule", {"rule_id": rule["rule_id"]}).json() is True


def test_a_dry_run_over_http_changes_nothing(operator_api, gas, solid):
    item = register(gas, "obs/nine.ms")
    _copy(item, solid)
    expire(item)

    answer = operator_api.post("/lifecycle/dry_run").json()

    assert ("uid-expiry", "delete") in {(d["step"], d["action"]) for d in answer["decisions"]}
    assert not Deletion.objects.exists()
    passes = operator_api.get("/lifecycle/query_passes").json()
    assert passes[0]["dry_run"] is True
