"""The services that write locations, storages and their remotes: each rule refuses in the domain's
words, naming the field it is about, and a refused write leaves the catalogue as it was."""

from __future__ import annotations

import uuid

import pytest

from catalogue.models import Location, Storage, StorageConfig
from catalogue.services import (
    location_create,
    location_delete,
    location_update,
    storage_config_delete,
    storage_create,
    storage_delete,
    storage_update,
)
from catalogue.services.storages import rclone_config_clean, rclone_config_try, storage_config_create
from core.errors import (
    DatabaseOperationError,
    DataLifecycleError,
    FieldErrors,
    InvalidQueryParameters,
    ObjectNotFound,
    UnmetPreconditionForOperation,
    ValueAlreadyInDB,
)
from tests.factories import make_item, make_location, make_storage

pytestmark = pytest.mark.django_db


def _refused(errors: FieldErrors) -> list[tuple[str, str, tuple]]:
    return [(error.field, error.kind, error.at) for error in errors.errors]


# --- locations --------------------------------------------------------------------------------


def test_location_create_names_the_empty_field():
    with pytest.raises(InvalidQueryParameters) as no_type:
        location_create(location_name="here", location_type="")

    assert (no_type.value.field, no_type.value.message) == (
        "location_type",
        "location_name and location_type cannot be empty",
    )


def test_location_create_sets_further_columns_and_checks_them():
    location = location_create(
        location_name="here", location_type="local-dev", fields={"location_check_url": "https://here.example.org"}
    )
    assert Location.objects.get(pk=location.pk).location_check_url == "https://here.example.org"

    with pytest.raises(FieldErrors) as refused:
        location_create(location_name="there", location_type="local-dev", fields={"location_check_url": "x" * 1025})
    assert _refused(refused.value) == [("location_check_url", "value_error", ())]
    with pytest.raises(FieldErrors) as key:
        location_create(location_name="there", location_type="local-dev", fields={"location_id": uuid.uuid4()})
    assert _refused(key.value) == [("location_id", "read_only", ())]
    assert Location.objects.count() == 1


def test_location_update_writes_the_given_columns_under_the_create_rules():
    location = make_location(location_name="first", location_city="Perth")
    make_location(location_name="second")

    with pytest.raises(ValueAlreadyInDB) as taken:
        location_update(location_id=location.pk, fields={"location_name": "second"})
    with pytest.raises(DatabaseOperationError) as facility:
        location_update(location_id=location.pk, fields={"location_facility_id": "Atlantis"})
    with pytest.raises(ObjectNotFound):
        location_update(location_id=uuid.uuid4(), fields={"location_city": "x"})
    changed = location_update(location_id=location.pk, fields={"location_name": "renamed"})

    assert (taken.value.field, facility.value.field) == ("location_name", "location_facility")
    assert "is not a known facility" in facility.value.message
    stored = Location.objects.get(pk=location.pk)
    assert (changed.location_name, stored.location_name, stored.location_city) == ("renamed", "renamed", "Perth")


def test_location_delete_refuses_a_location_hosting_storages():
    hosting, empty = make_location(), make_location()
    make_storage(hosting)

    with pytest.raises(UnmetPreconditionForOperation) as refused:
        location_delete(location_id=hosting.pk)
    location_delete(location_id=empty.pk)

    assert refused.value.message == f"{hosting.location_name}: it hosts storages"
    assert list(Location.objects.values_list("pk", flat=True)) == [hosting.pk]


# --- storages ---------------------------------------------------------------------------------


def test_storage_create_names_each_missing_key_of_a_body():
    location = make_location()

    with pytest.raises(FieldErrors) as refused:
        storage_create(
            storage_name="s",
            storage_type="filesystem",
            storage_interface="posix",
            root_directory="/",
            storage_config={"storage_name": "s", "location_id": str(location.pk)},
        )

    assert _refused(refused.value) == [
        ("storage_config", "missing", (key,))
        for key in ("storage_type", "storage_interface", "storage_capacity", "storage_phase", "root_directory")
    ]
    assert not Storage.objects.exists()


def test_storage_create_names_the_field_of_each_refusal():
    location = make_location()
    values = {"storage_type": "filesystem", "storage_interface": "posix", "root_directory": "/"}
    make_storage(location, storage_name="taken")

    refusals = []
    for name, extra in (
        ("", {"location_id": location.pk}),
        ("s", {}),
        ("s", {"location_name": "nowhere"}),
        ("s", {"location_id": uuid.uuid4()}),
        ("taken", {"location_id": location.pk}),
    ):
        with pytest.raises(DataLifecycleError) as refused:
            storage_create(storage_name=name, **values, **extra)
        refusals.append((type(refused.value).__name__, refused.value.field))

    assert refusals == [
        ("InvalidQueryParameters", "storage_name"),
        ("InvalidQueryParameters", "location_id"),
        ("UnmetPreconditionForOperation", "location_name"),
        ("DatabaseOperationError", "location_id"),
        ("DatabaseOperationError", "storage_name"),
    ]
    with pytest.raises(FieldErrors) as too_long:
        storage_create(storage_name="s" * 256, location_id=location.pk, **values)
    assert _refused(too_long.value) == [("storage_name", "value_error", ())]
    assert Storage.objects.count() == 1


def test_storage_update_writes_only_the_given_columns_under_the_create_rules():
    storage = make_storage(storage_name="disk", root_directory="/data")
    make_storage(storage_name="other")
    elsewhere = make_location()

    with pytest.raises(DatabaseOperationError) as taken:
        storage_update(storage_id=storage.pk, fields={"storage_name": "other"})
    with pytest.raises(DatabaseOperationError) as nowhere:
        storage_update(storage_id=storage.pk, fields={"location_id": uuid.uuid4()})
    with pytest.raises(FieldErrors) as bad:
        storage_update(storage_id=storage.pk, fields={"storage_phase": "VAPOUR", "storage_checked": True})
    with pytest.raises(FieldErrors) as key:
        storage_update(storage_id=storage.pk, fields={"storage_id": uuid.uuid4()})
    storage_update(storage_id=storage.pk, fields={"location_id": elsewhere.pk, "storage_phase": "SOLID"})

    assert (taken.value.field, nowhere.value.field) == ("storage_name", "location_id")
    assert _refused(bad.value) == [("storage_phase", "value_error", ())]
    assert _refused(key.value) == [("storage_id", "read_only", ())]
    stored = Storage.objects.get(pk=storage.pk)
    assert (stored.storage_name, stored.location_id, stored.storage_phase, stored.storage_checked) == (
        "disk",
        elsewhere.pk,
        "SOLID",
        False,
    )


def test_storage_delete_refuses_a_storage_in_use_and_takes_an_empty_ones_remotes(tmp_path):
    busy, empty = make_storage(), make_storage()
    make_item(busy)
    config = storage_config_create(
        config={"name": "x", "type": "local", "root_path": str(tmp_path)}, storage_id=empty.pk, check_remote=False
    )

    with pytest.raises(UnmetPreconditionForOperation) as refused:
        storage_delete(storage_id=busy.pk)
    storage_delete(storage_id=empty.pk)

    assert (refused.value.field, refused.value.message) == (
        "storage_id",
        f"{busy.storage_name}: it holds data items or copy jobs",
    )
    assert list(Storage.objects.values_list("pk", flat=True)) == [busy.pk]
    assert not StorageConfig.objects.filter(pk=config.pk).exists()


# --- remote definitions -----------------------------------------------------------------------


def test_a_malformed_remote_is_refused_part_by_part_as_the_config_field():
    with pytest.raises(FieldErrors) as refused:
        rclone_config_clean({"name": "", "parameters": {"a=b": "1"}, "root_path": 5})

    assert _refused(refused.value) == [
        ("config", "missing", ("name",)),
        ("config", "missing", ("type",)),
        ("config", "value_error", ("parameters", "a=b")),
        ("config", "string_type", ("root_path",)),
    ]
    with pytest.raises(FieldErrors):
        rclone_config_try(config={"name": "x"})  # checked before rclone is asked


def test_trying_a_remote_stores_nothing(tmp_path):
    reach = rclone_config_try(config={"name": "x", "type": "local", "root_path": str(tmp_path)})
    gone = rclone_config_try(config={"name": "x", "type": "local", "root_path": str(tmp_path / "no")})

    assert (reach.reachable, gone.reachable) == (True, False)
    assert not StorageConfig.objects.exists()


def test_an_unreachable_remote_is_refused_as_the_config_field(tmp_path):
    storage = make_storage()

    with pytest.raises(UnmetPreconditionForOperation) as refused:
        storage_config_create(
            config={"name": "x", "type": "local", "root_path": str(tmp_path / "no")}, storage_id=storage.pk
        )

    assert refused.value.field == "config"
    assert not StorageConfig.objects.exists()


def test_storage_config_delete_of_an_unknown_config_is_not_found():
    with pytest.raises(ObjectNotFound) as refused:
        storage_config_delete(config_id=uuid.uuid4())
    assert refused.value.field == "config_id"
