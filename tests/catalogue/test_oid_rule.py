"""The oid rule of ``services.data_item_insert`` (upstream's ``sync_oid_uid`` trigger, contract §4.4)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from catalogue import services
from catalogue.models import DataItem
from core.errors import UnmetPreconditionForOperation, ValueAlreadyInDB
from tests.factories import make_item, make_storage

pytestmark = pytest.mark.django_db


def test_first_copy_starts_a_new_object_whose_oid_is_its_uid():
    item = services.data_item_insert(fields={"item_name": "first"})

    stored = DataItem.objects.get(uid=item.uid)
    assert stored.oid == stored.uid
    assert stored.oid_creation == stored.uid_creation
    assert stored.oid_creation is not None


def test_explicit_null_oid_starts_a_new_object():
    item = services.data_item_insert(fields={"item_name": "first", "oid": None})

    stored = DataItem.objects.get(uid=item.uid)
    assert stored.oid == stored.uid
    assert stored.oid_creation == stored.uid_creation


def test_oid_creation_given_without_oid_is_replaced_by_the_creation_time():
    item = services.data_item_insert(fields={"item_name": "first", "oid_creation": datetime(2001, 1, 1, tzinfo=UTC)})

    stored = DataItem.objects.get(uid=item.uid)
    assert stored.oid_creation == stored.uid_creation
    assert stored.oid_creation.year != 2001


def test_copy_given_the_root_uid_joins_the_root_object():
    root = make_item(make_storage())

    copy = services.data_item_insert(fields={"item_name": root.item_name, "oid": root.uid})

    stored = DataItem.objects.get(uid=copy.uid)
    assert stored.uid != root.uid
    assert stored.oid == root.uid
    assert stored.oid_creation == root.oid_creation
    assert stored.uid_creation >= root.uid_creation


def test_copy_given_the_uid_of_a_non_root_copy_gets_the_root_oid():
    root = make_item(make_storage())
    first_copy = make_item(make_storage(), oid=root.uid)
    assert first_copy.oid == root.uid

    second_copy = services.data_item_insert(fields={"item_name": "x", "oid": first_copy.uid})

    stored = DataItem.objects.get(uid=second_copy.uid)
    assert stored.oid == root.uid
    assert stored.oid != first_copy.uid
    assert stored.oid_creation == DataItem.objects.get(uid=root.uid).oid_creation


def test_copies_of_copies_all_share_the_root_object():
    root = make_item()
    previous = root
    for _ in range(3):
        previous = make_item(oid=previous.uid)

    oids = set(DataItem.objects.values_list("oid", flat=True))
    assert oids == {root.uid}
    assert DataItem.objects.count() == 4
    creations = set(DataItem.objects.values_list("oid_creation", flat=True))
    assert creations == {DataItem.objects.get(uid=root.uid).oid_creation}


def test_unknown_oid_is_kept_and_oid_creation_stays_null():
    unknown = uuid.uuid4()

    item = services.data_item_insert(fields={"item_name": "orphan", "oid": unknown})

    stored = DataItem.objects.get(uid=item.uid)
    assert stored.oid == unknown
    assert stored.oid_creation is None


def test_oid_of_an_object_whose_root_row_was_deleted_is_kept_with_null_oid_creation():
    root = make_item()
    copy = make_item(oid=root.uid)
    root_uid = root.uid
    DataItem.objects.filter(uid=root_uid).delete()

    # The root uid (the object's oid) no longer names a row: it is kept as given.
    late_copy = services.data_item_insert(fields={"item_name": "late", "oid": root_uid})

    stored = DataItem.objects.get(uid=late_copy.uid)
    assert stored.oid == root_uid
    assert stored.oid_creation is None
    # Passing the surviving copy's uid still finds the object and its creation time.
    via_copy = services.data_item_insert(fields={"item_name": "via-copy", "oid": copy.uid})
    assert DataItem.objects.get(uid=via_copy.uid).oid_creation == copy.oid_creation


def test_uid_creation_is_always_set_by_the_server():
    before = timezone.now()

    item = services.data_item_insert(
        fields={"item_name": "backdated", "uid_creation": datetime(2000, 1, 1, tzinfo=UTC)}
    )

    after = timezone.now()
    stored = DataItem.objects.get(uid=item.uid)
    assert before <= stored.uid_creation <= after
    assert stored.oid_creation == stored.uid_creation


def test_uid_creation_of_a_copy_is_its_own_not_the_roots():
    root = make_item(uid_creation=timezone.now() - timedelta(days=3))
    assert timezone.now() - root.uid_creation < timedelta(minutes=1)

    copy = make_item(oid=root.uid)

    stored = DataItem.objects.get(uid=copy.uid)
    assert stored.uid_creation >= root.uid_creation
    assert stored.oid_creation == root.uid_creation


def test_absent_columns_take_defaults_and_explicit_nulls_are_stored_as_null():
    defaulted = services.data_item_insert(fields={"item_name": "defaults"})
    nulled = services.data_item_insert(fields={"item_name": "nulls", "item_owner": None, "uid_expiration": None})

    defaulted.refresh_from_db()
    nulled.refresh_from_db()
    assert defaulted.item_owner == "SKA"
    assert defaulted.uid_expiration is not None
    assert nulled.item_owner is None
    assert nulled.uid_expiration is None


def test_same_name_on_the_same_storage_is_refused_and_nothing_is_inserted():
    storage = make_storage()
    make_item(storage, item_name="dup")

    with pytest.raises(ValueAlreadyInDB, match="Item is already registered on storage! dup"):
        services.data_item_insert(fields={"item_name": "dup", "storage_id": storage.storage_id})

    assert DataItem.objects.filter(item_name="dup").count() == 1


def test_same_name_is_allowed_on_other_storages_and_without_storage():
    make_item(make_storage(), item_name="shared")
    make_item(make_storage(), item_name="shared")
    make_item(item_name="shared")
    make_item(item_name="shared")

    assert DataItem.objects.filter(item_name="shared").count() == 4


def test_unknown_storage_is_refused_and_nothing_is_inserted():
    with pytest.raises(UnmetPreconditionForOperation):
        services.data_item_insert(fields={"item_name": "lost", "storage_id": uuid.uuid4()})

    assert not DataItem.objects.exists()


# --- many rows at once (on PostgreSQL, 100 rows and more go in by COPY) ---------------------------


def test_many_rows_at_once_keep_every_column_the_oid_rule_and_the_audit_trail():
    from audit.models import AuditRecord
    from core.actor import acting

    storage = make_storage()
    known = make_item(storage, item_name="known")
    rows = [
        {
            "item_name": f"eb/{n}.fits",
            "storage_id": storage.storage_id,
            "uri": f"eb/{n}.fits",
            "item_size": n,
            "metadata": {"n": n, "tags": ["a"]},
            "hashes": {"md5": f"{n:032x}"},
            "item_state": "READY",
            **({"oid": known.uid} if n == 7 else {}),
        }
        for n in range(150)
    ]
    with acting(username="bulk", user_id=None, auth="token", via="api", operation="register_data_items"):
        items = services.data_items_insert(rows=rows)
    stored = {item.item_name: item for item in DataItem.objects.filter(item_name__startswith="eb/")}
    assert len(stored) == 150 and [item.uid for item in items] == [stored[row["item_name"]].uid for row in rows]
    sample = stored["eb/42.fits"]
    assert (sample.item_size, sample.metadata, sample.hashes) == (42, {"n": 42, "tags": ["a"]}, {"md5": f"{42:032x}"})
    assert sample.item_state == "READY" and sample.oid == sample.uid and sample.uid_creation is not None
    assert stored["eb/7.fits"].oid == known.oid  # joins the known copy's object
    records = AuditRecord.objects.filter(object_type="data_item", action="create", username="bulk")
    assert records.count() == 150
    assert records.get(object_id=str(sample.uid)).changes["item_name"] == "eb/42.fits"


def test_a_taken_name_among_many_rows_writes_none_of_them():
    storage = make_storage()
    make_item(storage, item_name="eb/99.fits")
    rows = [{"item_name": f"eb/{n}.fits", "storage_id": storage.storage_id} for n in range(150)]
    with pytest.raises(ValueAlreadyInDB, match="eb/99.fits"):
        services.data_items_insert(rows=rows)
    assert DataItem.objects.filter(storage=storage).count() == 1
