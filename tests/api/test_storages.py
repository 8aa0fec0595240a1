"""``/storage`` operations on storages (contract §5): init_storage and query_storage."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from catalogue.models import Location, Storage
from tests.api.storage_helpers import assert_exec, assert_naive_iso, error_types, missing, storage_params
from tests.factories import make_location, make_storage

# Contract §4.2, in upstream column order.
STORAGE_KEYS = [
    "storage_id",
    "location_id",
    "storage_name",
    "root_directory",
    "storage_type",
    "storage_interface",
    "storage_phase",
    "storage_capacity",
    "storage_use_pct",
    "storage_permissions",
    "storage_checked",
    "storage_check_url",
    "storage_last_checked",
    "storage_num_objects",
    "storage_available",
    "storage_retired",
    "storage_retire_date",
    "storage_date",
]


def storage_body(location: Location, **overrides):
    values = {
        "storage_name": "from-body",
        "storage_type": "objectstore",
        "storage_interface": "s3",
        "location_id": str(location.location_id),
        "storage_capacity": 1234,
        "storage_phase": "LIQUID",
        "root_directory": "/bucket",
    }
    return {**values, **overrides}


# --- S5 init_storage -------------------------------------------------------------------------


def test_init_storage_with_location_id_creates_the_row(api):
    location = make_location()

    response = api.post("/storage/init_storage", storage_params(location_id=str(location.location_id)))

    assert response.status_code == 200
    storage_id = response.json()
    assert isinstance(storage_id, str)
    storage = Storage.objects.get()
    assert storage_id == str(storage.storage_id)
    assert storage.storage_name == "store-a"
    assert storage.storage_type == "filesystem"
    assert storage.storage_interface == "posix"
    assert storage.root_directory == "/data"
    assert storage.location_id == location.location_id
    assert storage.storage_capacity == -1
    assert storage.storage_phase == "GAS"


def test_init_storage_with_location_name_resolves_the_location(api):
    location = make_location(location_name="SKA-DEV")

    response = api.post(
        "/storage/init_storage",
        storage_params(location_name="SKA-DEV", storage_capacity="500", storage_phase="SOLID"),
    )

    assert response.status_code == 200
    storage = Storage.objects.get(storage_id=response.json())
    assert storage.location_id == location.location_id
    assert storage.storage_capacity == 500
    assert storage.storage_phase == "SOLID"


def test_init_storage_location_id_wins_over_location_name(api):
    by_id = make_location(location_name="by-id")
    make_location(location_name="by-name")

    response = api.post(
        "/storage/init_storage", storage_params(location_id=str(by_id.location_id), location_name="by-name")
    )

    assert response.status_code == 200
    assert Storage.objects.get().location_id == by_id.location_id


@pytest.mark.parametrize(("raw", "value"), [("+5", 5), (" 5", 5), ("1_000", 1000), ("5.0", 5), ("-1", -1)])
def test_init_storage_parses_storage_capacity_leniently(api, raw, value):
    location = make_location()

    response = api.post(
        "/storage/init_storage", storage_params(location_id=str(location.location_id), storage_capacity=raw)
    )

    assert response.status_code == 200, response.content
    assert Storage.objects.get().storage_capacity == value


@pytest.mark.parametrize("raw", ["5.5", "0x10", "five"])
def test_init_storage_rejects_a_non_integer_capacity(api, raw):
    location = make_location()

    response = api.post(
        "/storage/init_storage", storage_params(location_id=str(location.location_id), storage_capacity=raw)
    )

    assert error_types(response) == {("query", "storage_capacity"): "int_parsing"}
    assert response.json()["detail"][0]["input"] == raw
    assert Storage.objects.count() == 0


def test_init_storage_reports_every_missing_parameter(api):
    response = api.post("/storage/init_storage")

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            missing("query", "storage_name"),
            missing("query", "storage_type"),
            missing("query", "root_directory"),
            missing("query", "storage_interface"),
        ]
    }


@pytest.mark.parametrize(
    ("param", "value"), [("storage_type", "disk"), ("storage_interface", "nfs"), ("storage_phase", "gas")]
)
def test_init_storage_rejects_a_bad_enum(api, param, value):
    location = make_location()

    response = api.post(
        "/storage/init_storage", storage_params(location_id=str(location.location_id), **{param: value})
    )

    assert error_types(response) == {("query", param): "enum"}
    assert Storage.objects.count() == 0


def test_init_storage_rejects_a_duplicate_name_with_409(api):
    location = make_location()
    make_storage(location, storage_name="store-a")

    response = api.post("/storage/init_storage", storage_params(location_id=str(location.location_id)))

    assert_exec(response, 409, "DatabaseOperationError")
    assert Storage.objects.count() == 1


def test_init_storage_rejects_an_unknown_location_id_with_409_foreign_key(api):
    make_location()

    response = api.post("/storage/init_storage", storage_params(location_id=str(uuid.uuid4())))

    message = assert_exec(response, 409, "DatabaseOperationError")
    assert "foreign key" in message
    assert Storage.objects.count() == 0


def test_init_storage_rejects_a_malformed_location_id_with_422(api):
    response = api.post("/storage/init_storage", storage_params(location_id="42"))

    assert error_types(response) == {("query", "location_id"): "uuid_parsing"}
    assert Storage.objects.count() == 0


def test_init_storage_rejects_an_unknown_location_name_with_422(api):
    make_location(location_name="known")

    response = api.post("/storage/init_storage", storage_params(location_name="unknown"))

    message = assert_exec(response, 422, "UnmetPreconditionForOperation")
    assert "unknown" in message
    assert Storage.objects.count() == 0


def test_init_storage_without_any_location_is_422_not_500(api):
    make_location()

    response = api.post("/storage/init_storage", storage_params())

    message = assert_exec(response, 422, "InvalidQueryParameters")
    assert "location" in message
    assert Storage.objects.count() == 0


def test_init_storage_rejects_an_empty_storage_name(api):
    location = make_location()

    response = api.post("/storage/init_storage", storage_params(storage_name="", location_id=str(location.location_id)))

    assert_exec(response, 422, "InvalidQueryParameters", "storage_name cannot be empty")
    assert Storage.objects.count() == 0


def test_init_storage_rejects_an_over_long_name_with_422(api):
    location = make_location()

    response = api.post(
        "/storage/init_storage", storage_params(storage_name="s" * 256, location_id=str(location.location_id))
    )

    assert ("query", "storage_name") in error_types(response)
    assert Storage.objects.count() == 0


@pytest.mark.parametrize("body", ["", "null"])
def test_init_storage_with_an_empty_or_null_body_uses_the_query(api, body):
    location = make_location()

    response = api.post("/storage/init_storage", storage_params(location_id=str(location.location_id)), raw_body=body)

    assert response.status_code == 200
    assert Storage.objects.get().storage_name == "store-a"


def test_init_storage_body_replaces_the_query_values(api):
    location = make_location()
    query_location = make_location()

    response = api.post(
        "/storage/init_storage",
        storage_params(location_id=str(query_location.location_id)),
        storage_body(location),
    )

    assert response.status_code == 200
    storage = Storage.objects.get()
    assert response.json() == str(storage.storage_id)
    assert storage.storage_name == "from-body"
    assert storage.storage_type == "objectstore"
    assert storage.storage_interface == "s3"
    assert storage.location_id == location.location_id
    assert storage.storage_capacity == 1234
    assert storage.storage_phase == "LIQUID"
    assert storage.root_directory == "/bucket"


def test_init_storage_body_still_needs_the_query_parameters(api):
    location = make_location()

    response = api.post("/storage/init_storage", None, storage_body(location))

    assert set(error_types(response)) == {
        ("query", "storage_name"),
        ("query", "storage_type"),
        ("query", "root_directory"),
        ("query", "storage_interface"),
    }
    assert Storage.objects.count() == 0


def test_init_storage_body_missing_keys_is_422_naming_each_key(api):
    location = make_location()

    response = api.post(
        "/storage/init_storage",
        storage_params(location_id=str(location.location_id)),
        {"storage_name": "partial", "storage_type": "filesystem", "location_id": str(location.location_id)},
    )

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            missing("body", "storage_interface"),
            missing("body", "storage_capacity"),
            missing("body", "storage_phase"),
            missing("body", "root_directory"),
        ]
    }
    assert Storage.objects.count() == 0


def test_init_storage_body_with_an_unknown_column_is_422_naming_it(api):
    location = make_location()

    response = api.post(
        "/storage/init_storage",
        storage_params(location_id=str(location.location_id)),
        storage_body(location, storage_colour="blue"),
    )

    assert error_types(response) == {("body", "storage_colour"): "extra_forbidden"}
    assert Storage.objects.count() == 0


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [
        ("storage_type", "disk", "enum"),
        ("storage_phase", "gas", "enum"),
        ("storage_capacity", "lots", "int_type"),
        ("location_id", "not-a-uuid", "uuid_parsing"),
        ("location_id", None, "missing"),
    ],
)
def test_init_storage_body_with_a_bad_value_is_422_naming_the_key(api, key, value, kind):
    location = make_location()

    response = api.post(
        "/storage/init_storage",
        storage_params(location_id=str(location.location_id)),
        storage_body(location, **{key: value}),
    )

    assert error_types(response) == {("body", key): kind}
    assert Storage.objects.count() == 0


def test_init_storage_body_with_an_unknown_location_is_409(api):
    location = make_location()
    body = storage_body(location, location_id=str(uuid.uuid4()))

    response = api.post("/storage/init_storage", storage_params(location_id=str(location.location_id)), body)

    assert "foreign key" in assert_exec(response, 409, "DatabaseOperationError")
    assert Storage.objects.count() == 0


def test_init_storage_body_that_is_not_an_object_is_422_dict_type(api):
    location = make_location()

    response = api.post("/storage/init_storage", storage_params(location_id=str(location.location_id)), [1, 2])

    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"type": "dict_type", "loc": ["body"], "msg": "Input should be a valid dictionary", "input": [1, 2]}]
    }
    assert Storage.objects.count() == 0


def test_init_storage_malformed_json_body_is_422_json_invalid(api):
    location = make_location()

    response = api.post(
        "/storage/init_storage", storage_params(location_id=str(location.location_id)), raw_body='{"storage_name": '
    )

    assert response.status_code == 422
    [entry] = response.json()["detail"]
    assert entry["type"] == "json_invalid"
    assert entry["loc"][0] == "body"
    assert isinstance(entry["loc"][1], int)
    assert entry["msg"] == "JSON decode error"
    assert Storage.objects.count() == 0


def test_init_storage_body_under_a_non_json_content_type_is_422(api):
    location = make_location()

    response = api.post(
        "/storage/init_storage",
        storage_params(location_id=str(location.location_id)),
        raw_body="storage_name=x",
        content_type="application/x-www-form-urlencoded",
    )

    assert error_types(response) == {("body",): "dict_type"}
    assert Storage.objects.count() == 0


def test_init_storage_body_with_a_nul_character_is_422_not_500(api):
    location = make_location()

    response = api.post(
        "/storage/init_storage",
        storage_params(location_id=str(location.location_id)),
        storage_body(location, root_directory="/a\x00b"),
    )

    assert error_types(response) == {("body", "root_directory"): "string_type"}
    assert Storage.objects.count() == 0


# --- S9 query_storage ------------------------------------------------------------------------


def test_query_storage_by_name_returns_the_full_upstream_row(api):
    location = make_location()
    storage = make_storage(location, storage_name="dlm-archive", storage_capacity=10, storage_phase="SOLID")
    make_storage(location, storage_name="other")

    response = api.get("/storage/query_storage", {"storage_name": "dlm-archive"})

    assert response.status_code == 200
    [row] = response.json()
    assert list(row) == [*STORAGE_KEYS, "storage_config"]  # upstream's columns, then its configs (none)
    assert row["storage_config"] == []
    assert row["storage_id"] == str(storage.storage_id)
    assert row["location_id"] == str(location.location_id)
    assert row["storage_name"] == "dlm-archive"
    assert row["root_directory"] == "/data"
    assert row["storage_type"] == "filesystem"
    assert row["storage_interface"] == "posix"
    assert row["storage_phase"] == "SOLID"
    assert row["storage_capacity"] == 10
    assert row["storage_use_pct"] == 0.0
    assert isinstance(row["storage_use_pct"], float)
    assert row["storage_permissions"] == "RW"
    assert row["storage_checked"] is False
    assert row["storage_check_url"] is None
    assert row["storage_last_checked"] is None
    assert row["storage_num_objects"] == 0
    assert row["storage_available"] is True
    assert row["storage_retired"] is False
    assert row["storage_retire_date"] is None
    assert_naive_iso(row["storage_date"])


def test_query_storage_shows_other_timestamps_naive(api):
    storage = make_storage(storage_name="checked")
    Storage.objects.filter(pk=storage.pk).update(
        storage_last_checked=datetime.fromisoformat("2026-07-16T04:43:48.123456+02:00")
    )

    [row] = api.get("/storage/query_storage", {"storage_name": "checked"}).json()

    assert row["storage_last_checked"] == "2026-07-16T02:43:48.123456"


def test_query_storage_by_id(api):
    make_storage(storage_name="one")
    two = make_storage(storage_name="two")

    response = api.get("/storage/query_storage", {"storage_id": str(two.storage_id)})

    assert response.status_code == 200
    assert [row["storage_name"] for row in response.json()] == ["two"]


def test_query_storage_name_wins_over_id(api):
    make_storage(storage_name="one")
    two = make_storage(storage_name="two")

    response = api.get("/storage/query_storage", {"storage_name": "one", "storage_id": str(two.storage_id)})

    assert [row["storage_name"] for row in response.json()] == ["one"]


def test_query_storage_without_filters_returns_all_and_ignores_unknown_parameters(api):
    make_storage(storage_name="one")
    make_storage(storage_name="two")

    response = api.get("/storage/query_storage", {"location_id": "not-even-a-uuid"})

    assert response.status_code == 200
    assert sorted(row["storage_name"] for row in response.json()) == ["one", "two"]


@pytest.mark.parametrize("params", [{"storage_name": "nope"}, {"storage_id": str(uuid.uuid4())}])
def test_query_storage_with_no_match_is_an_empty_list(api, params):
    make_storage()

    response = api.get("/storage/query_storage", params)

    assert response.status_code == 200
    assert response.json() == []


def test_query_storage_with_a_malformed_id_is_422_not_500(api):
    response = api.get("/storage/query_storage", {"storage_id": "not-a-uuid"})

    assert error_types(response) == {("query", "storage_id"): "uuid_parsing"}


def test_query_storage_pages(api):
    for name in ["st-c", "st-a", "st-b"]:
        make_storage(storage_name=name)

    first = api.get("/storage/query_storage", {"limit": 2}).json()
    rest = api.get("/storage/query_storage", {"limit": 2, "offset": 2}).json()

    assert [row["storage_name"] for row in first + rest] == ["st-a", "st-b", "st-c"]
    assert error_types(api.get("/storage/query_storage", {"limit": 1001})) == {("query", "limit"): "less_than_equal"}


# --- Every read ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/storage/query_storage", "storage_name"),
        ("/storage/query_location", "location_name"),
        ("/storage/get_storage_config", "storage_name"),
    ],
)
def test_reads_reject_a_nul_character_with_422_not_500(api, path, param):
    response = api.get(path, {param: "a\x00b"})

    assert error_types(response) == {("query", param): "string_type"}
