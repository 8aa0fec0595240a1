"""``data_items_insert`` writes its rows without Django's ``bulk_create`` (a prepared insert, or
PostgreSQL's COPY for many rows): what lands in the table, byte for byte as the database holds it,
is what ``bulk_create`` would have written, for every type of column; and a short insert's
statements go to PostgreSQL together."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection

from audit.models import AuditRecord
from catalogue.models import DataItem
from catalogue.services.data_items import TOGETHER_UP_TO, data_items_insert
from catalogue.services.item_rows import COPY_FROM
from core.actor import acting
from core.errors import ValueAlreadyInDB
from core.events import ITEM_READY, ITEM_REGISTERED
from core.models import OutboxEvent
from tests.factories import make_storage


def _values(storage, name: str) -> dict:
    """A row with a value of every kind: text, enum members, numbers, booleans, uuids, aware
    times, JSON objects and lists, nulls."""
    return {
        "item_name": name,
        "storage_id": storage.storage_id,
        "uri": f"dir/{name}",
        "item_state": "READY",
        "item_type": "container",
        "uid_phase": "LIQUID",
        "oid_phase": "LIQUID",
        "target_phase": "SOLID",
        "item_size": 2**40 + 7,
        "decompressed_size": None,
        "item_level": 3,
        "item_checksum": "d41d8cd98f00b204e9800998ecf8427e",
        "checksum_method": "md5",
        "uid_expiration": datetime(2031, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "last_check": datetime(2026, 12, 7, 12, 0, tzinfo=UTC),
        "parents": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "metadata": {"execution_block": "eb-1", "nested": {"list": [1, 2.5, None, "ü"]}},
        "item_tags": ["a", "b"],
        "hashes": {"md5": "d41d8cd98f00b204e9800998ecf8427e"},
        "lifecycle_hold": True,
    }


def _stored(names: list[str]) -> dict[str, tuple]:
    """Each named row as the database holds it (its raw values), the keys that differ by nature
    (uid, oid, name, uri, creation times) left out."""
    columns = [field.column for field in DataItem._meta.concrete_fields]
    skip = {"uid", "oid", "item_name", "uri", "uid_creation", "oid_creation"}
    kept = [column for column in columns if column not in skip]
    marks = ", ".join(["%s"] * len(names))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT item_name, {', '.join(kept)} FROM data_item WHERE item_name IN ({marks})",  # noqa: S608
            names,
        )
        return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


@pytest.mark.parametrize("count", [1, TOGETHER_UP_TO, 60, COPY_FROM])
def test_inserted_rows_hold_what_bulk_create_writes(db, count):
    storage = make_storage()
    reference = _values(storage, "by-bulk-create")
    DataItem.objects.bulk_create([DataItem(uid=uuid.uuid4(), oid=uuid.uuid4(), **reference)])

    inserted = data_items_insert(rows=[_values(storage, f"by-insert-{n}") for n in range(count)])

    stored = _stored(["by-bulk-create", *(f"by-insert-{n}" for n in range(count))])
    expected = stored.pop("by-bulk-create")
    assert len(stored) == count
    assert all(row == expected for row in stored.values()), (expected, next(iter(stored.values())))
    fetched = DataItem.objects.get(uid=inserted[0].uid)
    assert fetched.metadata == reference["metadata"] and fetched.uid_expiration == reference["uid_expiration"]
    assert fetched.oid == fetched.uid and not inserted[0]._state.adding
    # the objects answered are what the table holds, and work as any row's object
    for item in inserted:
        stored_item = DataItem.objects.get(uid=item.uid)
        for field in DataItem._meta.concrete_fields:
            assert getattr(item, field.attname) == getattr(stored_item, field.attname), field.attname
    assert inserted[0].storage == storage and inserted[0].pk == inserted[0].uid
    inserted[0].item_level = 4
    inserted[0].save(update_fields=["item_level"])
    assert DataItem.objects.get(uid=inserted[0].uid).item_level == 4


@pytest.mark.parametrize("count", [1, TOGETHER_UP_TO, 60, COPY_FROM])
def test_each_inserted_row_is_told_registered_and_ready(db, count):
    storage = make_storage()

    inserted = data_items_insert(rows=[_values(storage, f"told-{n}") for n in range(count)])

    events = list(OutboxEvent.objects.filter(subjects__storage_id=str(storage.storage_id)).order_by("id"))
    assert [event.event_type for event in events] == [ITEM_REGISTERED, ITEM_READY] * count
    first = events[0]
    assert first.state == "pending" and first.attempts == 0 and first.created_at is not None
    assert first.subjects == {"uid": str(inserted[0].uid), "oid": str(inserted[0].oid), "storage_id": str(storage.pk)}
    assert first.payload["item_size"] == 2**40 + 7
    assert first.payload["uid_expiration"] == "2031-01-02T03:04:05.678Z"
    assert first.payload["parents"] == "12345678-1234-5678-1234-567812345678"
    assert first.payload == events[1].payload


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_short_insert_sends_its_writes_together_and_a_taken_name_leaves_nothing():
    """As a request's registration runs (outside any transaction), the row, its audit record and
    its events go to PostgreSQL in one pipeline, and what runs after the commit (the outbox relay's
    task) outside it. A name taken on the storage is found only when the answers come back: it is
    still the clear refusal, nothing of that insert remains, and the next insert works."""
    storage = make_storage()
    pipelined = []

    def watch(execute, sql, params, many, context):
        raw = connection.connection
        pipelined.append((getattr(raw, "_pipeline", None) is not None, sql))
        return execute(sql, params, many, context)

    with acting(username="pipe", user_id=None, auth="token", via="api", operation="register_data_item"):
        with connection.execute_wrapper(watch):
            first = data_items_insert(rows=[_values(storage, "taken")])[0]
        for _ in range(6):
            with pytest.raises(ValueAlreadyInDB, match="Item is already registered on storage! taken"):
                data_items_insert(rows=[_values(storage, "taken")])
        second = data_items_insert(rows=[_values(storage, "free")])[0]

    if connection.vendor == "postgresql":
        tables = ("INSERT INTO data_item", "INSERT INTO audit_record", 'INSERT INTO "core_outboxevent"')
        writes = [joined for joined, sql in pipelined if sql.startswith(tables)]
        assert len(writes) == 3 and all(writes), pipelined  # the row, its audit record, its events
        assert not any(joined for joined, sql in pipelined if "django_q_ormq" in sql), pipelined
    assert list(DataItem.objects.filter(storage=storage).values_list("uid", flat=True).order_by("item_name")) == [
        second.uid,
        first.uid,
    ]
    assert OutboxEvent.objects.filter(subjects__storage_id=str(storage.storage_id)).count() == 4
    recorded = AuditRecord.objects.filter(username="pipe", object_type="data_item")
    assert sorted(recorded.values_list("object_id", flat=True)) == sorted([str(first.uid), str(second.uid)])
