"""The nine ``/storage`` operations (contract §5): answers, error shapes and what reaches the DB."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from django.db import connection

from catalogue.models import Location, Storage, StorageConfig
from core.secrets import join_secrets
from tests.factories import make_location, make_storage

LOCATION_TYPES = "'local-dev', 'low-integration', 'mid-integration', 'low-operations' or 'mid-operations'"

# Contract §4.1 and §4.2, in upstream column order.
LOCATION_KEYS = [
    "location_id",
    "location_name",
    "location_type",
    "location_country",
    "location_city",
    "location_facility",
    "location_check_url",
    "location_last_check",
    "location_date",
]
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


def missing(*loc):
    return {"type": "missing", "loc": list(loc), "msg": "Field required", "input": None}


def error_types(response) -> dict[tuple, str]:
    """``{loc: type}`` of a 422 ``detail`` answer."""
    assert response.status_code == 422, response.content
    return {tuple(entry["loc"]): entry["type"] for entry in response.json()["detail"]}


def assert_exec(response, status: int, exec_name: str, message: str | None = None) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"exec", "message"}
    assert body["exec"] == exec_name
    if message is not None:
        assert body["message"] == message
    return body["message"]


def assert_naive_iso(text: str) -> None:
    assert isinstance(text, str)
    assert datetime.fromisoformat(text).tzinfo is None, text


def storage_params(**overrides):
    values = {
        "storage_name": "store-a",
        "storage_type": "filesystem",
        "root_directory": "/data",
        "storage_interface": "posix",
    }
    return {**values, **overrides}


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


def raw_storage_config_rows() -> str:
    """Every stored storage_config row as the database holds it, as text."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT config, secrets FROM storage_config")
        return repr(cursor.fetchall())


# --- S1 query_location_facility --------------------------------------------------------------


def test_query_location_facility_lists_the_seeded_facilities(api):
    response = api.get("/storage/query_location_facility")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert sorted(response.json()) == sorted(["SRC", "STFC", "AWS", "Google", "Pawsey Centre", "external", "local"])


# --- S2 get_ssh_public_key -------------------------------------------------------------------


def test_get_ssh_public_key_answers_the_key_file_stripped(api, settings, tmp_path):
    key_file = tmp_path / "id_ed25519.pub"
    key_file.write_text("\n  ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey dlm@test  \n\n")
    settings.SSH_PUBLIC_KEY_PATH = key_file

    response = api.get("/storage/get_ssh_public_key")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey dlm@test"


def test_get_ssh_public_key_without_a_configured_path_is_422_not_500(api, settings):
    settings.SSH_PUBLIC_KEY_PATH = None

    response = api.get("/storage/get_ssh_public_key")

    message = assert_exec(response, 422, "UnmetPreconditionForOperation")
    assert "SSH_PUBLIC_KEY_PATH" in message


@pytest.mark.parametrize("kind", ["absent file", "directory"])
def test_get_ssh_public_key_with_an_unreadable_path_is_422(api, settings, tmp_path, kind):
    settings.SSH_PUBLIC_KEY_PATH = tmp_path / "missing.pub" if kind == "absent file" else tmp_path

    response = api.get("/storage/get_ssh_public_key")

    assert_exec(response, 422, "UnmetPreconditionForOperation", "Unable to open SSH key")


# --- S4 init_location ------------------------------------------------------------------------


def test_init_location_creates_the_row_and_answers_its_id_as_a_bare_string(api):
    response = api.post(
        "/storage/init_location",
        {
            "location_name": "SKA-DEV",
            "location_type": "local-dev",
            "location_country": "AU",
            "location_city": "Perth",
            "location_facility": "local",
        },
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    location_id = response.json()
    assert isinstance(location_id, str)
    location = Location.objects.get()
    assert location_id == str(location.location_id)
    assert location.location_name == "SKA-DEV"
    assert location.location_type == "local-dev"
    assert location.location_country == "AU"
    assert location.location_city == "Perth"
    assert location.location_facility_id == "local"
    assert location.location_date is not None


def test_init_location_leaves_empty_city_and_facility_null(api):
    response = api.post(
        "/storage/init_location",
        {"location_name": "bare", "location_type": "mid-operations", "location_city": "", "location_facility": ""},
    )

    assert response.status_code == 200
    location = Location.objects.get(location_id=response.json())
    assert location.location_city is None
    assert location.location_facility_id is None
    assert location.location_country is None


def test_init_location_reports_every_missing_parameter(api):
    response = api.post("/storage/init_location")

    assert response.status_code == 422
    assert response.json() == {"detail": [missing("query", "location_name"), missing("query", "location_type")]}
    assert Location.objects.count() == 0


def test_init_location_rejects_a_bad_location_type_with_the_allowed_values(api):
    response = api.post("/storage/init_location", {"location_name": "x", "location_type": "Local-Dev"})

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "enum",
                "loc": ["query", "location_type"],
                "msg": f"Input should be {LOCATION_TYPES}",
                "input": "Local-Dev",
                "ctx": {"expected": LOCATION_TYPES},
            }
        ]
    }
    assert Location.objects.count() == 0


def test_init_location_rejects_a_bad_country(api):
    response = api.post(
        "/storage/init_location", {"location_name": "x", "location_type": "local-dev", "location_country": "au"}
    )

    assert error_types(response) == {("query", "location_country"): "enum"}
    assert response.json()["detail"][0]["ctx"] == {"expected": "'AU', 'ZA' or 'UK'"}
    assert Location.objects.count() == 0


def test_init_location_rejects_an_empty_name_as_invalid_query_parameters(api):
    response = api.post("/storage/init_location", {"location_name": "", "location_type": "local-dev"})

    assert_exec(response, 422, "InvalidQueryParameters", "location_name and location_type cannot be empty")
    assert Location.objects.count() == 0


def test_init_location_rejects_a_duplicate_name_as_value_already_in_db(api):
    make_location(location_name="SKA-INT")

    response = api.post("/storage/init_location", {"location_name": "SKA-INT", "location_type": "low-integration"})

    assert_exec(response, 422, "ValueAlreadyInDB", "A location with this name exists already: SKA-INT")
    assert Location.objects.filter(location_name="SKA-INT").count() == 1


def test_init_location_rejects_unknown_facility_with_409(api):
    response = api.post(
        "/storage/init_location",
        {"location_name": "x", "location_type": "local-dev", "location_facility": "Mars Base"},
    )

    message = assert_exec(response, 409, "DatabaseOperationError")
    assert "foreign key" in message
    assert Location.objects.count() == 0


@pytest.mark.parametrize("param", ["location_name", "location_city"])
def test_init_location_rejects_an_over_long_value_with_422_naming_it(api, param):
    params = {"location_name": "long", "location_type": "local-dev", param: "x" * 256}

    response = api.post("/storage/init_location", params)

    assert ("query", param) in error_types(response)
    assert Location.objects.count() == 0


def test_init_location_rejects_a_nul_character_with_422_naming_the_parameter(api):
    response = api.post("/storage/init_location", {"location_name": "a\x00b", "location_type": "local-dev"})

    assert error_types(response) == {("query", "location_name"): "string_type"}
    assert Location.objects.count() == 0


# --- S3 query_location -----------------------------------------------------------------------


def test_query_location_by_name_returns_the_full_row(api):
    location = make_location(location_name="SKA-low", location_city="Perth", location_facility="Pawsey Centre")
    make_location(location_name="SKA-mid")

    response = api.get("/storage/query_location", {"location_name": "SKA-low"})

    assert response.status_code == 200
    [row] = response.json()
    assert list(row) == LOCATION_KEYS
    assert row["location_id"] == str(location.location_id)
    assert row["location_name"] == "SKA-low"
    assert row["location_type"] == "local-dev"
    assert row["location_country"] == "AU"
    assert row["location_city"] == "Perth"
    assert row["location_facility"] == "Pawsey Centre"
    assert row["location_check_url"] is None
    assert row["location_last_check"] is None
    assert_naive_iso(row["location_date"])


def test_query_location_name_wins_over_id(api):
    by_name = make_location(location_name="by-name")
    by_id = make_location(location_name="by-id")

    response = api.get("/storage/query_location", {"location_name": "by-name", "location_id": str(by_id.location_id)})

    assert response.status_code == 200
    assert [row["location_id"] for row in response.json()] == [str(by_name.location_id)]


def test_query_location_by_id(api):
    make_location(location_name="other")
    wanted = make_location(location_name="wanted")

    response = api.get("/storage/query_location", {"location_id": str(wanted.location_id), "location_name": ""})

    assert response.status_code == 200
    assert [row["location_name"] for row in response.json()] == ["wanted"]


def test_query_location_without_filters_returns_all(api):
    make_location(location_name="loc-a")
    make_location(location_name="loc-b")

    response = api.get("/storage/query_location")

    assert response.status_code == 200
    assert sorted(row["location_name"] for row in response.json()) == ["loc-a", "loc-b"]


@pytest.mark.parametrize("params", [{"location_name": "nowhere"}, {"location_id": str(uuid.uuid4())}])
def test_query_location_with_no_match_is_an_empty_list(api, params):
    make_location()

    response = api.get("/storage/query_location", params)

    assert response.status_code == 200
    assert response.json() == []


def test_query_location_with_a_malformed_id_is_422_not_500(api):
    response = api.get("/storage/query_location", {"location_id": "not-a-uuid"})

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "uuid_parsing",
                "loc": ["query", "location_id"],
                "msg": "Input should be a valid UUID",
                "input": "not-a-uuid",
            }
        ]
    }


def test_query_location_pages_with_limit_and_offset_in_a_stable_order(api):
    for name in ["page-c", "page-a", "page-e", "page-b", "page-d"]:
        make_location(location_name=name)

    def names(**params):
        response = api.get("/storage/query_location", params)
        assert response.status_code == 200
        return [row["location_name"] for row in response.json()]

    assert names(limit=2) == ["page-a", "page-b"]
    assert names(limit=2, offset=2) == ["page-c", "page-d"]
    assert names(limit=2, offset=4) == ["page-e"]
    assert names(offset=5) == []
    assert names() == ["page-a", "page-b", "page-c", "page-d", "page-e"]


@pytest.mark.parametrize(
    ("params", "loc", "kind"),
    [
        ({"limit": 0}, "limit", "less_than_equal"),
        ({"limit": 1001}, "limit", "less_than_equal"),
        ({"limit": "ten"}, "limit", "int_parsing"),
        ({"offset": -1}, "offset", "greater_than_equal"),
    ],
)
def test_query_location_rejects_paging_out_of_range(api, params, loc, kind):
    response = api.get("/storage/query_location", params)

    assert error_types(response) == {("query", loc): kind}


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


# --- S6 create_storage_config ----------------------------------------------------------------


def test_create_storage_config_stores_the_config_without_its_secrets(api, s3_server):
    storage = make_storage(storage_name="dlm-archive")
    endpoint = s3_server.config["parameters"]["endpoint"]

    response = api.post("/storage/create_storage_config", {"storage_name": "dlm-archive"}, s3_server.config)

    assert response.status_code == 200, response.content
    config_id = response.json()
    assert isinstance(config_id, str)
    stored = StorageConfig.objects.get()
    assert config_id == str(stored.config_id)
    assert stored.storage_id == storage.storage_id
    assert stored.config_type == "rclone"
    raw = raw_storage_config_rows()
    assert "AKTEST" in raw
    assert s3_server.secret not in raw
    # The secret is kept (encrypted), so that rclone can still be given the whole definition.
    assert join_secrets(stored.config, stored.secrets)["parameters"]["secret_access_key"] == s3_server.secret

    shown = api.get("/storage/get_storage_config", {"storage_name": "dlm-archive"})
    assert shown.status_code == 200
    assert s3_server.secret not in shown.content.decode()
    assert shown.json() == [
        {
            "name": "acacia",
            "type": "s3",
            "parameters": {
                "provider": "Rclone",
                "endpoint": endpoint,
                "access_key_id": "AKTEST",
                "secret_access_key": "***",
            },
            "root_path": "/",
        }
    ]


def test_create_storage_config_keeps_a_given_root_path(api, tmp_path):
    make_storage(storage_name="st")

    response = api.post(
        "/storage/create_storage_config",
        {"storage_name": "st"},
        {"name": "r", "type": "local", "root_path": str(tmp_path)},
    )

    assert response.status_code == 200
    assert StorageConfig.objects.get().config == {"name": "r", "type": "local", "root_path": str(tmp_path)}


def test_create_storage_config_by_storage_id(api):
    storage = make_storage()

    response = api.post(
        "/storage/create_storage_config", {"storage_id": str(storage.storage_id)}, {"name": "r", "type": "local"}
    )

    assert response.status_code == 200
    stored = StorageConfig.objects.get()
    assert stored.storage_id == storage.storage_id
    assert stored.config == {"name": "r", "type": "local", "root_path": "/"}


def test_create_storage_config_name_wins_over_id(api):
    by_name = make_storage(storage_name="by-name")
    by_id = make_storage(storage_name="by-id")

    response = api.post(
        "/storage/create_storage_config",
        {"storage_name": "by-name", "storage_id": str(by_id.storage_id)},
        {"name": "r", "type": "local"},
    )

    assert response.status_code == 200
    assert StorageConfig.objects.get().storage_id == by_name.storage_id


def test_create_storage_config_with_another_config_type(api):
    storage = make_storage()

    response = api.post(
        "/storage/create_storage_config",
        {"storage_id": str(storage.storage_id), "config_type": "ssh"},
        {"host": "archive.example.org", "password": "hunter2"},
    )

    assert response.status_code == 200
    stored = StorageConfig.objects.get()
    assert stored.config_type == "ssh"
    assert "hunter2" not in raw_storage_config_rows()


def test_create_storage_config_rejects_a_bad_config_type(api):
    storage = make_storage()

    response = api.post(
        "/storage/create_storage_config",
        {"storage_id": str(storage.storage_id), "config_type": "RCLONE"},
        {"name": "r", "type": "local"},
    )

    assert error_types(response) == {("query", "config_type"): "enum"}
    assert StorageConfig.objects.count() == 0


def test_create_storage_config_needs_a_storage(api):
    make_storage()

    response = api.post("/storage/create_storage_config", None, {"name": "r", "type": "local"})

    assert_exec(response, 422, "UnmetPreconditionForOperation", "Neither storage_id nor storage_name is specified.")
    assert StorageConfig.objects.count() == 0


def test_create_storage_config_with_an_unknown_storage_name_is_422_not_500(api):
    make_storage()

    response = api.post("/storage/create_storage_config", {"storage_name": "nope"}, {"name": "r", "type": "local"})

    assert_exec(response, 422, "UnmetPreconditionForOperation", "Can't get storage_id for nope")
    assert StorageConfig.objects.count() == 0


def test_create_storage_config_with_an_unknown_storage_id_is_422(api):
    make_storage()

    response = api.post(
        "/storage/create_storage_config", {"storage_id": str(uuid.uuid4())}, {"name": "r", "type": "local"}
    )

    assert_exec(response, 422, "UnmetPreconditionForOperation")
    assert StorageConfig.objects.count() == 0


def test_create_storage_config_with_a_malformed_storage_id_is_422(api):
    response = api.post("/storage/create_storage_config", {"storage_id": "xyz"}, {"name": "r", "type": "local"})

    assert error_types(response) == {("query", "storage_id"): "uuid_parsing"}


def test_create_storage_config_without_a_body_is_422_body_missing(api):
    make_storage(storage_name="st")

    response = api.post("/storage/create_storage_config", {"storage_name": "st"})

    assert response.status_code == 422
    assert response.json() == {"detail": [missing("body")]}
    assert StorageConfig.objects.count() == 0


@pytest.mark.parametrize("body", [["name", "type"], "local", 3, None])
def test_create_storage_config_with_a_body_that_is_not_an_object_is_422(api, body):
    make_storage(storage_name="st")

    response = api.post("/storage/create_storage_config", {"storage_name": "st"}, raw_body=json.dumps(body))

    assert error_types(response) == {("body",): "dict_type"}
    assert StorageConfig.objects.count() == 0


@pytest.mark.parametrize(
    ("config", "bad"),
    [
        ({"type": "local"}, [("body", "name")]),
        ({"name": "r"}, [("body", "type")]),
        ({}, [("body", "name"), ("body", "type")]),
        ({"name": "", "type": 7}, [("body", "name"), ("body", "type")]),
        ({"name": "r", "type": "local", "parameters": "x"}, [("body", "parameters")]),
        ({"name": "r", "type": "local", "root_path": 5}, [("body", "root_path")]),
    ],
)
def test_create_storage_config_rejects_a_config_without_name_or_type(api, config, bad):
    make_storage(storage_name="st")

    response = api.post("/storage/create_storage_config", {"storage_name": "st"}, config)

    assert sorted(error_types(response)) == sorted(bad)
    assert StorageConfig.objects.count() == 0


@pytest.mark.parametrize("option", ["a=b", "", "with space", "dash-ed"])
def test_create_storage_config_rejects_an_option_name_rclone_cannot_take(api, option):
    make_storage(storage_name="st")

    response = api.post(
        "/storage/create_storage_config",
        {"storage_name": "st"},
        {"name": "r", "type": "sftp", "parameters": {option: "x"}},
    )

    assert error_types(response) == {("body", "parameters", option): "value_error"}
    assert StorageConfig.objects.count() == 0


def test_create_storage_config_rejects_a_nul_character_with_422_not_500(api):
    make_storage(storage_name="st")

    response = api.post(
        "/storage/create_storage_config",
        {"storage_name": "st"},
        {"name": "r", "type": "sftp", "parameters": {"host": "h\x00st"}},
    )

    assert error_types(response) == {("body", "parameters", "host"): "string_type"}
    assert StorageConfig.objects.count() == 0


def test_create_storage_config_allows_several_configs_per_storage(api):
    make_storage(storage_name="st")

    first = api.post("/storage/create_storage_config", {"storage_name": "st"}, {"name": "one", "type": "local"})
    second = api.post("/storage/create_storage_config", {"storage_name": "st"}, {"name": "two", "type": "local"})

    assert first.status_code == second.status_code == 200
    assert first.json() != second.json()
    assert StorageConfig.objects.count() == 2
    shown = api.get("/storage/get_storage_config", {"storage_name": "st"}).json()
    assert sorted(config["name"] for config in shown) == ["one", "two"]


# --- S7 get_storage_config -------------------------------------------------------------------


@pytest.fixture
def two_storages_with_configs(api):
    """Storage "alpha" with an rclone and an ssh config, storage "beta" with an rclone config."""
    alpha = make_storage(storage_name="alpha")
    beta = make_storage(storage_name="beta")
    for params, body in [
        ({"storage_name": "alpha"}, {"name": "alpha-remote", "type": "local"}),
        ({"storage_name": "alpha", "config_type": "ssh"}, {"host": "alpha.example.org"}),
        ({"storage_name": "beta"}, {"name": "beta-remote", "type": "local"}),
    ]:
        assert api.post("/storage/create_storage_config", params, body).status_code == 200
    return alpha, beta


def test_get_storage_config_by_name_returns_only_the_config_objects(api, two_storages_with_configs):
    response = api.get("/storage/get_storage_config", {"storage_name": "alpha"})

    assert response.status_code == 200
    assert response.json() == [{"name": "alpha-remote", "type": "local", "root_path": "/"}]


def test_get_storage_config_by_id(api, two_storages_with_configs):
    _, beta = two_storages_with_configs

    response = api.get("/storage/get_storage_config", {"storage_id": str(beta.storage_id)})

    assert response.status_code == 200
    assert response.json() == [{"name": "beta-remote", "type": "local", "root_path": "/"}]


def test_get_storage_config_name_wins_over_id(api, two_storages_with_configs):
    _, beta = two_storages_with_configs

    response = api.get("/storage/get_storage_config", {"storage_name": "alpha", "storage_id": str(beta.storage_id)})

    assert [config["name"] for config in response.json()] == ["alpha-remote"]


def test_get_storage_config_filters_on_config_type(api, two_storages_with_configs):
    response = api.get("/storage/get_storage_config", {"storage_name": "alpha", "config_type": "ssh"})

    assert response.status_code == 200
    assert response.json() == [{"host": "alpha.example.org"}]


def test_get_storage_config_without_a_storage_returns_all_and_ignores_config_type(api, two_storages_with_configs):
    for config_type in [None, "rclone", "gcs"]:
        response = api.get("/storage/get_storage_config", {"config_type": config_type} if config_type else None)

        assert response.status_code == 200
        names = sorted(config.get("name") or config.get("host") for config in response.json())
        assert names == ["alpha-remote", "alpha.example.org", "beta-remote"]


def test_get_storage_config_of_a_storage_without_configs_is_empty(api):
    make_storage(storage_name="empty")

    response = api.get("/storage/get_storage_config", {"storage_name": "empty"})

    assert response.status_code == 200
    assert response.json() == []


def test_get_storage_config_with_an_unknown_name_is_422(api, two_storages_with_configs):
    response = api.get("/storage/get_storage_config", {"storage_name": "gamma"})

    assert_exec(response, 422, "UnmetPreconditionForOperation", "Can't get storage_id for gamma")


def test_get_storage_config_with_an_unknown_id_is_an_empty_list(api, two_storages_with_configs):
    response = api.get("/storage/get_storage_config", {"storage_id": str(uuid.uuid4())})

    assert response.status_code == 200
    assert response.json() == []


def test_get_storage_config_with_a_malformed_id_is_422(api):
    response = api.get("/storage/get_storage_config", {"storage_id": "123"})

    assert error_types(response) == {("query", "storage_id"): "uuid_parsing"}


def test_get_storage_config_pages(api, two_storages_with_configs):
    first = api.get("/storage/get_storage_config", {"limit": 2}).json()
    rest = api.get("/storage/get_storage_config", {"limit": 2, "offset": 2}).json()

    assert len(first) == 2
    assert len(rest) == 1
    assert rest[0] not in first


@pytest.mark.parametrize("option", ["secret_access_key", "pass", "key_file_pass", "token", "client_secret"])
def test_get_storage_config_never_shows_a_secret(api, sftp_server, option):
    make_storage(storage_name="st")
    # A reachable SFTP remote (its password is a secret) with the option added (ignored by sftp).
    secret = sftp_server.secret if option == "pass" else f"very-secret-value-of-{option}"
    config = {**sftp_server.config, "parameters": {**sftp_server.config["parameters"], option: secret}}
    assert api.post("/storage/create_storage_config", {"storage_name": "st"}, config).status_code == 200
    public = {key: value for key, value in sftp_server.config["parameters"].items() if key != "pass"}

    for params in [{"storage_name": "st"}, None]:
        response = api.get("/storage/get_storage_config", params)

        assert response.status_code == 200
        assert secret not in response.content.decode()
        assert sftp_server.secret not in response.content.decode()
        [shown] = response.json()
        assert shown["parameters"] == {**public, "pass": "***", option: "***"}
    assert secret not in raw_storage_config_rows()
    assert sftp_server.secret not in raw_storage_config_rows()


# --- S8 rclone_config (operation id create_rclone_config) ------------------------------------


def test_rclone_config_with_a_reachable_local_remote_is_true(api, tmp_path):
    response = api.post("/storage/rclone_config", None, {"name": "x", "type": "local", "root_path": str(tmp_path)})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() is True
    assert StorageConfig.objects.count() == 0


def test_rclone_config_with_an_alias_to_an_existing_directory_is_true(api, tmp_path):
    config = {"name": "local", "type": "alias", "parameters": {"remote": str(tmp_path)}}

    response = api.post("/storage/rclone_config", None, config)

    assert response.status_code == 200
    assert response.json() is True


@pytest.mark.parametrize(
    "config",
    [
        {"name": "x", "type": "local", "root_path": "/no/such/directory/for/dlm"},
        {"name": "x", "type": "no-such-backend"},
        {"name": "x", "type": "alias", "parameters": {"remote": "/no/such/directory/for/dlm"}},
    ],
    ids=["missing root", "bogus type", "alias to missing directory"],
)
def test_rclone_config_with_an_unreachable_remote_is_200_false(api, config):
    response = api.post("/storage/rclone_config", None, config)

    assert response.status_code == 200
    assert response.json() is False


def test_rclone_config_does_not_write_to_the_database(api, tmp_path):
    make_storage(storage_name="st")
    counts = (Location.objects.count(), Storage.objects.count(), StorageConfig.objects.count())

    api.post("/storage/rclone_config", None, {"name": "st", "type": "local", "root_path": str(tmp_path)})
    api.post("/storage/rclone_config", None, {"name": "st", "type": "no-such-backend"})

    assert (Location.objects.count(), Storage.objects.count(), StorageConfig.objects.count()) == counts


def test_rclone_config_without_a_body_is_422_body_missing(api):
    response = api.post("/storage/rclone_config")

    assert response.status_code == 422
    assert response.json() == {"detail": [missing("body")]}


def test_rclone_config_with_a_body_that_is_not_an_object_is_422(api):
    response = api.post("/storage/rclone_config", None, ["local"])

    assert error_types(response) == {("body",): "dict_type"}


def test_rclone_config_without_a_type_is_422(api):
    response = api.post("/storage/rclone_config", None, {"name": "x"})

    assert error_types(response) == {("body", "type"): "missing"}


@pytest.mark.parametrize(
    ("config", "loc", "kind"),
    [
        ({"name": "x", "type": "local", "parameters": {"a=b": "1"}}, ["body", "parameters", "a=b"], "value_error"),
        (
            {"name": "x", "type": "local", "parameters": {"a\x00b": "1"}},
            ["body", "parameters", "a\x00b"],
            "string_type",
        ),
        ({"name": "x", "type": "sftp", "parameters": {"pass": "p\x00"}}, ["body", "parameters", "pass"], "string_type"),
        ({"name": "x", "type": "local", "root_path": "/tmp\x00"}, ["body", "root_path"], "string_type"),
    ],
    ids=["= in option name", "NUL in option name", "NUL in password", "NUL in root_path"],
)
def test_rclone_config_that_rclone_cannot_be_given_is_422_not_500(api, config, loc, kind):
    response = api.post("/storage/rclone_config", None, config)

    assert response.status_code == 422, response.content
    [entry] = response.json()["detail"]
    assert (entry["loc"], entry["type"]) == (loc, kind)


def test_rclone_config_with_json_nested_too_deeply_is_422_not_500(api):
    depth = 950  # within what the JSON parser accepts, beyond what storing or rendering can take
    raw = '{"name": "x", "type": "local", "parameters": {"a": ' + "[" * depth + "]" * depth + "}}"

    response = api.post("/storage/rclone_config", None, raw_body=raw)

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_create_storage_config_with_json_nested_too_deeply_is_422_not_500(api):
    make_storage(storage_name="st")
    for depth in (950, 5000):
        raw = '{"name": "x", "type": "local", "parameters": {"a": ' + "[" * depth + "]" * depth + "}}"

        response = api.post("/storage/create_storage_config", {"storage_name": "st"}, raw_body=raw)

        assert response.status_code == 422, depth
        assert response.json()["detail"][0]["type"] == "json_invalid"
    assert StorageConfig.objects.count() == 0


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


# --- Permissions -----------------------------------------------------------------------------


ALL_OPERATIONS = [
    ("GET", "/storage/query_location_facility"),
    ("GET", "/storage/get_ssh_public_key"),
    ("GET", "/storage/query_location"),
    ("POST", "/storage/init_location"),
    ("POST", "/storage/init_storage"),
    ("POST", "/storage/create_storage_config"),
    ("GET", "/storage/get_storage_config"),
    ("POST", "/storage/rclone_config"),
    ("GET", "/storage/query_storage"),
]


@pytest.mark.parametrize(("method", "path"), ALL_OPERATIONS)
def test_every_storage_operation_without_a_token_is_401(anon_api, settings, method, path):
    settings.TRUSTED_NETWORKS = []

    response = anon_api.call(method, path)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(("method", "path"), ALL_OPERATIONS)
def test_every_storage_operation_with_an_unknown_token_is_401(make_api, settings, method, path):
    settings.TRUSTED_NETWORKS = []
    caller = make_api(None)
    caller.token = "not-a-real-token"

    response = caller.call(method, path)

    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)


def _write_calls(location: Location, tmp_path) -> dict:
    return {
        "init_location": ("/storage/init_location", {"location_name": "new", "location_type": "local-dev"}, None),
        "init_storage": (
            "/storage/init_storage",
            storage_params(storage_name="new", location_id=str(location.location_id)),
            None,
        ),
        "create_storage_config": (
            "/storage/create_storage_config",
            {"storage_name": "existing"},
            {"name": "r", "type": "local"},
        ),
        "rclone_config": ("/storage/rclone_config", None, {"name": "r", "type": "local", "root_path": str(tmp_path)}),
    }


@pytest.mark.parametrize("role", ["viewer", "operator"])
@pytest.mark.parametrize("operation", ["init_location", "init_storage", "create_storage_config", "rclone_config"])
def test_write_operations_need_the_admin_role(make_api, tmp_path, role, operation):
    location = make_location(location_name="existing")
    make_storage(location, storage_name="existing")
    path, params, body = _write_calls(location, tmp_path)[operation]

    response = make_api(role).post(path, params, body)

    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
    assert Location.objects.count() == 1
    assert Storage.objects.count() == 1
    assert StorageConfig.objects.count() == 0


@pytest.mark.parametrize("operation", ["init_location", "init_storage", "create_storage_config", "rclone_config"])
def test_write_operations_work_for_an_admin(api, tmp_path, operation):
    location = make_location(location_name="existing")
    make_storage(location, storage_name="existing")
    path, params, body = _write_calls(location, tmp_path)[operation]

    response = api.post(path, params, body)

    assert response.status_code == 200
    assert response.json()


def test_read_operations_work_for_a_viewer(viewer_api, settings, tmp_path):
    key_file = tmp_path / "key.pub"
    key_file.write_text("ssh-rsa AAAA viewer\n")
    settings.SSH_PUBLIC_KEY_PATH = key_file
    make_storage(storage_name="st")

    for path, params in [
        ("/storage/query_location_facility", None),
        ("/storage/get_ssh_public_key", None),
        ("/storage/query_location", None),
        ("/storage/get_storage_config", {"storage_name": "st"}),
        ("/storage/query_storage", {"storage_name": "st"}),
    ]:
        response = viewer_api.get(path, params)

        assert response.status_code == 200, path
    assert viewer_api.get("/storage/query_storage", {"storage_name": "st"}).json()[0]["storage_name"] == "st"
