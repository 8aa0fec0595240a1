"""``core.fastsql.fetch`` gives exactly what the ORM gives for every queryset shape it takes, and
None (the ORM's road) for every other; ``core.rows.rows`` gives the same rows either way."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.db.models import F, Q, Value
from django.utils import timezone

from catalogue.models import DataItem, Location, Storage
from catalogue.rows import DATA_ITEM_COLUMNS, DATA_ITEM_FIELDS, LOCATION_COLUMNS, STORAGE_COLUMNS
from core.fastsql import exists, fetch
from core.rows import orm_rows, rows
from tests.factories import make_item, make_location, make_storage

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
COLUMNS = {DataItem: DATA_ITEM_COLUMNS, Storage: STORAGE_COLUMNS, Location: LOCATION_COLUMNS}


@pytest.fixture
def catalogue():
    storages = [make_storage(storage_capacity=2**50), make_storage(location=make_location(location_city="Perth"))]
    Storage.objects.filter(pk=storages[0].pk).update(storage_use_pct=Decimal("12.5"), storage_checked=True)
    items = []
    for n in range(12):
        item = make_item(storages[n % 2], item_state="READY" if n % 3 else "DELETED", metadata={"n": n},
                         item_size=2**40 + n, item_tags=None if n % 2 else {"t": n})  # fmt: skip
        items.append(item)
    DataItem.objects.filter(pk=items[5].pk).update(last_access=timezone.now(), deleted=True)
    make_item(None, item_name="no-storage")
    return storages, items


def _same(queryset, attrs: list[str]) -> None:
    """fetch answers, with the values and the types of ``values_list``."""
    expected = list(queryset.values_list(*attrs))
    found = fetch(queryset, attrs)
    assert found is not None, str(queryset.query)
    assert found == expected
    assert [[type(value) for value in record] for record in found] == [
        [type(value) for value in record] for record in expected
    ]


SUPPORTED = {
    "all": lambda s, i, now: DataItem.objects.all(),
    "uid": lambda s, i, now: DataItem.objects.filter(uid=i[3].uid),
    "uid as text": lambda s, i, now: DataItem.objects.filter(uid=str(i[3].uid)),
    "oid": lambda s, i, now: DataItem.objects.filter(oid=i[4].oid),
    "item_name": lambda s, i, now: DataItem.objects.filter(item_name=i[5].item_name),
    "storage and state": lambda s, i, now: DataItem.objects.filter(storage_id=s[0].storage_id, item_state="READY"),
    "storage instance": lambda s, i, now: DataItem.objects.filter(storage=s[1]),
    "no storage": lambda s, i, now: DataItem.objects.filter(storage__isnull=True),
    "some storage": lambda s, i, now: DataItem.objects.filter(storage__isnull=False),
    "null column": lambda s, i, now: DataItem.objects.filter(last_access__isnull=True),
    "not null column": lambda s, i, now: DataItem.objects.filter(last_access__isnull=False),
    "expired by now": lambda s, i, now: DataItem.objects.filter(item_state="READY", uid_expiration__lt=now + DAY),
    "created since": lambda s, i, now: DataItem.objects.filter(uid_creation__gt=now - DAY, uid_phase="GAS"),
    "size range": lambda s, i, now: DataItem.objects.filter(item_size__gte=2**40 + 3, item_size__lte=2**40 + 8),
    "boolean": lambda s, i, now: DataItem.objects.filter(deleted=False),
    "uids in a list": lambda s, i, now: DataItem.objects.filter(uid__in=[i[1].uid, i[6].uid, None, i[1].uid]),
    "uids in a list, as text": lambda s, i, now: DataItem.objects.filter(uid__in=[str(i[2].uid), str(i[3].uid)]),
    "states in a set, and a size": lambda s, i, now: DataItem.objects.filter(
        item_state__in={"READY", "DELETED"}, item_size__gte=2**40 + 5
    ),
    "a page": lambda s, i, now: DataItem.objects.all()[3:7],
    "first page": lambda s, i, now: DataItem.objects.filter(item_state="READY")[:2],
    "the API's page": lambda s, i, now: DataItem.objects.filter(item_name=i[2].item_name)[0:1000],
    "descending": lambda s, i, now: DataItem.objects.order_by("-item_size", "uid")[:5],
    "by a foreign key's column": lambda s, i, now: DataItem.objects.order_by("storage_id", "uid"),
    "unordered, one row": lambda s, i, now: DataItem.objects.filter(uid=i[7].uid).order_by(),
    "storages": lambda s, i, now: Storage.objects.all(),
    "decimal below": lambda s, i, now: Storage.objects.filter(storage_use_pct__lt=Decimal("50")),
    "decimal equal": lambda s, i, now: Storage.objects.filter(storage_use_pct=Decimal("12.5")),
    "locations": lambda s, i, now: Location.objects.all(),
    "location by city": lambda s, i, now: Location.objects.filter(location_city="Perth"),
}  # fmt: skip


@pytest.mark.parametrize("build", SUPPORTED.values(), ids=SUPPORTED.keys())
def test_supported_shapes_give_what_the_orm_gives(catalogue, build):
    queryset = build(*catalogue, timezone.now())
    columns = COLUMNS[queryset.model]
    _same(queryset, [attr for _, attr in columns])
    assert rows(queryset, columns) == orm_rows(queryset, columns)


def test_exists_answers_what_the_orm_answers_on_both_roads(catalogue):
    now = timezone.now()
    simple = [build(*catalogue, now) for build in SUPPORTED.values()]
    for queryset in [*simple, DataItem.objects.filter(item_name="nothing-like-this")]:
        assert exists(queryset) == queryset.exists(), queryset.query
    for build in FALLBACK.values():
        queryset = build()
        if not queryset.query.combinator:  # exists() after union() is not allowed
            assert exists(queryset) == queryset.exists(), queryset.query


def test_one_shape_answers_each_call_with_its_own_values(catalogue):
    storages, items = catalogue
    for item in items:
        _same(DataItem.objects.filter(uid=item.uid)[0:1000], DATA_ITEM_FIELDS)
        _same(DataItem.objects.filter(item_name=item.item_name, item_state=item.item_state)[:1], ["uid"])
    _same(DataItem.objects.filter(uid=items[0].uid, storage_id=storages[1].storage_id), ["uid"])  # no row
    for count in (1, 2, 3, 2, 1):  # a statement per count of values, each with this call's values
        _same(DataItem.objects.filter(uid__in=[item.uid for item in items[count : 2 * count]]), DATA_ITEM_FIELDS)


def test_column_subsets_relations_by_name_and_repeats_give_what_the_orm_gives(catalogue):
    queryset = DataItem.objects.filter(item_state="READY")
    _same(queryset, ["item_name", "storage_id", "uri"])
    _same(queryset, ["storage", "uid", "uid"])
    _same(Location.objects.all(), ["location_facility", "location_facility_id"])
    subset = [("item_name", "item_name"), ("storage_id", "storage_id"), ("uri", "uri")]
    assert rows(queryset, subset) == orm_rows(queryset, subset)
    assert all(set(row) == {"item_name", "storage_id", "uri"} for row in rows(queryset, subset))


def test_rows_carry_upstream_json_forms(catalogue):
    storages, items = catalogue
    (item,) = rows(DataItem.objects.filter(uid=items[4].uid), DATA_ITEM_COLUMNS)
    assert item["uid"] == str(items[4].uid) and item["storage_id"] == str(storages[0].storage_id)
    assert item["item_size"] == 2**40 + 4 and type(item["item_size"]) is int
    assert item["item_tags"] == {"t": 4} and item["metadata"] == {"n": 4}
    assert item["deleted"] is False and item["last_access"] is None
    created = items[4].uid_creation.astimezone(UTC).replace(tzinfo=None)
    assert item["uid_creation"] == created.isoformat()
    (storage,) = rows(Storage.objects.filter(pk=storages[0].pk), STORAGE_COLUMNS)
    assert storage["storage_use_pct"] == 12.5 and type(storage["storage_use_pct"]) is float
    assert storage["storage_capacity"] == 2**50 and storage["storage_checked"] is True


FALLBACK = {
    "JSON comparison": lambda: DataItem.objects.filter(metadata={"n": 1}),  # the database's own JSON rules
    "prefix": lambda: DataItem.objects.filter(item_name__startswith="item"),
    "case-insensitive": lambda: DataItem.objects.filter(item_name__iexact="ITEM-1"),
    "exclude": lambda: DataItem.objects.exclude(item_state="READY"),
    "or": lambda: DataItem.objects.filter(Q(item_state="DELETED") | Q(item_size=2**40 + 1)),
    "in, nothing but None": lambda: DataItem.objects.filter(uid__in=[None]),
    "in, empty": lambda: DataItem.objects.filter(item_state__in=[]),
    "in, a subquery": lambda: DataItem.objects.filter(uid__in=DataItem.objects.filter(deleted=True).values("uid")),
    "in, a long list": lambda: DataItem.objects.filter(uid__in=[uuid.uuid4() for _ in range(65)]),
    "in, on a relation": lambda: DataItem.objects.filter(storage_id__in=[uuid.uuid4()]),
    "column against column": lambda: DataItem.objects.filter(item_size__gt=F("item_level")),
    "transform": lambda: DataItem.objects.filter(uid_creation__year=timezone.now().year),
    "a join": lambda: DataItem.objects.filter(storage__storage_name="x"),
    "nothing": lambda: DataItem.objects.none(),
    "reversed": lambda: DataItem.objects.reverse()[:5],
    "ordered by a relation": lambda: DataItem.objects.order_by("storage", "uid"),  # the storage's name: a join
    "offset without limit": lambda: DataItem.objects.all()[3:],
    "annotated": lambda: DataItem.objects.annotate(one=Value(1)),
    "distinct": lambda: DataItem.objects.distinct(),
    "select_related": lambda: DataItem.objects.select_related("storage"),
    "extra ordering": lambda: DataItem.objects.extra(order_by=["-item_name"]),
    "extra condition": lambda: DataItem.objects.extra(where=["item_size > 0"]),
    "union": lambda: (
        DataItem.objects.filter(item_state="READY")
        .order_by()
        .union(DataItem.objects.filter(deleted=True).order_by())
        .order_by("uid")
    ),
    "for update": lambda: DataItem.objects.select_for_update().filter(item_state="READY"),
}


@pytest.mark.parametrize("build", FALLBACK.values(), ids=FALLBACK.keys())
def test_other_shapes_take_the_orm_road(catalogue, build):
    queryset = build()
    assert fetch(queryset, ["uid"]) is None
    assert rows(queryset, DATA_ITEM_COLUMNS) == orm_rows(queryset, DATA_ITEM_COLUMNS)


def test_columns_that_are_not_the_models_own_take_the_orm_road(catalogue):
    queryset = DataItem.objects.filter(item_state="READY")
    assert fetch(queryset, ["storage__storage_name"]) is None
    assert fetch(queryset, []) is None
    columns = [("item_name", "item_name"), ("storage_name", "storage__storage_name")]
    assert rows(queryset, columns) == orm_rows(queryset, columns)
    assert fetch(DataItem.objects.order_by("?"), ["uid"]) is None
