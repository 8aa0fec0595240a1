"""The request queries (contract §7.1 R1–R6) and ``query_data_item`` (§7.2 D1)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalogue.models import DataItem
from tests.contract import DATA_ITEM_COLUMNS
from tests.factories import make_item, make_storage

QUERY_DATA_ITEM = "/request/query_data_item"
QUERY_EXISTS = "/request/query_exists"
QUERY_EXIST_AND_READY = "/request/query_exist_and_ready"
QUERY_ITEM_STORAGE = "/request/query_item_storage"
QUERY_EXPIRED = "/request/query_expired"
QUERY_DELETED = "/request/query_deleted"
QUERY_NEW = "/request/query_new"

NO_IDENTIFIER = {
    "exec": "InvalidQueryParameters",
    "message": "Either an item_name or an OID or an UID have to be provided",
}

DATA_ITEM_KEYS = DATA_ITEM_COLUMNS  # contract §4.4, in table order


def ready(storage=None, **fields) -> DataItem:
    return make_item(storage, item_state="READY", **fields)


def naive_utc(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat()


def ordered(*items: DataItem) -> list[str]:
    """The uids in the catalogue's stable order: (uid_creation, uid)."""
    return [str(i.uid) for i in sorted(items, key=lambda i: (i.uid_creation, i.uid))]


def ok(response) -> list | bool:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


def uids(response) -> list[str]:
    return [row["uid"] for row in ok(response)]


def detail(response) -> list[dict]:
    assert response.status_code == 422, response.content
    body = response.json()
    assert set(body) == {"detail"}
    return body["detail"]


def locs(response) -> list[tuple]:
    return [(entry["type"], tuple(entry["loc"])) for entry in detail(response)]


# --- query_data_item ------------------------------------------------------------------------


def test_query_data_item_row_has_exactly_the_contract_columns_in_order(api):
    storage = make_storage()
    item = make_item(storage, item_name="full-row")
    item.refresh_from_db()

    rows = ok(api.get(QUERY_DATA_ITEM, {"uid": str(item.uid)}))

    assert len(rows) == 1
    assert list(rows[0]) == DATA_ITEM_KEYS
    assert rows[0] == {
        "uid": str(item.uid),
        "oid": str(item.uid),
        "item_version": 1,
        "item_name": "full-row",
        "item_tags": None,
        "storage_id": str(storage.storage_id),
        "uri": "inline://item_value",
        "item_value": "",
        "item_type": "file",
        "item_format": "unknown",
        "item_encoding": "unknown",
        "item_mime_type": "application/octet-stream",
        "item_level": -1,
        "uid_phase": "GAS",
        "oid_phase": "GAS",
        "item_state": "INITIALISED",
        "target_phase": "SOLID",
        "uid_creation": naive_utc(item.uid_creation),
        "oid_creation": naive_utc(item.uid_creation),
        "uid_expiration": naive_utc(item.uid_expiration),
        "oid_expiration": "2099-12-31T23:59:59",
        "uid_deletion": None,
        "oid_deletion": None,
        "expired": False,
        "deleted": False,
        "last_access": None,
        "last_check": None,
        "item_checksum": None,
        "checksum_method": "none",
        "item_owner": "SKA",
        "item_group": "SKA",
        "acl": None,
        "activate_method": None,
        "item_size": None,
        "decompressed_size": None,
        "compression_method": None,
        "parents": None,
        "children": None,
        "metadata": None,
    }


def test_query_data_item_timestamps_are_naive_utc_text(api):
    expiry = datetime(2031, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
    item = make_item(uid_expiration=expiry)

    row = ok(api.get(QUERY_DATA_ITEM, {"uid": str(item.uid)}))[0]

    assert row["uid_expiration"] == "2031-03-04T05:06:07.890000"
    for key in ("uid_creation", "oid_creation", "uid_expiration", "oid_expiration"):
        assert "+" not in row[key] and not row[key].endswith("Z")
        assert datetime.fromisoformat(row[key]).tzinfo is None


def test_query_data_item_uid_wins_over_oid_and_item_name(api):
    a = make_item(item_name="a")
    b = make_item(item_name="b")

    response = api.get(QUERY_DATA_ITEM, {"uid": str(a.uid), "oid": str(b.oid), "item_name": "b"})

    assert uids(response) == [str(a.uid)]


def test_query_data_item_oid_wins_over_item_name(api):
    a = make_item(make_storage(), item_name="a")
    a_copy = make_item(make_storage(), item_name="a-copy", oid=a.uid)
    make_item(item_name="b")

    response = api.get(QUERY_DATA_ITEM, {"oid": str(a.oid), "item_name": "b"})

    assert uids(response) == ordered(a, a_copy)


def test_query_data_item_by_item_name_returns_every_copy_with_that_name(api):
    first = make_item(make_storage(), item_name="same")
    second = make_item(make_storage(), item_name="same", item_state="READY")
    make_item(item_name="other")

    assert uids(api.get(QUERY_DATA_ITEM, {"item_name": "same"})) == ordered(first, second)


def test_query_data_item_by_uid_that_matches_nothing_is_empty(api):
    make_item()

    assert ok(api.get(QUERY_DATA_ITEM, {"uid": str(uuid.uuid4())})) == []


def test_query_data_item_by_unknown_name_is_empty(api):
    make_item(item_name="known")

    assert ok(api.get(QUERY_DATA_ITEM, {"item_name": "unknown"})) == []


def test_query_data_item_storage_id_narrows_an_identifier(api):
    s1, s2 = make_storage(), make_storage()
    make_item(s1, item_name="same")
    on_s2 = make_item(s2, item_name="same")

    response = api.get(QUERY_DATA_ITEM, {"item_name": "same", "storage_id": str(s2.storage_id)})

    rows = ok(response)
    assert [row["uid"] for row in rows] == [str(on_s2.uid)]
    assert rows[0]["storage_id"] == str(s2.storage_id)


def test_query_data_item_storage_id_and_uid_must_both_match(api):
    s1, s2 = make_storage(), make_storage()
    item = make_item(s1)

    assert ok(api.get(QUERY_DATA_ITEM, {"uid": str(item.uid), "storage_id": str(s2.storage_id)})) == []
    assert uids(api.get(QUERY_DATA_ITEM, {"uid": str(item.uid), "storage_id": str(s1.storage_id)})) == [str(item.uid)]


def test_query_data_item_storage_id_alone_lists_that_storage(api):
    s1, s2 = make_storage(), make_storage()
    a = make_item(s1)
    b = make_item(s1, item_state="DELETED")
    make_item(s2)
    make_item()

    assert uids(api.get(QUERY_DATA_ITEM, {"storage_id": str(s1.storage_id)})) == ordered(a, b)


@pytest.mark.parametrize("params", [None, {"item_name": ""}, {"item_name": "", "oid": "", "uid": "", "storage_id": ""}])
def test_query_data_item_without_filter_lists_every_item_in_any_state(api, params):
    items = [make_item(make_storage(), item_state=state) for state in ("INITIALISED", "READY", "DELETED", "EXPIRED")]
    items.append(make_item())

    assert uids(api.get(QUERY_DATA_ITEM, params)) == ordered(*items)


def test_query_data_item_on_an_empty_catalogue_is_empty(api):
    assert ok(api.get(QUERY_DATA_ITEM)) == []


def test_query_data_item_params_filters_by_column(api):
    ready_item = ready(make_storage())
    make_item(make_storage())
    make_item(make_storage(), item_state="DELETED")

    response = api.get(QUERY_DATA_ITEM, {"params": json.dumps({"item_state": "READY"})})

    assert uids(response) == [str(ready_item.uid)]


def test_query_data_item_params_combine_with_identifier_and_storage(api):
    s1, s2 = make_storage(), make_storage()
    wanted = ready(s1, item_name="x", uid_phase="SOLID")
    ready(s2, item_name="x", uid_phase="SOLID")
    make_item(make_storage(), item_name="x", uid_phase="SOLID")
    ready(make_storage(), item_name="x", uid_phase="GAS")
    ready(s1, item_name="y", uid_phase="SOLID")

    by_name = api.get(QUERY_DATA_ITEM, {"item_name": "x", "params": '{"item_state": "READY", "uid_phase": "SOLID"}'})
    by_name_and_storage = api.get(
        QUERY_DATA_ITEM,
        {"item_name": "x", "storage_id": str(s1.storage_id), "params": '{"item_state": "READY"}'},
    )

    assert len(uids(by_name)) == 2
    assert str(wanted.uid) in uids(by_name)
    assert uids(by_name_and_storage) == [str(wanted.uid)]


def test_query_data_item_params_null_storage_finds_items_without_storage(api):
    loose = make_item()
    make_item(make_storage())

    assert uids(api.get(QUERY_DATA_ITEM, {"params": '{"storage_id": null}'})) == [str(loose.uid)]


@pytest.mark.parametrize("column", ["metadata", "item_tags", "acl", "item_owner", "uid_expiration"])
def test_query_data_item_params_null_matches_null_columns_of_any_type(api, column):
    empty = make_item(**{column: None})
    make_item(metadata={"a": 1}, item_tags={"t": 1}, acl={"r": "all"})

    assert uids(api.get(QUERY_DATA_ITEM, {"params": json.dumps({column: None})})) == [str(empty.uid)]


def test_query_data_item_params_matches_json_columns_by_value(api):
    tagged = make_item(metadata={"a": [1, 2], "b": "x"})
    make_item(metadata={"a": [1]})
    make_item()

    # Same key order: SQLite compares JSON text, so a reordered object would not match there.
    response = api.get(QUERY_DATA_ITEM, {"params": json.dumps({"metadata": {"a": [1, 2], "b": "x"}})})

    assert uids(response) == [str(tagged.uid)]


def test_query_data_item_params_by_uuid_and_timestamp_columns(api):
    expiry = datetime(2032, 1, 1, 12, 0, tzinfo=UTC)
    root = make_item(uid_expiration=expiry)
    copy = make_item(oid=root.uid)
    make_item()

    by_oid = api.get(QUERY_DATA_ITEM, {"params": json.dumps({"oid": str(root.uid)})})
    by_expiry = api.get(QUERY_DATA_ITEM, {"params": json.dumps({"uid_expiration": "2032-01-01T14:00:00+02:00"})})

    assert uids(by_oid) == ordered(root, copy)
    assert uids(by_expiry) == [str(root.uid)]


def test_query_data_item_empty_params_is_no_filter(api):
    items = [make_item(), make_item()]

    assert uids(api.get(QUERY_DATA_ITEM, {"params": ""})) == ordered(*items)
    assert uids(api.get(QUERY_DATA_ITEM, {"params": "{}"})) == ordered(*items)


@pytest.mark.parametrize(
    "raw,kind",
    [
        ("{item_state: READY}", "json_invalid"),
        ("not json", "json_invalid"),
        ('["READY"]', "dict_type"),
        ("3", "dict_type"),
    ],
)
def test_query_data_item_params_that_is_not_a_json_object_is_422_naming_params(api, raw, kind):
    make_item()

    response = api.get(QUERY_DATA_ITEM, {"params": raw})

    assert locs(response) == [(kind, ("query", "params"))]
    assert detail(response)[0]["input"] == raw


def test_query_data_item_params_with_unknown_column_is_422_naming_it(api):
    response = api.get(QUERY_DATA_ITEM, {"params": '{"colour": "blue"}'})

    assert detail(response) == [
        {
            "type": "extra_forbidden",
            "loc": ["query", "params", "colour"],
            "msg": "Unknown column 'colour'",
            "input": "blue",
        }
    ]


@pytest.mark.parametrize(
    "raw,loc,kind",
    [
        ("[" * 5000, ["query", "params"], "json_invalid"),
        ('{"metadata": ' + "[" * 200 + "]" * 200 + "}", ["query", "params", "metadata"], "json_invalid"),
        ('{"metadata": {"k": "a\\u0000"}}', ["query", "params", "metadata", "k"], "string_type"),
        ('{"item_name": "a\\u0000"}', ["query", "params", "item_name"], "string_type"),
    ],
    ids=["too-deep-to-parse", "too-deep", "nul-in-json", "nul-in-text"],
)
def test_query_data_item_params_that_no_database_can_take_is_422_naming_it(api, raw, loc, kind):
    make_item()

    entries = detail(api.get(QUERY_DATA_ITEM, {"params": raw}))

    assert [(e["type"], e["loc"]) for e in entries] == [(kind, loc)]


@pytest.mark.parametrize(
    "params,key,kind",
    [
        ({"item_state": "ready"}, "item_state", "enum"),
        ({"uid": "nope"}, "uid", "uuid_parsing"),
        ({"item_size": "big"}, "item_size", "int_type"),
        ({"uid_expiration": "tomorrow"}, "uid_expiration", "datetime_from_date_parsing"),
        ({"expired": "yes"}, "expired", "bool_type"),
    ],
)
def test_query_data_item_params_with_bad_value_is_422_naming_it(api, params, key, kind):
    make_item()

    entries = detail(api.get(QUERY_DATA_ITEM, {"params": json.dumps(params)}))

    assert [(e["type"], e["loc"], e["input"]) for e in entries] == [(kind, ["query", "params", key], params[key])]


@pytest.mark.parametrize("name", ["uid", "oid", "storage_id"])
def test_query_data_item_malformed_uuid_is_422_naming_it(api, name):
    response = api.get(QUERY_DATA_ITEM, {name: "not-a-uuid"})

    assert detail(response) == [
        {"type": "uuid_parsing", "loc": ["query", name], "msg": "Input should be a valid UUID", "input": "not-a-uuid"}
    ]


def test_query_data_item_limit_and_offset_page_through_the_stable_order(api):
    items = [make_item() for _ in range(5)]
    expected = ordered(*items)

    assert uids(api.get(QUERY_DATA_ITEM, {"limit": 2})) == expected[:2]
    assert uids(api.get(QUERY_DATA_ITEM, {"limit": 2, "offset": 2})) == expected[2:4]
    assert uids(api.get(QUERY_DATA_ITEM, {"limit": 2, "offset": 4})) == expected[4:]
    assert uids(api.get(QUERY_DATA_ITEM, {"offset": 3})) == expected[3:]
    assert ok(api.get(QUERY_DATA_ITEM, {"offset": 5})) == []


def test_query_data_item_order_is_by_creation_then_uid(api):
    created = timezone.now()
    items = [make_item() for _ in range(4)]
    # Same creation time for all: the uid breaks the tie.
    DataItem.objects.update(uid_creation=created)

    assert uids(api.get(QUERY_DATA_ITEM)) == sorted(str(i.uid) for i in items)


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_query_data_item_limit_out_of_range_is_422(api, limit):
    assert locs(api.get(QUERY_DATA_ITEM, {"limit": limit})) == [("less_than_equal", ("query", "limit"))]


def test_query_data_item_bad_paging_values_are_422(api):
    assert locs(api.get(QUERY_DATA_ITEM, {"limit": "ten"})) == [("int_parsing", ("query", "limit"))]
    assert locs(api.get(QUERY_DATA_ITEM, {"offset": -1})) == [("greater_than_equal", ("query", "offset"))]
    assert locs(api.get(QUERY_DATA_ITEM, {"offset": 10**23})) == [("less_than_equal", ("query", "offset"))]


def test_query_data_item_is_capped_at_1000_rows_by_default(api):
    now = timezone.now()
    DataItem.objects.bulk_create(
        DataItem(item_name=f"bulk-{n}", uid_creation=now + timedelta(microseconds=n)) for n in range(1001)
    )

    rows = ok(api.get(QUERY_DATA_ITEM))

    assert len(rows) == 1000
    assert rows[0]["item_name"] == "bulk-0"
    assert rows[-1]["item_name"] == "bulk-999"
    assert [row["item_name"] for row in ok(api.get(QUERY_DATA_ITEM, {"offset": 1000}))] == ["bulk-1000"]
    assert len(ok(api.get(QUERY_DATA_ITEM, {"limit": 1000}))) == 1000


def test_query_data_item_cap_follows_the_setting(api, settings):
    settings.DLM_QUERY_LIMIT = 3
    items = [make_item() for _ in range(5)]

    assert uids(api.get(QUERY_DATA_ITEM)) == ordered(*items)[:3]
    assert locs(api.get(QUERY_DATA_ITEM, {"limit": 4})) == [("less_than_equal", ("query", "limit"))]


def test_query_data_item_runs_a_constant_number_of_queries(api, django_assert_max_num_queries):
    storage = make_storage()
    make_item(storage)
    with CaptureQueriesContext(connection) as one_row:
        assert len(ok(api.get(QUERY_DATA_ITEM))) == 1
    for _ in range(49):
        make_item(storage, item_tags={"t": 1}, metadata={"m": 2})

    with django_assert_max_num_queries(len(one_row.captured_queries)):
        rows = ok(api.get(QUERY_DATA_ITEM, {"storage_id": str(storage.storage_id)}))

    assert len(rows) == 50
    assert all(row["storage_id"] == str(storage.storage_id) for row in rows)


def test_query_data_item_repeated_parameter_uses_the_last_value(api):
    make_item(item_name="first")
    last = make_item(item_name="last")

    assert uids(api.get(QUERY_DATA_ITEM, {"item_name": ["first", "last"]})) == [str(last.uid)]


def test_query_data_item_ignores_unknown_parameters(api):
    item = make_item(item_name="x")

    assert uids(api.get(QUERY_DATA_ITEM, {"item_name": "x", "colour": "blue"})) == [str(item.uid)]


# --- query_exists / query_exist_and_ready ---------------------------------------------------


def test_query_exists_by_each_identifier(api):
    item = make_item(item_name="there")

    for params in ({"item_name": "there"}, {"oid": str(item.oid)}, {"uid": str(item.uid)}):
        assert ok(api.get(QUERY_EXISTS, params)) is True
    for params in ({"item_name": "absent"}, {"oid": str(uuid.uuid4())}, {"uid": str(uuid.uuid4())}):
        assert ok(api.get(QUERY_EXISTS, params)) is False


def test_query_exists_uid_wins_over_oid_and_item_name(api):
    item = make_item(item_name="there")

    assert ok(api.get(QUERY_EXISTS, {"uid": str(uuid.uuid4()), "oid": str(item.oid), "item_name": "there"})) is False
    assert ok(api.get(QUERY_EXISTS, {"uid": str(item.uid), "item_name": "absent"})) is True


def test_query_exists_oid_wins_over_item_name(api):
    item = make_item(item_name="there")

    assert ok(api.get(QUERY_EXISTS, {"oid": str(uuid.uuid4()), "item_name": "there"})) is False
    assert ok(api.get(QUERY_EXISTS, {"oid": str(item.oid), "item_name": "absent"})) is True


def test_query_exists_with_empty_identifiers_uses_the_one_given(api):
    make_item(item_name="there")

    assert ok(api.get(QUERY_EXISTS, {"uid": "", "oid": "", "item_name": "there"})) is True


def test_query_exists_counts_items_in_any_state_unless_ready_is_asked(api):
    make_item(item_name="initialised")
    ready(item_name="ready")

    assert ok(api.get(QUERY_EXISTS, {"item_name": "initialised"})) is True
    assert ok(api.get(QUERY_EXISTS, {"item_name": "initialised", "ready": "true"})) is False
    assert ok(api.get(QUERY_EXISTS, {"item_name": "ready", "ready": "true"})) is True


@pytest.mark.parametrize("value", ["true", "True", "yes", "1", "on", "T", "y"])
def test_query_exists_ready_accepts_lax_true_values(api, value):
    make_item(item_name="initialised")

    assert ok(api.get(QUERY_EXISTS, {"item_name": "initialised", "ready": value})) is False


@pytest.mark.parametrize("value", ["false", "no", "0", "off", "F", "n", ""])
def test_query_exists_ready_accepts_lax_false_values(api, value):
    make_item(item_name="initialised")

    assert ok(api.get(QUERY_EXISTS, {"item_name": "initialised", "ready": value})) is True


def test_query_exists_ready_that_is_not_a_boolean_is_422(api):
    make_item(item_name="x")

    assert detail(api.get(QUERY_EXISTS, {"item_name": "x", "ready": "maybe"})) == [
        {
            "type": "bool_parsing",
            "loc": ["query", "ready"],
            "msg": "Input should be a valid boolean, unable to interpret input",
            "input": "maybe",
        }
    ]


@pytest.mark.parametrize("path", [QUERY_EXISTS, QUERY_EXIST_AND_READY, QUERY_ITEM_STORAGE])
@pytest.mark.parametrize("params", [None, {"item_name": "", "oid": "", "uid": ""}, {"ready": "true"}])
def test_existence_queries_without_identifier_are_422(api, path, params):
    make_item(item_name="x")

    response = api.get(path, params)

    assert response.status_code == 422
    assert response.json() == NO_IDENTIFIER


@pytest.mark.parametrize("path", [QUERY_EXISTS, QUERY_EXIST_AND_READY, QUERY_ITEM_STORAGE])
def test_existence_queries_with_malformed_uid_are_422(api, path):
    assert locs(api.get(path, {"uid": "123"})) == [("uuid_parsing", ("query", "uid"))]


def test_query_exist_and_ready_path_says_exist_but_operation_id_says_exists():
    assert reverse("query_exists_and_ready") == QUERY_EXIST_AND_READY


def test_query_exist_and_ready_is_true_only_for_ready_items(api):
    initialised = make_item(item_name="initialised")
    ready_item = ready(item_name="ready")

    assert ok(api.get(QUERY_EXIST_AND_READY, {"item_name": "ready"})) is True
    assert ok(api.get(QUERY_EXIST_AND_READY, {"uid": str(ready_item.uid)})) is True
    assert ok(api.get(QUERY_EXIST_AND_READY, {"item_name": "initialised"})) is False
    assert ok(api.get(QUERY_EXIST_AND_READY, {"oid": str(initialised.oid)})) is False
    assert ok(api.get(QUERY_EXIST_AND_READY, {"item_name": "absent"})) is False


def test_query_exist_and_ready_uses_uid_over_oid_over_item_name(api):
    initialised = make_item(item_name="initialised")
    ready_item = ready(item_name="ready")

    params = {"uid": str(initialised.uid), "oid": str(ready_item.oid), "item_name": "ready"}
    assert ok(api.get(QUERY_EXIST_AND_READY, params)) is False
    assert ok(api.get(QUERY_EXIST_AND_READY, {"oid": str(ready_item.oid), "item_name": "initialised"})) is True


def test_query_exist_and_ready_ignores_a_ready_parameter(api):
    make_item(item_name="initialised")

    assert ok(api.get(QUERY_EXIST_AND_READY, {"item_name": "initialised", "ready": "false"})) is False


def test_query_exists_repeated_parameter_uses_the_last_value(api):
    make_item(item_name="there")

    assert ok(api.get(QUERY_EXISTS, {"item_name": ["there", "absent"]})) is False
    assert ok(api.get(QUERY_EXISTS, {"item_name": ["absent", "there"]})) is True


# --- query_item_storage ---------------------------------------------------------------------


@pytest.fixture
def copies():
    """One object "x" with READY copies on two storages and an INITIALISED one on a third, plus
    another object also named "x" (READY) on a fourth storage."""
    root = ready(make_storage(), item_name="x", uri="x/on-1")
    copy = ready(make_storage(), item_name="x", uri="x/on-2", oid=root.uid)
    pending = make_item(make_storage(), item_name="x", uri="x/on-3", oid=root.uid)
    other = ready(make_storage(), item_name="x", uri="x/on-4")
    return {"root": root, "copy": copy, "pending": pending, "other": other}


def test_query_item_storage_rows_have_exactly_the_location_columns(api, copies):
    root = copies["root"]

    rows = ok(api.get(QUERY_ITEM_STORAGE, {"uid": str(root.uid)}))

    assert rows == [
        {
            "oid": str(root.oid),
            "uid": str(root.uid),
            "item_name": "x",
            "storage_id": str(root.storage_id),
            "uri": "x/on-1",
        }
    ]
    assert list(rows[0]) == ["oid", "uid", "item_name", "storage_id", "uri"]


def test_query_item_storage_by_oid_lists_the_ready_copies_of_the_object(api, copies):
    response = api.get(QUERY_ITEM_STORAGE, {"oid": str(copies["root"].oid)})

    assert uids(response) == ordered(copies["root"], copies["copy"])


def test_query_item_storage_by_name_lists_every_ready_copy_with_that_name(api, copies):
    response = api.get(QUERY_ITEM_STORAGE, {"item_name": "x"})

    assert uids(response) == ordered(copies["root"], copies["copy"], copies["other"])


def test_query_item_storage_lists_by_name_even_when_a_uid_is_given(api, copies):
    response = api.get(QUERY_ITEM_STORAGE, {"item_name": "x", "uid": str(copies["copy"].uid)})

    assert uids(response) == ordered(copies["root"], copies["copy"], copies["other"])


def test_query_item_storage_lists_by_oid_when_a_uid_is_given_without_name(api, copies):
    response = api.get(QUERY_ITEM_STORAGE, {"oid": str(copies["root"].oid), "uid": str(copies["other"].uid)})

    assert uids(response) == ordered(copies["root"], copies["copy"])


def test_query_item_storage_is_empty_when_the_existence_check_by_uid_fails(api, copies):
    # The check uses the uid (an INITIALISED copy): nothing, although the name has READY copies.
    response = api.get(QUERY_ITEM_STORAGE, {"item_name": "x", "uid": str(copies["pending"].uid)})

    assert ok(response) == []


def test_query_item_storage_is_empty_for_unknown_or_not_ready_items(api, copies):
    make_item(make_storage(), item_name="only-initialised")

    assert ok(api.get(QUERY_ITEM_STORAGE, {"item_name": "only-initialised"})) == []
    assert ok(api.get(QUERY_ITEM_STORAGE, {"uid": str(uuid.uuid4())})) == []
    assert ok(api.get(QUERY_ITEM_STORAGE, {"uid": str(copies["pending"].uid)})) == []


# --- query_expired --------------------------------------------------------------------------


def _expiring(hours: float, state: str = "READY", **fields) -> DataItem:
    return make_item(item_state=state, uid_expiration=timezone.now() + timedelta(hours=hours), **fields)


def test_query_expired_lists_ready_items_past_their_expiration(api):
    expired = _expiring(-2, item_type="container")
    _expiring(2)
    _expiring(-2, state="INITIALISED")
    _expiring(-2, state="DELETED")
    make_item(item_state="READY", uid_expiration=None)

    rows = ok(api.get(QUERY_EXPIRED))

    assert rows == [
        {"uid": str(expired.uid), "uid_expiration": naive_utc(expired.uid_expiration), "item_type": "container"}
    ]
    assert list(rows[0]) == ["uid", "uid_expiration", "item_type"]


@pytest.mark.parametrize(
    "offset,expected",
    [
        ("P1D", ["past-30h", "past-2h", "future-30m", "future-12h"]),
        ("-P1D", ["past-30h"]),
        ("PT1H", ["past-30h", "past-2h", "future-30m"]),
        ("01:00:00", ["past-30h", "past-2h", "future-30m"]),
        ("1 day, 0:00:00", ["past-30h", "past-2h", "future-30m", "future-12h"]),
        ("-PT1H", ["past-30h", "past-2h"]),
        ("", ["past-30h", "past-2h"]),
    ],
)
def test_query_expired_offset_moves_the_cutoff(api, offset, expected):
    for name, hours in (("past-30h", -30), ("past-2h", -2), ("future-30m", 0.5), ("future-12h", 12), ("far", 48)):
        _expiring(hours, item_name=name)
    names = dict(DataItem.objects.values_list("uid", "item_name"))

    rows = ok(api.get(QUERY_EXPIRED, {"offset": offset}))

    assert sorted(names[uuid.UUID(row["uid"])] for row in rows) == sorted(expected)


@pytest.mark.parametrize("offset", ["3600", "one day", "P", "1d"])
def test_query_expired_offset_that_is_not_a_duration_is_422(api, offset):
    entries = detail(api.get(QUERY_EXPIRED, {"offset": offset}))

    assert [(e["type"], e["loc"], e["input"]) for e in entries] == [("time_delta_parsing", ["query", "offset"], offset)]


def test_query_expired_pages_with_skip_since_offset_is_the_duration(api):
    items = [_expiring(-1 - n) for n in range(4)]
    expected = ordered(*items)

    assert uids(api.get(QUERY_EXPIRED, {"limit": 2})) == expected[:2]
    assert uids(api.get(QUERY_EXPIRED, {"limit": 2, "skip": 1})) == expected[1:3]
    assert uids(api.get(QUERY_EXPIRED, {"skip": 3, "offset": "PT1S"})) == expected[3:]


def test_query_expired_bad_paging_is_422_naming_skip_not_offset(api):
    assert locs(api.get(QUERY_EXPIRED, {"limit": 0})) == [("less_than_equal", ("query", "limit"))]
    assert locs(api.get(QUERY_EXPIRED, {"skip": "x"})) == [("int_parsing", ("query", "skip"))]
    assert locs(api.get(QUERY_EXPIRED, {"skip": -1})) == [("greater_than_equal", ("query", "skip"))]
    assert locs(api.get(QUERY_EXPIRED, {"skip": 10**23})) == [("less_than_equal", ("query", "skip"))]


@pytest.mark.parametrize(
    "offset,kind",
    [
        ("P999999999D", "value_error"),
        ("-P999999999D", "value_error"),
        ("P9999999999D", "time_delta_parsing"),
        ("99999999999:00:00", "time_delta_parsing"),
    ],
)
def test_query_expired_offset_beyond_the_date_range_is_422(api, offset, kind):
    _expiring(-1)

    assert locs(api.get(QUERY_EXPIRED, {"offset": offset})) == [(kind, ("query", "offset"))]


# --- query_deleted --------------------------------------------------------------------------


def test_query_deleted_lists_only_deleted_items_by_uid(api):
    gone = [make_item(item_state="DELETED") for _ in range(2)]
    make_item(item_state="READY")
    make_item(item_state="EXPIRED", deleted=True)

    rows = ok(api.get(QUERY_DELETED))

    assert rows == [{"uid": uid} for uid in ordered(*gone)]


def test_query_deleted_with_uid_checks_that_one_item(api):
    gone = make_item(item_state="DELETED")
    make_item(item_state="DELETED")
    alive = make_item(item_state="READY")

    assert ok(api.get(QUERY_DELETED, {"uid": str(gone.uid)})) == [{"uid": str(gone.uid)}]
    assert ok(api.get(QUERY_DELETED, {"uid": str(alive.uid)})) == []
    assert ok(api.get(QUERY_DELETED, {"uid": str(uuid.uuid4())})) == []


def test_query_deleted_with_empty_uid_lists_all(api):
    gone = [make_item(item_state="DELETED") for _ in range(2)]

    assert uids(api.get(QUERY_DELETED, {"uid": ""})) == ordered(*gone)


def test_query_deleted_with_malformed_uid_is_422(api):
    assert locs(api.get(QUERY_DELETED, {"uid": "x"})) == [("uuid_parsing", ("query", "uid"))]


# --- query_new ------------------------------------------------------------------------------


def test_query_new_lists_ready_gas_items_created_after_check_date(api):
    check = timezone.now() - timedelta(seconds=1)
    storage = make_storage()
    new = ready(storage, item_name="new", uid_phase="GAS")
    ready(storage, item_name="solid", uid_phase="SOLID")
    make_item(storage, item_name="initialised", uid_phase="GAS")

    rows = ok(api.get(QUERY_NEW, {"check_date": naive_utc(check)}))

    assert rows == [
        {
            "uid": str(new.uid),
            "item_name": "new",
            "uid_creation": naive_utc(new.uid_creation),
            "storage_id": str(storage.storage_id),
        }
    ]
    assert list(rows[0]) == ["uid", "item_name", "uid_creation", "storage_id"]


def test_query_new_excludes_items_created_before_or_at_check_date(api):
    old = ready(item_name="old")
    old.refresh_from_db()
    newer = ready(item_name="newer")

    assert uids(api.get(QUERY_NEW, {"check_date": naive_utc(old.uid_creation)})) == [str(newer.uid)]
    assert ok(api.get(QUERY_NEW, {"check_date": naive_utc(timezone.now() + timedelta(seconds=1))})) == []


def test_query_new_reads_an_aware_check_date_in_its_own_offset(api):
    item = ready(item_name="new")
    item.refresh_from_db()
    plus_two = dt_timezone(timedelta(hours=2))
    # Read as naive UTC these would be two hours later, and the item would not be new.
    before = (item.uid_creation - timedelta(seconds=1)).astimezone(plus_two).isoformat()
    after = (item.uid_creation + timedelta(seconds=1)).astimezone(plus_two).isoformat()
    assert before.endswith("+02:00")

    assert uids(api.get(QUERY_NEW, {"check_date": before})) == [str(item.uid)]
    assert ok(api.get(QUERY_NEW, {"check_date": after})) == []


def test_query_new_with_uid_checks_that_one_item(api):
    check = naive_utc(timezone.now() - timedelta(seconds=1))
    first = ready(item_name="a")
    ready(item_name="b")
    solid = ready(item_name="c", uid_phase="SOLID")

    assert uids(api.get(QUERY_NEW, {"check_date": check, "uid": str(first.uid)})) == [str(first.uid)]
    assert ok(api.get(QUERY_NEW, {"check_date": check, "uid": str(solid.uid)})) == []


def test_query_new_without_check_date_is_422_missing(api):
    assert detail(api.get(QUERY_NEW)) == [
        {"type": "missing", "loc": ["query", "check_date"], "msg": "Field required", "input": None}
    ]


@pytest.mark.parametrize("check_date", ["yesterday", "2024-13-01", "", "2024-01-01T25:00:00"])
def test_query_new_unparseable_check_date_is_422_naming_it(api, check_date):
    entries = detail(api.get(QUERY_NEW, {"check_date": check_date}))

    assert len(entries) == 1
    assert entries[0]["loc"] == ["query", "check_date"]
    assert entries[0]["type"].startswith("datetime")


def test_query_new_accepts_a_date_alone(api):
    item = ready(item_name="new")

    assert uids(api.get(QUERY_NEW, {"check_date": "2000-01-01"})) == [str(item.uid)]


# --- permissions ----------------------------------------------------------------------------

ALL_QUERIES = [
    (QUERY_DATA_ITEM, {}),
    (QUERY_EXISTS, {"item_name": "x"}),
    (QUERY_EXIST_AND_READY, {"item_name": "x"}),
    (QUERY_ITEM_STORAGE, {"item_name": "x"}),
    (QUERY_EXPIRED, {}),
    (QUERY_DELETED, {}),
    (QUERY_NEW, {"check_date": "2000-01-01"}),
]


@pytest.mark.parametrize("path,params", ALL_QUERIES)
def test_queries_without_a_token_are_401(anon_api, path, params):
    response = anon_api.get(path, params)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize("path,params", ALL_QUERIES)
def test_queries_are_open_to_viewers(viewer_api, path, params):
    ready(item_name="x", uid_expiration=timezone.now() - timedelta(hours=1))
    make_item(item_state="DELETED")

    response = viewer_api.get(path, params)

    assert response.status_code == 200
    assert response.json() not in ([], False)


def test_queries_do_not_write(viewer_api):
    item = ready(item_name="x", uid_expiration=timezone.now() - timedelta(hours=1))
    item.refresh_from_db()
    before = DataItem.objects.values().get(uid=item.uid)

    for path, params in ALL_QUERIES:
        assert viewer_api.get(path, params).status_code == 200

    assert DataItem.objects.count() == 1
    assert DataItem.objects.values().get(uid=item.uid) == before


@pytest.mark.parametrize("path,params", ALL_QUERIES)
def test_queries_refuse_post(api, path, params):
    response = api.post(path, params)

    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
