"""An object's phase: the combination rule, and ``oid_phase`` kept true on every row as copies
come, go and change storage."""

from __future__ import annotations

import pytest

from catalogue.models import DataItem
from catalogue.phases import combine, oid_phases
from catalogue.services import data_item_set, storage_update
from catalogue.services.data_items import data_items_tombstone
from tests.factories import make_item, make_storage

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("phases", "combined"),
    [
        (["LIQUID"], "LIQUID"),
        (["LIQUID", "LIQUID"], "SOLID"),
        (["GAS", "LIQUID"], "LIQUID"),
        (["GAS", "GAS"], "LIQUID"),
        (["GAS", "GAS", "LIQUID"], "SOLID"),
        (["GAS", "LIQUID", "GAS", "PLASMA"], "SOLID"),
        (["PLASMA", "LIQUID", "GAS", "PLASMA"], "LIQUID"),
        (["GAS", "PLASMA"], "GAS"),
        (["SOLID"], "SOLID"),
        (["PLASMA"], "PLASMA"),
        ([], "PLASMA"),  # nothing READY: nothing of it can be read
    ],
)
def test_the_combination_rule(phases, combined):
    assert combine(phases) == combined


@pytest.mark.parametrize(
    ("phases", "combined"),
    [(["GAS", "GAS"], "LIQUID"), (["GAS", "LIQUID", "GAS", "PLASMA"], "SOLID"), (["GAS", "PLASMA"], "GAS")],
)
def test_an_objects_phase_is_computed_from_its_storages_phase(phases, combined):
    first = make_item(make_storage(storage_phase=phases[0]), item_state="READY")
    for phase in phases[1:]:
        make_item(make_storage(storage_phase=phase), item_state="READY", oid=first.uid)

    assert oid_phases([first.oid]) == {first.oid: combined}
    assert set(DataItem.objects.filter(oid=first.oid).values_list("oid_phase", flat=True)) == {combined}


def oid_phase_of(item):
    return set(DataItem.objects.filter(oid=item.oid).values_list("oid_phase", flat=True))


def test_oid_phase_follows_every_change_of_the_objects_copies():
    gas, liquid = make_storage(storage_phase="GAS"), make_storage(storage_phase="LIQUID")
    first = make_item(gas, item_state="READY")
    assert oid_phase_of(first) == {"GAS"}

    second = make_item(liquid, item_state="INITIALISED", oid=first.uid)  # in flight: counts for nothing
    assert oid_phase_of(first) == {"GAS"}

    data_item_set(uid=second.uid, fields={"item_state": "READY"})
    assert oid_phase_of(first) == {"LIQUID"}  # 1 + 2 = 3

    storage_update(storage_id=liquid.storage_id, fields={"storage_phase": "SOLID"})
    assert oid_phase_of(first) == {"SOLID"}

    data_items_tombstone(uids=[second.uid])
    assert oid_phase_of(first) == {"GAS"}

    data_item_set(uid=first.uid, fields={"item_state": "CORRUPTED"})
    assert oid_phase_of(first) == {"PLASMA"}


def test_a_client_cannot_write_a_false_oid_phase():
    item = make_item(make_storage(storage_phase="LIQUID"), item_state="READY")

    data_item_set(uid=item.uid, fields={"oid_phase": "SOLID"})

    assert oid_phase_of(item) == {"LIQUID"}


def test_a_tombstone_marks_every_descendant_at_any_depth():
    storage = make_storage()
    container = make_item(storage, item_state="READY", item_type="container")
    child = make_item(storage, item_state="READY", parents=container.uid)
    grandchild = make_item(storage, item_state="READY", parents=child.uid)
    other = make_item(storage, item_state="READY")

    marked = data_items_tombstone(uids=[container.uid])

    assert set(marked) == {container.uid, child.uid, grandchild.uid}
    states = dict(DataItem.objects.values_list("uid", "item_state"))
    assert states[grandchild.uid] == states[child.uid] == states[container.uid] == "DELETED"
    assert states[other.uid] == "READY"
    assert DataItem.objects.get(uid=grandchild.uid).uid_deletion is not None
