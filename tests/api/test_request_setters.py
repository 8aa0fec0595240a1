"""The PATCH data-item setters of ``/request`` (contract §7.2, D2–D12).

Each test checks the status, the body and the catalogue after the call. Where upstream answers
500 (unknown rows, bad uuids, bad timestamps, unknown columns, ``set_user``/``set_group``), DLM
answers a 4xx naming the field and changes nothing (contract §10, #27, #28, #30).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from catalogue.models import DataItem
from tests.contract import DATA_ITEM_COLUMNS
from tests.factories import make_item, make_storage

ROW_COLUMNS = DATA_ITEM_COLUMNS  # contract §4.4, in table order
NAIVE_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$")
ITEM_STATES = "'INITIALISED', 'READY', 'CORRUPTED', 'EXPIRED' or 'DELETED'"
PHASES = "'PLASMA', 'GAS', 'LIQUID' or 'SOLID'"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


# --- helpers ---------------------------------------------------------------------------------


def patch(api, operation: str, params: dict[str, Any] | None = None, body: Any = None, **kw: Any):
    return api.patch(f"/request/{operation}", params, body, **kw)


def json_form(value: Any) -> Any:
    """A column value as the contract prints it (§4): uuids as text, timestamps naive UTC ISO."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        assert value.tzinfo is not None, "the catalogue keeps aware (UTC) timestamps"
        return value.astimezone(UTC).replace(tzinfo=None).isoformat()
    return value


def db_row(uid: uuid.UUID | str) -> dict[str, Any]:
    """The stored row in the contract's JSON form, read straight from the catalogue."""
    item = DataItem.objects.get(uid=uid)
    return {column: json_form(getattr(item, column)) for column in ROW_COLUMNS}


def assert_row(body: Any, item: DataItem) -> None:
    """``body`` is a full data_item row (contract columns, in order) equal to the stored ``item``."""
    assert isinstance(body, dict)
    assert list(body) == ROW_COLUMNS
    assert body == db_row(item.uid)
    for column in ("uid_creation", "oid_creation", "uid_expiration", "oid_expiration"):
        if body[column] is not None:
            assert NAIVE_ISO.match(body[column]), (column, body[column])


def snapshot() -> list[dict[str, Any]]:
    """Every data_item row, to show that a refused call changed nothing."""
    return list(DataItem.objects.order_by("uid").values())


def stored_json(uid: uuid.UUID, column: str) -> Any:
    """A json column's value as the database holds it, read without the ORM."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM data_item WHERE uid = %s", [uid.hex if connection.vendor == "sqlite" else uid]
        )
        (raw,) = cursor.fetchone()
    return json.loads(raw) if isinstance(raw, str) else raw


def missing(*names: str) -> dict[str, Any]:
    return {
        "detail": [
            {"type": "missing", "loc": ["query", name], "msg": "Field required", "input": None} for name in names
        ]
    }


def detail_of(response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.content
    body = response.json()
    assert set(body) == {"detail"}, body
    return body["detail"]


def exec_error(response, status: int, name: str) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"exec", "message"}, body
    assert body["exec"] == name
    return body["message"]


def copies(count: int = 3, **fields: Any) -> list[DataItem]:
    """``count`` copies of one object (same name, one per storage), oldest first, deterministically."""
    first = make_item(make_storage(), **fields)
    items = [first] + [
        make_item(make_storage(), item_name=first.item_name, oid=first.uid, **fields) for _ in range(count - 1)
    ]
    base = datetime(2030, 1, 1, tzinfo=UTC)
    for index, item in enumerate(items):
        DataItem.objects.filter(uid=item.uid).update(uid_creation=base + timedelta(minutes=index))
        item.refresh_from_db()
    assert {item.oid for item in items} == {first.uid}
    return items


@pytest.fixture
def item(db) -> DataItem:
    return make_item(make_storage(), item_owner="alice", item_group="team", metadata={"a": 1, "b": 2})


@pytest.fixture
def bystander(db) -> DataItem:
    """An unrelated item that no call in a test should touch."""
    return make_item(make_storage(), item_tags={"keep": True}, item_owner="bob")


# --- update_data_item (D2) -------------------------------------------------------------------


def test_update_data_item_by_uid_sets_the_body_columns(api, item, bystander):
    before = db_row(bystander.uid)
    body = {"item_state": "READY", "item_format": "ms", "item_level": 3, "expired": True, "item_checksum": "abc"}

    response = patch(api, "update_data_item", {"uid": str(item.uid)}, body)

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert (item.item_state, item.item_format, item.item_level, item.expired, item.item_checksum) == (
        "READY",
        "ms",
        3,
        True,
        "abc",
    )
    assert_row(response.json(), item)
    assert db_row(bystander.uid) == before


def test_update_data_item_by_oid_updates_every_copy_and_returns_the_first(api, bystander):
    first, second, third = copies()

    response = patch(api, "update_data_item", {"oid": str(first.oid)}, {"item_state": "CORRUPTED"})

    assert response.status_code == 200, response.content
    for copy in (first, second, third):
        copy.refresh_from_db()
        assert copy.item_state == "CORRUPTED"
    assert_row(response.json(), first)
    assert bystander.item_state == DataItem.objects.get(uid=bystander.uid).item_state == "INITIALISED"


def test_update_data_item_by_item_name_updates_every_row_with_that_name(api, bystander):
    first, second = copies(2)

    response = patch(api, "update_data_item", {"item_name": first.item_name}, {"item_owner": "carol"})

    assert response.status_code == 200, response.content
    assert set(DataItem.objects.filter(item_name=first.item_name).values_list("item_owner", flat=True)) == {"carol"}
    first.refresh_from_db()
    assert_row(response.json(), first)
    assert DataItem.objects.get(uid=bystander.uid).item_owner == "bob"


def test_update_data_item_identifier_precedence_is_uid_then_oid_then_name(api, item, bystander):
    response = patch(
        api,
        "update_data_item",
        {"uid": str(item.uid), "oid": str(bystander.oid), "item_name": bystander.item_name},
        {"item_format": "by-uid"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["uid"] == str(item.uid)
    assert DataItem.objects.get(uid=item.uid).item_format == "by-uid"
    assert DataItem.objects.get(uid=bystander.uid).item_format == "unknown"

    response = patch(
        api, "update_data_item", {"oid": str(item.oid), "item_name": bystander.item_name}, {"item_format": "by-oid"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["uid"] == str(item.uid)
    assert DataItem.objects.get(uid=item.uid).item_format == "by-oid"
    assert DataItem.objects.get(uid=bystander.uid).item_format == "unknown"


@pytest.mark.parametrize("params", [{}, {"uid": "", "oid": "", "item_name": ""}])
def test_update_data_item_without_an_identifier_is_invalid_query_parameters(api, item, params):
    before = snapshot()

    response = patch(api, "update_data_item", params, {"item_state": "READY"})

    message = exec_error(response, 422, "InvalidQueryParameters")
    assert message == "Either item_name, oid or uid must be given"
    assert snapshot() == before


@pytest.mark.parametrize(
    "kw",
    [{"body": {}}, {"raw_body": ""}, {"raw_body": "null"}],
    ids=["empty-object", "no-body", "null"],
)
def test_update_data_item_without_columns_returns_the_row_unchanged(api, item, kw):
    before = snapshot()

    response = patch(api, "update_data_item", {"uid": str(item.uid)}, **kw)

    assert response.status_code == 200, response.content
    assert_row(response.json(), item)
    assert snapshot() == before


def test_update_data_item_stores_json_columns_as_objects(api, item):
    body = {
        "item_tags": {"project": "SKA", "n": 2},
        "metadata": {"execution_block": "eb-1", "nested": {"list": [1, 2, 3]}},
        "acl": {"read": ["alice"], "write": []},
    }

    response = patch(api, "update_data_item", {"uid": str(item.uid)}, body)

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    for column, value in body.items():
        assert getattr(item, column) == value
        assert stored_json(item.uid, column) == value
        assert response.json()[column] == value
    assert_row(response.json(), item)


def test_update_data_item_stores_sizes_beyond_32_bits(api, item):
    big = 2**31 + 12345
    bigger = 2**40 + 7

    response = patch(api, "update_data_item", {"uid": str(item.uid)}, {"item_size": big, "decompressed_size": bigger})

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert (item.item_size, item.decompressed_size) == (big, bigger)
    assert (response.json()["item_size"], response.json()["decompressed_size"]) == (big, bigger)


def test_update_data_item_converts_timestamp_columns_to_naive_utc(api, item):
    response = patch(
        api,
        "update_data_item",
        {"uid": str(item.uid)},
        {"last_access": "2030-05-06T07:08:09.5+02:00", "uid_deletion": "2031-01-02"},
    )

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert item.last_access == datetime(2030, 5, 6, 5, 8, 9, 500000, tzinfo=UTC)
    assert item.uid_deletion == datetime(2031, 1, 2, tzinfo=UTC)
    assert response.json()["last_access"] == "2030-05-06T05:08:09.500000"
    assert response.json()["uid_deletion"] == "2031-01-02T00:00:00"


def test_update_data_item_refuses_bad_keys_naming_each_and_changes_nothing(api, item):
    before = snapshot()
    body = {
        "no_such_column": 1,
        "uid": str(uuid.uuid4()),
        "uid_creation": "2020-01-01T00:00:00",
        "item_level": "high",
        "item_state": "ready",
        "item_format": "ok",
    }

    response = patch(api, "update_data_item", {"uid": str(item.uid)}, body)

    detail = detail_of(response)
    by_key = {entry["loc"][1]: entry for entry in detail}
    assert all(entry["loc"][0] == "body" for entry in detail)
    assert set(by_key) == {"no_such_column", "uid", "uid_creation", "item_level", "item_state"}
    assert by_key["no_such_column"]["type"] == "extra_forbidden"
    assert by_key["uid"]["type"] == "read_only"
    assert by_key["uid_creation"]["type"] == "read_only"
    assert by_key["item_level"]["type"] == "int_type"
    assert by_key["item_level"]["input"] == "high"
    assert by_key["item_state"]["type"] == "enum"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [
        ("item_size", 2**63, "int_range"),
        ("item_level", 2**15, "int_range"),
        ("item_version", True, "int_type"),
        ("expired", "yes", "bool_type"),
        ("storage_id", "not-a-uuid", "uuid_parsing"),
        ("parents", 5, "uuid_type"),
        ("last_check", "yesterday", "datetime_from_date_parsing"),
        ("item_owner", ["alice"], "string_type"),
        ("item_owner", "x" * 256, "string_too_long"),
        ("item_owner", "nul\x00byte", "string_type"),
        ("uid_phase", "gas", "enum"),
    ],
)
def test_update_data_item_refuses_a_badly_typed_value(api, item, column, value, kind):
    before = snapshot()

    response = patch(api, "update_data_item", {"uid": str(item.uid)}, {column: value})

    [entry] = detail_of(response)
    assert entry["type"] == kind
    assert entry["loc"] == ["body", column]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("raw_body", "kind"),
    [("[1, 2]", "dict_type"), ('"text"', "dict_type"), ("{not json", "json_invalid")],
)
def test_update_data_item_body_must_be_a_json_object(api, item, raw_body, kind):
    before = snapshot()

    response = patch(api, "update_data_item", {"uid": str(item.uid)}, raw_body=raw_body)

    [entry] = detail_of(response)
    assert entry["type"] == kind
    assert entry["loc"][0] == "body"
    assert snapshot() == before


def test_update_data_item_renaming_onto_an_existing_name_on_that_storage_is_value_already_in_db(api):
    storage = make_storage()
    taken = make_item(storage, item_name="taken")
    other = make_item(storage, item_name="other")
    before = snapshot()

    response = patch(api, "update_data_item", {"uid": str(other.uid)}, {"item_name": "taken"})

    message = exec_error(response, 422, "ValueAlreadyInDB")
    assert "taken" in message
    assert snapshot() == before
    assert DataItem.objects.get(uid=taken.uid).item_name == "taken"


def test_update_data_item_moving_onto_a_storage_holding_that_name_is_value_already_in_db(api):
    here, there = make_storage(), make_storage()
    make_item(there, item_name="same")
    moving = make_item(here, item_name="same")
    before = snapshot()

    response = patch(api, "update_data_item", {"uid": str(moving.uid)}, {"storage_id": str(there.storage_id)})

    exec_error(response, 422, "ValueAlreadyInDB")
    assert snapshot() == before


def test_update_data_item_with_an_unknown_storage_is_an_unmet_precondition(api, item):
    before = snapshot()

    response = patch(api, "update_data_item", {"uid": str(item.uid)}, {"storage_id": UNKNOWN})

    message = exec_error(response, 422, "UnmetPreconditionForOperation")
    assert UNKNOWN in message
    assert snapshot() == before


@pytest.mark.parametrize(
    ("params", "named"),
    [({"uid": UNKNOWN}, UNKNOWN), ({"oid": UNKNOWN}, UNKNOWN), ({"item_name": "no/such/item"}, "no/such/item")],
)
def test_update_data_item_on_nothing_is_not_found(api, item, params, named):
    before = snapshot()

    response = patch(api, "update_data_item", params, {"item_state": "READY"})

    message = exec_error(response, 404, "ObjectNotFound")
    assert named in message
    assert snapshot() == before


def test_update_data_item_with_an_empty_body_on_nothing_is_still_not_found(api, item):
    response = patch(api, "update_data_item", {"uid": UNKNOWN})

    assert UNKNOWN in exec_error(response, 404, "ObjectNotFound")


# --- set_uri (D3) ----------------------------------------------------------------------------


def test_set_uri_sets_uri_and_storage(api, item, bystander):
    target = make_storage()
    before = db_row(bystander.uid)

    response = patch(
        api, "set_uri", {"uid": str(item.uid), "uri": "products/eb-1/vis.ms", "storage_id": str(target.storage_id)}
    )

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert item.uri == "products/eb-1/vis.ms"
    assert item.storage_id == target.storage_id
    assert_row(response.json(), item)
    assert db_row(bystander.uid) == before


def test_set_uri_requires_uid_uri_and_storage_id(api, item):
    before = snapshot()

    response = patch(api, "set_uri")

    assert response.status_code == 422
    assert response.json() == missing("uid", "uri", "storage_id")
    assert snapshot() == before


def test_set_uri_with_an_unknown_storage_is_an_unmet_precondition(api, item):
    before = snapshot()

    response = patch(api, "set_uri", {"uid": str(item.uid), "uri": "x", "storage_id": UNKNOWN})

    assert UNKNOWN in exec_error(response, 422, "UnmetPreconditionForOperation")
    assert snapshot() == before


def test_set_uri_onto_a_storage_holding_the_same_name_is_value_already_in_db(api):
    here, there = make_storage(), make_storage()
    make_item(there, item_name="same")
    moving = make_item(here, item_name="same")
    before = snapshot()

    response = patch(api, "set_uri", {"uid": str(moving.uid), "uri": "same", "storage_id": str(there.storage_id)})

    assert "same" in exec_error(response, 422, "ValueAlreadyInDB")
    assert snapshot() == before


def test_set_uri_refuses_a_uri_longer_than_the_column(api, item):
    before = snapshot()

    response = patch(api, "set_uri", {"uid": str(item.uid), "uri": "u" * 4097, "storage_id": str(item.storage_id)})

    [entry] = detail_of(response)
    assert (entry["type"], entry["loc"]) == ("string_too_long", ["query", "uri"])
    assert snapshot() == before


# --- set_metadata (D4) -----------------------------------------------------------------------


def test_set_metadata_replaces_the_metadata_wholesale(api, item):
    assert item.metadata == {"a": 1, "b": 2}

    response = patch(api, "set_metadata", {"uid": str(item.uid)}, {"c": {"d": [1, 2]}})

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert item.metadata == {"c": {"d": [1, 2]}}
    assert stored_json(item.uid, "metadata") == {"c": {"d": [1, 2]}}
    assert_row(response.json(), item)


@pytest.mark.parametrize("raw_body", ["", "null"], ids=["no-body", "null"])
def test_set_metadata_without_a_body_sets_null(api, item, raw_body):
    response = patch(api, "set_metadata", {"uid": str(item.uid)}, raw_body=raw_body)

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert item.metadata is None
    assert response.json()["metadata"] is None
    assert_row(response.json(), item)


def test_set_metadata_requires_uid(api, item):
    before = snapshot()

    response = patch(api, "set_metadata", {}, {"c": 3})

    assert response.json() == missing("uid")
    assert response.status_code == 422
    assert snapshot() == before


def test_set_metadata_refuses_a_body_that_is_not_an_object(api, item):
    before = snapshot()

    response = patch(api, "set_metadata", {"uid": str(item.uid)}, [1, 2])

    [entry] = detail_of(response)
    assert (entry["type"], entry["loc"]) == ("dict_type", ["body"])
    assert snapshot() == before


# --- set_state (D5) --------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["READY", "CORRUPTED", "EXPIRED", "DELETED", "INITIALISED"])
def test_set_state_sets_item_state(api, item, state):
    DataItem.objects.filter(uid=item.uid).update(item_state="CORRUPTED" if state != "CORRUPTED" else "READY")

    response = patch(api, "set_state", {"uid": str(item.uid), "state": state})

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert item.item_state == state
    assert_row(response.json(), item)


@pytest.mark.parametrize("state", ["ready", "Ready", "BOGUS", " READY"])
def test_set_state_matches_the_enum_exactly(api, item, state):
    before = snapshot()

    response = patch(api, "set_state", {"uid": str(item.uid), "state": state})

    assert detail_of(response) == [
        {
            "type": "enum",
            "loc": ["query", "state"],
            "msg": f"Input should be {ITEM_STATES}",
            "input": state,
            "ctx": {"expected": ITEM_STATES},
        }
    ]
    assert snapshot() == before


def test_set_state_requires_uid_and_state(api, item):
    response = patch(api, "set_state")

    assert response.status_code == 422
    assert response.json() == missing("uid", "state")


def test_set_state_reports_a_bad_uid_and_a_bad_state_together(api, item):
    before = snapshot()

    response = patch(api, "set_state", {"uid": "nope", "state": "nope"})

    assert [(entry["type"], entry["loc"]) for entry in detail_of(response)] == [
        ("uuid_parsing", ["query", "uid"]),
        ("enum", ["query", "state"]),
    ]
    assert snapshot() == before


# --- set_oid_expiration (D6) -----------------------------------------------------------------


def test_set_oid_expiration_updates_every_copy_and_returns_the_first(api, bystander):
    first, second, third = copies()
    before = db_row(bystander.uid)

    response = patch(api, "set_oid_expiration", {"oid": str(first.oid), "expiration": "2040-02-03T04:05:06"})

    assert response.status_code == 200, response.content
    expected = datetime(2040, 2, 3, 4, 5, 6, tzinfo=UTC)
    for copy in (first, second, third):
        copy.refresh_from_db()
        assert copy.oid_expiration == expected
    assert response.json()["oid_expiration"] == "2040-02-03T04:05:06"
    assert_row(response.json(), first)
    assert db_row(bystander.uid) == before


def test_set_oid_expiration_requires_oid_and_expiration(api, item):
    response = patch(api, "set_oid_expiration")

    assert response.status_code == 422
    assert response.json() == missing("oid", "expiration")


def test_set_oid_expiration_does_not_take_a_uid_of_a_copy_that_is_not_the_oid(api):
    first, second = copies(2)
    before = snapshot()

    response = patch(api, "set_oid_expiration", {"oid": str(second.uid), "expiration": "2040-01-01"})

    assert str(second.uid) in exec_error(response, 404, "ObjectNotFound")
    assert snapshot() == before


# --- set_uid_expiration (D7) and the timestamp forms ----------------------------------------


def test_set_uid_expiration_accepts_the_clients_utc_offset_form(api, item, bystander):
    # ska-dlm-client sends datetime.isoformat() of an aware UTC value; urlencode percent-encodes "+".
    sent = "2026-08-01T10:11:12.123456+00:00"
    before = db_row(bystander.uid)

    response = api.patch(
        f"/request/set_uid_expiration?uid={item.uid}&expiration=2026-08-01T10%3A11%3A12.123456%2B00%3A00"
    )

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert item.uid_expiration == datetime.fromisoformat(sent)
    assert response.json()["uid_expiration"] == "2026-08-01T10:11:12.123456"
    assert_row(response.json(), item)
    assert db_row(bystander.uid) == before


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2026-08-01T10:11:12+0200", "2026-08-01T08:11:12"),
        ("2026-08-01T10:11:12-05:30", "2026-08-01T15:41:12"),
        ("2026-08-01T01:00:00+02:00", "2026-07-31T23:00:00"),  # the day changes in UTC
        ("2026-08-01T10:11:12Z", "2026-08-01T10:11:12"),
        ("2026-08-01 10:11:12", "2026-08-01T10:11:12"),
        ("2026-08-01T10:11", "2026-08-01T10:11:00"),
        ("2026-08-01T10:11:12.5", "2026-08-01T10:11:12.500000"),
        ("2026-08-01", "2026-08-01T00:00:00"),
        ("1700000000", "2023-11-14T22:13:20"),
    ],
)
def test_set_uid_expiration_stores_any_accepted_form_as_utc(api, item, sent, stored):
    response = patch(api, "set_uid_expiration", {"uid": str(item.uid), "expiration": sent})

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert item.uid_expiration == datetime.fromisoformat(stored).replace(tzinfo=UTC)
    assert response.json()["uid_expiration"] == stored
    assert_row(response.json(), item)


@pytest.mark.parametrize(
    "sent",
    [
        "",
        "tomorrow",
        "2026-13-01",
        "2026-02-30T00:00:00",
        "2026-08-01T25:00:00",
        "2026-08-01T10:11:12+2400",
        "2026/08/01",
        "1" * 30,
        "9999-12-31T23:00:00-05:00",  # beyond the last representable instant once in UTC
        "0001-01-01T00:30:00+01:00",  # before the first one
    ],
)
@pytest.mark.parametrize(("operation", "identifier"), [("set_uid_expiration", "uid"), ("set_oid_expiration", "oid")])
def test_expiration_that_is_not_a_timestamp_is_422_naming_expiration(api, item, operation, identifier, sent):
    before = snapshot()

    response = patch(api, operation, {identifier: str(item.uid), "expiration": sent})

    [entry] = detail_of(response)
    assert entry["loc"] == ["query", "expiration"]
    assert entry["input"] == sent
    assert "datetime" in entry["type"]
    assert snapshot() == before


def test_set_uid_expiration_requires_uid_and_expiration(api, item):
    response = patch(api, "set_uid_expiration")

    assert response.status_code == 422
    assert response.json() == missing("uid", "expiration")


def test_set_uid_expiration_changes_only_that_copy(api):
    first, second = copies(2)
    before = db_row(second.uid)

    response = patch(api, "set_uid_expiration", {"uid": str(first.uid), "expiration": "2030-01-01T00:00:00"})

    assert response.status_code == 200, response.content
    first.refresh_from_db()
    assert first.uid_expiration == datetime(2030, 1, 1, tzinfo=UTC)
    assert db_row(second.uid) == before


# --- set_user and set_group (D8, D9) --------------------------------------------------------

OWNERSHIP = [("set_user", "user", "item_owner"), ("set_group", "group", "item_group")]


@pytest.mark.parametrize(("operation", "param", "column"), OWNERSHIP)
def test_ownership_setter_by_uid_writes_the_real_column(api, item, bystander, operation, param, column):
    before = db_row(bystander.uid)

    response = patch(api, operation, {"uid": str(item.uid), param: "dave"})

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert getattr(item, column) == "dave"
    assert response.json()[column] == "dave"
    assert "user" not in response.json() and "group" not in response.json()
    assert_row(response.json(), item)
    assert db_row(bystander.uid) == before


@pytest.mark.parametrize(("operation", "param", "column"), OWNERSHIP)
def test_ownership_setter_by_oid_updates_every_copy(api, operation, param, column):
    first, second, third = copies(item_owner="alice", item_group="team")

    response = patch(api, operation, {"oid": str(first.oid), param: "erin"})

    assert response.status_code == 200, response.content
    for copy in (first, second, third):
        copy.refresh_from_db()
        assert getattr(copy, column) == "erin"
    assert_row(response.json(), first)


@pytest.mark.parametrize(("operation", "param", "column"), OWNERSHIP)
def test_ownership_setter_uid_wins_over_oid(api, operation, param, column):
    first, second = copies(2, item_owner="alice", item_group="team")
    untouched = db_row(first.uid)

    response = patch(api, operation, {"uid": str(second.uid), "oid": str(first.oid), param: "frank"})

    assert response.status_code == 200, response.content
    second.refresh_from_db()
    assert getattr(second, column) == "frank"
    assert_row(response.json(), second)
    assert db_row(first.uid) == untouched


@pytest.mark.parametrize(("operation", "param", "column"), OWNERSHIP)
def test_ownership_setter_defaults_to_ska(api, item, operation, param, column):
    assert getattr(item, column) != "SKA"

    response = patch(api, operation, {"uid": str(item.uid)})

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert getattr(item, column) == "SKA"
    assert_row(response.json(), item)


@pytest.mark.parametrize("operation", ["set_user", "set_group", "set_acl"])
@pytest.mark.parametrize("params", [{}, {"uid": "", "oid": ""}])
def test_setter_by_uid_or_oid_needs_one_of_them(api, item, operation, params):
    before = snapshot()

    response = patch(api, operation, params)

    assert exec_error(response, 422, "InvalidQueryParameters") == "Either oid or uid should be specified"
    assert snapshot() == before


@pytest.mark.parametrize(("operation", "param", "column"), OWNERSHIP)
@pytest.mark.parametrize(("value", "kind"), [("x" * 256, "string_too_long"), ("nul\x00byte", "string_type")])
def test_ownership_setter_refuses_a_value_the_column_cannot_hold(api, item, operation, param, column, value, kind):
    before = snapshot()

    response = patch(api, operation, {"uid": str(item.uid), param: value})

    [entry] = detail_of(response)
    assert (entry["type"], entry["loc"]) == (kind, ["query", param])
    assert snapshot() == before


# --- set_acl (D10) ---------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [{}, {"acl": ""}], ids=["absent", "empty"])
def test_set_acl_default_is_an_empty_object(api, item, extra):
    assert item.acl is None

    response = patch(api, "set_acl", {"uid": str(item.uid), **extra})

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert item.acl == {}
    assert stored_json(item.uid, "acl") == {}
    assert response.json()["acl"] == {}
    assert_row(response.json(), item)


def test_set_acl_stores_a_json_object_not_a_string(api, item):
    acl = {"read": ["alice", "bob"], "write": ["alice"], "public": False}

    response = patch(api, "set_acl", {"uid": str(item.uid), "acl": json.dumps(acl)})

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert item.acl == acl
    assert stored_json(item.uid, "acl") == acl
    assert response.json()["acl"] == acl
    assert_row(response.json(), item)


def test_set_acl_by_oid_updates_every_copy(api, bystander):
    first, second, third = copies()

    response = patch(api, "set_acl", {"oid": str(first.oid), "acl": '{"read": ["*"]}'})

    assert response.status_code == 200, response.content
    for copy in (first, second, third):
        copy.refresh_from_db()
        assert copy.acl == {"read": ["*"]}
    assert_row(response.json(), first)
    assert DataItem.objects.get(uid=bystander.uid).acl is None


@pytest.mark.parametrize(
    ("acl", "kind"),
    [("{read: all}", "json_invalid"), ("[1, 2]", "dict_type"), ('"{}"', "dict_type"), ("3", "dict_type")],
)
def test_set_acl_refuses_anything_but_a_json_object(api, item, acl, kind):
    before = snapshot()

    response = patch(api, "set_acl", {"uid": str(item.uid), "acl": acl})

    [entry] = detail_of(response)
    assert (entry["type"], entry["loc"], entry["input"]) == (kind, ["query", "acl"], acl)
    assert snapshot() == before


# --- set_phase (D11) -------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["PLASMA", "LIQUID", "SOLID", "GAS"])
def test_set_phase_sets_uid_phase(api, item, phase):
    DataItem.objects.filter(uid=item.uid).update(uid_phase="SOLID" if phase != "SOLID" else "GAS")

    response = patch(api, "set_phase", {"uid": str(item.uid), "phase": phase})

    assert response.status_code == 200, response.content
    item.refresh_from_db()
    assert item.uid_phase == phase
    assert item.oid_phase == "GAS"
    assert_row(response.json(), item)


@pytest.mark.parametrize("phase", ["BOGUS", "solid"])
def test_set_phase_validates_the_phase_type(api, item, phase):
    before = snapshot()

    response = patch(api, "set_phase", {"uid": str(item.uid), "phase": phase})

    assert detail_of(response) == [
        {
            "type": "enum",
            "loc": ["query", "phase"],
            "msg": f"Input should be {PHASES}",
            "input": phase,
            "ctx": {"expected": PHASES},
        }
    ]
    assert snapshot() == before


def test_set_phase_requires_uid_and_phase(api, item):
    response = patch(api, "set_phase")

    assert response.status_code == 422
    assert response.json() == missing("uid", "phase")


# --- update_item_tags (D12) ------------------------------------------------------------------


def test_update_item_tags_merges_new_keys_over_old_ones(api):
    # The upstream integration test: two merges by item name.
    item = make_item(item_name="this/is/the/first/test/item")

    first = patch(api, "update_item_tags", {"item_name": item.item_name}, {"a": "SKA", "b": "DLM", "c": "dummy"})

    assert first.status_code == 200, first.content
    item.refresh_from_db()
    assert item.item_tags == {"a": "SKA", "b": "DLM", "c": "dummy"}
    assert_row(first.json(), item)

    second = patch(api, "update_item_tags", {"item_name": item.item_name}, {"c": "Hello", "d": "World"})

    assert second.status_code == 200, second.content
    item.refresh_from_db()
    assert item.item_tags == {"a": "SKA", "b": "DLM", "c": "Hello", "d": "World"}
    assert stored_json(item.uid, "item_tags") == item.item_tags
    assert_row(second.json(), item)


def test_update_item_tags_by_oid_applies_to_every_copy(api, bystander):
    first, second, third = copies(item_tags={"old": 1})

    response = patch(api, "update_item_tags", {"oid": str(first.oid)}, {"new": 2})

    assert response.status_code == 200, response.content
    for copy in (first, second, third):
        copy.refresh_from_db()
        assert copy.item_tags == {"old": 1, "new": 2}
    assert_row(response.json(), first)
    assert DataItem.objects.get(uid=bystander.uid).item_tags == {"keep": True}


def test_update_item_tags_by_name_applies_to_every_copy_of_that_object(api):
    first, second = copies(2)

    response = patch(api, "update_item_tags", {"item_name": first.item_name}, {"k": "v"})

    assert response.status_code == 200, response.content
    assert [DataItem.objects.get(uid=c.uid).item_tags for c in (first, second)] == [{"k": "v"}, {"k": "v"}]
    first.refresh_from_db()
    assert_row(response.json(), first)


def test_update_item_tags_oid_wins_over_item_name(api, item, bystander):
    response = patch(api, "update_item_tags", {"oid": str(item.oid), "item_name": bystander.item_name}, {"x": 1})

    assert response.status_code == 200, response.content
    assert DataItem.objects.get(uid=item.uid).item_tags == {"x": 1}
    assert DataItem.objects.get(uid=bystander.uid).item_tags == {"keep": True}


@pytest.mark.parametrize("params", [{"item_name": "no/such/item"}, {"oid": UNKNOWN}])
def test_update_item_tags_on_nothing_is_item_not_found(api, item, params):
    before = snapshot()

    response = patch(api, "update_item_tags", params, {"a": 1})

    assert exec_error(response, 422, "InvalidQueryParameters") == "item_name or OID not found"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("params", "kw"),
    [
        ("name", {"raw_body": ""}),
        ("name", {"body": {}}),
        ("name", {"raw_body": "null"}),
        ("none", {"body": {"a": 1}}),
    ],
    ids=["no-body", "empty-object", "null", "no-identifier"],
)
def test_update_item_tags_without_identifier_or_tags_is_invalid(api, item, params, kw):
    before = snapshot()
    query = {"item_name": item.item_name} if params == "name" else {}

    response = patch(api, "update_item_tags", query, **kw)

    message = exec_error(response, 422, "InvalidQueryParameters")
    assert message == "Either item_name or OID or item_tags are missing"
    assert snapshot() == before


# --- shared: unknown rows, malformed uuids ---------------------------------------------------

# One valid call per setter, on the item ``uid`` of object ``oid`` (a uid is its own oid here).
SETTER_CALLS = {
    "update_data_item": ({"uid": "{uid}"}, {"item_state": "READY"}),
    "set_uri": ({"uid": "{uid}", "uri": "moved", "storage_id": "{storage}"}, None),
    "set_metadata": ({"uid": "{uid}"}, {"m": 1}),
    "set_state": ({"uid": "{uid}", "state": "READY"}, None),
    "set_oid_expiration": ({"oid": "{uid}", "expiration": "2040-01-01"}, None),
    "set_uid_expiration": ({"uid": "{uid}", "expiration": "2040-01-01"}, None),
    "set_user": ({"uid": "{uid}", "user": "zed"}, None),
    "set_group": ({"uid": "{uid}", "group": "zed"}, None),
    "set_acl": ({"uid": "{uid}", "acl": '{"r": 1}'}, None),
    "set_phase": ({"uid": "{uid}", "phase": "SOLID"}, None),
    "update_item_tags": ({"oid": "{uid}"}, {"t": 1}),
}
# What each of those calls changes: (column, new value in the row's JSON form).
SETTER_EFFECTS = {
    "update_data_item": ("item_state", "READY"),
    "set_uri": ("uri", "moved"),
    "set_metadata": ("metadata", {"m": 1}),
    "set_state": ("item_state", "READY"),
    "set_oid_expiration": ("oid_expiration", "2040-01-01T00:00:00"),
    "set_uid_expiration": ("uid_expiration", "2040-01-01T00:00:00"),
    "set_user": ("item_owner", "zed"),
    "set_group": ("item_group", "zed"),
    "set_acl": ("acl", {"r": 1}),
    "set_phase": ("uid_phase", "SOLID"),
    "update_item_tags": ("item_tags", {"t": 1}),
}
SETTERS = list(SETTER_CALLS)


def setter_call(operation: str, uid: str, storage: str) -> tuple[dict[str, str], Any]:
    params, body = SETTER_CALLS[operation]
    return {key: value.replace("{uid}", uid).replace("{storage}", storage) for key, value in params.items()}, body


@pytest.mark.parametrize("operation", SETTERS)
def test_each_setter_changes_its_column_and_answers_the_row(api, item, operation):
    target = make_storage()
    params, body = setter_call(operation, str(item.uid), str(target.storage_id))
    column, value = SETTER_EFFECTS[operation]
    assert db_row(item.uid)[column] != value

    response = patch(api, operation, params, body)

    assert response.status_code == 200, response.content
    assert db_row(item.uid)[column] == value
    assert_row(response.json(), item)


@pytest.mark.parametrize("operation", [op for op in SETTERS if op != "update_item_tags"])
def test_each_setter_on_an_unknown_identifier_is_not_found_and_changes_nothing(api, item, operation):
    target = make_storage()
    params, body = setter_call(operation, UNKNOWN, str(target.storage_id))
    before = snapshot()

    response = patch(api, operation, params, body)

    message = exec_error(response, 404, "ObjectNotFound")
    assert UNKNOWN in message
    assert ("oid" if "oid" in params else "uid") in message
    assert snapshot() == before


@pytest.mark.parametrize(
    ("operation", "param"),
    [
        ("update_data_item", "uid"),
        ("update_data_item", "oid"),
        ("set_uri", "uid"),
        ("set_uri", "storage_id"),
        ("set_metadata", "uid"),
        ("set_state", "uid"),
        ("set_oid_expiration", "oid"),
        ("set_uid_expiration", "uid"),
        ("set_user", "uid"),
        ("set_user", "oid"),
        ("set_group", "uid"),
        ("set_group", "oid"),
        ("set_acl", "uid"),
        ("set_acl", "oid"),
        ("set_phase", "uid"),
        ("update_item_tags", "oid"),
    ],
)
def test_each_setter_refuses_a_malformed_uuid_naming_the_parameter(api, item, operation, param):
    target = make_storage()
    params, body = setter_call(operation, str(item.uid), str(target.storage_id))
    params[param] = "not-a-uuid"
    before = snapshot()

    response = patch(api, operation, params, body)

    assert detail_of(response) == [
        {"type": "uuid_parsing", "loc": ["query", param], "msg": "Input should be a valid UUID", "input": "not-a-uuid"}
    ]
    assert snapshot() == before


# --- permissions -----------------------------------------------------------------------------


@pytest.mark.parametrize("operation", SETTERS)
def test_setters_without_a_token_are_401_with_a_bearer_challenge(anon_api, item, operation):
    params, body = setter_call(operation, str(item.uid), str(item.storage_id))
    before = snapshot()

    response = patch(anon_api, operation, params, body)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert set(response.json()) == {"detail"}
    assert snapshot() == before


@pytest.mark.parametrize("operation", SETTERS)
def test_setters_refuse_a_viewer_naming_the_operator_role(viewer_api, item, operation):
    params, body = setter_call(operation, str(item.uid), str(item.storage_id))
    before = snapshot()

    response = patch(viewer_api, operation, params, body)

    assert response.status_code == 403
    assert set(response.json()) == {"detail"}
    assert "operator" in response.json()["detail"]
    assert snapshot() == before


@pytest.mark.parametrize("operation", SETTERS)
def test_setters_allow_an_operator(operator_api, item, operation):
    target = make_storage()
    params, body = setter_call(operation, str(item.uid), str(target.storage_id))
    column, value = SETTER_EFFECTS[operation]

    response = patch(operator_api, operation, params, body)

    assert response.status_code == 200, response.content
    assert db_row(item.uid)[column] == value
    assert_row(response.json(), item)
