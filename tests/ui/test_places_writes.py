"""What the places pages write is the services' write, recorded in the audit trail as the
logged-in user's: the forms' creations and the access check."""

from __future__ import annotations

import pytest
from django.test import Client

from catalogue.models import Location, Storage
from catalogue.services import storage_config_create
from tests.audit.conftest import records
from tests.factories import make_storage

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(make_ui_client) -> Client:
    return make_ui_client("admin")


def test_an_access_check_from_a_storage_page_is_recorded_as_the_users(make_ui_client, tmp_path):
    storage = make_storage(storage_name="disk")
    storage_config_create(config={"name": "disk", "type": "local", "root_path": str(tmp_path)}, storage_id=storage.pk)

    response = make_ui_client("operator").post(f"/storages/{storage.storage_id}/check")

    assert response.status_code == 302
    [record] = records(object_type="storage")
    assert (record.action, record.object_id, record.changes["storage_checked"]) == (
        "update",
        str(storage.pk),
        [False, True],
    )
    assert (record.via, record.auth, record.username, record.operation) == (
        "ui",
        "session",
        "ui-operator",
        "ui:storage-check",
    )
    assert Storage.objects.get(pk=storage.pk).storage_last_checked is not None


def test_a_location_and_a_storage_made_in_the_forms_are_recorded_as_the_users(admin):
    admin.post("/locations/new", {"location_name": "Pawsey", "location_type": "local-dev"})
    location = Location.objects.get()
    admin.post(
        "/storages/new",
        {
            "storage_name": "acacia",
            "location_id": str(location.pk),
            "storage_type": "objectstore",
            "storage_interface": "s3",
            "root_directory": "/bucket",
            "storage_phase": "GAS",
        },
    )

    made = [(r.object_type, r.action, r.username, r.operation) for r in records()]
    assert made == [
        ("location", "create", "ui-admin", "ui:location-new"),
        ("storage", "create", "ui-admin", "ui:storage-new"),
    ]
