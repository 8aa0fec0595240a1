"""The lifecycle pass, rule by rule, against real rclone storages on local directories (and, for the
rules that must hold wherever the copies are, on the S3 test server)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from catalogue.models import DataItem
from catalogue.services import storage_update
from lifecycle.engine import lifecycle_pass
from lifecycle.models import Hold, HoldKind, LifecyclePass
from migrations_app.choices import JobOrigin
from migrations_app.models import Deletion, Migration
from migrations_app.states import ACTIVE, JobState
from tests.factories import make_copy_job
from tests.lifecycle.helpers import age, copies_of, expire, local_place, register, run_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.DLM_COPY_RETRY_DELAY = 0
    settings.DLM_PHASE_GRACE = 900


def _copy(item, place):
    """A verified copy of ``item`` on ``place``, made by a real copy job."""
    make_copy_job(item, place.storage)
    run_jobs()
    return DataItem.objects.get(oid=item.oid, storage=place.storage)


# --- copy expiry ----------------------------------------------------------------------------------


def test_an_expired_copy_goes_when_a_solid_copy_remains(gas, solid):
    item = register(gas, "obs/a.ms", b"bytes of a")
    _copy(item, solid)
    expire(item)

    report = lifecycle_pass()
    run_jobs()

    assert report.counts_dict()["uid-expiry"] == {"delete": 1}
    assert copies_of(item.oid) == {"gas": "DELETED", "solid": "READY"}
    assert not gas.path("obs/a.ms").exists()
    assert solid.path("obs/a.ms").read_bytes() == b"bytes of a"
    gone = DataItem.objects.get(uid=item.uid)
    assert gone.deleted and gone.uid_deletion is not None
    assert set(DataItem.objects.filter(oid=item.oid).values_list("oid_phase", flat=True)) == {"SOLID"}
    deletion = Deletion.objects.get(uid=item.uid)
    assert deletion.origin == JobOrigin.LIFECYCLE and "expired" in deletion.reason


def test_an_expired_copy_is_kept_when_the_rest_is_below_target_and_told_why(gas, liquid):
    item = register(gas, "obs/b.ms")
    _copy(item, liquid)
    expire(item)

    report = lifecycle_pass()

    assert report.counts_dict()["uid-expiry"] == {"keep": 1}
    [kept] = [d for d in report.decisions if d.step == "uid-expiry"]
    assert kept.reason == "kept: would leave the object at LIQUID below its target SOLID"
    assert copies_of(item.oid) == {"gas": "READY", "liquid": "READY"}
    assert gas.path("obs/b.ms").exists()
    hold = Hold.objects.get(kind=HoldKind.EXPIRED_KEPT, subject=item.uid)
    assert hold.reason == kept.reason
    # not judged again, pass after pass, while nothing changes
    again = lifecycle_pass()
    assert "uid-expiry" not in again.counts_dict()


def test_an_expired_copy_goes_once_the_lifecycle_has_made_the_copy_it_lacked(gas, liquid, solid):
    item = register(gas, "obs/c.ms", b"c")
    expire(item)

    first = lifecycle_pass()  # kept, and a copy asked for on the SOLID storage
    assert first.counts_dict()["uid-expiry"] == {"keep": 1}
    assert first.counts_dict()["target-phase"] == {"copy": 1}
    run_jobs()
    assert copies_of(item.oid) == {"gas": "READY", "solid": "READY"}

    lifecycle_pass()  # the copy's completion changed the object: the expired copy is judged again
    run_jobs()

    assert copies_of(item.oid) == {"gas": "DELETED", "solid": "READY"}
    assert solid.path("obs/c.ms").read_bytes() == b"c" and not gas.path("obs/c.ms").exists()
    lifecycle_pass()
    assert not Hold.objects.filter(subject=item.uid).exists()


def test_the_last_ready_copy_is_never_deleted_whatever_its_target(place_on):
    gas = place_on("gas", "GAS")
    item = register(gas, "obs/d.ms", target_phase="PLASMA")
    expire(item)

    report = lifecycle_pass()
    run_jobs()

    assert report.counts_dict()["uid-expiry"] == {"keep": 1}
    assert "last READY copy" in report.decisions[0].reason
    assert copies_of(item.oid) == {"gas": "READY"}
    assert gas.path("obs/d.ms").exists()


@pytest.mark.parametrize("state", ACTIVE)
def test_a_copy_in_flight_never_counts(gas, place_on, state):
    solid = place_on("solid", "SOLID")
    item = register(gas, "obs/e.ms")
    job = make_copy_job(item, solid.storage, state=state)  # its destination copy is INITIALISED
    expire(item)

    report = lifecycle_pass()

    assert report.counts_dict()["uid-expiry"] == {"keep": 1}
    [kept] = [d for d in report.decisions if d.step == "uid-expiry"]
    assert kept.reason == f"kept: {item.uid} is the last READY copy of object {item.oid}"
    assert not Deletion.objects.exists()
    assert gas.path("obs/e.ms").exists()
    assert Migration.objects.get(pk=job.pk).state == state
    assert copies_of(item.oid) == {"gas": "READY", "solid": "INITIALISED"}


def test_the_phase_counts_by_the_storages_phase_now(gas, liquid):
    item = register(gas, "obs/f.ms")
    _copy(item, liquid)
    expire(item)
    assert lifecycle_pass().counts_dict()["uid-expiry"] == {"keep": 1}

    storage_update(storage_id=liquid.storage.storage_id, fields={"storage_phase": "SOLID"})
    assert set(DataItem.objects.filter(oid=item.oid).values_list("oid_phase", flat=True)) == {"SOLID"}
    lifecycle_pass()
    run_jobs()

    assert copies_of(item.oid) == {"gas": "DELETED", "liquid": "READY"}


# --- object expiry --------------------------------------------------------------------------------


def test_an_expired_object_loses_every_copy_and_every_file(place_on):
    gas, solid, liquid = place_on("gas", "GAS"), place_on("solid", "SOLID"), place_on("liquid", "LIQUID")
    item = register(gas, "obs/g.ms", b"g")
    _copy(item, solid)
    _copy(item, liquid)
    DataItem.objects.filter(oid=item.oid).update(oid_expiration=timezone.now() - timedelta(seconds=5))

    report = lifecycle_pass()
    run_jobs()

    assert report.counts_dict()["oid-expiry"] == {"delete": 3}
    assert copies_of(item.oid) == {"gas": "DELETED", "solid": "DELETED", "liquid": "DELETED"}
    for place in (gas, solid, liquid):
        assert not place.path("obs/g.ms").exists()
    assert set(DataItem.objects.filter(oid=item.oid).values_list("oid_phase", flat=True)) == {"PLASMA"}


def test_object_expiry_cancels_the_copies_under_way(gas, solid):
    item = register(gas, "obs/h.ms")
    job = make_copy_job(item, solid.storage)
    DataItem.objects.filter(oid=item.oid).update(oid_expiration=timezone.now() - timedelta(seconds=5))

    report = lifecycle_pass()

    assert Migration.objects.get(pk=job.pk).state == JobState.CANCELLED
    assert report.counts_dict()["oid-expiry"]["cancel"] == 1
    run_jobs()
    lifecycle_pass()  # the cancelled copy (CORRUPTED) goes too
    run_jobs()
    assert set(copies_of(item.oid).values()) == {"DELETED"}


# --- target phase ---------------------------------------------------------------------------------


def test_an_object_below_target_gets_one_copy_on_the_right_storage_after_the_grace(gas, liquid, solid):
    item = register(gas, "obs/i.ms", b"i", aged=False)

    first = lifecycle_pass()
    assert first.counts_dict().get("target-phase") == {"within grace": 1}
    assert not Migration.objects.exists()

    age(item.oid)
    lifecycle_pass()
    lifecycle_pass()  # a second pass while the copy is pending asks for nothing more

    [job] = Migration.objects.all()
    assert job.origin == JobOrigin.LIFECYCLE and job.destination_storage == solid.storage
    assert "below its target SOLID" in job.reason
    run_jobs()
    assert copies_of(item.oid) == {"gas": "READY", "solid": "READY"}
    assert solid.path("obs/i.ms").read_bytes() == b"i"
    assert set(DataItem.objects.filter(oid=item.oid).values_list("oid_phase", flat=True)) == {"SOLID"}
    lifecycle_pass()
    assert Migration.objects.count() == 1


def test_an_object_with_nowhere_to_go_is_held_with_the_reason_until_a_storage_appears(tmp_path, gas):
    item = register(gas, "obs/j.ms")

    report = lifecycle_pass()

    assert report.counts_dict()["target-phase"] == {"keep": 1}
    hold = Hold.objects.get(kind=HoldKind.BELOW_TARGET, subject=item.oid)
    assert "no storage can take a copy" in hold.reason
    assert "target-phase" not in lifecycle_pass().counts_dict()  # held: not looked at again

    solid = local_place(tmp_path, "solid2", "SOLID")
    lifecycle_pass()
    [job] = Migration.objects.all()
    assert job.destination_storage == solid.storage


@pytest.mark.parametrize("refusal", ["retired", "full", "unreachable"])
def test_placement_skips_storages_that_cannot_take_a_copy(gas, liquid, solid, refusal):
    register(gas, "obs/k.ms", b"x" * 100)
    fields = {
        "retired": {"storage_retired": True},
        "full": {"storage_capacity": 50},
        "unreachable": {"storage_checked": False, "storage_last_checked": timezone.now()},
    }[refusal]
    type(solid.storage).objects.filter(pk=solid.storage.pk).update(**fields)

    lifecycle_pass()

    [job] = Migration.objects.all()
    assert job.destination_storage == liquid.storage


# --- the pass itself ------------------------------------------------------------------------------


def test_a_dry_run_says_what_it_would_do_and_changes_nothing(gas, solid):
    item = register(gas, "obs/l.ms")
    _copy(item, solid)
    expire(item)
    other = register(gas, "obs/m.ms")

    report = lifecycle_pass(dry_run=True)

    actions = {(d.step, d.action, d.item_name) for d in report.decisions}
    assert ("uid-expiry", "delete", "obs/l.ms") in actions
    assert ("target-phase", "copy", "obs/m.ms") in actions
    assert not Deletion.objects.exists()
    assert Migration.objects.filter(state__in=ACTIVE).count() == 0
    assert DataItem.objects.get(uid=item.uid).expired is False
    assert other.item_state == "READY"
    assert LifecyclePass.objects.get(pk=report.pass_id).dry_run


def test_a_pass_is_recorded_with_its_counts_and_duration(gas):
    register(gas, "obs/n.ms")

    report = lifecycle_pass()

    row = LifecyclePass.objects.get(pk=report.pass_id)
    assert row.state == "finished" and row.duration is not None and row.finished_at is not None
    assert row.counts == {"target-phase": {"keep": 1}}
    assert row.decisions[0]["item_name"] == "obs/n.ms"


def test_only_one_pass_runs_at_a_time_and_a_dead_workers_lease_runs_out(gas):
    from lifecycle.lease import lease_take

    assert lease_take("other-host:1", seconds=60)
    skipped = lifecycle_pass()
    assert skipped.state == "skipped"

    LifecyclePass.objects.create(state="running", worker="other-host:1")
    assert lease_take("other-host:1", seconds=-1)  # its lease ran out (the worker died)
    report = lifecycle_pass()
    assert report.state == "finished"
    assert LifecyclePass.objects.filter(worker="other-host:1").get().state == "abandoned"


def test_batches_bound_each_transaction_and_every_item_is_decided(gas, solid, settings):
    items = [register(gas, f"obs/batch-{n}.ms") for n in range(7)]
    for item in items:
        _copy(item, solid)
        expire(item)

    report = lifecycle_pass(batch=3)
    run_jobs()

    assert report.counts_dict()["uid-expiry"] == {"delete": 7}
    assert all(copies_of(item.oid) == {"gas": "DELETED", "solid": "READY"} for item in items)


def _by_transaction(model, column: str) -> list[set[str]]:
    """``model``'s rows grouped by the transaction that wrote them (PostgreSQL's ``xmin``): the
    values of ``column`` each holds."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT xmin::text, {connection.ops.quote_name(column)} FROM {table}")
        groups: dict[str, set[str]] = {}
        for xmin, value in cursor.fetchall():
            groups.setdefault(xmin, set()).add(str(value))
    return sorted(groups.values(), key=sorted)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_pass_writes_its_decisions_in_transactions_of_at_most_a_batch(gas, solid, settings):
    if connection.vendor != "postgresql":
        pytest.skip("which transaction wrote a row is PostgreSQL's xmin column; SQLite has none")
    from core.events import LIFECYCLE_DECISION
    from core.models import OutboxEvent

    settings.DLM_LIFECYCLE_BATCH = 3
    items = [register(gas, f"obs/bounded-{n}.ms") for n in range(7)]  # each below target: a copy each

    report = lifecycle_pass()

    assert report.counts_dict()["target-phase"] == {"copy": 7}
    jobs = _by_transaction(Migration, "oid")
    assert sorted(len(group) for group in jobs) == [1, 3, 3]
    assert set().union(*jobs) == {str(item.oid) for item in items}
    # the decisions' events are written by each batch's transaction itself, beside its jobs
    decided = OutboxEvent.objects.filter(event_type=LIFECYCLE_DECISION).values_list("id", "payload")
    oids = {str(pk): payload["oid"] for pk, payload in decided}
    events = [{oids[pk] for pk in group if pk in oids} for group in _by_transaction(OutboxEvent, "id")]
    assert sorted(map(sorted, filter(None, events))) == sorted(map(sorted, jobs))


def test_every_change_a_pass_makes_is_in_the_audit_trail_with_its_reason(gas, solid):
    from audit.models import AuditRecord

    item = register(gas, "obs/audited.ms")
    _copy(item, solid)
    expire(item)
    below = register(gas, "obs/below.ms")

    lifecycle_pass()

    records = AuditRecord.objects.filter(via="lifecycle", username="dlm-lifecycle", action="create")
    deletion = records.get(object_type="deletion")
    assert deletion.changes["uid"] == str(item.uid) and "expired at" in deletion.changes["reason"]
    copy = records.get(object_type="migration")
    assert copy.changes["oid"] == str(below.oid) and "below its target SOLID" in copy.changes["reason"]
    assert copy.auth == "system" and copy.operation == "lifecycle_pass"


def test_a_cancel_on_object_expiry_and_a_copy_for_a_rule_are_in_the_audit_trail(gas, solid, liquid):
    from audit.models import AuditRecord
    from lifecycle.services import rule_create

    expiring = register(gas, "obs/expiring.ms")
    job = make_copy_job(expiring, solid.storage)
    DataItem.objects.filter(oid=expiring.oid).update(oid_expiration=timezone.now() - timedelta(seconds=5))
    ruled = register(gas, "keep/ruled.ms", target_phase="GAS")
    rule_create(fields={"name": "to-liquid", "item_name_pattern": "keep/", "storage_name": "liquid"})

    lifecycle_pass()

    records = AuditRecord.objects.filter(via="lifecycle", username="dlm-lifecycle", operation="lifecycle_pass")
    cancelled = records.get(object_type="migration", object_id=str(job.migration_id), action="update")
    assert cancelled.changes["state"] == ["queued", "cancelled"] and cancelled.auth == "system"
    before, after = cancelled.changes["last_error"]
    assert before == "" and after.startswith("Cancelled: ") and "expired" in after, after
    copy = records.get(object_type="migration", action="create", changes__oid=str(ruled.oid))
    assert copy.changes["reason"] == "rule to-liquid: rule to-liquid asks for a copy on liquid"
    assert copy.changes["destination_storage_id"] == str(liquid.storage.storage_id)


def test_between_storages_of_one_phase_the_one_with_more_room_is_chosen(tmp_path, gas):
    roomy = local_place(tmp_path, "roomy", "SOLID", storage_capacity=10_000_000)
    local_place(tmp_path, "cramped", "SOLID", storage_capacity=1_000)
    register(gas, "obs/room.ms", b"r" * 100)

    lifecycle_pass()

    [job] = Migration.objects.all()
    assert job.destination_storage == roomy.storage


def test_the_whole_flow_on_s3_copy_up_then_the_expired_source_goes(gas, s3_server):
    from tests.lifecycle.helpers import remote_place

    archive = remote_place(s3_server.config, "bucket1/archive", "archive", "SOLID")
    item = register(gas, "obs/flow.ms", b"to the archive")
    expire(item)

    lifecycle_pass()  # the source is kept, a copy to the SOLID archive is asked for
    run_jobs()
    assert (s3_server.root / "bucket1" / "archive" / "obs" / "flow.ms").read_bytes() == b"to the archive"
    lifecycle_pass()  # now the expired source can go
    run_jobs()

    assert copies_of(item.oid) == {"gas": "DELETED", "archive": "READY"}
    assert not gas.path("obs/flow.ms").exists()
    assert DataItem.objects.get(oid=item.oid, storage=archive.storage).oid_phase == "SOLID"


def test_a_storage_where_the_objects_name_is_taken_is_passed_over_with_the_reason(gas, liquid, solid):
    from lifecycle.services import copy_delete

    item = register(gas, "obs/again.ms")
    _copy(item, solid)
    copy_delete(uid=DataItem.objects.get(oid=item.oid, storage=solid.storage).uid, user="op", force=True)
    run_jobs()  # the SOLID copy is DELETED: its record keeps the name on that storage

    lifecycle_pass()

    [job] = Migration.objects.filter(state__in=ACTIVE)
    assert job.destination_storage == liquid.storage
    run_jobs()
    age(item.oid)
    report = lifecycle_pass()  # LIQUID + GAS is LIQUID, below SOLID, and SOLID cannot take it
    [held] = [d for d in report.decisions if d.step == "target-phase"]
    assert held.action == "keep" and "solid (its name is taken there" in held.reason


def test_two_objects_of_one_name_planned_to_one_storage_fall_back_to_one_job_at_a_time(tmp_path, gas, solid):
    other_disk = local_place(tmp_path, "gas2", "GAS")
    first = register(gas, "obs/twin.ms", b"first")
    second = register(other_disk, "obs/twin.ms", b"second")  # another object of the same name

    report = lifecycle_pass()

    decisions = {d.oid: d for d in report.decisions if d.step == "target-phase"}
    actions = sorted(d.action for d in decisions.values())
    assert actions == ["copy", "wait"]  # the batch was refused whole, then asked one at a time
    [waiting] = [d for d in decisions.values() if d.action == "wait"]
    assert "already registered on storage" in waiting.reason
    [job] = Migration.objects.all()
    assert job.oid in (first.oid, second.oid) and job.destination_storage == solid.storage


# --- capacity (catalogue.capacity) ------------------------------------------------------------------


def test_placement_skips_a_storage_above_its_high_watermark(gas, liquid, solid):
    type(solid.storage).objects.filter(pk=solid.storage.pk).update(storage_capacity=10_000)
    register(solid, "obs/filler.ms", b"f" * 9_100)  # 91 % of its capacity
    item = register(gas, "obs/high.ms", b"h" * 10)

    lifecycle_pass()

    [job] = Migration.objects.all()
    assert job.destination_storage == liquid.storage  # not the fuller storage of the higher phase
    assert not DataItem.objects.filter(oid=item.oid, storage=solid.storage).exists()


def test_an_object_whose_only_place_is_above_high_is_kept_with_the_storages_use(gas, solid):
    type(solid.storage).objects.filter(pk=solid.storage.pk).update(storage_capacity=10_000)
    register(solid, "obs/filler.ms", b"f" * 9_500)
    register(gas, "obs/kept.ms", b"k" * 10)

    report = lifecycle_pass()

    assert not Migration.objects.exists()
    [decision] = [d for d in report.decisions if d.step == "target-phase"]
    assert decision.action == "keep"
    assert "95.0 % full" in decision.reason and "high watermark of 90 %" in decision.reason


def test_placement_skips_a_storage_whose_measured_free_space_is_too_small(gas, liquid, solid):
    type(solid.storage).objects.filter(pk=solid.storage.pk).update(storage_free_bytes=50)
    register(gas, "obs/big.ms", b"b" * 100)

    lifecycle_pass()

    [job] = Migration.objects.all()
    assert job.destination_storage == liquid.storage
