"""Integrity in the web UI: a storage's scans, findings and fixity checks, one scan's page, the
overview, the dashboard tile's and the item page's figures; the operator's actions (scan now,
verify now, register or quarantine dark files) through the integrity services, with their
refusals shown as messages and never a server error."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditRecord
from catalogue.models import DataItem
from integrity import scans
from integrity.fixity import fixity_check_create, fixity_check_run
from integrity.models import (
    CheckOrigin,
    CheckState,
    Finding,
    FindingKind,
    FindingStatus,
    FixityCheck,
    Scan,
    ScanState,
)
from migrations_app.services import copy_job_create
from tests.factories import make_item, make_storage
from tests.lifecycle.helpers import local_place, register, run_jobs
from ui.integrity_figures import integrity_tile, item_verification
from ui.views.integrity import PAGE_SIZE


@pytest.fixture
def viewer(make_ui_client) -> Client:
    return make_ui_client("viewer")


@pytest.fixture
def operator(make_ui_client) -> Client:
    return make_ui_client("operator")


def text_of(response) -> str:
    return response.content.decode()


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def finding(scan: Scan, kind: str, path: str, **fields) -> Finding:
    return Finding.objects.create(scan=scan, storage=scan.storage, kind=kind, path=path, **fields)


def check(item: DataItem, state: str, **fields) -> FixityCheck:
    return FixityCheck.objects.create(item=item, storage=item.storage, state=state, **fields)


@pytest.fixture
def scanned(db):
    """A storage scanned once: a copy lost and being repaired, one mismatched with nothing to
    repair it from, a dark file, and two fixity checks (one passed, one that found a copy bad)."""
    storage = make_storage()
    now = timezone.now()
    scan = Scan.objects.create(
        storage=storage,
        state=ScanState.COMPLETED,
        started_at=now - timedelta(minutes=5),
        finished_at=now,
        copies_expected=4,
        matched=2,
        lost=1,
        mismatched=1,
        dark=1,
        entries_listed=4,
    )
    lost_item = make_item(storage, item_state="CORRUPTED", uri="obs/lost.fits")
    bad_item = make_item(storage, item_state="CORRUPTED", uri="obs/bad.fits")
    good_item = make_item(storage, item_state="READY", uri="obs/good.fits")
    lost = finding(scan, FindingKind.LOST, "obs/lost.fits", item=lost_item, status=FindingStatus.REPAIRING)
    Finding.objects.filter(pk=lost.pk).update(migration_id=4242)
    finding(scan, FindingKind.MISMATCH, "obs/bad.fits", item=bad_item, status=FindingStatus.UNREPAIRABLE, size=3)
    dark = finding(scan, FindingKind.DARK, "obs/stray.fits", size=10)
    passed = check(good_item, CheckState.PASSED, finished_at=now - timedelta(hours=1))
    corrupted = check(bad_item, CheckState.CORRUPTED, finished_at=now - timedelta(hours=2), detail="md5 differs")
    return {
        "storage": storage,
        "scan": scan,
        "dark": dark,
        "passed": passed,
        "corrupted": corrupted,
        "good": good_item,
        "bad": bad_item,
    }


# --- what each role sees ------------------------------------------------------------------------


def test_a_viewer_sees_the_storages_scans_findings_and_checks_without_actions(viewer, scanned):
    storage = scanned["storage"]
    response = viewer.get(f"/storages/{storage.storage_name}/integrity")
    assert response.status_code == 200
    html = text_of(response)
    assert f"/scans/{scanned['scan'].scan_id}" in html
    assert "2 matched · 1 lost · 1 mismatched · 1 dark" in html
    assert "obs/lost.fits" in html and 'href="/jobs/4242"' in html  # the repair job of the lost copy
    assert "obs/bad.fits" in html and "unrepairable" in html
    assert "obs/stray.fits" in html
    # the check that found a copy bad is listed before the one that passed, though older
    assert html.index("md5 differs") < html.index(f"<td>{scanned['passed'].check_id}</td>")
    assert f"/scans/{scanned['scan'].scan_id}/report.csv" in html
    assert "Scan now" not in html and "Register selected" not in html and 'name="finding"' not in html


def test_an_operator_gets_scan_now_and_the_dark_files_checkboxes(operator, scanned):
    storage = scanned["storage"]
    html = text_of(operator.get(f"/storages/{storage.storage_id}/integrity"))
    assert "Scan now" in html
    assert f'name="finding" value="{scanned["dark"].finding_id}"' in html
    assert "Register selected" in html and "Quarantine selected" in html
    # only the dark file may be selected
    assert html.count('name="finding"') == 1


def test_pages_need_a_login_and_unknown_names_are_404(anon_client, viewer, scanned):
    storage = scanned["storage"]
    response = anon_client.get(f"/storages/{storage.storage_name}/integrity")
    assert response.status_code == 302 and response["Location"].startswith("/login")
    assert viewer.get("/storages/no-such-storage/integrity").status_code == 404
    assert viewer.get("/scans/999999").status_code == 404
    assert viewer.get("/scans/not-a-number").status_code == 404
    assert viewer.get("/scans/99999999999999999999999").status_code == 404


def test_actions_need_the_operator_role_and_change_nothing_for_a_viewer(viewer, anon_client, scanned):
    storage, dark = scanned["storage"], scanned["dark"]
    posts = [
        (f"/storages/{storage.storage_id}/integrity/scan", {}),
        (f"/items/{scanned['good'].uid}/verify", {}),
        ("/integrity/findings", {"action": "register", "finding": [dark.finding_id]}),
    ]
    for url, data in posts:
        assert viewer.post(url, data).status_code == 403
        assert anon_client.post(url, data).status_code == 302
    assert Scan.objects.count() == 1 and FixityCheck.objects.count() == 2
    dark.refresh_from_db()
    assert dark.status == FindingStatus.OPEN


# --- a running scan -----------------------------------------------------------------------------


def test_a_running_scans_figures_are_polled_while_it_runs(viewer, db):
    storage = make_storage()
    scan = Scan.objects.create(
        storage=storage, state=ScanState.RUNNING, copies_expected=10, matched=4, mismatched=1, entries_listed=7
    )
    html = text_of(viewer.get(f"/storages/{storage.storage_id}/integrity"))
    assert f'data-scan-progress-url="/scans/{scan.scan_id}/progress"' in html
    assert "ui/integrity.js" in html and "50.0% of 10 catalogued copies found" in html
    response = viewer.get(f"/scans/{scan.scan_id}/progress")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["state"] == "running" and body["active"] is True and body["percent"] == 50.0
    Scan.objects.filter(pk=scan.pk).update(state=ScanState.COMPLETED, finished_at=timezone.now(), lost=5)
    body = viewer.get(f"/scans/{scan.scan_id}/progress").json()
    assert body["active"] is False and body["lost"] == 5 and body["finished_at"]
    assert viewer.get("/scans/12345678/progress").status_code == 404


# --- one scan ----------------------------------------------------------------------------------


def test_a_scans_page_lists_its_findings_by_kind_a_page_at_a_time(viewer, operator, scanned):
    scan = scanned["scan"]
    for n in range(PAGE_SIZE + 1):
        finding(scan, FindingKind.DARK, f"extra/{n:03}.dat")
    html = text_of(viewer.get(f"/scans/{scan.scan_id}"))
    assert "Dark (52)" in html and "Lost (1)" in html and "Mismatch (1)" in html
    assert "obs/lost.fits" in html
    lost_only = text_of(viewer.get(f"/scans/{scan.scan_id}?kind=lost"))
    assert "obs/lost.fits" in lost_only and "obs/stray.fits" not in lost_only
    first = text_of(operator.get(f"/scans/{scan.scan_id}?kind=dark"))
    assert "obs/stray.fits" in first and "extra/048.dat" in first and "extra/049.dat" not in first
    assert "Register selected" in first and "page=2" in first
    second = text_of(operator.get(f"/scans/{scan.scan_id}?kind=dark&page=2"))
    assert "extra/049.dat" in second and "extra/050.dat" in second and "obs/stray.fits" not in second
    # a kind that is none shows every finding rather than failing
    assert viewer.get(f"/scans/{scan.scan_id}?kind=bogus&page=x").status_code == 200


# --- overview, tile, item section ----------------------------------------------------------------


def test_the_overview_and_the_tile_count_what_needs_attention(viewer, scanned):
    make_item(make_storage(), item_state="CORRUPTED")  # a copy gone bad elsewhere, not scanned
    tile = integrity_tile()
    assert tile["corrupted"] == 3
    assert tile["dark"] == 1
    # not repaired yet: the lost copy being repaired, the mismatched one with nothing to repair it
    # from (found by the scan and by a check: one copy)
    assert tile["lost"] == 1 and tile["mismatch"] == 1
    # the unrepairable mismatch and the CORRUPTED copy whose check started no repair: one copy
    assert tile["unrepairable"] == 1
    assert tile["failed_checks"] == 1
    html = text_of(viewer.get("/integrity"))
    assert f"/storages/{scanned['storage'].storage_id}/integrity" in html
    assert f"/scans/{scanned['scan'].scan_id}" in html
    assert "md5 differs" in html and "never scanned" in html


def tile_figures(html: str) -> dict[str, tuple[int, bool]]:
    """The dashboard's integrity tile: each line's label -> (its figure, flagged as a failure)."""
    tile = html.split('aria-labelledby="integrity-heading"')[1].split("</section>")[0]
    lines = re.findall(r'<li class="(\w*)"><a href="[^"]*">([^<]+)</a> <span class="n">(\d+)</span></li>', tile)
    return {label: (int(n), flag == "failed") for flag, label, n in lines}


LOST = "Lost copies, not repaired yet"
MISMATCHED = "Copies with the wrong size or checksum, not repaired yet"


def test_the_dashboard_tile_counts_copies_found_bad_until_they_are_repaired(viewer, tmp_path, settings):
    """A scan finds a copy lost and fixity checks find one lost and one with other bytes: each is
    handed to a repair job at once (its finding REPAIRING, the copy INITIALISED, not CORRUPTED),
    and the tile counts them until the repairs have written them again."""
    settings.DLM_COPY_RETRY_DELAY = 0
    disk = local_place(tmp_path, "tile-disk", "GAS")
    spare = local_place(tmp_path, "tile-spare", "SOLID")
    items = {name: register(disk, f"obs/{name}.fits", f"{name} visibilities".encode()) for name in ("a", "b", "c")}
    for item in items.values():
        copy_job_create(user="tester", uid=item.uid, destination_id=spare.storage.storage_id)
    run_jobs()
    assert tile_figures(text_of(viewer.get("/")))[LOST] == (0, False)

    disk.path("obs/a.fits").unlink()
    scan = scans.scan_create(storage_id=disk.storage.storage_id, user="tester")
    assert scans.scan_run(scan.pk) == ScanState.COMPLETED
    assert Finding.objects.get(scan=scan).status == FindingStatus.REPAIRING
    disk.path("obs/b.fits").unlink()
    disk.write("obs/c.fits", b"C visibilities")  # the same size, other bytes
    for name, found in (("b", CheckState.LOST), ("c", CheckState.CORRUPTED)):
        check = fixity_check_create(uid=items[name].uid, user="tester")
        assert fixity_check_run(check.check_id) == found

    response = viewer.get("/")

    assert response.status_code == 200
    figures = tile_figures(text_of(response))
    assert figures[LOST] == (2, True)  # one found by the scan, one by a check
    assert figures[MISMATCHED] == (1, True)
    assert figures["Copies found bad, last 24 h"] == (2, True)
    assert DataItem.objects.filter(item_state="CORRUPTED").count() == 0  # each is being written again

    run_jobs()

    assert {item.item_state for item in DataItem.objects.filter(storage=disk.storage)} == {"READY"}
    figures = tile_figures(text_of(viewer.get("/")))
    assert (figures[LOST], figures[MISMATCHED]) == ((0, False), (0, False))


def test_the_item_section_says_when_and_how_the_copy_was_last_verified(scanned):
    bad, good = scanned["bad"], scanned["good"]
    shown = item_verification(bad)
    assert shown["state"] == CheckState.CORRUPTED and shown["bad"] and shown["detail"] == "md5 differs"
    assert shown["repair_migration_id"] is None and not shown["verifiable"]
    FixityCheck.objects.filter(pk=scanned["corrupted"].pk).update(repair_migration_id=77)
    assert item_verification(bad)["repair_migration_id"] == 77
    shown = item_verification(good)
    assert shown["state"] == CheckState.PASSED and shown["verifiable"] and not shown["active"]
    never = item_verification(make_item(scanned["storage"], item_state="READY"))
    assert never["check"] is None and never["state"] == ""


def verification_section(html: str) -> str:
    return html.split('aria-labelledby="verification"')[1].split("</section>")[0]


def test_the_item_page_shows_when_the_copy_was_last_verified_and_what_was_found(viewer, operator, tmp_path):
    place = local_place(tmp_path, "verified-disk", "GAS")
    item = register(place, "obs/checked.fits", b"visibilities")
    section = verification_section(text_of(viewer.get(f"/items/{item.uid}")))
    assert "never re-verified" in section and "none" in section

    check = fixity_check_create(uid=item.uid, user="tester")
    assert fixity_check_run(check.check_id) == CheckState.PASSED
    item.refresh_from_db()
    check.refresh_from_db()

    response = viewer.get(f"/items/{item.uid}")

    assert response.status_code == 200
    section = verification_section(text_of(response))
    when = f"{item.last_verified_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    assert f'<dt>Last verified</dt><dd><time datetime="{item.last_verified_at.isoformat()}">{when}</time>' in section
    assert "✓ passed" in section and f"check {check.check_id}, client" in section
    assert check.detail in section  # what the check found: the size and md5 as recorded
    assert "Verify now" not in section  # a viewer's page
    assert "Verify now" in verification_section(text_of(operator.get(f"/items/{item.uid}")))

    place.write("obs/checked.fits", b"Visibilities")  # the same size, other bytes; nothing to repair from
    check = fixity_check_create(uid=item.uid, user="tester")
    assert fixity_check_run(check.check_id) == CheckState.CORRUPTED
    check.refresh_from_db()
    section = verification_section(text_of(viewer.get(f"/items/{item.uid}")))
    assert "✗ corrupted" in section and f"check {check.check_id}" in section
    assert "md5 of" in section and "none started" in section
    assert when in section  # the last time it was found as recorded stays shown


def test_the_partials_render_with_the_context_they_document(rf, scanned):
    from django.template.loader import render_to_string

    tile = render_to_string("ui/integrity/_tile.html", {"integrity": integrity_tile()})
    assert "Unrepairable" in tile and "/integrity" in tile
    section = render_to_string(
        "ui/integrity/_item_verification.html",
        {"verification": item_verification(scanned["good"]), "is_operator": True},
        request=rf.get("/"),
    )
    assert f'action="/items/{scanned["good"].uid}/verify"' in section and "Verify now" in section


# --- actions: bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"action": "register"}, "select at least one dark file"),
        ({"action": "register", "finding": ["x1"]}, "finding ids, as numbers"),
        ({"action": "register", "finding": ["9" * 30]}, "finding ids, as numbers"),
        ({"action": "quarantine", "finding": ["123456"]}, "No finding with id 123456"),
        ({"action": "delete", "finding": ["1"]}, "choose Register or Quarantine"),
    ],
)
def test_a_bad_dark_file_action_is_a_message_not_an_error(operator, scanned, data, said):
    back = f"/storages/{scanned['storage'].storage_id}/integrity"
    response = operator.post("/integrity/findings", {**data, "next": back}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[0][0] == back
    assert any(said in message for message in shown_messages(response))
    assert Finding.objects.get(pk=scanned["dark"].pk).status == FindingStatus.OPEN


def test_the_return_address_stays_on_this_site(operator, scanned):
    response = operator.post("/integrity/findings", {"action": "register", "next": "https://evil.example/"})
    assert response["Location"] == "/integrity"


# --- actions through the services (integrity.scans, integrity.fixity, integrity.findings) -------


def test_scan_now_queues_a_scan_and_a_second_one_is_refused_with_a_message(operator, tmp_path):
    storage = local_place(tmp_path, "scan-disk", "GAS").storage
    response = operator.post(f"/storages/{storage.storage_name}/integrity/scan", follow=True)
    assert response.status_code == 200
    scan = Scan.objects.get(storage=storage)
    assert scan.state == ScanState.QUEUED
    assert scan.origin == CheckOrigin.CLIENT and scan.requested_by == "ui-operator"
    assert any(f"Scan {scan.scan_id}" in message for message in shown_messages(response))
    assert f"/scans/{scan.scan_id}" in text_of(response)  # back on the storage's integrity page
    again = operator.post(f"/storages/{storage.storage_id}/integrity/scan", follow=True)
    assert again.status_code == 200
    assert Scan.objects.filter(storage=storage).count() == 1
    assert any(f"Scan {scan.scan_id} of storage" in message for message in shown_messages(again))


def test_scan_now_of_a_storage_dlm_cannot_reach_is_refused_with_the_reason(operator, db):
    storage = make_storage()  # no rclone remote
    response = operator.post(f"/storages/{storage.storage_id}/integrity/scan", follow=True)
    assert response.status_code == 200
    assert any("No valid configuration" in message for message in shown_messages(response))
    assert not Scan.objects.filter(storage=storage).exists()


def test_verify_now_queues_a_check_and_a_copy_not_ready_is_refused(operator, tmp_path):
    place = local_place(tmp_path, "verify-disk", "GAS")
    item = register(place, "obs/v.fits", b"visibilities")
    response = operator.post(f"/items/{item.uid}/verify", follow=True)
    assert response.status_code == 200
    checked = FixityCheck.objects.get(item=item)
    assert checked.origin == CheckOrigin.CLIENT and checked.requested_by == "ui-operator"
    assert any(f"Fixity check {checked.check_id}" in message for message in shown_messages(response))
    broken = make_item(place.storage, item_state="CORRUPTED", uri="obs/x.fits")
    refused = operator.post(f"/items/{broken.uid}/verify", follow=True)
    assert refused.status_code == 200 and shown_messages(refused)
    assert not FixityCheck.objects.filter(item=broken).exists()
    assert operator.post(f"/items/{uuid.uuid4()}/verify").status_code == 404


def _dark_on_disk(tmp_path, name: str) -> tuple[Finding, object]:
    place = local_place(tmp_path, name, "GAS")
    place.write("stray/found.dat", b"a file nobody catalogued")
    scan = Scan.objects.create(storage=place.storage, state=ScanState.COMPLETED, dark=1, finished_at=timezone.now())
    return finding(scan, FindingKind.DARK, "stray/found.dat", size=24), place


def test_registering_a_dark_file_catalogues_it_and_is_audited_as_the_operator(operator, tmp_path):
    dark, place = _dark_on_disk(tmp_path, "dark-reg")
    back = f"/storages/{place.storage.storage_id}/integrity"
    response = operator.post(
        "/integrity/findings", {"action": "register", "finding": [dark.finding_id], "next": back}, follow=True
    )
    assert response.status_code == 200 and "Registered 1 dark file." in shown_messages(response)
    dark.refresh_from_db()
    assert dark.status == FindingStatus.REGISTERED and dark.acted_by == "ui-operator"
    item = DataItem.objects.get(storage=place.storage, uri="stray/found.dat")
    assert dark.item_id == item.uid
    record = AuditRecord.objects.filter(object_type="scan_finding", object_id=str(dark.finding_id)).last()
    assert record is not None and record.username == "ui-operator"
    assert "stray/found.dat" not in text_of(operator.get(back)).split('id="dark"')[1].split("</section>")[0]


def test_quarantining_a_dark_file_moves_it_aside_and_is_audited(operator, tmp_path):
    dark, place = _dark_on_disk(tmp_path, "dark-quar")
    response = operator.post("/integrity/findings", {"action": "quarantine", "finding": [dark.finding_id]}, follow=True)
    assert response.status_code == 200 and "Moved 1 dark file to quarantine." in shown_messages(response)
    dark.refresh_from_db()
    assert dark.status == FindingStatus.QUARANTINED and dark.quarantine_path
    assert not place.path("stray/found.dat").exists()
    assert not DataItem.objects.filter(storage=place.storage, uri="stray/found.dat").exists()
    assert AuditRecord.objects.filter(object_type="scan_finding", object_id=str(dark.finding_id)).exists()


def test_the_scan_report_downloads_as_csv(viewer, scanned):
    response = viewer.get(f"/scans/{scanned['scan'].scan_id}/report.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    lines = body.splitlines()
    assert len(lines) == 4  # the header, then the lost, mismatched and dark findings
    assert "obs/stray.fits" in body and "obs/lost.fits" in body
