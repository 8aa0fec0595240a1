"""``/storage`` operations on locations (contract §5): query_location_facility, init_location and
query_location."""

from __future__ import annotations

import uuid

import pytest

from catalogue.models import Location
from tests.api.storage_helpers import assert_exec, assert_naive_iso, error_types, missing
from tests.factories import make_location

LOCATION_TYPES = "'local-dev', 'low-integration', 'mid-integration', 'low-operations' or 'mid-operations'"

# Contract §4.1, in upstream column order.
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


# --- S1 query_location_facility --------------------------------------------------------------


def test_query_location_facility_lists_the_seeded_facilities(api):
    response = api.get("/storage/query_location_facility")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert sorted(response.json()) == sorted(["SRC", "STFC", "AWS", "Google", "Pawsey Centre", "external", "local"])


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
