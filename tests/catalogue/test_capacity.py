"""A storage's use (READY and in-flight copies against its capacity), as ``query_storage`` answers
it, and its free space as rclone ``about`` measures it: real rclone on local directories and on
the S3 test server."""

from __future__ import annotations

import pytest

from catalogue import capacity
from catalogue.models import DataItem, Storage
from catalogue.services import storage_config_create
from core import rclone
from migrations_app.models import Migration
from migrations_app.services import copy_job_cancel, copy_job_create
from migrations_app.services.deletions import deletion_job_create
from migrations_app.states import JobState
from tests.factories import make_item, make_storage
from tests.lifecycle.helpers import local_place, register, remote_place, run_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.DLM_COPY_RETRY_DELAY = 0
    settings.DLM_COPY_MAX_ATTEMPTS = 1


def _used(storage: Storage) -> int:
    return capacity.storage_use(Storage.objects.get(pk=storage.pk)).used_bytes


def test_use_grows_with_a_registration_and_a_copy_in_flight_and_shrinks_when_the_copy_goes(tmp_path):
    disk = local_place(tmp_path, "disk", "GAS", storage_capacity=10_000)
    archive = local_place(tmp_path, "archive", "SOLID", storage_capacity=4_000)
    assert _used(disk.storage) == 0

    item = register(disk, "obs/a.ms", b"a" * 1000)
    assert _used(disk.storage) == 1000
    assert capacity.storage_use(disk.storage).pct == pytest.approx(10.0)

    job = copy_job_create(user="op", uid=item.uid, destination_id=archive.storage.storage_id)
    use = capacity.storage_use(archive.storage)
    assert (use.used_bytes, use.in_flight_bytes, use.pct) == (1000, 1000, pytest.approx(25.0))

    run_jobs()
    assert Migration.objects.get(pk=job.pk).state == JobState.COMPLETED
    use = capacity.storage_use(archive.storage)
    assert (use.used_bytes, use.in_flight_bytes) == (1000, 0)

    copy = DataItem.objects.get(oid=item.oid, storage=archive.storage)
    deletion_job_create(uid=copy.uid, user="op")
    run_jobs()
    assert not (archive.root / "data/obs/a.ms").exists()
    assert _used(archive.storage) == 0
    assert _used(disk.storage) == 1000


def test_a_copy_that_fails_or_is_cancelled_no_longer_counts(tmp_path):
    disk = local_place(tmp_path, "disk", "GAS")
    archive = local_place(tmp_path, "archive", "SOLID", storage_capacity=10_000)
    item = register(disk, "obs/b.ms", b"b" * 700)
    (archive.root / "data/blocker").write_text("a file where the copy wants a directory")

    failing = copy_job_create(user="op", uid=item.uid, destination_id=archive.storage.storage_id, path="blocker/b.ms")
    assert _used(archive.storage) == 700
    run_jobs()
    assert Migration.objects.get(pk=failing.pk).state == JobState.FAILED
    assert _used(archive.storage) == 0

    cancelled = copy_job_create(user="op", uid=item.uid, destination_id=archive.storage.storage_id)
    assert _used(archive.storage) == 700
    copy_job_cancel(migration_id=cancelled.migration_id)
    assert _used(archive.storage) == 0


def test_only_ready_and_initialised_copies_count_and_one_query_serves_many_storages(django_assert_num_queries):
    full = make_storage(storage_name="full", storage_capacity=1000)
    other = make_storage(storage_name="other")
    for state, size in [("READY", 300), ("INITIALISED", 200), ("CORRUPTED", 50), ("DELETED", 400), ("READY", None)]:
        make_item(full, item_state=state, item_size=size)
    make_item(other, item_state="READY", item_size=5)

    with django_assert_num_queries(1):
        uses = capacity.storages_use([full, other])

    assert uses[full.storage_id].used_bytes == 500
    assert uses[full.storage_id].pct == pytest.approx(50.0)
    assert uses[other.storage_id].used_bytes == 5
    assert uses[other.storage_id].capacity is None and uses[other.storage_id].pct is None


@pytest.mark.parametrize(("used", "level"), [(799, "ok"), (801, "warn"), (901, "high")])
def test_the_level_follows_the_watermarks(used, level):
    storage = make_storage(storage_capacity=1000)
    make_item(storage, item_state="READY", item_size=used)

    assert capacity.storage_use(storage).level == level


def test_the_watermarks_come_from_the_settings(settings):
    settings.DLM_STORAGE_WARN_PCT, settings.DLM_STORAGE_HIGH_PCT = 10, 20
    storage = make_storage(storage_capacity=1000)
    make_item(storage, item_state="READY", item_size=150)

    assert capacity.storage_use(storage).level == "warn"


def test_query_storage_answers_the_use_now_in_one_decimal_and_0_when_the_capacity_is_unknown(
    api, django_assert_max_num_queries
):
    limited = make_storage(storage_name="limited", storage_capacity=3000)
    unknown = make_storage(storage_name="unknown")
    make_item(limited, item_state="READY", item_size=1000)
    make_item(limited, item_state="INITIALISED", item_size=24)
    make_item(unknown, item_state="READY", item_size=10)
    for _ in range(8):
        make_item(make_storage(storage_capacity=100), item_state="READY", item_size=50)

    with django_assert_max_num_queries(5):
        response = api.get("/storage/query_storage")

    assert response.status_code == 200
    rows = {row["storage_name"]: row for row in response.json()}
    assert rows["limited"]["storage_use_pct"] == 34.1  # 1024 of 3000
    assert isinstance(rows["limited"]["storage_use_pct"], float)
    assert rows["unknown"]["storage_use_pct"] == 0.0
    assert sum(row["storage_use_pct"] == 50.0 for row in rows.values()) == 8
    one = api.get("/storage/query_storage", {"storage_name": "limited"}).json()
    assert [row["storage_use_pct"] for row in one] == [34.1]
    assert Storage.objects.get(pk=limited.pk).storage_use_pct == 0  # stored by storages_measure only
    # rows read without the use columns: one aggregate for them all
    bare = [{"storage_id": str(limited.pk), "storage_capacity": 3000}, {"storage_id": str(unknown.pk)}]
    with django_assert_max_num_queries(1):
        assert [row["storage_use_pct"] for row in capacity.rows_with_use_pct(bare)] == [34.1, 0.0]


def test_rclone_about_on_a_local_remote_gives_total_and_free(tmp_path):
    answer = rclone.about({"name": "disk", "type": "local", "root_path": str(tmp_path)})

    assert answer is not None
    assert answer["total"] > 0 and 0 <= answer["free"] <= answer["total"]


def test_rclone_about_on_s3_says_it_cannot_tell(s3_server):
    assert rclone.about(dict(s3_server.config)) is None


def test_rclone_about_of_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(rclone.RcloneError) as caught:
        rclone.about({"name": "disk", "type": "local", "root_path": str(tmp_path / "nowhere")})

    assert "not found" in str(caught.value)


def test_storages_measure_stores_total_free_and_the_use_of_a_local_storage(tmp_path):
    disk = local_place(tmp_path, "disk", "GAS", storage_capacity=4000)
    register(disk, "obs/m.ms", b"m" * 1000)
    bare = make_storage(storage_name="bare", storage_capacity=1000)  # no rclone config: not asked
    make_item(bare, item_state="READY", item_size=123)

    result = capacity.storages_measure()

    assert result == {"measured": ["disk"], "not_measured": {}}
    stored = Storage.objects.get(pk=disk.storage.pk)
    assert stored.storage_total_bytes > 0 and 0 <= stored.storage_free_bytes <= stored.storage_total_bytes
    assert stored.storage_measured_at is not None and stored.storage_measure_error == ""
    assert float(stored.storage_use_pct) == 25.0
    bare = Storage.objects.get(pk=bare.pk)
    assert float(bare.storage_use_pct) == 12.3 and bare.storage_measured_at is None


def test_storages_measure_records_why_s3_and_a_missing_directory_cannot_be_measured(tmp_path, s3_server):
    remote_place(s3_server.config, "dlm", "acacia", "SOLID")
    gone = make_storage(storage_name="gone")
    config = {"name": "gone", "type": "local", "root_path": str(tmp_path / "nowhere")}
    storage_config_create(storage_id=gone.storage_id, config=config, check_remote=False)
    Storage.objects.filter(pk=gone.pk).update(storage_free_bytes=10, storage_total_bytes=20)

    result = capacity.storages_measure()

    assert result["measured"] == []
    assert "does not report its space" in result["not_measured"]["acacia"]
    assert "not found" in result["not_measured"]["gone"]
    for name in ("acacia", "gone"):
        stored = Storage.objects.get(storage_name=name)
        assert stored.storage_measured_at is not None
        assert stored.storage_measure_error == result["not_measured"][name]
        assert stored.storage_free_bytes is None and stored.storage_total_bytes is None  # no stale figure
        assert s3_server.secret not in stored.storage_measure_error
