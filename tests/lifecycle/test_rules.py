"""Placement rules: what they match, the copies the pass makes for them, and the expired copies
they keep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from catalogue.models import DataItem
from lifecycle import services
from lifecycle.engine import lifecycle_pass, rule_preview
from lifecycle.models import PlacementRule
from lifecycle.rules import name_matches, rule_filter
from migrations_app.models import Migration
from tests.factories import make_copy_job
from tests.lifecycle.helpers import copies_of, expire, local_place, register, run_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.DLM_COPY_RETRY_DELAY = 0


@pytest.fixture
def places(tmp_path):
    return {
        name: local_place(tmp_path, name, phase)
        for name, phase in [("gas", "GAS"), ("liquid-a", "LIQUID"), ("liquid-b", "LIQUID"), ("solid", "SOLID")]
    }


@pytest.mark.parametrize(
    ("pattern", "name", "matched"),
    [
        ("raw/", "raw/x.fits", True),  # no wildcard: a prefix
        ("raw/", "cal/raw/x.fits", False),
        ("raw/*.fits", "raw/deep/x.fits", True),
        ("raw/*.fits", "raw/x.fits.gz", False),
        ("sb?/x", "sb1/x", True),
        ("sb[12]/x", "sb3/x", False),
        ("sb[!12]/x", "sb3/x", True),
        ("a.b", "axb", False),  # a dot is a dot
    ],
)
def test_name_patterns_match_alike_in_python_and_in_the_database(places, pattern, name, matched):
    register(places["gas"], name)
    assert name_matches(pattern, name) is matched
    rule = PlacementRule(name="r", item_name_pattern=pattern, storage=places["solid"].storage)
    assert DataItem.objects.filter(rule_filter(rule)).exists() is matched


def test_keep_n_copies_on_a_phase_or_better(places):
    services.rule_create(fields={"name": "two-liquid", "item_name_pattern": "raw/", "copies": 2, "min_phase": "LIQUID"})
    item = register(places["gas"], "raw/a.fits", target_phase="GAS")  # its target is met: only the rule asks
    other = register(places["gas"], "cal/b.fits", target_phase="GAS")

    for _ in range(3):  # one lifecycle copy at a time per object
        lifecycle_pass()
        run_jobs()

    # highest phase first, then (equal room) by name
    assert copies_of(item.oid) == {"gas": "READY", "solid": "READY", "liquid-a": "READY"}
    assert copies_of(other.oid) == {"gas": "READY"}
    jobs = Migration.objects.filter(oid=item.oid)
    assert all("rule two-liquid" in job.reason for job in jobs)


def test_a_copy_on_a_named_storage_with_a_lifetime(places):
    services.rule_create(
        fields={"name": "to-b", "metadata_key": "telescope", "metadata_value": "low", "storage_name": "liquid-b",
                "lifetime": "P7D"}
    )  # fmt: skip
    item = register(places["gas"], "obs/low.ms", target_phase="GAS", metadata={"telescope": "low"})
    register(places["gas"], "obs/mid.ms", target_phase="GAS", metadata={"telescope": "mid"})

    before = timezone.now()
    lifecycle_pass()
    run_jobs()

    [job] = Migration.objects.all()
    assert job.oid == item.oid and job.destination_storage == places["liquid-b"].storage
    copy = DataItem.objects.get(oid=item.oid, storage=places["liquid-b"].storage)
    assert copy.item_state == "READY"
    assert before + timedelta(days=7) <= copy.uid_expiration <= timezone.now() + timedelta(days=7)
    lifecycle_pass()
    assert Migration.objects.count() == 1  # satisfied: nothing more


def test_an_expired_copy_a_rule_needs_is_kept(places):
    item = register(places["gas"], "keep/c.ms", target_phase="GAS")
    services.rule_create(fields={"name": "keep-gas", "item_name_pattern": "keep/", "storage_name": "gas"})
    lifecycle_pass()
    run_jobs()
    assert DataItem.objects.filter(oid=item.oid).count() == 1  # the rule is met by the copy itself
    expire(item)

    report = lifecycle_pass()

    [kept] = [d for d in report.decisions if d.step == "uid-expiry"]
    assert kept.action == "keep" and "last READY copy" in kept.reason


def test_a_rule_keeps_a_copy_the_target_would_let_go(places):
    item = register(places["gas"], "k/d.ms", target_phase="GAS")
    services.rule_create(fields={"name": "on-gas", "item_name_pattern": "k/", "storage_name": "gas"})
    make_copy_job(item, places["solid"].storage)
    run_jobs()
    expire(item)

    report = lifecycle_pass()
    run_jobs()

    [kept] = [d for d in report.decisions if d.step == "uid-expiry"]
    assert kept.action == "keep" and "rule on-gas" in kept.reason
    assert copies_of(item.oid) == {"gas": "READY", "solid": "READY"}

    services.rule_delete(rule_id=PlacementRule.objects.get(name="on-gas").rule_id)
    lifecycle_pass()
    run_jobs()
    assert copies_of(item.oid) == {"gas": "DELETED", "solid": "READY"}


def test_the_preview_lists_what_the_rule_would_copy_and_changes_nothing(places):
    rule = services.rule_create(fields={"name": "p", "item_name_pattern": "p/", "copies": 1, "min_phase": "SOLID"})
    register(places["gas"], "p/one.ms", target_phase="GAS")

    report = rule_preview(rule)

    [decision] = report.decisions
    assert (decision.action, decision.item_name, decision.destination) == ("copy", "p/one.ms", "solid")
    assert decision.rule == "p"
    assert not Migration.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "a"}, "copies"),
        ({"name": "a", "copies": 2}, "min_phase"),
        ({"name": "a", "copies": 10**12, "min_phase": "GAS"}, "copies"),
        ({"name": "a", "storage_name": "nowhere"}, "storage_name"),
        ({"name": "a", "storage_name": "gas", "lifetime": "soon"}, "lifetime"),
        ({"name": "a", "storage_name": "gas", "item_type": "folder"}, "item_type"),
        ({"name": "a", "storage_name": "gas", "metadata_value": "x"}, "metadata_value"),
        ({"name": "", "storage_name": "gas"}, "name"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(places, fields, field):
    from core.errors import FieldErrors

    with pytest.raises(FieldErrors) as refused:
        services.rule_create(fields=fields)
    assert field in {error.field for error in refused.value.errors}


@pytest.mark.parametrize(
    ("fields", "matched"),
    [
        ({"source_storage_name": "liquid-a"}, {"on-a.ms", "both.ms"}),
        ({"item_type": "file"}, {"on-a.ms", "plain.ms"}),
        ({"metadata_key": "calibrated"}, {"false.ms", "text.ms"}),  # the key alone: any value
    ],
    ids=["source-storage", "item-type", "metadata-key"],
)
def test_a_rule_selects_by_its_source_storage_item_type_or_metadata_key(places, fields, matched):
    from lifecycle.objects import objects_load
    from lifecycle.rules import matches

    gas, liquid_a = places["gas"], places["liquid-a"]
    items = [
        register(liquid_a, "on-a.ms", target_phase="GAS", item_type="file"),
        register(gas, "plain.ms", target_phase="GAS", item_type="file"),
        register(gas, "false.ms", target_phase="GAS", item_type="unknown", metadata={"calibrated": False}),
        register(gas, "text.ms", target_phase="GAS", item_type="unknown", metadata={"calibrated": "no"}),
        register(gas, "other.ms", target_phase="GAS", item_type="unknown", metadata={"calibration": "yes"}),
        register(gas, "both.ms", target_phase="GAS", item_type="unknown"),  # a copy on liquid-a too
    ]
    make_copy_job(items[-1], liquid_a.storage)
    run_jobs()
    rule = services.rule_create(fields={"name": "r", "storage_name": "solid", **fields})

    report = rule_preview(rule)

    assert {d.item_name for d in report.decisions if d.action == "copy"} == matched
    assert {d.destination for d in report.decisions} == {"solid"}
    objects = objects_load([item.oid for item in items])
    assert {item.item_name for item in items if matches(rule, objects[item.oid])} == matched
    lifecycle_pass()
    run_jobs()
    assert {item.item_name for item in items if "solid" in copies_of(item.oid)} == matched
