"""Integrity in the admin console: fixity checks, scans and findings are read-only lists, steered
by actions that call the integrity services ("Verify again", "Scan again", "Register",
"Quarantine"), each refusal a message naming the row."""

from __future__ import annotations

import pytest
from django.utils import timezone

from audit.models import AuditRecord
from catalogue.models import DataItem
from integrity.models import CheckState, Finding, FindingKind, FindingStatus, FixityCheck, Scan, ScanState
from tests.factories import make_item, make_storage
from tests.lifecycle.helpers import local_place, register

LISTS = {
    "fixitycheck": "/admin/integrity/fixitycheck/",
    "scan": "/admin/integrity/scan/",
    "finding": "/admin/integrity/finding/",
}


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def disk(tmp_path):
    """A storage on a local directory, a READY copy on it checked once, a finished scan with a
    dark file on disk and a lost copy."""
    place = local_place(tmp_path, "admin-disk", "GAS")
    item = register(place, "obs/a.fits", b"some visibilities")
    check = FixityCheck.objects.create(item=item, storage=place.storage, state=CheckState.PASSED)
    scan = Scan.objects.create(
        storage=place.storage, state=ScanState.COMPLETED, finished_at=timezone.now(), matched=1, dark=1, lost=1
    )
    place.write("stray/x.dat", b"uncatalogued")
    dark = Finding.objects.create(scan=scan, storage=place.storage, kind=FindingKind.DARK, path="stray/x.dat", size=12)
    lost = Finding.objects.create(
        scan=scan, storage=place.storage, kind=FindingKind.LOST, path="obs/gone.fits", status=FindingStatus.UNREPAIRABLE
    )
    return {"place": place, "item": item, "check": check, "scan": scan, "dark": dark, "lost": lost}


def test_the_lists_and_rows_show_and_nothing_can_be_added_changed_or_deleted(admin_client, disk):
    for url in LISTS.values():
        response = admin_client.get(url)
        assert response.status_code == 200
        assert response.context["has_add_permission"] is False
    assert b"stray/x.dat" in admin_client.get(LISTS["finding"] + "?kind__exact=dark").content
    assert b"stray/x.dat" not in admin_client.get(LISTS["finding"] + "?kind__exact=lost").content
    page = admin_client.get(f"{LISTS['scan']}{disk['scan'].pk}/change/")
    assert page.status_code == 200 and b'name="matched"' not in page.content  # counts are read-only
    assert admin_client.get(LISTS["scan"] + "add/").status_code == 403
    searched = admin_client.get(LISTS["fixitycheck"] + f"?q={disk['item'].uid}")
    assert searched.status_code == 200 and f">{disk['check'].check_id}<".encode() in searched.content
    assert admin_client.get(LISTS["fixitycheck"] + "?q=not-a-uid").status_code == 200


def test_an_operator_is_not_let_into_the_integrity_admin(as_role, disk):
    operator = as_role("operator")
    for url in LISTS.values():
        assert operator.get(url).status_code == 403


def test_verify_again_queues_a_check_of_the_copy(admin_client, disk):
    response = admin_client.post(
        LISTS["fixitycheck"], {"action": "verify_again", "_selected_action": [disk["check"].pk]}, follow=True
    )
    assert response.status_code == 200
    queued = FixityCheck.objects.filter(item=disk["item"]).exclude(pk=disk["check"].pk).get()
    assert queued.state == CheckState.QUEUED and queued.requested_by == "ada"
    assert any(f"check {queued.check_id}" in message for message in _messages(response))
    # asked again while it waits: the same check, not a second one
    admin_client.post(LISTS["fixitycheck"], {"action": "verify_again", "_selected_action": [disk["check"].pk]})
    assert FixityCheck.objects.filter(item=disk["item"]).count() == 2
    # a copy that is not READY any more: refused, with the reason
    DataItem.objects.filter(uid=disk["item"].uid).update(item_state="CORRUPTED")
    refused = admin_client.post(
        LISTS["fixitycheck"], {"action": "verify_again", "_selected_action": [disk["check"].pk]}, follow=True
    )
    assert any("refused" in message and "only a READY copy" in message for message in _messages(refused))
    assert FixityCheck.objects.filter(item=disk["item"]).count() == 2


def test_scan_again_queues_a_scan_or_says_why_not(admin_client, disk):
    response = admin_client.post(
        LISTS["scan"], {"action": "scan_again", "_selected_action": [disk["scan"].pk]}, follow=True
    )
    assert response.status_code == 200
    assert Scan.objects.filter(storage=disk["place"].storage, state=ScanState.QUEUED).count() == 1
    unreachable = make_storage()
    other = Scan.objects.create(storage=unreachable, state=ScanState.FAILED, error="boom")
    refused = admin_client.post(LISTS["scan"], {"action": "scan_again", "_selected_action": [other.pk]}, follow=True)
    assert any(f"storage {unreachable.storage_name}: refused" in message for message in _messages(refused))
    assert Scan.objects.filter(storage=unreachable).count() == 1


def test_register_catalogues_the_dark_file_and_leaves_other_findings_alone(admin_client, disk):
    dark, lost = disk["dark"], disk["lost"]
    response = admin_client.post(
        LISTS["finding"], {"action": "register", "_selected_action": [dark.pk, lost.pk]}, follow=True
    )
    assert response.status_code == 200
    shown = _messages(response)
    assert any("1 left alone" in message for message in shown)
    assert any("Registered: stray/x.dat" in message for message in shown)
    dark.refresh_from_db()
    lost.refresh_from_db()
    assert dark.status == FindingStatus.REGISTERED and dark.acted_by == "ada"
    assert DataItem.objects.filter(storage=disk["place"].storage, uri="stray/x.dat", item_state="READY").exists()
    assert lost.status == FindingStatus.UNREPAIRABLE
    assert AuditRecord.objects.filter(object_type="scan_finding", object_id=str(dark.pk), username="ada").exists()


def test_quarantine_moves_the_dark_file_aside_and_a_vanished_one_is_refused(admin_client, disk):
    dark = disk["dark"]
    gone = Finding.objects.create(scan=disk["scan"], storage=dark.storage, kind=FindingKind.DARK, path="stray/no.dat")
    response = admin_client.post(LISTS["finding"], {"action": "quarantine", "_selected_action": [dark.pk]}, follow=True)
    assert response.status_code == 200
    dark.refresh_from_db()
    assert dark.status == FindingStatus.QUARANTINED
    assert not disk["place"].path("stray/x.dat").exists()
    refused = admin_client.post(LISTS["finding"], {"action": "quarantine", "_selected_action": [gone.pk]}, follow=True)
    assert refused.status_code == 200
    assert any(message.startswith("Refused:") for message in _messages(refused))
    gone.refresh_from_db()
    assert gone.status == FindingStatus.OPEN


def test_the_storage_and_item_admin_pages_link_to_their_integrity_rows(admin_client, disk):
    storage = disk["place"].storage
    page = admin_client.get(f"/admin/catalogue/storage/{storage.pk}/change/").content.decode()
    assert "/admin/integrity/scan/?storage__storage_id__exact=" in page
    item = make_item(storage, item_state="READY")
    page = admin_client.get(f"/admin/catalogue/dataitem/{item.uid}/change/").content.decode()
    assert f"/admin/integrity/fixitycheck/?q={item.uid}" in page
