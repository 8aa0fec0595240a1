"""SQL statements per request of the hot operations: registering one item or many (against a real
local directory, through rclone), looking items up, querying locations, setting a state and
asking for a copy. Each runs a fixed number of statements, whatever the number of rows it
touches or returns: a change that queries once per row (N+1) fails here.

The statements counted are those Django runs (``CaptureQueriesContext``); a PostgreSQL ``COPY``
(a large bulk registration's rows and events) goes past it, so a larger batch may count fewer."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalogue.models import DataItem, Location, Storage, StorageConfig
from tests.conftest import Api
from tests.factories import make_item, make_location, make_storage

# What each operation runs now (the larger of SQLite's and PostgreSQL's count); a change that needs
# more should say why here.
# storage, name free? and rclone config in one statement; the item, its audit record, its 2 events; commit
REGISTER_ONE = 6
REGISTER_MANY = 8  # the same for any number of items (one listing through rclone)
QUERY_ITEM = 1  # the token is remembered for DLM_AUTH_CACHE_SECONDS
QUERY_LOCATION = 1
SET_STATE = 20  # the state guards, the objects' phases and the lifecycle's marks, in savepoints
COPY_REQUEST = 21


def _statements(call) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = call()
    return response, [query["sql"] for query in captured.captured_queries]


def _ok(response) -> object:
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def disk(db, tmp_path) -> tuple[Storage, Path]:
    """A storage over a real directory (rclone's local backend) holding 1,000 small files."""
    root = tmp_path / "disk"
    root.mkdir()
    for n in range(1000):
        (root / f"f{n}.bin").write_bytes(b"x" * (n % 50 + 1))
    storage = make_storage(storage_name="disk", root_directory=str(root))
    StorageConfig.objects.create(
        storage=storage, config={"name": "disk", "type": "local", "root_path": "/"}, secrets=[]
    )
    return storage, root


def _register(api: Api, n: int):
    query = {"item_name": f"one/f{n}.bin", "uri": f"f{n}.bin", "storage_name": "disk"}
    return api.post("/ingest/register_data_item", {**query, "do_storage_access_check": "true"})


def _register_many(api: Api, first: int, count: int):
    items = [{"item_name": f"many/f{n}.bin", "uri": f"f{n}.bin"} for n in range(first, first + count)]
    return api.post("/ingest/register_data_items", {"storage_name": "disk", "do_storage_access_check": "true"}, items)


def test_a_checked_registration_runs_a_fixed_number_of_statements(api, disk):
    _ok(_register(api, 0))  # the first call of a process sets things up (the rclone daemon)

    counts = []
    for n in range(1, 4):
        response, statements = _statements(lambda n=n: _register(api, n))
        _ok(response)
        counts.append(len(statements))

    assert counts == [counts[0]] * 3, counts
    assert counts[0] <= REGISTER_ONE, statements
    assert DataItem.objects.filter(item_name__startswith="one/", last_check__isnull=False).count() == 4


def test_a_bulk_registration_runs_as_many_statements_for_100_items_as_for_10(api, disk):
    _ok(_register_many(api, 0, 1))

    ten, statements_ten = _statements(lambda: _register_many(api, 1, 10))
    hundred, statements_hundred = _statements(lambda: _register_many(api, 11, 100))
    thousand, statements_thousand = _statements(lambda: _register_many(api, 111, 889))

    assert len(_ok(ten)) == 10 and len(_ok(hundred)) == 100 and len(_ok(thousand)) == 889
    assert len(statements_ten) <= REGISTER_MANY, statements_ten
    assert len(statements_hundred) <= len(statements_ten), statements_hundred
    assert len(statements_thousand) == len(statements_hundred), statements_thousand
    assert DataItem.objects.filter(item_name__startswith="many/").count() == 1000


@pytest.mark.parametrize("key", ["item_name", "uid", "oid"])
def test_a_lookup_runs_as_many_statements_for_five_copies_as_for_one(api, key):
    storages = [make_storage() for _ in range(5)]
    single = make_item(storages[0], item_name="single", item_state="READY")
    first = make_item(storages[0], item_name="many", item_state="READY")
    for storage in storages[1:]:
        make_item(storage, item_name="many", oid=first.oid, item_state="READY")
    value = {"item_name": "{}", "uid": "{.uid}", "oid": "{.oid}"}[key]
    _ok(api.get("/request/query_data_item", {key: value.format(single)}))  # this account's token, remembered

    one, statements_one = _statements(
        lambda: api.get("/request/query_data_item", {key: value.format(single) if key != "item_name" else "single"})
    )
    five, statements_five = _statements(
        lambda: api.get("/request/query_data_item", {key: value.format(first) if key != "item_name" else "many"})
    )

    assert len(_ok(one)) == 1
    assert len(_ok(five)) == (1 if key == "uid" else 5)
    assert len(statements_five) == len(statements_one) <= QUERY_ITEM, statements_five


def test_query_location_runs_as_many_statements_for_five_locations_as_for_one(api):
    make_location(location_name="alone")
    _ok(api.get("/storage/query_location", {"location_name": "alone"}))

    one, statements_one = _statements(lambda: api.get("/storage/query_location", {"location_name": "alone"}))
    for _ in range(4):
        make_location()
    every, statements_every = _statements(lambda: api.get("/storage/query_location"))

    assert len(_ok(one)) == 1
    assert len(_ok(every)) == Location.objects.count() >= 5
    assert len(statements_every) == len(statements_one) <= QUERY_LOCATION, statements_every


def test_set_state_runs_a_fixed_number_of_statements(api):
    storage = make_storage()
    items = [make_item(storage, item_state="READY") for _ in range(3)]
    _ok(api.patch("/request/set_state", {"uid": str(items[0].uid), "state": "CORRUPTED"}))

    counts = []
    for item in items[1:]:
        response, statements = _statements(
            lambda item=item: api.patch("/request/set_state", {"uid": str(item.uid), "state": "CORRUPTED"})
        )
        assert response.status_code == 200, response.content
        counts.append(len(statements))

    assert counts[0] == counts[1] <= SET_STATE, statements
    assert DataItem.objects.filter(item_state="CORRUPTED").count() == 3


def test_a_copy_request_runs_a_fixed_number_of_statements(api, disk):
    storage, _ = disk
    destination = make_storage(storage_name="dst", root_directory="/data/dst", storage_phase="LIQUID")
    StorageConfig.objects.create(
        storage=destination, config={"name": "d", "type": "local", "root_path": "/"}, secrets=[]
    )
    sources = [make_item(storage, item_name=f"c{n}", uri=f"f{n}.bin", item_state="READY") for n in range(3)]
    _ok(api.post("/migration/copy_data_item", {"uid": str(sources[0].uid), "destination_name": "dst"}))

    counts = []
    for source in sources[1:]:
        response, statements = _statements(
            lambda source=source: api.post(
                "/migration/copy_data_item", {"uid": str(source.uid), "destination_name": "dst"}
            )
        )
        _ok(response)
        counts.append(len(statements))

    assert counts[0] == counts[1] <= COPY_REQUEST, statements
    assert DataItem.objects.filter(storage=destination).count() == 3


def test_item_storage_by_name_reads_by_the_name_index_not_every_ready_copy(api):
    """SQLite without statistics would answer ``item_name = ? AND item_state = 'READY'`` from a
    state index, reading every READY copy; the lookup goes by the name index (or the key)."""
    storages = [make_storage() for _ in range(3)]
    first = make_item(storages[0], item_name="wanted", item_state="READY")
    make_item(storages[1], item_name="wanted", oid=first.oid, item_state="READY")
    make_item(storages[2], item_name="wanted", oid=first.oid, item_state="CORRUPTED")
    for n in range(50):
        make_item(storages[n % 3], item_name=f"other-{n}", item_state="READY")
    _ok(api.get("/request/query_item_storage", {"item_name": "other-0"}))  # this account's token, remembered

    found, statements = _statements(lambda: api.get("/request/query_item_storage", {"item_name": "wanted"}))

    assert sorted(row["storage_id"] for row in _ok(found)) == sorted(str(s.storage_id) for s in storages[:2])
    assert len(statements) <= 2, statements
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for sql in statements:
                plan = " ".join(str(row) for row in cursor.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall())
                assert "data_item_fixity_due" not in plan and "data_item_state_expiration" not in plan, plan
