"""``POST /ingest/init_data_item`` (contract §6 I1, §9.2, §10)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from catalogue.models import DataItem
from tests.factories import make_item, make_storage

URL = "/ingest/init_data_item"
NEITHER = {"exec": "InvalidQueryParameters", "message": "Either item_name or json_data is required"}


def _new_item(response) -> DataItem:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    uid = response.json()
    assert isinstance(uid, str)
    return DataItem.objects.get(uid=uuid.UUID(uid))


def _client_body(source: DataItem, target_storage, **overrides) -> dict:
    """The body ska-dlm-client's ``_migrate_item`` sends for a child item (contract §9.2)."""
    body = {
        "item_name": source.item_name,
        "oid": str(source.oid),
        "storage_id": str(target_storage.storage_id),
        "uid_phase": "SOLID",
        "uri": source.uri,
        "target_phase": "SOLID",
        "item_type": "file",
        "item_state": "READY",
        "item_owner": "SKA",
        "uid_expiration": None,
        "item_size": None,
        "decompressed_size": 4096,
    }
    return {**body, **overrides}


# --- by item_name ---------------------------------------------------------------------------


def test_init_by_name_creates_an_initialised_gas_item_owned_by_the_caller(api):
    before = timezone.now()

    item = _new_item(api.post(URL, {"item_name": "raw/file.fits"}))

    assert item.item_name == "raw/file.fits"
    assert item.item_state == "INITIALISED"
    assert item.uid_phase == "GAS"
    assert item.item_owner == "admin-user"
    assert item.uri == "inline://item_value"
    assert item.storage_id is None
    assert item.oid == item.uid
    assert item.oid_creation == item.uid_creation
    assert item.uid_creation >= before
    assert DataItem.objects.count() == 1


def test_init_by_name_uses_the_given_uid_phase(api):
    item = _new_item(api.post(URL, {"item_name": "x", "uid_phase": "LIQUID"}))

    assert item.uid_phase == "LIQUID"


def test_init_by_name_with_empty_uid_phase_uses_gas(api):
    item = _new_item(api.post(URL, {"item_name": "x", "uid_phase": ""}))

    assert item.uid_phase == "GAS"


def test_init_by_name_ignores_the_body(api):
    storage = make_storage()
    body = {"item_name": "from-body", "storage_id": str(storage.storage_id), "item_state": "READY", "bogus": 1}

    item = _new_item(api.post(URL, {"item_name": "from-query"}, body))

    assert item.item_name == "from-query"
    assert item.storage_id is None
    assert item.item_state == "INITIALISED"
    assert not DataItem.objects.filter(item_name="from-body").exists()


def test_init_by_name_twice_creates_two_items_since_names_are_not_unique(api):
    first = _new_item(api.post(URL, {"item_name": "same"}))
    second = _new_item(api.post(URL, {"item_name": "same"}))

    assert first.uid != second.uid
    assert first.oid != second.oid
    assert DataItem.objects.filter(item_name="same").count() == 2


def test_repeated_item_name_parameter_uses_the_last_value(api):
    item = _new_item(api.post(URL, {"item_name": ["first", "last"]}))

    assert item.item_name == "last"
    assert DataItem.objects.count() == 1


# --- by JSON body ---------------------------------------------------------------------------


def test_init_with_the_client_body_stores_every_column(api):
    source = make_item(make_storage(), item_state="READY", uri="product/file.ms")
    target = make_storage(storage_phase="SOLID")
    body = _client_body(source, target, uid_expiration="2030-01-02T03:04:05.123456")

    item = _new_item(api.post(URL, None, body))

    assert item.uid != source.uid
    assert item.item_name == source.item_name
    assert item.oid == source.oid
    assert item.oid_creation == source.oid_creation
    assert item.storage_id == target.storage_id
    assert item.uid_phase == "SOLID"
    assert item.uri == "product/file.ms"
    assert item.target_phase == "SOLID"
    assert item.item_type == "file"
    assert item.item_state == "READY"
    assert item.uid_expiration == datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert item.item_size is None
    assert item.decompressed_size == 4096
    # Columns the body does not name keep their defaults.
    assert item.item_group == "SKA"
    assert item.oid_expiration == datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert DataItem.objects.count() == 2


def test_init_with_a_body_takes_the_owner_from_the_token_not_the_body(operator_api):
    item = _new_item(operator_api.post(URL, None, {"item_name": "x", "item_owner": "someone-else"}))

    assert item.item_owner == "operator-user"


def test_init_with_a_body_stores_explicit_nulls_as_null(api):
    item = _new_item(api.post(URL, None, {"item_name": "x", "uid_expiration": None, "item_size": None, "uri": None}))

    assert item.uid_expiration is None
    assert item.item_size is None
    assert item.uri is None


def test_init_with_a_body_without_uid_expiration_defaults_it_to_a_day_ahead(api):
    before = timezone.now()

    item = _new_item(api.post(URL, None, {"item_name": "x"}))

    assert before + timedelta(hours=24) <= item.uid_expiration <= timezone.now() + timedelta(hours=24)


def test_init_with_an_aware_timestamp_stores_it_converted_to_utc(api):
    item = _new_item(api.post(URL, None, {"item_name": "x", "uid_expiration": "2030-06-01T12:30:00+02:00"}))

    assert item.uid_expiration == datetime(2030, 6, 1, 10, 30, tzinfo=UTC)


def test_init_with_a_utc_timestamp_in_isoformat_stores_it(api):
    sent = datetime(2030, 6, 1, 12, 30, 15, 5, tzinfo=UTC)

    item = _new_item(api.post(URL, None, {"item_name": "x", "uid_expiration": sent.isoformat()}))

    assert item.uid_expiration == sent


def test_init_timestamps_read_back_as_naive_utc_text(api):
    item = _new_item(api.post(URL, None, {"item_name": "x", "uid_expiration": "2030-06-01T12:30:00.25-03:00"}))

    response = api.get("/request/query_data_item", {"uid": str(item.uid)})

    assert response.status_code == 200
    assert response.json()[0]["uid_expiration"] == "2030-06-01T15:30:00.250000"


def test_init_with_the_uid_of_an_existing_item_as_oid_joins_its_object(api):
    root = make_item(make_storage(), item_state="READY")
    copy = make_item(make_storage(), oid=root.uid, item_name=root.item_name)

    item = _new_item(api.post(URL, None, _client_body(copy, make_storage(), oid=str(copy.uid))))

    assert item.oid == root.uid
    assert item.oid_creation == root.oid_creation
    assert item.uid not in (root.uid, copy.uid)


def test_init_with_an_unknown_oid_keeps_it_with_null_oid_creation(api):
    unknown = uuid.uuid4()

    item = _new_item(api.post(URL, None, {"item_name": "x", "oid": str(unknown)}))

    assert item.oid == unknown
    assert item.oid_creation is None


def test_init_with_a_null_oid_starts_a_new_object(api):
    item = _new_item(api.post(URL, None, {"item_name": "x", "oid": None}))

    assert item.oid == item.uid


def test_init_stores_sizes_beyond_32_bits(api):
    item = _new_item(api.post(URL, None, {"item_name": "big", "item_size": 2**31 + 7, "decompressed_size": 2**40}))

    assert item.item_size == 2**31 + 7
    assert item.decompressed_size == 2**40
    row = api.get("/request/query_data_item", {"uid": str(item.uid)}).json()[0]
    assert row["item_size"] == 2**31 + 7
    assert row["decompressed_size"] == 2**40


def test_init_with_json_columns_stores_them(api):
    body = {"item_name": "x", "metadata": {"a": [1, 2]}, "item_tags": {"k": "v"}, "acl": None}

    item = _new_item(api.post(URL, None, body))

    assert item.metadata == {"a": [1, 2]}
    assert item.item_tags == {"k": "v"}
    assert item.acl is None


def test_init_with_a_body_and_application_vnd_json_content_type_is_accepted(api):
    item = _new_item(api.post(URL, None, {"item_name": "x"}, content_type="application/vnd.api+json"))

    assert item.item_name == "x"


# --- neither name nor body ------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [None, {"item_name": ""}, {"uid_phase": "SOLID"}],
    ids=["nothing", "empty-name", "phase-only"],
)
def test_init_without_name_or_body_is_refused(api, params):
    response = api.post(URL, params)

    assert response.status_code == 422
    assert response.json() == NEITHER
    assert not DataItem.objects.exists()


def test_init_with_an_empty_object_body_is_refused(api):
    response = api.post(URL, None, {})

    assert response.status_code == 422
    assert response.json() == NEITHER
    assert not DataItem.objects.exists()


@pytest.mark.parametrize("raw", ["", "  \n", "null"], ids=["empty", "blank", "null"])
def test_init_with_an_empty_or_null_json_body_counts_as_no_body(api, raw):
    response = api.post(URL, raw_body=raw, content_type="application/json")

    assert response.status_code == 422
    assert response.json() == NEITHER
    assert not DataItem.objects.exists()


@pytest.mark.parametrize("raw", ["", "null"], ids=["empty", "null"])
def test_init_by_name_with_an_empty_or_null_json_body_succeeds(api, raw):
    item = _new_item(api.post(URL, {"item_name": "x"}, raw_body=raw, content_type="application/json"))

    assert item.item_name == "x"


# --- invalid bodies -------------------------------------------------------------------------


def _detail(response) -> list[dict]:
    assert response.status_code == 422, response.content
    body = response.json()
    assert set(body) == {"detail"}
    return body["detail"]


def test_init_with_an_array_body_is_a_dict_type_error(api):
    detail = _detail(api.post(URL, None, [{"item_name": "x"}]))

    assert detail == [
        {
            "type": "dict_type",
            "loc": ["body"],
            "msg": "Input should be a valid dictionary",
            "input": [{"item_name": "x"}],
        }
    ]
    assert not DataItem.objects.exists()


def test_init_with_malformed_json_is_a_json_invalid_error(api):
    detail = _detail(api.post(URL, raw_body='{"item_name": ', content_type="application/json"))

    assert len(detail) == 1
    assert detail[0]["type"] == "json_invalid"
    assert detail[0]["loc"][0] == "body"
    assert isinstance(detail[0]["loc"][1], int)
    assert detail[0]["msg"] == "JSON decode error"
    assert detail[0]["input"] == {}
    assert "error" in detail[0]["ctx"]
    assert not DataItem.objects.exists()


def test_init_with_a_non_json_content_type_is_refused(api):
    detail = _detail(api.post(URL, raw_body="item_name=x", content_type="application/x-www-form-urlencoded"))

    assert detail[0]["type"] == "dict_type"
    assert detail[0]["loc"] == ["body"]
    assert not DataItem.objects.exists()


def test_init_with_an_unknown_column_names_it_and_writes_nothing(api):
    detail = _detail(api.post(URL, None, {"item_name": "x", "colour": "blue"}))

    assert [(e["type"], e["loc"], e["input"]) for e in detail] == [("extra_forbidden", ["body", "colour"], "blue")]
    assert not DataItem.objects.exists()


def test_init_with_several_bad_keys_names_each_of_them(api):
    body = {"item_name": "x", "colour": "blue", "item_size": "big", "storage_id": 5, "uid_expiration": "soon"}

    detail = _detail(api.post(URL, None, body))

    assert {tuple(e["loc"]) for e in detail} == {
        ("body", "colour"),
        ("body", "item_size"),
        ("body", "storage_id"),
        ("body", "uid_expiration"),
    }
    assert not DataItem.objects.exists()


def test_init_with_a_bad_item_state_is_an_enum_error(api):
    detail = _detail(api.post(URL, None, {"item_name": "x", "item_state": "ready"}))

    assert len(detail) == 1
    assert detail[0]["type"] == "enum"
    assert detail[0]["loc"] == ["body", "item_state"]
    assert "'READY'" in detail[0]["ctx"]["expected"]
    assert not DataItem.objects.exists()


def test_init_with_a_malformed_oid_names_it(api):
    detail = _detail(api.post(URL, None, {"item_name": "x", "oid": "not-a-uuid"}))

    assert [(e["type"], e["loc"]) for e in detail] == [("uuid_parsing", ["body", "oid"])]
    assert not DataItem.objects.exists()


def test_init_with_an_int_column_out_of_range_names_it(api):
    detail = _detail(api.post(URL, None, {"item_name": "x", "item_level": 2**20, "item_size": 2**64}))

    assert {(e["type"], tuple(e["loc"])) for e in detail} == {
        ("int_range", ("body", "item_level")),
        ("int_range", ("body", "item_size")),
    }
    assert not DataItem.objects.exists()


def test_init_by_name_longer_than_the_column_is_refused_on_every_database(api):
    detail = _detail(api.post(URL, {"item_name": "n" * 1025}))

    assert [(e["type"], e["loc"]) for e in detail] == [("string_too_long", ["query", "item_name"])]
    assert not DataItem.objects.exists()


def test_init_by_name_of_the_column_length_is_accepted(api):
    item = _new_item(api.post(URL, {"item_name": "n" * 1024}))

    assert len(item.item_name) == 1024


def test_init_with_a_body_name_longer_than_the_column_is_refused(api):
    detail = _detail(api.post(URL, None, {"item_name": "n" * 1025}))

    assert [(e["type"], e["loc"]) for e in detail] == [("string_too_long", ["body", "item_name"])]
    assert not DataItem.objects.exists()


@pytest.mark.parametrize(
    "body,loc",
    [
        ({"item_name": "a\x00b"}, ["body", "item_name"]),
        ({"item_name": "x", "metadata": {"k": "a\x00"}}, ["body", "metadata", "k"]),
    ],
)
def test_init_with_nul_characters_in_the_body_is_refused(api, body, loc):
    detail = _detail(api.post(URL, None, body))

    assert [(e["type"], e["loc"]) for e in detail] == [("string_type", loc)]
    assert not DataItem.objects.exists()


def test_init_with_uid_creation_in_the_body_is_refused_as_server_owned(api):
    detail = _detail(api.post(URL, None, {"item_name": "x", "uid_creation": "2020-01-01T00:00:00"}))

    assert [(e["type"], e["loc"]) for e in detail] == [("read_only", ["body", "uid_creation"])]
    assert not DataItem.objects.exists()


@pytest.mark.parametrize("phase", ["gas", "bogus"])
def test_init_with_a_bad_uid_phase_is_an_enum_error(api, phase):
    detail = _detail(api.post(URL, {"item_name": "x", "uid_phase": phase}))

    expected = "'PLASMA', 'GAS', 'LIQUID' or 'SOLID'"
    assert detail == [
        {
            "type": "enum",
            "loc": ["query", "uid_phase"],
            "msg": f"Input should be {expected}",
            "input": phase,
            "ctx": {"expected": expected},
        }
    ]
    assert not DataItem.objects.exists()


def test_init_with_an_unknown_storage_is_refused_and_writes_nothing(api):
    missing = uuid.uuid4()

    response = api.post(URL, None, {"item_name": "x", "storage_id": str(missing)})

    assert response.status_code == 422
    assert response.json()["exec"] == "UnmetPreconditionForOperation"
    assert str(missing) in response.json()["message"]
    assert not DataItem.objects.exists()


def test_init_with_a_name_already_on_that_storage_is_refused(api):
    storage = make_storage()
    existing = make_item(storage, item_name="dup")

    response = api.post(URL, None, {"item_name": "dup", "storage_id": str(storage.storage_id)})

    assert response.status_code == 422
    assert response.json() == {"exec": "ValueAlreadyInDB", "message": "Item is already registered on storage! dup"}
    assert list(DataItem.objects.filter(item_name="dup")) == [existing]


def test_init_with_a_name_on_another_storage_is_accepted(api):
    make_item(make_storage(), item_name="dup")
    other = make_storage()

    item = _new_item(api.post(URL, None, {"item_name": "dup", "storage_id": str(other.storage_id)}))

    assert item.storage_id == other.storage_id
    assert DataItem.objects.filter(item_name="dup").count() == 2


def test_init_with_an_existing_uid_in_the_body_is_a_4xx_not_a_500(api):
    existing = make_item()

    response = api.post(URL, None, {"item_name": "other", "uid": str(existing.uid)})

    assert response.status_code == 422
    assert response.json()["exec"] == "ValueAlreadyInDB"
    assert DataItem.objects.count() == 1
    assert DataItem.objects.get().item_name == existing.item_name


# --- permissions ----------------------------------------------------------------------------


def test_init_without_a_token_is_401(anon_api):
    response = anon_api.post(URL, {"item_name": "x"})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "detail" in response.json()
    assert not DataItem.objects.exists()


def test_init_with_an_unknown_token_is_401(anon_api):
    response = anon_api.post(URL, {"item_name": "x"}, headers={"Authorization": "Bearer not-a-real-token"})

    assert response.status_code == 401
    assert not DataItem.objects.exists()


def test_init_as_viewer_is_403_naming_the_operator_role(viewer_api):
    response = viewer_api.post(URL, {"item_name": "x"})

    assert response.status_code == 403
    assert "operator" in response.json()["detail"]
    assert not DataItem.objects.exists()


def test_init_as_operator_is_allowed(operator_api):
    item = _new_item(operator_api.post(URL, {"item_name": "x"}))

    assert item.item_owner == "operator-user"
