"""The lifecycle in the admin console: placement rules written through the lifecycle's services
(refusals beside their fields), its passes and holds read-only, and the data items' "Delete
payload" action (the resilience check applies, without force), against real local rclone
storages."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from audit.models import AuditRecord
from catalogue.models import DataItem
from lifecycle.engine import lifecycle_pass
from lifecycle.models import Hold, HoldKind, LifecyclePass, PlacementRule
from migrations_app.models import Deletion
from tests.factories import make_copy_job
from tests.lifecycle.helpers import copies_of, expire, register, run_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.DLM_COPY_RETRY_DELAY = 0
    settings.DLM_PHASE_GRACE = 900


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _rule_form(**fields) -> dict[str, str]:
    values = {
        "name": "",
        "enabled": "on",
        "description": "",
        "item_name_pattern": "",
        "source_storage": "",
        "item_type": "",
        "metadata_key": "",
        "metadata_value": "",
        "copies": "",
        "min_phase": "",
        "storage": "",
        "lifetime": "",
        "_save": "Save",
    }
    return {**values, **fields}


@pytest.fixture
def seeded(gas):
    """A pass that held an expired last copy, and its object below target with nowhere to go (a
    pass row and two holds), and a rule."""
    item = register(gas, "obs/held.ms", b"held")
    expire(item)
    lifecycle_pass()
    rule = PlacementRule.objects.create(name="seeded", storage=gas.storage)
    hold = Hold.objects.get(kind=HoldKind.EXPIRED_KEPT)
    assert Hold.objects.filter(kind=HoldKind.BELOW_TARGET, oid=item.oid).exists()
    return {"pass": LifecyclePass.objects.get(), "hold": hold, "rule": rule, "item": item}


# --- the pages ------------------------------------------------------------------------------------


def test_the_lifecycle_pages_render_for_an_admin(admin_client, seeded):
    expected = {
        PlacementRule: {"changelist": 200, "add": 200, "change": 200, "history": 200, "delete": 200},
        LifecyclePass: {"changelist": 200, "add": 403, "change": 200, "history": 200, "delete": 403},
        Hold: {"changelist": 200, "add": 403, "change": 200, "history": 200, "delete": 403},
    }
    rows = {PlacementRule: seeded["rule"], LifecyclePass: seeded["pass"], Hold: seeded["hold"]}
    for model, pages in expected.items():
        pk = quote(rows[model].pk)
        for page, status in pages.items():
            url = _url(model, page, pk) if page not in ("changelist", "add") else _url(model, page)
            assert admin_client.get(url).status_code == status, (model, page)

    passes = _text(admin_client.get(_url(LifecyclePass, "changelist")))
    assert "uid-expiry: keep 1" in passes and "finished" in passes
    one = _text(admin_client.get(_url(LifecyclePass, "change", seeded["pass"].pk)))
    assert "is the last READY copy" in one and "obs/held.ms" in one
    holds = _text(admin_client.get(_url(Hold, "changelist")))
    assert seeded["hold"].reason in holds and f"?q={seeded['item'].uid}" in holds
    assert seeded["hold"].reason in _text(admin_client.get(_url(Hold, "changelist"), {"q": str(seeded["item"].oid)}))
    assert seeded["hold"].reason not in _text(admin_client.get(_url(Hold, "changelist"), {"q": "nothing/"}))


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_operators_and_viewers_are_refused_the_lifecycles_pages(as_role, seeded, role):
    client = as_role(role)
    for model in (PlacementRule, LifecyclePass, Hold):
        assert client.get(_url(model, "changelist")).status_code == 403
    response = client.post(
        _url(PlacementRule, "add"), _rule_form(name="sneaky", storage=str(seeded["rule"].storage_id))
    )
    assert response.status_code == 403
    assert list(PlacementRule.objects.values_list("name", flat=True)) == ["seeded"]


def test_passes_and_holds_are_not_changed_in_the_admin(admin_client, seeded):
    hold = seeded["hold"]
    assert admin_client.post(_url(Hold, "change", hold.pk), {"reason": "edited"}).status_code == 403
    assert admin_client.post(_url(Hold, "delete", hold.pk), {"post": "yes"}).status_code == 403
    assert admin_client.post(_url(LifecyclePass, "delete", seeded["pass"].pk), {"post": "yes"}).status_code == 403
    assert Hold.objects.get(pk=hold.pk).reason == hold.reason and Hold.objects.count() == 2
    assert LifecyclePass.objects.count() == 1


# --- rules through the services -------------------------------------------------------------------


def test_a_rule_added_in_the_admin_is_the_services_and_recorded(admin_client, gas, solid):
    response = admin_client.post(
        _url(PlacementRule, "add"),
        _rule_form(name="two-solid", item_name_pattern="obs/*", copies="1", min_phase="SOLID", lifetime="P30D"),
    )

    assert response.status_code == 302, _text(response)[:2000]
    rule = PlacementRule.objects.get()
    assert (rule.name, rule.copies, rule.min_phase, rule.lifetime) == ("two-solid", 1, "SOLID", timedelta(days=30))
    record = AuditRecord.objects.get(object_type="placement_rule", action="create")
    assert record.username == "ada" and record.via == "admin"


@pytest.mark.parametrize(
    ("sent", "field", "message"),
    [
        ({"copies": "2"}, "min_phase", "Give the phase the copies must have at least"),
        ({"copies": "", "storage": ""}, "copies", "A rule asks for copies (with min_phase) or for a storage"),
        ({"lifetime": "-1 00:00:00"}, "lifetime", "lifetime should be positive"),
        ({"item_name_pattern": "obs/[*"}, None, None),  # a plain "[": a prefix, accepted
    ],
    ids=["copies-without-phase", "asks-nothing", "negative-lifetime", "bracket-prefix"],
)
def test_a_refused_rule_is_shown_beside_its_field_and_nothing_is_written(admin_client, solid, sent, field, message):
    data = _rule_form(**{"name": "r", "storage": str(solid.storage.storage_id), **sent})

    response = admin_client.post(_url(PlacementRule, "add"), data)

    if field is None:
        assert response.status_code == 302
        return
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(message in error for error in errors.get(field, [])), errors
    assert not PlacementRule.objects.exists()
    assert not AuditRecord.objects.filter(object_type="placement_rule").exists()


def test_a_rule_is_changed_and_deleted_through_the_services(admin_client, gas, solid):
    rule = PlacementRule.objects.create(name="move", storage=gas.storage)

    changed = admin_client.post(
        _url(PlacementRule, "change", rule.pk), _rule_form(name="move", storage=str(solid.storage.storage_id))
    )
    assert changed.status_code == 302
    rule.refresh_from_db()
    assert rule.storage == solid.storage and rule.updated_at > rule.created_at

    refused = admin_client.post(_url(PlacementRule, "change", rule.pk), _rule_form(name="move", storage=""))
    assert refused.status_code == 200
    assert "A rule asks for copies" in " ".join(refused.context["adminform"].form.errors.get("copies", []))
    rule.refresh_from_db()
    assert rule.storage == solid.storage

    deleted = admin_client.post(_url(PlacementRule, "delete", rule.pk), {"post": "yes"})
    assert deleted.status_code == 302 and not PlacementRule.objects.exists()


# --- the data items' "Delete payload" -------------------------------------------------------------


def test_delete_payload_queues_what_may_go_and_reports_what_is_refused(admin_client, gas, solid):
    spare = register(gas, "obs/spare.ms", b"spare")
    make_copy_job(spare, solid.storage)
    run_jobs()
    alone = register(gas, "obs/alone.ms", b"alone")
    listing = _text(admin_client.get(_url(DataItem, "changelist")))
    assert "no force here" in listing and 'value="delete_payload"' in listing

    response = admin_client.post(
        _url(DataItem, "changelist"),
        {"action": "delete_payload", "_selected_action": [str(spare.uid), str(alone.uid)]},
        follow=True,
    )

    shown = _messages(response)
    deletion = Deletion.objects.get()
    assert deletion.uid == spare.uid and not deletion.forced and deletion.user == "ada"
    assert f"Deletion queued for 1: obs/spare.ms (deletion {deletion.deletion_id})" in shown
    [refusal] = [message for message in shown if message.startswith("obs/alone.ms: refused: ")]
    assert f"{alone.uid} is the last READY copy of object {alone.oid}" in refusal
    run_jobs()
    assert copies_of(spare.oid) == {"gas": "DELETED", "solid": "READY"}
    assert not gas.path("obs/spare.ms").exists() and gas.path("obs/alone.ms").exists()
    assert copies_of(alone.oid) == {"gas": "READY"}


def test_delete_payload_reports_a_copy_the_target_needs_and_queues_nothing_for_it(admin_client, gas, liquid):
    item = register(gas, "obs/needed.ms", b"needed")
    make_copy_job(item, liquid.storage)
    run_jobs()
    copy = DataItem.objects.get(oid=item.oid, storage=liquid.storage)

    response = admin_client.post(
        _url(DataItem, "changelist"), {"action": "delete_payload", "_selected_action": [str(copy.uid)]}, follow=True
    )

    shown = _messages(response)
    assert shown == [
        f"obs/needed.ms: refused: Deleting copy {copy.uid} refused: would leave the object at GAS below its target "
        "SOLID. Give force=true to delete it anyway"
    ]
    assert not Deletion.objects.exists()
    run_jobs()
    assert copies_of(item.oid) == {"gas": "READY", "liquid": "READY"}
    assert liquid.path("obs/needed.ms").read_bytes() == b"needed"
