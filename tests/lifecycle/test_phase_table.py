"""The phases' combination table (``catalogue.phases``: weights PLASMA 0, GAS 1, LIQUID 2, SOLID 4;
a sum of 1 is GAS, 2 or 3 LIQUID, 4 or more SOLID) as a pass applies it: an expired copy goes
exactly when the READY copies left without it reach the object's target phase, on real rclone
storages on local directories and on the S3 test server."""

from __future__ import annotations

import pytest

from catalogue.models import DataItem
from lifecycle.engine import lifecycle_pass
from lifecycle.models import Hold, HoldKind
from migrations_app.models import Deletion
from tests.factories import make_copy_job
from tests.lifecycle.helpers import expire, local_place, register, run_jobs, s3_place

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.DLM_COPY_RETRY_DELAY = 0
    settings.DLM_PHASE_GRACE = 900


# Each row: the phases of the storages of the copies left once the expired one is gone ("s3:" on
# the S3 server), the object's target, and the phase those copies give it.
TABLE = [
    (["GAS"], "GAS", "GAS"),
    (["GAS"], "LIQUID", "GAS"),
    (["GAS", "s3:GAS"], "LIQUID", "LIQUID"),
    (["PLASMA", "GAS"], "LIQUID", "GAS"),
    (["PLASMA"], "PLASMA", "PLASMA"),
    (["LIQUID", "s3:GAS"], "SOLID", "LIQUID"),
    (["GAS", "GAS", "s3:GAS"], "SOLID", "LIQUID"),
    (["LIQUID", "s3:LIQUID"], "SOLID", "SOLID"),
    (["LIQUID", "GAS", "s3:GAS"], "SOLID", "SOLID"),
    (["s3:SOLID"], "SOLID", "SOLID"),
    (["SOLID", "s3:PLASMA"], "SOLID", "SOLID"),
]
WEIGHT = {"PLASMA": 0, "GAS": 1, "LIQUID": 2, "SOLID": 4}


def _ids(row) -> str:
    left, target, _ = row
    return "+".join(left) + "->" + target


@pytest.mark.parametrize(("left", "target", "phase"), TABLE, ids=[_ids(row) for row in TABLE])
def test_an_expired_copy_goes_exactly_when_the_copies_left_reach_the_target(tmp_path, s3_server, left, target, phase):
    source = local_place(tmp_path, "expiring", "SOLID")  # its own phase does not matter once expired
    item = register(source, "obs/table.ms", b"table")
    places = []
    for n, where in enumerate(left):
        on_s3 = where.startswith("s3:")
        phase_of = where.removeprefix("s3:")
        name = f"{phase_of.lower()}-{n}"
        place = s3_place(s3_server, name, phase_of) if on_s3 else local_place(tmp_path, name, phase_of)
        make_copy_job(item, place.storage)
        places.append(place)
    run_jobs()
    DataItem.objects.filter(oid=item.oid).update(target_phase=target)
    expire(item)

    report = lifecycle_pass()
    run_jobs()

    [decision] = [d for d in report.decisions if d.step == "uid-expiry"]
    reached = WEIGHT[phase] >= WEIGHT[target]
    states = dict(DataItem.objects.filter(oid=item.oid).values_list("storage__storage_name", "item_state"))
    assert all(states[place.storage.storage_name] == "READY" for place in places)
    assert all(place.path("obs/table.ms").read_bytes() == b"table" for place in places)
    if reached:
        assert decision.action == "delete"
        assert states["expiring"] == "DELETED" and not source.path("obs/table.ms").exists()
        assert Deletion.objects.get().uid == item.uid
        assert set(DataItem.objects.filter(oid=item.oid).values_list("oid_phase", flat=True)) == {phase}
    else:
        assert decision.action == "keep"
        assert decision.reason == f"kept: would leave the object at {phase} below its target {target}"
        assert states["expiring"] == "READY" and source.path("obs/table.ms").exists()
        assert not Deletion.objects.exists()
        assert Hold.objects.get(kind=HoldKind.EXPIRED_KEPT, subject=item.uid).reason == decision.reason
