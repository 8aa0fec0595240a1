"""The lifecycle in the web UI: its page (passes, what it holds back, its copies under way, the
deletions), the dry run, the placement rules' pages with their preview, an object's lifecycle
with each copy's deletion and expiry, and the dashboard's tile. Against real rclone storages on
local directories, with the jobs run to their end in this process."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.test import Client

from catalogue.models import DataItem
from lifecycle.engine import lifecycle_pass
from lifecycle.models import Hold, HoldKind, LifecyclePass, PlacementRule
from migrations_app.choices import JobOrigin
from migrations_app.models import Deletion, Migration
from migrations_app.states import JobState
from tests.conftest import Api
from tests.factories import make_copy_job
from tests.lifecycle.helpers import copies_of, expire, register, run_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.DLM_COPY_RETRY_DELAY = 0
    settings.DLM_PHASE_GRACE = 900
    cache.clear()  # the dashboard's figures
    yield
    cache.clear()


@pytest.fixture
def viewer(make_ui_client) -> Client:
    return make_ui_client("viewer")


@pytest.fixture
def operator(make_ui_client) -> Client:
    return make_ui_client("operator")


@pytest.fixture
def admin(make_ui_client) -> Client:
    return make_ui_client("admin")


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _section(text: str, heading_id: str, next_id: str | None = None) -> str:
    """The page from the heading ``heading_id`` to the next section's heading (or the end)."""
    start = text.index(f'id="{heading_id}"')
    end = text.index(f'id="{next_id}"') if next_id else len(text)
    return text[start:end]


def _figure(text: str, heading_id: str) -> int:
    match = re.search(rf'id="{heading_id}".*?<p class="big[^"]*">(\d+)</p>', text, re.S)
    assert match, heading_id
    return int(match.group(1))


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _copied(item, place) -> DataItem:
    """A verified copy of ``item`` on ``place``, made by a real copy job."""
    make_copy_job(item, place.storage)
    run_jobs()
    return DataItem.objects.get(oid=item.oid, storage=place.storage)


def _row(text: str, marker: str) -> str:
    """The table row holding ``marker``."""
    at = text.index(marker)
    return text[text.rindex("<tr", 0, at) : text.index("</tr>", at)]


# --- the lifecycle page ---------------------------------------------------------------------------


@pytest.fixture
def after_a_pass(gas, solid):
    """One pass over: an expired copy whose object has a SOLID copy (deleted), an expired last copy
    (kept, and held), and an object below its target (a copy asked for)."""
    spare = register(gas, "obs/spare.ms", b"spare")
    _copied(spare, solid)
    expire(spare)
    last = register(gas, "obs/last.ms", b"last")
    expire(last)
    below = register(gas, "obs/below.ms", b"below")
    report = lifecycle_pass()
    assert report.counts_dict() == {"uid-expiry": {"delete": 1, "keep": 1}, "target-phase": {"copy": 2}}
    return {"report": report, "spare": spare, "last": last, "below": below}


def test_the_lifecycle_page_shows_the_pass_what_it_holds_its_copies_and_the_deletions(viewer, after_a_pass):
    report, spare, last, below = (after_a_pass[k] for k in ("report", "spare", "last", "below"))
    hold = Hold.objects.get(kind=HoldKind.EXPIRED_KEPT)
    deletion = Deletion.objects.get()
    copy_job = Migration.objects.get(origin=JobOrigin.LIFECYCLE, oid=below.oid)

    response = viewer.get("/lifecycle")

    assert response.status_code == 200
    text = _text(response)
    assert (_figure(text, "held-heading"), _figure(text, "pending-heading")) == (1, 2)
    assert (_figure(text, "deleting-heading"), _figure(text, "deletions-failed-heading")) == (1, 0)

    passes = _section(text, "passes", "holds")
    row = _row(passes, f'href="/lifecycle/passes/{report.pass_id}"')
    assert f">Pass {report.pass_id}</a>" in row and "✓ finished" in row
    assert "<strong>uid-expiry</strong>: delete 1 · keep 1" in row
    assert "<strong>target-phase</strong>: copy 2" in row

    holds = _section(text, "holds", "copies")
    row = _row(holds, hold.reason)
    assert "expired copy kept" in row
    assert f'<a href="/items/{last.uid}">obs/last.ms</a>' in row
    assert "is the last READY copy" in hold.reason

    copies = _section(text, "copies", "deletions")
    row = _row(copies, f'href="/jobs/{copy_job.migration_id}"')
    assert "the object is at GAS, below its target SOLID" in row
    assert ">gas</a>" in row and ">solid</a>" in row

    deletions = _section(text, "deletions")
    row = _row(deletions, f">Deletion {deletion.deletion_id}<")
    assert f'<a href="/items/{spare.uid}">obs/spare.ms</a>' in row
    assert ">gas</a>" in row and "lifecycle" in row and "queued" in row
    assert f"it expired at {DataItem.objects.get(uid=spare.uid).uid_expiration.isoformat()}" in row

    # a viewer is shown nothing to press
    assert 'action="/lifecycle/dry-run"' not in text and "/cancel" not in text and "/retry" not in text


def test_the_lifecycle_page_shows_a_passs_duration_and_an_object_held_below_target(viewer, gas):
    item = register(gas, "obs/nowhere.ms", b"nowhere")  # no other storage: nowhere to copy it
    slow = lifecycle_pass()
    LifecyclePass.objects.filter(pk=slow.pass_id).update(duration=75.4)  # as a long pass records it
    quick = lifecycle_pass()

    text = _text(viewer.get("/lifecycle"))

    passes = _section(text, "passes", "holds")
    assert '<td class="num">1 min 15 s</td>' in _row(passes, f'href="/lifecycle/passes/{slow.pass_id}"')
    shown = _row(passes, f'href="/lifecycle/passes/{quick.pass_id}"')
    assert f'<td class="num">{quick.duration:.3f} s</td>' in shown
    holds = _section(text, "holds", "copies")
    held = _row(holds, "obs/nowhere.ms")
    assert "below target, nowhere to copy" in held
    assert "below target: no storage can take a copy (none other exists)" in held
    assert f'href="/items/{item.uid}"' in held


def test_a_pass_page_lists_its_decisions_with_their_reasons(viewer, after_a_pass):
    report, last = after_a_pass["report"], after_a_pass["last"]
    job = Migration.objects.get(oid=last.oid)

    text = _text(viewer.get(f"/lifecycle/passes/{report.pass_id}"))

    kept = _row(text, f'<a href="/items/{last.uid}">obs/last.ms</a></td>')
    assert "uid-expiry" in kept and ">keep<" in kept and "is the last READY copy" in kept
    asked = _row(text, f'<a href="/jobs/{job.migration_id}">Job {job.migration_id}</a>')
    assert ">copy<" in asked and "gas → solid" in asked.replace('<span aria-label="to">→</span>', "→")
    assert viewer.get("/lifecycle/passes/999999").status_code == 404


def test_the_dry_run_lists_what_it_would_delete_and_changes_nothing(operator, gas, solid):
    item = register(gas, "obs/dry.ms", b"dry")
    _copied(item, solid)
    expire(item)
    before = copies_of(item.oid)

    response = operator.post("/lifecycle/dry-run")

    dry = LifecyclePass.objects.get(dry_run=True)
    assert response.status_code == 302 and response["Location"] == f"/lifecycle/passes/{dry.pass_id}"
    page = operator.get(response["Location"])
    text = _text(page)
    assert any(message.startswith("Dry run done:") for message in _messages(page))
    assert f"Dry run {dry.pass_id}" in text and "changes nothing" in text
    row = _row(text, f'<a href="/items/{item.uid}">obs/dry.ms</a>')
    assert "uid-expiry" in row and ">delete<" in row and "it expired at" in row
    assert "gas" in row
    assert not Deletion.objects.exists() and copies_of(item.oid) == before
    assert gas.path("obs/dry.ms").exists()
    assert not Hold.objects.exists() and not DataItem.objects.get(uid=item.uid).expired


def test_an_operator_cancels_and_retries_a_deletion_and_sees_a_refusal(operator, gas, solid):
    item = register(gas, "obs/steer.ms", b"steer")
    _copied(item, solid)
    expire(item)
    lifecycle_pass()
    deletion = Deletion.objects.get()

    text = _text(operator.get("/lifecycle"))
    assert f'action="/lifecycle/deletions/{deletion.deletion_id}/cancel"' in text

    cancelled = operator.post(f"/lifecycle/deletions/{deletion.deletion_id}/cancel", follow=True)
    assert f"Deletion {deletion.deletion_id} cancelled: its copy is left as it is." in _messages(cancelled)
    assert Deletion.objects.get().state == JobState.CANCELLED
    again = operator.post(f"/lifecycle/deletions/{deletion.deletion_id}/cancel", follow=True)
    assert any("only a queued deletion can be cancelled" in message for message in _messages(again))

    retried = operator.post(f"/lifecycle/deletions/{deletion.deletion_id}/retry", follow=True)
    assert f"Deletion {deletion.deletion_id} queued again." in _messages(retried)
    run_jobs()
    assert copies_of(item.oid) == {"gas": "DELETED", "solid": "READY"} and not gas.path("obs/steer.ms").exists()
    done = operator.post(f"/lifecycle/deletions/{deletion.deletion_id}/retry", follow=True)
    assert any("only a failed or cancelled deletion can be retried" in message for message in _messages(done))
    assert Deletion.objects.get().state == JobState.COMPLETED


# --- who may ----------------------------------------------------------------------------------------


def test_a_viewer_sees_no_action_and_may_not_act(viewer, gas, solid):
    item = register(gas, "obs/v.ms", b"v")
    copy = _copied(item, solid)
    expire(item)
    lifecycle_pass()
    deletion = Deletion.objects.get()
    rule = PlacementRule.objects.create(name="kept", storage=solid.storage)
    expiry = DataItem.objects.get(uid=copy.uid).uid_expiration

    page = _text(viewer.get(f"/items/{item.uid}/lifecycle"))
    assert "Delete copy" not in page and "Set expiry" not in page and 'name="force"' not in page
    assert "/edit" not in _text(viewer.get(f"/lifecycle/rules/{rule.rule_id}"))
    assert "New rule" not in _text(viewer.get("/lifecycle/rules"))

    posts = {
        "/lifecycle/dry-run": {},
        f"/lifecycle/deletions/{deletion.deletion_id}/cancel": {},
        f"/items/{item.uid}/lifecycle/delete": {"uid": str(copy.uid), "force": "true"},
        f"/items/{item.uid}/lifecycle/expiry": {"uid": str(copy.uid), "expiration": "2040-01-01T00:00"},
        "/lifecycle/rules/new": {"name": "x", "storage_name": "solid"},
        f"/lifecycle/rules/{rule.rule_id}/delete": {},
    }
    for url, data in posts.items():
        response = viewer.post(url, data)
        assert response.status_code == 403, url
        assert "This page needs the <strong>" in response.content.decode()
    assert Deletion.objects.get().state == JobState.QUEUED and Deletion.objects.count() == 1
    assert not LifecyclePass.objects.filter(dry_run=True).exists()
    assert DataItem.objects.get(uid=copy.uid).uid_expiration == expiry
    assert list(PlacementRule.objects.values_list("name", flat=True)) == ["kept"]


def test_rules_are_written_by_admins_only(operator, anon_client):
    assert operator.get("/lifecycle/rules").status_code == 200
    response = operator.post("/lifecycle/rules/new", {"name": "r", "copies": "1", "min_phase": "GAS"})
    assert response.status_code == 403 and "needs the <strong>admin</strong> role" in response.content.decode()
    assert anon_client.get("/lifecycle").status_code == 302
    assert not PlacementRule.objects.exists()


# --- placement rules --------------------------------------------------------------------------------


def _field(text: str, name: str) -> str:
    """The form field ``name``'s block (label, help, errors and input)."""
    at = text.index(f'name="{name}"')
    return text[text.rindex('<div class="field', 0, at) : text.index("</div>", at)]


@pytest.mark.parametrize(
    ("sent", "field", "message"),
    [
        ({"lifetime": "thirty days"}, "lifetime", "Input should be a valid timedelta, invalid duration format"),
        ({"lifetime": "-P1D"}, "lifetime", "lifetime should be positive"),
        ({"copies": "two", "min_phase": "LIQUID"}, "copies", "Input should be a whole number from 1 to 100"),
        ({"copies": "2"}, "min_phase", "Give the phase the copies must have at least"),
        ({"storage_name": "", "copies": ""}, "copies", "A rule asks for copies (with min_phase) or for a storage"),
        ({"metadata_value": "x"}, "metadata_value", "metadata_value needs a metadata_key"),
    ],
    ids=["lifetime-unreadable", "lifetime-negative", "copies-not-a-number", "copies-without-phase", "asks-nothing",
         "value-without-key"],
)  # fmt: skip
def test_a_refused_rule_shows_the_refusal_on_its_field(admin, solid, sent, field, message):
    data = {"name": "bad", "enabled": "on", "storage_name": "solid", **sent}

    response = admin.post("/lifecycle/rules/new", data)

    assert response.status_code == 422
    text = _text(response)
    block = _field(text, field)
    assert message in block and "has-error" in block and 'aria-invalid="true"' in block
    assert "Nothing was saved" in text
    assert not PlacementRule.objects.exists()


def test_a_rule_name_taken_is_refused_on_the_name(admin, solid):
    PlacementRule.objects.create(name="taken", storage=solid.storage)

    response = admin.post("/lifecycle/rules/new", {"name": "taken", "storage_name": "solid"})

    assert response.status_code == 422
    assert "A rule named 'taken' exists already" in _field(_text(response), "name")
    assert PlacementRule.objects.count() == 1


def test_a_new_rule_is_listed_and_its_preview_shows_the_copy_it_would_make(admin, viewer, gas, liquid):
    item = register(gas, "obs/p.ms", b"p")
    register(gas, "other/q.ms", b"q")
    form = admin.get("/lifecycle/rules/new")
    assert form.status_code == 200 and '<option value="liquid">liquid</option>' in form.content.decode()

    response = admin.post(
        "/lifecycle/rules/new",
        {"name": "to-liquid", "enabled": "on", "item_name_pattern": "obs/", "storage_name": "liquid",
         "lifetime": "P30D"},
    )  # fmt: skip

    rule = PlacementRule.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/lifecycle/rules/{rule.rule_id}"
    assert (rule.storage, rule.lifetime, rule.item_name_pattern) == (liquid.storage, timedelta(days=30), "obs/")
    listed = _row(_text(viewer.get("/lifecycle/rules")), f'href="/lifecycle/rules/{rule.rule_id}">to-liquid</a>')
    assert "name obs/" in listed and "a copy on liquid" in listed and "P30D" in listed

    preview = viewer.get(f"/lifecycle/rules/{rule.rule_id}/preview")

    assert preview.status_code == 200
    text = _text(preview)
    row = _row(text, f'<a href="/items/{item.uid}">obs/p.ms</a>')
    assert ">copy<" in row and "rules" in row and "to-liquid" in row
    assert "gas → liquid" in row.replace('<span aria-label="to">→</span>', "→")
    assert "rule to-liquid asks for a copy on liquid" in row
    assert "other/q.ms" not in text
    assert not Migration.objects.exists()  # a preview changes nothing


def test_a_rule_is_edited_and_deleted(admin, solid, liquid):
    rule = PlacementRule.objects.create(name="r1", storage=solid.storage, lifetime=timedelta(hours=36))

    form = _text(admin.get(f"/lifecycle/rules/{rule.rule_id}/edit"))
    assert 'value="P1DT12H"' in form and '<option value="solid" selected>solid</option>' in form

    response = admin.post(
        f"/lifecycle/rules/{rule.rule_id}/edit",
        {"name": "r1", "enabled": "", "copies": "2", "min_phase": "LIQUID", "storage_name": "", "lifetime": ""},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.enabled, rule.copies, rule.min_phase, rule.storage, rule.lifetime) == (False, 2, "LIQUID", None, None)
    shown = _text(admin.get(f"/lifecycle/rules/{rule.rule_id}"))
    assert "2 copies on LIQUID or better" in shown and "no: it asks for nothing" in shown

    assert "Delete rule r1?" in _text(admin.get(f"/lifecycle/rules/{rule.rule_id}/delete"))
    deleted = admin.post(f"/lifecycle/rules/{rule.rule_id}/delete", follow=True)
    assert "Rule r1 deleted; the copies it made stay." in _messages(deleted)
    assert not PlacementRule.objects.exists()
    assert admin.get(f"/lifecycle/rules/{rule.rule_id}").status_code == 404


# --- an object's lifecycle: deleting a copy, its expiry ---------------------------------------------


def test_the_item_page_leads_to_the_objects_lifecycle(viewer, gas):
    item = register(gas, "obs/i.ms", b"i")

    text = _text(viewer.get(f"/items/{item.uid}"))

    section = _section(text, "lifecycle-heading", "copies-heading")
    assert f'href="/items/{item.uid}/lifecycle"' in section
    assert "GAS" in section and "SOLID" in section and "(not reached)" in section


def test_an_objects_lifecycle_page_shows_why_its_rules_its_jobs_and_what_is_held(viewer, gas, liquid, solid):
    from tests.lifecycle.helpers import age

    item = register(gas, "obs/page.ms", b"page")
    _copied(item, liquid)
    age(item.oid)
    expire(item)
    rule = PlacementRule.objects.create(name="on-liquid", item_name_pattern="obs/", storage=liquid.storage)
    PlacementRule.objects.create(name="raw-only", item_name_pattern="raw/", storage=solid.storage)
    lifecycle_pass()  # the expired copy kept; a copy to SOLID asked for
    job = Migration.objects.get(state=JobState.QUEUED)

    text = _text(viewer.get(f"/items/{item.uid}/lifecycle"))

    why = _section(text, "why-heading", "lc-copies-heading")
    assert "<li>1 copy job(s) under way</li>" in why
    rules = _section(text, "lc-rules-heading", "lc-pending-heading")
    row = _row(rules, "on-liquid")
    assert f'<a href="/lifecycle/rules/{rule.rule_id}">on-liquid</a>' in row and "✓ yes" in row
    assert "raw-only" not in rules
    pending = _section(text, "lc-pending-heading", "lc-holds-heading")
    assert f'<a href="/jobs/{job.migration_id}">Copy job {job.migration_id}</a>' in pending
    assert "(queued, asked by the lifecycle): the object is at LIQUID, below its target SOLID" in pending
    held = _section(text, "lc-holds-heading")
    assert "<strong>expired copy kept</strong>" in held
    assert "kept: would leave the object at LIQUID below its target SOLID" in held


def test_the_last_copy_is_refused_with_the_reason_and_a_forced_deletion_removes_it(operator, gas):
    item = register(gas, "obs/last.ms", b"the only bytes")
    page = _text(operator.get(f"/items/{item.uid}/lifecycle"))
    row = _row(page, f'id="copy-{item.uid}"')
    assert f"Refused without force: {item.uid} is the last READY copy of object {item.oid}" in row
    assert f'id="force-{item.uid}" name="force"' in row and "Delete copy" in row
    assert "it has no READY copy" not in page and "GAS" in page

    refused = operator.post(f"/items/{item.uid}/lifecycle/delete", {"uid": str(item.uid)}, follow=True)

    [message] = _messages(refused)
    assert f"is the last READY copy of object {item.oid}" in message and "refused" in message
    assert not Deletion.objects.exists()

    forced = operator.post(f"/items/{item.uid}/lifecycle/delete", {"uid": str(item.uid), "force": "true"})

    deletion = Deletion.objects.get()
    assert forced.status_code == 302 and forced["Location"] == f"/items/{item.uid}/lifecycle"
    assert (deletion.uid, deletion.forced, deletion.user, deletion.origin) == (item.uid, True, "ui-operator", "client")
    text = _text(operator.get(forced["Location"]))
    assert f"Deletion {deletion.deletion_id} queued (forced past the resilience check)" in text
    assert f"deletion {deletion.deletion_id}</a>" in _row(text, f'id="copy-{item.uid}"')

    run_jobs()

    text = _text(operator.get(f"/items/{item.uid}/lifecycle"))
    deleted = text[text.index("Deleted copies") :]
    assert f"<code>{item.uid}</code></a> on gas" in deleted and ">DELETED<" in deleted
    assert "No copy of this object is left." in text
    assert not gas.path("obs/last.ms").exists()
    assert DataItem.objects.get(uid=item.uid).item_state == "DELETED"


def test_a_copy_the_object_can_spare_is_deleted_without_force(operator, gas, solid):
    item = register(gas, "obs/two.ms", b"two")
    copy = _copied(item, solid)

    page = _text(operator.get(f"/items/{item.uid}/lifecycle"))

    assert "Refused without force" not in _row(page, f'id="copy-{item.uid}"')
    kept = _row(page, f'id="copy-{copy.uid}"')
    assert "Refused without force: would leave the object at GAS below its target SOLID" in kept
    response = operator.post(f"/items/{item.uid}/lifecycle/delete", {"uid": str(item.uid)})
    assert response.status_code == 302
    run_jobs()
    assert copies_of(item.oid) == {"gas": "DELETED", "solid": "READY"}
    assert not gas.path("obs/two.ms").exists() and solid.path("obs/two.ms").exists()


def test_a_copy_of_another_object_is_not_deleted_from_this_page(operator, gas):
    item, other = register(gas, "obs/a.ms", b"a"), register(gas, "obs/b.ms", b"b")

    response = operator.post(
        f"/items/{item.uid}/lifecycle/delete", {"uid": str(other.uid), "force": "true"}, follow=True
    )

    assert _messages(response) == [f"uid: No copy {other.uid} of this object"]
    assert not Deletion.objects.exists()


def test_set_expiry_of_a_copy_from_the_objects_lifecycle(operator, gas, solid):
    item = register(gas, "obs/e.ms", b"e")
    copy = _copied(item, solid)

    response = operator.post(
        f"/items/{item.uid}/lifecycle/expiry", {"uid": str(copy.uid), "expiration": "2032-02-03T04:05"}
    )

    assert response.status_code == 302 and response["Location"] == f"/items/{item.uid}/lifecycle"
    assert DataItem.objects.get(uid=copy.uid).uid_expiration == datetime(2032, 2, 3, 4, 5, tzinfo=UTC)
    assert DataItem.objects.get(uid=item.uid).uid_expiration != datetime(2032, 2, 3, 4, 5, tzinfo=UTC)
    text = _text(operator.get(response["Location"]))
    assert f"Copy {copy.uid} now expires at 2032-02-03 04:05:00 UTC." in text
    assert "2032-02-03</span> 04:05:00" in _row(text, f'id="copy-{copy.uid}"')


def test_a_bad_expiry_is_refused_on_that_copys_field(operator, operator_api: Api, gas, solid):
    item = register(gas, "obs/f.ms", b"f")
    copy = _copied(item, solid)
    before = DataItem.objects.get(uid=copy.uid).uid_expiration
    api = operator_api.patch("/request/set_uid_expiration", {"uid": str(copy.uid), "expiration": "2032-13-01T00:00"})
    (expected,) = api.json()["detail"]

    response = operator.post(
        f"/items/{item.uid}/lifecycle/expiry", {"uid": str(copy.uid), "expiration": "2032-13-01T00:00"}
    )

    assert response.status_code == 422
    text = _text(response)
    row = _row(text, f'id="copy-{copy.uid}"')
    assert f"expiration: {expected['msg']}" in row
    assert 'value="2032-13-01T00:00"' in row and 'aria-invalid="true"' in row
    assert 'aria-invalid="true"' not in _row(text, f'id="copy-{item.uid}"')
    assert DataItem.objects.get(uid=copy.uid).uid_expiration == before


# --- the dashboard ----------------------------------------------------------------------------------


def test_the_dashboard_tile_shows_what_is_held_the_deletions_and_the_last_pass(viewer, after_a_pass):
    report = after_a_pass["report"]
    lifecycle_pass(dry_run=True)  # a dry run is not the last pass
    failed = Deletion.objects.get()
    Deletion.objects.filter(pk=failed.pk).update(state=JobState.FAILED, last_error="rclone: gone")

    text = _text(viewer.get("/"))

    tile = _section(text, "lifecycle-heading", "failures-heading")
    assert _figure(tile, "lifecycle-heading") == 1
    assert re.search(r"Deletions under way</a> <span class=\"n\">0</span>", tile)
    assert re.search(r"Failed deletions</a> <span class=\"n\">1</span>", tile)
    assert f'Last pass: <a href="/lifecycle/passes/{report.pass_id}">' in tile and "✓ finished" in tile
