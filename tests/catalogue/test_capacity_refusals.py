"""Above its high watermark a storage takes no new copy or registration, and a copy that would not
fit in its measured free space is refused: over the API, with a 422 naming the storage and its
use, and nothing written. Real rclone on local directories and, for the watermarks, on the S3
test server (whose free space rclone cannot measure)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from catalogue import capacity
from catalogue.models import DataItem, Storage
from catalogue.services import data_items_register, storage_config_create
from core.errors import UnmetPreconditionForOperation
from migrations_app.models import Migration
from migrations_app.services import copy_job_create
from tests.factories import make_item, make_storage
from tests.lifecycle.helpers import Place, local_place, register

pytestmark = pytest.mark.django_db

REGISTER = "/ingest/register_data_item"
COPY = "/migration/copy_data_item"


def s3_place(server, name: str, phase: str, **fields) -> Place:
    """A storage in a bucket of the S3 test server; its files written where the server serves them."""
    storage = make_storage(
        storage_name=name, storage_phase=phase, root_directory="bucket1/data", storage_type="objectstore",
        storage_interface="s3", **fields,
    )  # fmt: skip
    storage_config_create(storage_id=storage.storage_id, config=dict(server.config), check_remote=False)
    return Place(server.root / "bucket1", storage)


@pytest.fixture
def local_places(tmp_path):
    """A source disk with a 1000-byte file registered, and an archive of capacity 10 000."""
    disk = local_place(tmp_path, "disk", "GAS")
    archive = local_place(tmp_path, "archive", "SOLID", storage_capacity=10_000)
    item = register(disk, "obs/x.ms", b"x" * 1000)
    return disk, archive, item


@pytest.fixture(params=["local", "s3"])
def places(request, tmp_path):
    """``local_places``, the archive a local disk or a bucket of the S3 test server."""
    if request.param == "local":
        return request.getfixturevalue("local_places")
    disk = local_place(tmp_path, "disk", "GAS")
    archive = s3_place(request.getfixturevalue("s3_server"), "archive", "SOLID", storage_capacity=10_000)
    item = register(disk, "obs/x.ms", b"x" * 1000)
    return disk, archive, item


def _fill(storage: Storage, size: int, state: str = "READY") -> None:
    make_item(storage, item_state=state, item_size=size)


def _refusal(response) -> str:
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["exec"] == "UnmetPreconditionForOperation"
    return body["message"]


def test_a_registration_on_a_storage_above_high_is_refused_naming_it_and_its_use(places, operator_api):
    _, archive, _ = places
    _fill(archive.storage, 9_200)
    archive.write("obs/new.ms", b"new bytes")

    response = operator_api.post(REGISTER, {"item_name": "obs/new.ms", "uri": "obs/new.ms", "storage_name": "archive"})

    message = _refusal(response)
    assert "archive" in message and "92.0 %" in message and "high watermark of 90 %" in message
    assert not DataItem.objects.filter(item_name="obs/new.ms").exists()


def test_a_bulk_registration_above_high_is_refused_naming_storage_id_when_that_named_it(places):
    _, archive, _ = places
    _fill(archive.storage, 9_500, "INITIALISED")  # copies on their way count too

    with pytest.raises(UnmetPreconditionForOperation) as caught:
        data_items_register(
            owner="op", items=[{"item_name": "a", "uri": "a"}], storage_id=archive.storage.storage_id,
            do_storage_access_check=False,
        )  # fmt: skip

    assert caught.value.field == "storage_id" and "95.0 %" in caught.value.message
    assert not DataItem.objects.filter(item_name="a").exists()


def test_below_high_and_without_a_capacity_registrations_go_through(places, operator_api):
    disk, archive, _ = places
    _fill(archive.storage, 8_900)
    _fill(disk.storage, 10**15)  # no capacity: never refused, however much is there
    for place in (archive, disk):
        place.write("obs/ok.ms", b"fine")
        params = {"item_name": "obs/ok.ms", "uri": "obs/ok.ms", "storage_name": place.storage.storage_name}
        assert operator_api.post(REGISTER, params).status_code == 200
    assert DataItem.objects.filter(item_name="obs/ok.ms").count() == 2


def test_the_check_costs_no_query_without_a_capacity_or_a_measure_and_one_with_them(
    local_places, django_assert_num_queries
):
    disk, archive, _ = local_places
    with django_assert_num_queries(0):
        assert capacity.storage_room_refusal(disk.storage) is None
        assert capacity.storage_room_refusal(disk.storage, 10**6) is None
    with django_assert_num_queries(1):
        assert capacity.storage_room_refusal(archive.storage, 10**3) is None
    disk.storage.storage_free_bytes = 10
    with django_assert_num_queries(0):
        assert capacity.storage_room_refusal(disk.storage) is None  # a registration: no size to fit
    with django_assert_num_queries(1):
        assert "has no room" in capacity.storage_room_refusal(disk.storage, 11)


def test_a_recent_sum_answers_far_from_the_limits_and_a_fresh_one_near_them(
    local_places, settings, django_assert_num_queries
):
    settings.DLM_STORAGE_USE_CACHE_SECONDS = 60
    _, archive, _ = local_places
    storage = archive.storage
    with django_assert_num_queries(1):
        assert capacity.storage_room_refusal(storage, 1_000) is None  # summed: 0 of 10,000
    for _ in range(7):  # far from 90 %: the recent sum answers, counting what it let in
        with django_assert_num_queries(0):
            assert capacity.storage_room_refusal(storage, 1_000) is None
    _fill(storage, 8_000)  # what was let in arrives (in one row here): 80 % now
    with django_assert_num_queries(1):  # 8,000 let in, and 1,000 more: within 5 points of 90 %: summed
        assert capacity.storage_room_refusal(storage, 1_000) is None
    with django_assert_num_queries(1):  # near the limit: always summed, so a refusal is never stale
        assert "91.0 %" in capacity.storage_room_refusal(storage, 1_100)


def test_without_the_cache_every_check_sums(local_places, settings, django_assert_num_queries):
    settings.DLM_STORAGE_USE_CACHE_SECONDS = 0
    _, archive, _ = local_places
    for _ in range(2):
        with django_assert_num_queries(1):
            assert capacity.storage_room_refusal(archive.storage, 1_000) is None


def test_a_copy_to_a_storage_above_high_is_refused_naming_it_and_its_use(places, operator_api):
    _, archive, item = places
    _fill(archive.storage, 9_100)

    response = operator_api.post(COPY, {"uid": item.uid, "destination_name": "archive"})

    message = _refusal(response)
    assert "archive" in message and "91.0 %" in message and "takes no new copies" in message
    assert not Migration.objects.exists()
    assert not DataItem.objects.filter(storage=archive.storage, oid=item.oid).exists()


def test_a_copy_that_would_take_the_storage_over_high_is_refused_naming_destination_id(places, operator_api):
    _, archive, item = places
    _fill(archive.storage, 8_500)  # 85 %: the copy's 1000 bytes would make it 95 %

    with pytest.raises(UnmetPreconditionForOperation) as caught:
        copy_job_create(user="op", uid=item.uid, destination_id=archive.storage.storage_id)

    assert caught.value.field == "destination_id"
    assert "85.0 %" in caught.value.message and "95.0 %" in caught.value.message
    message = _refusal(operator_api.post(COPY, {"uid": item.uid, "destination_name": "archive"}))
    assert "archive" in message and "95.0 %" in message
    assert not Migration.objects.exists()
    assert not DataItem.objects.filter(storage=archive.storage, oid=item.oid).exists()


def test_a_copy_that_would_not_fit_in_the_measured_free_space_is_refused(local_places, operator_api):
    _, archive, item = local_places
    Storage.objects.filter(pk=archive.storage.pk).update(
        storage_capacity=-1, storage_free_bytes=999, storage_total_bytes=10**6, storage_measured_at=timezone.now()
    )

    message = _refusal(operator_api.post(COPY, {"uid": item.uid, "destination_name": "archive"}))

    assert "archive" in message and "999 B free" in message and "no room for 1000 B" in message
    assert not Migration.objects.exists()


def test_the_free_space_counts_the_copies_already_on_their_way(local_places, operator_api):
    disk, archive, item = local_places
    Storage.objects.filter(pk=archive.storage.pk).update(storage_free_bytes=1500, storage_measured_at=timezone.now())
    other = register(disk, "obs/y.ms", b"y" * 1000)
    assert operator_api.post(COPY, {"uid": item.uid, "destination_name": "archive"}).status_code == 200

    message = _refusal(operator_api.post(COPY, {"uid": other.uid, "destination_name": "archive"}))

    assert "1000 B of it awaited by copies under way" in message
    assert Migration.objects.count() == 1


def test_a_copy_that_fits_goes_through(local_places, operator_api):
    _, archive, item = local_places
    _fill(archive.storage, 7_000)
    Storage.objects.filter(pk=archive.storage.pk).update(storage_free_bytes=5000, storage_measured_at=timezone.now())

    response = operator_api.post(COPY, {"uid": item.uid, "destination_name": "archive"})

    assert response.status_code == 200
    assert DataItem.objects.get(uid=response.json()["uid"]).item_state == "INITIALISED"
