"""The cached-SQL road for simple querysets gives exactly what the ORM gives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from catalogue.models import DataItem, Location, Storage
from catalogue.rows import DATA_ITEM_COLUMNS, LOCATION_COLUMNS, STORAGE_COLUMNS
from core.fastsql import simple_sql
from core.rows import orm_rows, rows
from tests.factories import make_item, make_storage

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue():
    storages = [make_storage(), make_storage()]
    items = []
    for n in range(12):
        item = make_item(storages[n % 2], item_state="READY" if n % 3 else "DELETED", metadata={"n": n},
                         item_size=2**40 + n, item_tags=None if n % 2 else {"t": n})  # fmt: skip
        items.append(item)
    make_item(None, item_name="no-storage")
    return storages, items


def _querysets(storages, items):
    now = timezone.now()
    return [
        DataItem.objects.all(),
        DataItem.objects.filter(uid=items[3].uid),
        DataItem.objects.filter(oid=items[4].oid),
        DataItem.objects.filter(item_name=items[5].item_name),
        DataItem.objects.filter(storage_id=storages[0].storage_id, item_state="READY"),
        DataItem.objects.filter(storage__isnull=True),
        DataItem.objects.filter(item_state="READY", uid_expiration__lt=now + timedelta(days=2)),
        DataItem.objects.filter(uid_creation__gt=now - timedelta(days=1), uid_phase="GAS"),
        DataItem.objects.all()[3:7],
        DataItem.objects.filter(item_state="READY")[:2],
        DataItem.objects.order_by("-item_size", "uid")[:5],
    ]


def test_simple_querysets_take_the_fast_road_and_match_the_orm(catalogue):
    for queryset in _querysets(*catalogue):
        assert simple_sql(queryset, [a for _, a in DATA_ITEM_COLUMNS]) is not None, str(queryset.query)
        assert rows(queryset, DATA_ITEM_COLUMNS) == orm_rows(queryset, DATA_ITEM_COLUMNS)


def test_column_subsets_without_the_key_match_the_orm(catalogue):
    subset = [("item_name", "item_name"), ("storage_id", "storage_id"), ("uri", "uri")]
    queryset = DataItem.objects.filter(item_state="READY")
    assert rows(queryset, subset) == orm_rows(queryset, subset)
    assert all(set(row) == {"item_name", "storage_id", "uri"} for row in rows(queryset, subset))


def test_locations_and_storages_match_the_orm(catalogue):
    assert rows(Location.objects.all(), LOCATION_COLUMNS) == orm_rows(Location.objects.all(), LOCATION_COLUMNS)
    assert rows(Storage.objects.all(), STORAGE_COLUMNS) == orm_rows(Storage.objects.all(), STORAGE_COLUMNS)


@pytest.mark.parametrize(
    "build",
    [
        lambda: DataItem.objects.filter(metadata={"n": 1}),  # JSON comparison: the database's own rules
        lambda: DataItem.objects.filter(item_name__startswith="item"),
        lambda: DataItem.objects.exclude(item_state="READY"),
        lambda: DataItem.objects.filter(storage__storage_name="x"),  # a join
        lambda: DataItem.objects.none(),
    ],
)
def test_other_querysets_take_the_orm_road(catalogue, build):
    queryset = build()
    assert simple_sql(queryset, ["uid"]) is None
    assert rows(queryset, DATA_ITEM_COLUMNS) == orm_rows(queryset, DATA_ITEM_COLUMNS)


def test_exists_agrees_with_the_orm(catalogue):
    from core import fastsql

    storages, items = catalogue
    for queryset in [*_querysets(storages, items), DataItem.objects.filter(item_name="nothing-like-this")]:
        assert fastsql.exists(queryset) == queryset.exists()
    assert fastsql.exists(DataItem.objects.filter(metadata={"n": 1})) is True  # not simple: the ORM answers
