"""Every write of the admin console goes through the catalogue's services: the API's rules apply
at this door too (refused with the services' words, beside the field they name, and nothing
written), and the audit trail records each write as the admin's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry

from catalogue.admin import remotes as remotes_admin
from catalogue.models import DataItem, Location, LocationFacility, Storage, StorageConfig
from catalogue.services import data_items as data_item_services
from catalogue.services.data_items import state_guard_register
from catalogue.services.locations import facility_delete
from catalogue.services.storages import storage_config_create
from core import rclone
from core.errors import UnmetPreconditionForOperation
from tests.admin.conftest import raw_table
from tests.audit.conftest import form_fields, records
from tests.factories import make_item, make_location, make_storage

pytestmark = pytest.mark.django_db

WHOLE_SECOND = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # what the admin's forms show and post back


def _errors(response) -> dict[str, list[str]]:
    """The errors of the admin form on the page, by field (``__all__``: the whole form's)."""
    form = response.context["adminform"].form
    return {name: list(messages) for name, messages in form.errors.items()}


def _form(client, url: str, **changes: str) -> dict[str, list[str]]:
    fields = form_fields(client.get(url).content.decode())
    fields.update({name: [value] for name, value in changes.items()})
    return fields


# --- locations --------------------------------------------------------------------------------

LOCATION_ADD = "/admin/catalogue/location/add/"


def _location_change(location: Location) -> str:
    return f"/admin/catalogue/location/{location.pk}/change/"


def test_a_location_added_in_the_admin_is_created_and_recorded_as_the_admins(admin_client, admin_account):
    form = _form(admin_client, LOCATION_ADD, location_name="Pawsey", location_type="local-dev", location_city="Perth")

    response = admin_client.post(LOCATION_ADD, form)

    assert response.status_code == 302, _errors(response) if response.context else response
    location = Location.objects.get()
    assert (location.location_name, location.location_city) == ("Pawsey", "Perth")
    [record] = records(object_type="location")
    assert (record.action, record.object_id, record.username, record.user_id, record.via) == (
        "create",
        str(location.pk),
        "ada",
        admin_account.pk,
        "admin",
    )
    assert record.operation == "admin:catalogue_location_add"
    assert LogEntry.objects.get().object_id == str(location.pk)  # the admin's history names the stored row


def test_a_location_added_with_a_taken_name_gets_the_services_refusal_and_nothing_is_written(admin_client):
    make_location(location_name="Pawsey")
    before = raw_table("location")
    form = _form(admin_client, LOCATION_ADD, location_name="Pawsey", location_type="local-dev")

    response = admin_client.post(LOCATION_ADD, form)

    assert response.status_code == 200
    assert _errors(response) == {"location_name": ["A location with this name exists already: Pawsey"]}
    assert raw_table("location") == before
    assert records() == [] and not LogEntry.objects.exists()


def test_a_location_renamed_to_a_taken_name_is_refused(admin_client):
    location = make_location(location_name="first")
    make_location(location_name="second")
    before = raw_table("location")

    response = admin_client.post(
        _location_change(location), _form(admin_client, _location_change(location), location_name="second")
    )

    assert response.status_code == 200
    assert _errors(response) == {"location_name": ["A location with this name exists already: second"]}
    assert raw_table("location") == before
    assert records() == []


def test_a_location_changed_in_the_admin_is_recorded_with_the_changed_column_only(admin_client):
    location = make_location(location_name="here")
    Location.objects.filter(pk=location.pk).update(location_date=WHOLE_SECOND)

    response = admin_client.post(
        _location_change(location), _form(admin_client, _location_change(location), location_city="Perth")
    )

    assert response.status_code == 302
    [record] = records(object_type="location")
    assert (record.action, record.changes) == ("update", {"location_city": [None, "Perth"]})
    assert record.operation == "admin:catalogue_location_change"


def test_an_empty_location_is_deleted_and_recorded_one_hosting_storages_is_not(admin_client):
    empty, hosting = make_location(), make_location()
    make_storage(hosting)

    deleted = admin_client.post(f"/admin/catalogue/location/{empty.pk}/delete/", {"post": "yes"})
    refused = admin_client.post(f"/admin/catalogue/location/{hosting.pk}/delete/", {"post": "yes"})

    assert (deleted.status_code, refused.status_code) == (302, 200)
    assert list(Location.objects.values_list("pk", flat=True)) == [hosting.pk]
    [record] = records(object_type="location")
    assert (record.action, record.object_id, record.via) == ("delete", str(empty.pk), "admin")


# --- storages ---------------------------------------------------------------------------------

STORAGE_ADD = "/admin/catalogue/storage/add/"


def _storage_add_form(admin_client, location: Location, name: str) -> dict[str, list[str]]:
    return _form(
        admin_client,
        STORAGE_ADD,
        storage_name=name,
        location=str(location.pk),
        root_directory="/data",
        storage_type="filesystem",
        storage_interface="posix",
    )


def test_a_storage_added_in_the_admin_is_created_and_recorded(admin_client):
    location = make_location()

    response = admin_client.post(STORAGE_ADD, _storage_add_form(admin_client, location, "disk"))

    assert response.status_code == 302, _errors(response) if response.context else response
    storage = Storage.objects.get()
    assert (storage.storage_name, storage.location_id, storage.root_directory) == ("disk", location.pk, "/data")
    [record] = records(object_type="storage")
    assert (record.action, record.object_id, record.operation) == (
        "create",
        str(storage.pk),
        "admin:catalogue_storage_add",
    )
    assert LogEntry.objects.get().object_id == str(storage.pk)


def test_a_storage_added_with_a_taken_name_gets_the_services_refusal(admin_client):
    existing = make_storage(storage_name="disk")
    before = raw_table("storage")

    response = admin_client.post(STORAGE_ADD, _storage_add_form(admin_client, existing.location, "disk"))

    assert response.status_code == 200
    assert _errors(response) == {
        "storage_name": ["duplicate key value violates unique constraint: a storage named 'disk' exists already"]
    }
    assert raw_table("storage") == before
    assert records() == []


def test_a_bulk_delete_holding_a_storage_in_use_deletes_nothing(admin_client, seeded):
    busy, empty = seeded["storage"], make_storage()

    response = admin_client.post(
        "/admin/catalogue/storage/",
        {"action": "delete_selected", "_selected_action": [str(busy.pk), str(empty.pk)], "post": "yes"},
    )

    assert response.status_code == 200
    assert f"{busy.storage_name}: it holds data items or copy jobs" in response.content.decode()
    assert Storage.objects.filter(pk__in=[busy.pk, empty.pk]).count() == 2


@pytest.fixture
def page_check_passed(monkeypatch) -> None:
    """The delete page found nothing in the way: rows referring to the storage came after it."""
    monkeypatch.setattr(type(admin.site._registry[Storage]), "get_deleted_objects", lambda *_: ([], {}, set(), []))


def test_a_storage_in_use_by_the_time_it_is_deleted_is_refused_by_the_service(admin_client, seeded, page_check_passed):
    busy = seeded["storage"]

    response = admin_client.post(f"/admin/catalogue/storage/{busy.pk}/delete/", {"post": "yes"}, follow=True)

    shown = [str(message) for message in response.context["messages"]]
    assert shown == [f"{busy.storage_name}: it holds data items or copy jobs"]
    assert Storage.objects.filter(pk=busy.pk).exists()
    assert records(via="admin") == [] and not LogEntry.objects.exists()


def test_a_bulk_delete_refused_for_one_storage_deletes_none(admin_client, seeded, page_check_passed):
    busy, empty = seeded["storage"], make_storage()

    response = admin_client.post(
        "/admin/catalogue/storage/",
        {"action": "delete_selected", "_selected_action": [str(empty.pk), str(busy.pk)], "post": "yes"},
        follow=True,
    )

    shown = [str(message) for message in response.context["messages"]]
    assert shown == [f"{busy.storage_name}: it holds data items or copy jobs"]
    assert Storage.objects.filter(pk__in=[busy.pk, empty.pk]).count() == 2
    assert records(via="admin") == [] and not LogEntry.objects.exists()


def test_an_empty_storage_deleted_in_the_admin_takes_its_remotes_and_is_recorded(admin_client, tmp_path):
    storage = make_storage()
    config = storage_config_create(
        config={"name": "x", "type": "local", "root_path": str(tmp_path)}, storage_id=storage.pk, check_remote=False
    )

    response = admin_client.post(f"/admin/catalogue/storage/{storage.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Storage.objects.filter(pk=storage.pk).exists()
    assert not StorageConfig.objects.filter(pk=config.pk).exists()
    assert {(r.object_type, r.action, r.via) for r in records()} == {
        ("storage", "delete", "admin"),
        ("storage_config", "delete", "admin"),
    }


# --- data items -------------------------------------------------------------------------------


def _item_change(item: DataItem) -> str:
    return f"/admin/catalogue/dataitem/{item.pk}/change/"


@pytest.fixture
def ready_item() -> DataItem:
    item = make_item(make_storage(), item_state="READY")
    stamps = {
        field.attname: WHOLE_SECOND
        for field in DataItem._meta.concrete_fields
        if field.get_internal_type() == "DateTimeField" and getattr(item, field.attname) is not None
    }
    DataItem.objects.filter(pk=item.pk).update(**stamps)
    return item


@pytest.fixture
def copy_being_written(ready_item) -> Iterator[str]:
    """A state guard, as the copy jobs register one, refusing a change of ``ready_item``."""
    reason = "A copy job is writing this copy: its state is the job's to set"

    def guard(rows) -> str | None:
        return reason if rows.filter(uid=ready_item.uid).exists() else None

    state_guard_register(guard)
    yield reason
    data_item_services._STATE_GUARDS.remove(guard)


def test_a_state_change_refused_by_a_guard_is_shown_on_the_form_and_not_written(
    admin_client, ready_item, copy_being_written
):
    form = _form(admin_client, _item_change(ready_item), item_state="CORRUPTED")

    response = admin_client.post(_item_change(ready_item), form)

    assert response.status_code == 200
    assert _errors(response) == {"item_state": [copy_being_written]}
    assert DataItem.objects.get(pk=ready_item.pk).item_state == "READY"
    assert records() == [] and not LogEntry.objects.exists()


def test_a_state_change_in_the_admin_is_the_services_and_recorded(admin_client, ready_item, copy_being_written):
    other = make_item(make_storage(), item_state="READY")  # the guard lets this one change
    DataItem.objects.filter(pk=other.pk).update(
        uid_creation=WHOLE_SECOND, oid_creation=WHOLE_SECOND, uid_expiration=WHOLE_SECOND, oid_expiration=WHOLE_SECOND
    )

    response = admin_client.post(_item_change(other), _form(admin_client, _item_change(other), item_state="CORRUPTED"))

    assert response.status_code == 302, _errors(response) if response.context else response
    assert DataItem.objects.get(pk=other.pk).item_state == "CORRUPTED"
    [record] = records(object_type="data_item")
    assert (record.action, record.object_id, record.changes) == (
        "update",
        str(other.pk),
        {"item_state": ["READY", "CORRUPTED"]},
    )
    assert (record.via, record.operation) == ("admin", "admin:catalogue_dataitem_change")


def test_an_item_renamed_to_a_name_taken_on_its_storage_is_refused(admin_client, ready_item):
    make_item(ready_item.storage, item_name="taken")

    response = admin_client.post(
        _item_change(ready_item), _form(admin_client, _item_change(ready_item), item_name="taken")
    )

    assert response.status_code == 200
    assert _errors(response) == {"item_name": ["Item is already registered on storage! taken"]}
    assert DataItem.objects.get(pk=ready_item.pk).item_name == ready_item.item_name


# --- rclone remotes ---------------------------------------------------------------------------


@pytest.fixture
def service_calls(monkeypatch) -> dict[str, list]:
    """Calls of the config services and of rclone's reach check, counted on their way through."""
    calls: dict[str, list] = {"create": [], "update": [], "tried": []}

    def counted(name: str, function):
        def call(*args, **kwargs):
            calls[name].append(kwargs)
            return function(*args, **kwargs)

        return call

    monkeypatch.setattr(remotes_admin, "storage_config_create", counted("create", remotes_admin.storage_config_create))
    monkeypatch.setattr(remotes_admin, "storage_config_update", counted("update", remotes_admin.storage_config_update))
    monkeypatch.setattr(rclone, "remote_reachable", counted("tried", rclone.remote_reachable))
    return calls


def _config_add_form(storage: Storage, root: str) -> dict[str, str]:
    return {"storage": str(storage.pk), "config_type": "rclone", "name": "disk", "type": "local", "root_path": root}


def test_a_config_added_in_the_admin_goes_through_the_service_once(admin_client, service_calls, tmp_path):
    storage = make_storage()

    response = admin_client.post("/admin/catalogue/storageconfig/add/", _config_add_form(storage, str(tmp_path)))

    assert response.status_code == 302
    config = StorageConfig.objects.get()
    assert config.config == {"name": "disk", "type": "local", "parameters": {}, "root_path": str(tmp_path)}
    assert (len(service_calls["create"]), len(service_calls["tried"])) == (1, 1)
    [record] = records(object_type="storage_config")
    assert (record.action, record.object_id, record.via) == ("create", str(config.pk), "admin")
    assert LogEntry.objects.get().object_id == str(config.pk)


def test_a_config_the_remote_refuses_is_tried_once_shown_and_not_stored(admin_client, service_calls, tmp_path):
    storage = make_storage()

    response = admin_client.post("/admin/catalogue/storageconfig/add/", _config_add_form(storage, str(tmp_path / "no")))

    assert response.status_code == 200
    [message] = _errors(response)["__all__"]
    assert message.startswith("Configuring rclone server failed! Remote 'disk' is not reachable: ")
    assert (len(service_calls["create"]), len(service_calls["tried"])) == (1, 1)
    assert not StorageConfig.objects.exists()
    assert records() == []


def test_a_config_changed_in_the_admin_goes_through_the_service_once(admin_client, service_calls, tmp_path):
    config = storage_config_create(
        config={"name": "disk", "type": "local", "root_path": str(tmp_path)}, storage_id=make_storage().pk
    )
    (tmp_path / "sub").mkdir()
    url = f"/admin/catalogue/storageconfig/{config.pk}/change/"
    service_calls["tried"].clear()  # the stored config's own check

    response = admin_client.post(url, _form(admin_client, url, root_path=str(tmp_path / "sub")))

    assert response.status_code == 302, _errors(response) if response.context else response
    assert StorageConfig.objects.get(pk=config.pk).config["root_path"] == str(tmp_path / "sub")
    assert (len(service_calls["update"]), len(service_calls["tried"])) == (1, 1)
    [record] = records(object_type="storage_config")
    assert (record.action, record.changes["config"][1]["root_path"]) == ("update", str(tmp_path / "sub"))


def test_a_config_deleted_in_the_admin_is_recorded(admin_client, tmp_path):
    config = storage_config_create(
        config={"name": "disk", "type": "local", "root_path": str(tmp_path)}, storage_id=make_storage().pk
    )

    response = admin_client.post(f"/admin/catalogue/storageconfig/{config.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not StorageConfig.objects.exists()
    [record] = records(object_type="storage_config")
    assert (record.action, record.via) == ("delete", "admin")


def test_an_access_check_from_the_admin_is_recorded_as_the_admins(admin_client, tmp_path):
    storage = make_storage()
    storage_config_create(config={"name": "x", "type": "local", "root_path": str(tmp_path)}, storage_id=storage.pk)

    response = admin_client.post(
        "/admin/catalogue/storage/", {"action": "check_access", "_selected_action": [str(storage.pk)]}
    )

    assert response.status_code == 302
    [record] = records(object_type="storage")
    assert (record.action, record.changes["storage_checked"], record.via, record.username) == (
        "update",
        [False, True],
        "admin",
        "ada",
    )
    assert record.operation == "admin:catalogue_storage_changelist"


# --- facilities -------------------------------------------------------------------------------

FACILITY_ADD = "/admin/catalogue/locationfacility/add/"


def test_a_facility_is_added_through_the_service_and_a_taken_name_is_refused(admin_client):
    response = admin_client.post(FACILITY_ADD, _form(admin_client, FACILITY_ADD, id="Siding Spring"))
    assert response.status_code == 302, _errors(response) if response.context else response
    [record] = records(object_type="location_facility")
    assert (record.action, record.object_id, record.via) == ("create", "Siding Spring", "admin")

    again = admin_client.post(FACILITY_ADD, _form(admin_client, FACILITY_ADD, id="Siding Spring"))

    assert again.status_code == 200
    assert _errors(again) == {"id": ["A facility with this name exists already: Siding Spring"]}
    assert len(records(object_type="location_facility")) == 1


def test_a_facility_that_a_location_names_is_not_deleted(admin_client):
    location = make_location(location_name="Pawsey")
    facility = LocationFacility.objects.create(id="Named Facility")
    Location.objects.filter(pk=location.pk).update(location_facility=facility)
    url = f"/admin/catalogue/locationfacility/{facility.pk}/delete/"

    response = admin_client.post(url, {"post": "yes"}, follow=True)

    assert LocationFacility.objects.filter(pk=facility.pk).exists()
    assert "Cannot delete location facility" in response.content.decode()
    with pytest.raises(UnmetPreconditionForOperation, match="Named Facility: locations name it"):
        facility_delete(facility_id=facility.pk)  # the service refuses it too, whoever calls it
    assert LocationFacility.objects.filter(pk=facility.pk).exists()


def test_a_facility_no_location_names_is_deleted_and_recorded(admin_client):
    LocationFacility.objects.create(id="Unused")

    response = admin_client.post("/admin/catalogue/locationfacility/Unused/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not LocationFacility.objects.filter(pk="Unused").exists()
    [record] = records(object_type="location_facility", action="delete")
    assert record.object_id == "Unused"
