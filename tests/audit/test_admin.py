"""Changes made in the Django admin are recorded with ``via="admin"``; the trail is shown there,
read-only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from accounts.tokens import api_token_create
from audit.models import AuditRecord
from audit.services import audit_record
from catalogue.models import Storage
from tests.audit.conftest import form_fields, raw_audit_rows, records
from tests.factories import make_storage

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", "root@example.org", "Root-Pa55word")


@pytest.fixture
def admin_client(root) -> Client:
    client = Client()
    client.force_login(root)
    return client


def test_a_group_added_and_renamed_in_the_admin_is_recorded(admin_client, root):
    added = admin_client.post("/admin/auth/group/add/", {"name": "auditors"})
    group = Group.objects.get(name="auditors")
    renamed = admin_client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "inspectors"})

    assert (added.status_code, renamed.status_code) == (302, 302)
    created, changed = records(object_type="group")
    assert (created.action, created.object_id, created.changes) == (
        "create",
        str(group.pk),
        {"id": group.pk, "name": "auditors"},
    )
    assert (changed.action, changed.changes) == ("update", {"name": ["auditors", "inspectors"]})
    assert (created.operation, changed.operation) == ("admin:auth_group_add", "admin:auth_group_change")
    for record in (created, changed):
        assert (record.username, record.user_id, record.auth, record.via) == ("root", root.pk, "session", "admin")


def test_a_storage_changed_in_the_admin_is_recorded(admin_client, root):
    storage = make_storage(storage_name="disk", storage_phase="GAS")
    # Whole seconds: the admin's form shows (and posts back) timestamps without microseconds.
    Storage.objects.filter(pk=storage.pk).update(storage_date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    page = f"/admin/catalogue/storage/{storage.pk}/change/"
    form = form_fields(admin_client.get(page).content.decode())
    form.update(storage_phase=["SOLID"], root_directory=["/data/moved"])

    response = admin_client.post(page, form)

    assert response.status_code == 302, response.content.decode()
    assert Storage.objects.get(pk=storage.pk).storage_phase == "SOLID"
    [record] = records(object_type="storage")
    assert (record.action, record.object_id) == ("update", str(storage.pk))
    assert record.changes == {"root_directory": ["/data", "/data/moved"], "storage_phase": ["GAS", "SOLID"]}
    assert (record.via, record.auth, record.username, record.user_id) == ("admin", "session", "root", root.pk)
    assert record.operation == "admin:catalogue_storage_change"


def test_an_account_changed_in_the_admin_is_recorded_with_its_groups(admin_client):
    joined = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # what the admin's form shows (no microseconds)
    user = get_user_model().objects.create_user("heidi", password="Heidi-Pa55word", date_joined=joined)
    page = f"/admin/auth/user/{user.pk}/change/"
    form = form_fields(admin_client.get(page).content.decode())
    form.update(first_name=["Heidi"], groups=[str(Group.objects.get(name="operator").pk)])

    response = admin_client.post(page, form)

    assert response.status_code == 302, response.content.decode()
    made = records(object_type="user", object_id=str(user.pk))
    assert [r.changes for r in made] == [{"first_name": ["", "Heidi"]}, {"groups": [[], ["operator"]]}]
    assert {(r.via, r.operation) for r in made} == {("admin", "admin:auth_user_change")}
    assert "Pa55word" not in raw_audit_rows()


def test_a_token_deleted_in_the_admin_is_recorded_by_its_key(admin_client):
    row, token = api_token_create(user=get_user_model().objects.create_user("ivan"))

    response = admin_client.post(f"/admin/knox/authtoken/{row.digest}/delete/", {"post": "yes"})

    assert response.status_code == 302
    [deleted] = records(object_type="api_token")
    assert (deleted.action, deleted.object_id, deleted.via) == ("delete", row.token_key, "admin")
    trail = raw_audit_rows()
    assert row.digest not in trail and token not in trail


def test_browsing_the_admin_records_nothing(admin_client):
    for path in ("/admin/", "/admin/auth/group/", "/admin/auth/user/", "/admin/audit/auditrecord/"):
        assert admin_client.get(path).status_code == 200, path
    assert records() == []


@pytest.fixture
def shown(actor) -> AuditRecord:
    audit_record(
        action="update",
        object_type="storage",
        object_id="6c1d4b3e-0000-4000-8000-000000000001",
        changes={"storage_phase": ["GAS", "SOLID"]},
    )
    return AuditRecord.objects.get()


def test_the_admin_lists_and_shows_records_pretty_printed(admin_client, shown):
    listing = admin_client.get("/admin/audit/auditrecord/", {"q": shown.object_id})
    detail = admin_client.get(f"/admin/audit/auditrecord/{shown.pk}/change/")

    assert listing.status_code == 200 and shown.object_id in listing.content.decode()
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "<pre" in page and "&quot;storage_phase&quot;: [\n    &quot;GAS&quot;," in page
    assert 'name="_save"' not in page  # read-only: no save button


def test_the_admin_cannot_add_change_or_delete_records(admin_client, shown):
    assert admin_client.get("/admin/audit/auditrecord/add/").status_code == 403
    assert admin_client.post(f"/admin/audit/auditrecord/{shown.pk}/delete/", {"post": "yes"}).status_code == 403
    changed = admin_client.post(f"/admin/audit/auditrecord/{shown.pk}/change/", {"username": "someone-else"})
    assert changed.status_code == 403
    bulk = admin_client.post(
        "/admin/audit/auditrecord/", {"action": "delete_selected", "_selected_action": [shown.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    assert [(r.pk, r.username) for r in records()] == [(shown.pk, "ops")]


def test_an_account_that_is_not_an_admin_does_not_see_the_trail(shown, make_api):
    make_api("operator")  # an account with the operator role, and staff status on top
    operator = get_user_model().objects.get(username="operator-user")
    operator.is_staff = True
    operator.save()
    client = Client()
    client.force_login(operator)

    response = client.get("/admin/audit/auditrecord/")

    assert response.status_code in (302, 403)  # to the login page, or refused
    assert shown.object_id not in response.content.decode()
