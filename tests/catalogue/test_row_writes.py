"""The locked read, save and delete of one row that the location and storage services share, and
the lookup of data items by uid > oid > item_name that the reads and the writes share."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from catalogue.models import DataItem, Location, Storage
from catalogue.selectors import data_items_named
from catalogue.services.fields import row_delete, row_locked, row_save
from core.errors import ObjectNotFound, UnmetPreconditionForOperation, ValueAlreadyInDB
from tests.factories import make_item, make_location, make_storage

pytestmark = pytest.mark.django_db


def test_row_locked_returns_the_row_by_its_primary_key():
    location = make_location()
    with transaction.atomic():
        assert row_locked(Location, location.location_id, field="location_id") == location


def test_row_locked_refuses_a_missing_row_naming_the_model_and_the_field():
    missing = uuid.uuid4()
    with transaction.atomic(), pytest.raises(ObjectNotFound) as caught:
        row_locked(Storage, missing, field="storage_id")
    assert str(caught.value) == f"No storage found with storage_id={missing}"
    assert caught.value.field == "storage_id"


def test_row_save_inserts_and_updates_only_the_columns_named():
    location = Location(location_name="new-place", location_type="local-dev")
    row_save(location, taken=ValueAlreadyInDB("taken"))
    assert Location.objects.filter(pk=location.pk, location_name="new-place").exists()
    location.location_name, location.location_type = "renamed", "changed-in-memory-only"
    row_save(location, taken=ValueAlreadyInDB("taken"), update_fields=["location_name"])
    assert Location.objects.filter(pk=location.pk).values_list("location_name", "location_type").get() == (
        "renamed",
        "local-dev",
    )


def test_row_save_turns_a_clash_into_the_callers_refusal_and_its_transaction_goes_on():
    make_location(location_name="clash")
    taken = ValueAlreadyInDB("the name is taken")
    with transaction.atomic():
        with pytest.raises(ValueAlreadyInDB) as caught:
            row_save(Location(location_name="clash", location_type="local-dev"), taken=taken)
        assert caught.value is taken
        assert Location.objects.filter(location_name="clash").count() == 1  # still usable


def test_row_delete_deletes_the_row():
    location = make_location()
    row_delete(location, refusal=UnmetPreconditionForOperation("in use"))
    assert not Location.objects.filter(pk=location.location_id).exists()


def test_row_delete_turns_a_protected_row_into_the_callers_refusal_and_deletes_nothing():
    storage = make_storage()
    refusal = UnmetPreconditionForOperation("it hosts storages", field="location_id")
    location = storage.location
    with pytest.raises(UnmetPreconditionForOperation) as caught:
        row_delete(location, refusal=refusal)
    assert caught.value is refusal
    assert Location.objects.filter(pk=location.location_id).exists()
    assert Storage.objects.filter(pk=storage.storage_id).exists()


def test_data_items_named_by_uid_then_oid_then_item_name():
    storage = make_storage()
    first = make_item(storage, item_name="shared")
    other = make_item(storage, item_name="other", oid=first.oid)
    assert list(data_items_named(uid=first.uid, oid=uuid.uuid4(), item_name="other")) == [first]
    assert set(data_items_named(oid=first.oid, item_name="nothing")) == {first, other}
    assert list(data_items_named(item_name="other")) == [other]
    assert not data_items_named(item_name="absent").exists()
    assert DataItem.objects.count() == 2
