"""``storage_find_for_item``: the storage a registration names, whether the item's name is taken
there and its first rclone config, read in one statement, as the three separate reads answered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalogue.models import DataItem, StorageConfig
from catalogue.services.ingest import _names_registered
from catalogue.services.storages import storage_find, storage_find_for_item, storage_remote
from core.errors import UnmetPreconditionForOperation
from tests.factories import make_item, make_storage

pytestmark = pytest.mark.django_db


def _config(storage, name: str, *, age_days: int, **extra) -> StorageConfig:
    config = StorageConfig.objects.create(
        storage=storage, config={"name": name, "type": "s3", **extra}, secrets=[[["secret_access_key"], f"k-{name}"]]
    )
    StorageConfig.objects.filter(pk=config.pk).update(config_date=timezone.now() - timedelta(days=age_days))
    return config


@pytest.mark.parametrize("by", ["name", "id"])
def test_it_answers_what_the_three_reads_answer_in_one_statement(by):
    storage = make_storage(storage_name="st", storage_capacity=10**12, storage_phase="LIQUID")
    _config(storage, "newer", age_days=1, endpoint="http://newer")
    _config(storage, "older", age_days=3, endpoint="http://older")
    make_storage(storage_name="other")
    make_item(storage, item_name="taken")
    key = {"storage_name": "st"} if by == "name" else {"storage_id": storage.storage_id}

    with CaptureQueriesContext(connection) as statements:
        free = storage_find_for_item(**key, item_name="free", with_remote=True)
    taken = storage_find_for_item(**key, item_name="taken", with_remote=True)

    assert len(statements.captured_queries) == 1
    found = storage_find(**key)
    assert [getattr(free.storage, f.attname) for f in found._meta.concrete_fields] == [
        getattr(found, f.attname) for f in found._meta.concrete_fields
    ]
    assert not free.storage._state.adding and free.storage.storage_capacity == 10**12
    assert (free.name_taken, taken.name_taken) == (False, True)
    # the first config by date, its secret decrypted only when asked for, as storage_remote gives it
    assert "k-older" not in repr(free)
    assert (
        free.remote()
        == storage_remote(storage)
        == {
            "name": "older",
            "type": "s3",
            "endpoint": "http://older",
            "secret_access_key": "k-older",
        }
    )


def test_without_the_remote_no_config_is_read_and_a_name_on_another_storage_is_not_taken():
    storage = make_storage(storage_name="st")
    _config(storage, "only", age_days=1)
    make_item(make_storage(storage_name="elsewhere"), item_name="there")

    found = storage_find_for_item(storage_name="st", item_name="there", with_remote=False)

    assert found.storage.storage_id == storage.storage_id and found.name_taken is False
    assert found.config is None and found.secrets_token is None


def test_an_unknown_storage_is_none_and_a_storage_without_config_is_refused_as_before():
    make_storage(storage_name="bare")

    assert storage_find_for_item(storage_name="nowhere", item_name="x", with_remote=True) is None
    assert storage_find_for_item(item_name="x", with_remote=True) is None
    found = storage_find_for_item(storage_name="bare", item_name="x", with_remote=True)
    with pytest.raises(UnmetPreconditionForOperation, match="No valid configuration for storage found: bare"):
        found.remote()


def _plans_before_analysis(call) -> list[str]:
    """The data_item scans of the plan of each statement ``call`` runs, on a table PostgreSQL has
    not analysed yet (as a new catalogue's, while it registers; its statistics are removed here,
    and put back when the test's transaction is rolled back)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM pg_statistic WHERE starelid = 'data_item'::regclass")
        cursor.execute("UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = 'data_item'::regclass")
        with CaptureQueriesContext(connection) as statements:
            call()
        scans = []
        for statement in statements.captured_queries:
            cursor.execute("EXPLAIN " + statement["sql"])
            scans += [row for (row,) in cursor.fetchall() if "on data_item" in row]
    return scans


NAME_INDEXES = ("data_item_name_pattern", "data_item_unique_name_per_storage")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
@pytest.mark.parametrize("check", ["one item", "a bulk"])
def test_the_name_check_reads_the_names_index_before_the_table_is_analysed(check):
    """Before PostgreSQL has first analysed a new table, the check of whether names are taken on a
    storage must still go by the names, not read every item of the storage."""
    storage = make_storage(storage_name="busy")
    DataItem.objects.bulk_create(
        [DataItem(item_name=f"n{n}", uri=f"n{n}", storage=storage) for n in range(2000)], batch_size=1000
    )
    if check == "one item":
        scans = _plans_before_analysis(
            lambda: storage_find_for_item(storage_name="busy", item_name="n7", with_remote=False)
        )
    else:
        scans = _plans_before_analysis(lambda: _names_registered(storage, {"n7", "n8", "new"}))
    by_index = [scan for scan in scans if "Index" in scan]  # a bitmap heap scan's line names none
    assert by_index and all(any(index in scan for index in NAME_INDEXES) for scan in by_index), scans
    assert not any("Seq Scan" in scan for scan in scans), scans
