"""``GET /migration/query_migrations`` and ``GET /migration/get_migration`` (contract §4.5, §8 M1
M2, §10 #8 #19): the row's shape, the date, storage and user filters, paging."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from catalogue.models import Storage
from migrations_app.models import Migration
from migrations_app.states import JobState
from tests.factories import make_copy_job, make_storage

QUERY = "/migration/query_migrations"
GET = "/migration/get_migration"

UPSTREAM_KEYS = [
    "migration_id", "job_id", "oid", "url", "source_storage_id", "destination_storage_id", "user", "group",
    "job_status", "job_stats", "complete", "date", "completion_date", "command",
]  # fmt: skip
EXTRA_KEYS = [
    "source_uid", "destination_uid", "state", "attempts", "last_error", "bytes_done", "bytes_total", "rate",
    "started_at", "finished_at", "heartbeat_at",
]  # fmt: skip


@pytest.fixture
def storages(db) -> tuple[Storage, Storage, Storage]:
    return make_storage(storage_name="a"), make_storage(storage_name="b"), make_storage(storage_name="c")


def _migration(source: Storage, destination: Storage, **fields) -> Migration:
    """A queued job between two storages, whose copies are not in the catalogue."""
    return make_copy_job(source, destination, **fields)


def _completed(source: Storage, destination: Storage, **fields) -> Migration:
    return make_copy_job(source, destination, state=JobState.COMPLETED, **fields)


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["migration_id"] for row in response.json()]


# --- the row ----------------------------------------------------------------------------------


def test_the_row_has_upstream_keys_in_order_then_dlm_extras(viewer_api, storages):
    a, b, _ = storages
    started = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
    job = _completed(
        a,
        b,
        user="alice",
        job_id=17,
        url="worker-1",
        job_status={"finished": True, "success": True},
        job_stats={"bytes": 10, "totalBytes": 10},
        command="copy a:x -> b:x (file)",
        attempts=1,
        bytes_done=10,
        bytes_total=10,
        rate=2.5,
        started_at=started,
        heartbeat_at=started,
        date=datetime(2026, 3, 4, 5, 0, 0, tzinfo=UTC),
    )

    rows = viewer_api.get(GET, {"migration_id": job.migration_id}).json()

    assert isinstance(rows, list) and len(rows) == 1
    row = rows[0]
    assert list(row) == UPSTREAM_KEYS + EXTRA_KEYS
    assert row["migration_id"] == job.migration_id
    assert row["job_id"] == 17
    assert row["oid"] == str(job.oid)
    assert row["source_storage_id"] == str(a.storage_id)
    assert row["destination_storage_id"] == str(b.storage_id)
    assert row["user"] == "alice" and row["group"] == "SKA"
    assert row["job_status"] == {"finished": True, "success": True}
    assert row["job_stats"] == {"bytes": 10, "totalBytes": 10}
    assert row["complete"] is True
    assert row["date"] == "2026-03-04T05:00:00"  # naive UTC ISO, as upstream
    assert row["started_at"] == "2026-03-04T05:06:07.890000"
    assert row["completion_date"] is not None and "+" not in row["completion_date"]
    assert row["state"] == "completed"
    assert row["source_uid"] == str(job.source_uid) and row["destination_uid"] == str(job.destination_uid)
    assert (row["attempts"], row["bytes_done"], row["bytes_total"], row["rate"]) == (1, 10, 10, 2.5)
    assert viewer_api.get(QUERY).json() == rows


# --- get_migration ----------------------------------------------------------------------------


def test_get_migration_of_an_unknown_id_is_an_empty_list(viewer_api, storages):
    _migration(*storages[:2])
    for missing in (999_999, 0, -1, 2**70):
        response = viewer_api.get(GET, {"migration_id": missing})
        assert response.status_code == 200
        assert response.json() == []


@pytest.mark.parametrize("raw", ["x", "1.5", ""])
def test_get_migration_needs_an_integer(viewer_api, raw):
    response = viewer_api.get(GET, {"migration_id": raw})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "migration_id"]


def test_get_migration_without_an_id(viewer_api):
    response = viewer_api.get(GET)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "missing"


# --- query_migrations -------------------------------------------------------------------------


def test_all_jobs_in_migration_id_order(viewer_api, storages):
    a, b, _ = storages
    jobs = [_migration(a, b, user="alice"), _completed(b, a, user="bob"), _migration(a, b, user="operator")]
    assert _ids(viewer_api.get(QUERY)) == [job.migration_id for job in jobs]


def test_the_upstream_date_filters(viewer_api, storages):
    """As upstream's integration test: start/end yesterday and tomorrow around a completed job."""
    job = _completed(*storages[:2])
    today = timezone.now().date()
    yesterday, tomorrow = (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat()

    assert _ids(viewer_api.get(QUERY, {"start_date": yesterday})) == [job.migration_id]
    assert _ids(viewer_api.get(QUERY, {"start_date": tomorrow})) == []
    assert _ids(viewer_api.get(QUERY, {"end_date": yesterday})) == []
    assert _ids(viewer_api.get(QUERY, {"end_date": tomorrow})) == [job.migration_id]
    assert _ids(viewer_api.get(QUERY, {"start_date": yesterday, "end_date": tomorrow})) == [job.migration_id]


def test_compact_dates_and_timestamps(viewer_api, storages):
    job = _completed(*storages[:2], date=datetime(2026, 5, 10, 12, 0, tzinfo=UTC))
    Migration.objects.filter(pk=job.pk).update(completion_date=datetime(2026, 5, 11, 8, 0, tzinfo=UTC))

    assert _ids(viewer_api.get(QUERY, {"start_date": "20260510"})) == [job.migration_id]
    assert _ids(viewer_api.get(QUERY, {"start_date": "20260511"})) == []
    assert _ids(viewer_api.get(QUERY, {"start_date": "2026-05-10T12:00:00"})) == [job.migration_id]
    assert _ids(viewer_api.get(QUERY, {"start_date": "2026-05-10T12:00:01Z"})) == []
    assert _ids(viewer_api.get(QUERY, {"start_date": "2026-05-10T13:00:00+02:00"})) == [job.migration_id]
    # A date alone is midnight: work completed that day is after it.
    assert _ids(viewer_api.get(QUERY, {"end_date": "20260511"})) == []
    assert _ids(viewer_api.get(QUERY, {"end_date": "20260512"})) == [job.migration_id]
    assert _ids(viewer_api.get(QUERY, {"end_date": "2026-05-11 08:00"})) == [job.migration_id]


def test_jobs_not_completed_never_match_an_end_date(viewer_api, storages):
    _migration(*storages[:2])
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert _ids(viewer_api.get(QUERY, {"end_date": tomorrow})) == []
    assert len(_ids(viewer_api.get(QUERY, {"start_date": "20000101"}))) == 1


@pytest.mark.parametrize("name", ["start_date", "end_date"])
@pytest.mark.parametrize("raw", ["yesterday", "2026-13-01", "20261301", "1700000000", "2026/05/01"])
def test_a_bad_date_is_a_422_naming_it(viewer_api, storages, name, raw):
    response = viewer_api.get(QUERY, {name: raw})
    assert response.status_code == 422, response.content
    entry = response.json()["detail"][0]
    assert entry["loc"] == ["query", name]
    assert entry["input"] == raw


def test_storage_filter_matches_source_or_destination(viewer_api, storages):
    a, b, c = storages
    out_of_a = _migration(a, b)
    into_a = _migration(c, a)
    b_to_c = _migration(b, c)

    assert _ids(viewer_api.get(QUERY, {"storage_id": a.storage_id})) == [out_of_a.migration_id, into_a.migration_id]
    assert _ids(viewer_api.get(QUERY, {"storage_id": b.storage_id})) == [out_of_a.migration_id, b_to_c.migration_id]
    assert _ids(viewer_api.get(QUERY, {"storage_id": uuid.uuid4()})) == []
    response = viewer_api.get(QUERY, {"storage_id": "not-a-uuid"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "storage_id"]


def test_user_filter_is_an_extension_everyone_sees_everything_by_default(viewer_api, storages):
    a, b, _ = storages
    alice = _migration(a, b, user="alice")
    bob = _migration(a, b, user="bob")

    assert _ids(viewer_api.get(QUERY)) == [alice.migration_id, bob.migration_id]  # not just viewer-user's
    assert _ids(viewer_api.get(QUERY, {"user": "bob"})) == [bob.migration_id]
    assert _ids(viewer_api.get(QUERY, {"user": "nobody"})) == []


def test_filters_combine(viewer_api, storages):
    a, b, c = storages
    _completed(a, b, user="alice")
    match = _completed(a, c, user="bob")
    _migration(a, c, user="bob")
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()

    params = {"storage_id": c.storage_id, "user": "bob", "end_date": tomorrow}
    assert _ids(viewer_api.get(QUERY, params)) == [match.migration_id]


def test_paging(viewer_api, storages, settings):
    a, b, _ = storages
    jobs = [_migration(a, b).migration_id for _ in range(5)]

    assert _ids(viewer_api.get(QUERY, {"limit": 2})) == jobs[:2]
    assert _ids(viewer_api.get(QUERY, {"limit": 2, "offset": 3})) == jobs[3:]
    settings.DLM_QUERY_LIMIT = 3
    assert _ids(viewer_api.get(QUERY)) == jobs[:3]
    assert viewer_api.get(QUERY, {"limit": 0}).status_code == 422
    assert viewer_api.get(QUERY, {"offset": -1}).status_code == 422
