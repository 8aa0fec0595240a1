"""``POST /ingest/register_data_items``: DLM's bulk form of ``register_data_item``."""

from __future__ import annotations

import gc
import hashlib
import os
import time
import uuid
from pathlib import Path

import pytest

from catalogue.models import DataItem, Storage, StorageConfig
from catalogue.services.storages import rclone_config_clean
from core import rclone
from core.secrets import split_secrets
from tests.factories import make_item, make_storage

URL = "/ingest/register_data_items"


@pytest.fixture
def local(tmp_path) -> tuple[Storage, Path]:
    root = tmp_path / "root"
    root.mkdir()
    storage = make_storage(storage_name="bulk-disk", root_directory=str(root), storage_phase="GAS")
    public, secrets = split_secrets(rclone_config_clean({"name": "disk", "type": "local", "root_path": "/"}))
    StorageConfig.objects.create(storage=storage, config_type="rclone", config=public, secrets=secrets)
    return storage, root


@pytest.fixture
def rclone_calls(monkeypatch):
    """The names of the rclone rc methods called during the test."""
    calls = []
    original = rclone.DAEMON.call

    def call(method, *args, **kwargs):
        calls.append(method)
        return original(method, *args, **kwargs)

    monkeypatch.setattr(rclone.DAEMON, "call", call)
    return calls


@pytest.fixture(params=["direct", "rclone"])
def road(request, settings) -> str:
    """How a disk's files are described: in DLM's process (its default) or by rclone's daemon."""
    settings.DLM_RCLONE_DIRECT = request.param == "direct"
    return request.param


def _post(api, storage, items, **params):
    return api.post(URL, {"storage_name": storage.storage_name, **params}, items)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _detail(response) -> list[dict]:
    assert response.status_code == 422, response.content
    return response.json()["detail"]


def test_fifty_items_are_registered_in_order_with_one_listing(operator_api, local, rclone_calls, road):
    storage, root = local
    items = []
    for i in range(50):
        uri = f"eb-9/part-{i // 10}/f{i:02d}.dat"
        _write(root / uri, b"x" * i)
        items.append({"item_name": uri, "uri": uri, "decompressed_size": i, "metadata": {"i": i}})
    items.append({"item_name": "eb-9", "uri": "eb-9", "item_type": "container"})

    response = _post(operator_api, storage, items)

    assert response.status_code == 200, response.content
    uids = response.json()
    assert len(uids) == 51 and all(isinstance(uid, str) for uid in uids)
    for i, uid in enumerate(uids[:50]):
        item = DataItem.objects.get(uid=uuid.UUID(uid))
        assert (item.item_name, item.item_size, item.decompressed_size) == (items[i]["uri"], i, i)
        assert item.item_state == "READY" and item.checksum_method == "md5" and item.last_check is not None
        assert item.item_owner == "operator-user"
        assert item.metadata == {"i": i, "uid": uid, "item_name": items[i]["uri"]}
    container = DataItem.objects.get(uid=uuid.UUID(uids[50]))
    assert (container.item_size, container.metadata["file_count"]) == (sum(range(50)), 50)
    # on a disk: the 50 files, hashed (by rclone, or in DLM's process), then the container's tree, without hashes
    listings = 2 if road == "rclone" else 1
    assert [call for call in rclone_calls if call.startswith("operations/")] == ["operations/list"] * listings


def test_on_a_disk_only_the_items_own_files_are_read(operator_api, local, rclone_calls, road):
    """A disk's files are read to hash them: a bulk registration reads the items' files and no
    other file under their common directory (their access times tell), however named."""
    storage, root = local
    names = ["night/a/f1.bin", "night/b/#comment-like.bin", "night/b/ spaced .bin", "night/c/d/f2.bin"]
    for name in names:
        _write(root / name, name.encode())
    others = [root / "night" / "a" / "other.bin", root / "night" / "big.bin", root / "night" / "c" / "more.bin"]
    for other in others:
        _write(other, b"y" * 100_000)
    for path in [*others, *(root / name for name in names)]:
        os.utime(path, (1, time.time()))  # read later: the access time moves (relatime)

    response = _post(operator_api, storage, [{"item_name": name, "uri": name} for name in names])

    assert response.status_code == 200, response.content
    if all(os.stat(root / name).st_atime == 1 for name in names):
        pytest.skip("this file system does not record access times")
    assert [os.stat(other).st_atime for other in others] == [1, 1, 1]
    stored = {item.item_name: item.item_checksum for item in DataItem.objects.filter(storage=storage)}
    assert stored == {name: hashlib.md5(name.encode()).hexdigest() for name in names}
    listings = ["operations/list"] if road == "rclone" else []
    assert [call for call in rclone_calls if call.startswith("operations/")] == listings


def test_a_large_bulk_on_a_disk_is_listed_and_hashed_in_one_listing(operator_api, local, rclone_calls, road):
    storage, root = local
    count = 2_000
    for n in range(count):
        _write(root / "many" / f"f{n}.bin", f"{n}".encode())
    items = [{"item_name": f"many/f{n}.bin", "uri": f"many/f{n}.bin"} for n in range(count)]

    response = _post(operator_api, storage, items)

    assert response.status_code == 200, response.content
    listings = ["operations/list"] if road == "rclone" else []
    assert [call for call in rclone_calls if call.startswith("operations/")] == listings
    stored = dict(DataItem.objects.filter(storage=storage).values_list("item_name", "item_checksum"))
    assert stored == {f"many/f{n}.bin": hashlib.md5(f"{n}".encode()).hexdigest() for n in range(count)}
    assert DataItem.objects.filter(storage=storage, hashes__has_key="xxh3").count() == count


def test_the_cycle_collector_rests_while_items_are_written_and_is_back_after(operator_api, local, monkeypatch):
    """A bulk registration keeps all its objects to the end: the collector would only walk them
    (core/gcpause.py). A refused one leaves it on too."""
    import catalogue.services.data_items as data_items

    storage, root = local
    _write(root / "a", b"x")
    seen = []
    original = data_items.rows_insert

    def rows_insert(items):
        seen.append(gc.isenabled())
        return original(items)

    monkeypatch.setattr(data_items, "rows_insert", rows_insert)
    gc.enable()

    assert _post(operator_api, storage, [{"item_name": "a", "uri": "a"}]).status_code == 200
    assert seen == [False] and gc.isenabled()
    assert _post(operator_api, storage, [{"item_name": "b", "uri": "missing"}]).status_code == 422
    assert gc.isenabled()


def test_without_access_check_nothing_is_listed(operator_api, local, rclone_calls):
    storage, _ = local
    items = [{"item_name": "a", "uri": "a", "item_size": 5, "checksum": "ab", "checksum_method": "sha1"}]

    response = _post(operator_api, storage, items, do_storage_access_check="false")

    item = DataItem.objects.get(uid=uuid.UUID(response.json()[0]))
    assert (item.item_size, item.item_checksum, item.checksum_method, item.last_check) == (5, "ab", "sha1", None)
    assert rclone_calls == []


def test_one_bad_item_is_named_by_index_and_nothing_is_written(operator_api, local):
    storage, root = local
    for name in ("a", "b", "c"):
        _write(root / name, b"x")
    items = [
        {"item_name": "a", "uri": "a"},
        {"item_name": "b", "uri": "../b", "item_type": "box"},
        {"item_name": "c", "uri": "c", "parents": str(uuid.uuid4())},
        {"uri": "d", "extra": 1},
    ]

    detail = _detail(_post(operator_api, storage, items))

    assert sorted(tuple(entry["loc"]) for entry in detail) == [
        ("body", 1, "item_type"),
        ("body", 3, "extra"),
        ("body", 3, "item_name"),
    ]
    assert DataItem.objects.count() == 0

    items[1] = {"item_name": "b", "uri": "../b"}
    items[3] = {"item_name": "a", "uri": "d"}
    detail = _detail(_post(operator_api, storage, items))
    assert [entry["loc"] for entry in detail] == [["body", 1, "uri"], ["body", 2, "parents"], ["body", 3, "item_name"]]
    assert DataItem.objects.count() == 0


def test_items_missing_on_the_storage_are_named_by_index(operator_api, local):
    storage, root = local
    _write(root / "d" / "here", b"12")
    items = [
        {"item_name": "here", "uri": "d/here", "item_size": 3},
        {"item_name": "gone", "uri": "d/gone"},
        {"item_name": "dir", "uri": "d", "item_type": "container"},
        {"item_name": "sum", "uri": "d/here", "checksum": "0" * 32, "checksum_method": "md5"},
    ]

    detail = _detail(_post(operator_api, storage, items))

    assert [entry["loc"] for entry in detail] == [["body", 0, "item_size"], ["body", 1, "uri"], ["body", 3, "checksum"]]
    assert DataItem.objects.count() == 0


def test_duplicates_in_the_list_and_in_the_catalogue(operator_api, local):
    storage, _ = local
    make_item(storage, item_name="old")
    items = [
        {"item_name": "new", "uri": "new"},
        {"item_name": "old", "uri": "old"},
        {"item_name": "new", "uri": "new2"},
    ]

    detail = _detail(_post(operator_api, storage, items, do_storage_access_check="false"))

    assert [(entry["loc"], entry["type"]) for entry in detail] == [
        (["body", 1, "item_name"], "value_already_in_db"),
        (["body", 2, "item_name"], "value_already_in_db"),
    ]
    assert DataItem.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "kind"),
    [({"item_name": "a", "uri": "a"}, "list_type"), ([], "too_short"), ([1], "dict_type"), (None, "missing")],
)
def test_the_body_must_be_a_list_of_objects(operator_api, local, body, kind):
    storage, _ = local

    assert _detail(_post(operator_api, storage, body))[0]["type"] == kind


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        (
            '[{"item_name": "a", "uri": "a"}, {"item_name": "b", "uri": "b", "metadata": {"x": NaN}}]',
            [1, "metadata", "x"],
        ),
        ('[{"item_name": "a\\udc00", "uri": "a"}]', [0, "item_name"]),
    ],
)
def test_an_item_that_is_not_json_is_named_and_nothing_is_written(operator_api, local, raw, loc):
    storage, _ = local
    params = {"storage_name": storage.storage_name, "do_storage_access_check": "false"}

    detail = _detail(operator_api.post(URL, params, raw_body=raw))

    assert [entry["loc"] for entry in detail] == [["body", *loc]]
    assert not DataItem.objects.exists()


def test_a_storage_is_required_and_roles_apply(operator_api, viewer_api, local):
    storage, _ = local
    response = operator_api.post(URL, {}, [{"item_name": "a", "uri": "a"}])
    assert response.json()["exec"] == "InvalidQueryParameters"

    assert _post(viewer_api, storage, [{"item_name": "a", "uri": "a"}]).status_code == 403


def test_expirations_in_the_body(operator_api, local):
    storage, _ = local
    items = [{"item_name": "a", "uri": "a", "uid_expiration": "2026-08-01T10:11:12.123456"}]

    uid = _post(operator_api, storage, items, do_storage_access_check="false").json()[0]

    assert DataItem.objects.get(uid=uid).uid_expiration.isoformat() == "2026-08-01T10:11:12.123456+00:00"


def test_the_operation_is_in_the_schema(api):
    op = api.get("/openapi.json").json()["paths"][URL]["post"]

    assert op["operationId"] == "register_data_items"
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["type"] == "array"
    assert schema["items"]["required"] == ["item_name", "uri"]
    assert op["requestBody"]["required"] is True
