"""``GET /audit/query_audit``: filters, paging, order, validation and the admin role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from audit.models import AuditRecord

pytestmark = pytest.mark.django_db

QUERY = "/audit/query_audit"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def trail(db) -> list[AuditRecord]:
    """Five records at chosen times, oldest first."""
    rows = [
        (T0, "alice", "set_state", "data_item", "u-1"),
        (T0 + timedelta(minutes=1), "bob", "init_storage", "storage", "s-1"),
        (T0 + timedelta(minutes=2), "alice", "set_state", "data_item", "u-2"),
        (T0 + timedelta(minutes=2), "carol", "admin:auth_group_change", "group", "7"),  # same time: by id
        (T0 + timedelta(minutes=3), "alice", "cancel_migration", "migration", "12"),
    ]
    made = []
    for at, username, operation, object_type, object_id in rows:
        made.append(
            AuditRecord.objects.create(
                at=at,
                username=username,
                auth="token",
                via="api",
                operation=operation,
                action="update",
                object_type=object_type,
                object_id=object_id,
                changes={"x": [1, 2]},
            )
        )
    return made


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()]


def test_records_come_newest_first_as_rows(api, trail):
    response = api.get(QUERY)

    assert _ids(response) == [r.pk for r in reversed(trail)]
    newest = response.json()[0]
    assert newest == {
        "id": trail[-1].pk,
        "at": "2026-03-01T12:03:00",
        "username": "alice",
        "user_id": None,
        "auth": "token",
        "via": "api",
        "operation": "cancel_migration",
        "action": "update",
        "object_type": "migration",
        "object_id": "12",
        "changes": {"x": [1, 2]},
        "request_id": "",
        "remote_addr": None,
    }
    assert AuditRecord.objects.count() == 5  # the query itself recorded nothing


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"object_type": "data_item"}, [2, 0]),
        ({"object_type": "data_item", "object_id": "u-2"}, [2]),
        ({"object_id": "7"}, [3]),
        ({"username": "alice"}, [4, 2, 0]),
        ({"operation": "set_state"}, [2, 0]),
        ({"since": "2026-03-01T12:02:00"}, [4, 3, 2]),
        ({"until": "2026-03-01T12:01:00Z"}, [1, 0]),
        ({"since": "2026-03-01T13:01:00+01:00", "until": "2026-03-01T12:02:00"}, [3, 2, 1]),
        ({"username": "alice", "operation": "set_state", "since": "2026-03-01T12:01:00"}, [2]),
        ({"username": "nobody"}, []),
    ],
)
def test_filters_combine(api, trail, params, expected):
    assert _ids(api.get(QUERY, params)) == [trail[n].pk for n in expected]


def test_paging_by_limit_and_offset(api, trail):
    newest_first = [r.pk for r in reversed(trail)]
    assert _ids(api.get(QUERY, {"limit": 2})) == newest_first[:2]
    assert _ids(api.get(QUERY, {"limit": 2, "offset": 2})) == newest_first[2:4]
    assert _ids(api.get(QUERY, {"limit": 2, "offset": 4})) == newest_first[4:]
    assert _ids(api.get(QUERY, {"offset": 5})) == []


def test_the_default_limit_is_100(api, db):
    AuditRecord.objects.bulk_create(
        AuditRecord(at=T0, auth="system", via="command", action="create", object_type="user", object_id=str(n))
        for n in range(101)
    )
    assert len(_ids(api.get(QUERY))) == 100
    assert len(_ids(api.get(QUERY, {"limit": 1000}))) == 101


@pytest.mark.parametrize(
    ("params", "field", "kind"),
    [
        ({"object_type": "bucket"}, "object_type", "enum"),
        ({"since": "yesterday"}, "since", "datetime_from_date_parsing"),
        ({"limit": 1001}, "limit", "less_than_equal"),
        ({"limit": 0}, "limit", "less_than_equal"),
        ({"offset": -1}, "offset", "greater_than_equal"),
    ],
)
def test_bad_parameters_are_a_422_naming_them(api, params, field, kind):
    response = api.get(QUERY, params)
    assert response.status_code == 422, response.content
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["query", field], kind)


def test_only_admins_may_read_the_trail(anon_api, viewer_api, operator_api, api, trail):
    assert anon_api.get(QUERY).status_code == 401
    for caller in (viewer_api, operator_api):
        response = caller.get(QUERY)
        assert response.status_code == 403
        assert "admin" in response.json()["detail"]
    assert len(_ids(api.get(QUERY))) == 5
