"""A ``uri`` or ``path`` that starts with ``/`` stays under the storage's root, as upstream joins
``root_directory + "/" + uri`` and collapses the doubled slash: registration (one and bulk) and
copies (file and container) on a local disk and on S3, the stored uri as sent, and nothing read
or written outside the root."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from pathlib import Path

import pytest

from catalogue.models import DataItem, Storage
from catalogue.services import storage_config_create
from migrations_app import runner
from migrations_app.states import JobState
from tests.factories import make_storage

pytestmark = pytest.mark.django_db

_seq = itertools.count()


def _configured(storage: Storage, config: dict) -> Storage:
    storage_config_create(storage_id=storage.storage_id, config=dict(config), check_remote=False)
    return storage


@pytest.fixture
def disk(tmp_path) -> tuple[Storage, Path]:
    root = tmp_path / "data"
    root.mkdir()
    storage = make_storage(storage_name="disk", root_directory=str(root))
    return _configured(storage, {"name": "disk", "type": "local", "root_path": "/"}), root


@pytest.fixture
def s3(s3_server) -> tuple[Storage, Path]:
    prefix = f"slash{next(_seq)}-{uuid.uuid4().hex[:6]}"
    storage = make_storage(storage_name="acacia", storage_type="objectstore", storage_interface="s3",
                           root_directory=f"/bucket1/{prefix}")  # fmt: skip
    return _configured(storage, s3_server.config), s3_server.root / "bucket1" / prefix


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _register(api, storage: Storage, uri: str, item_name: str, **params):
    return api.post("/ingest/register_data_item", {"item_name": item_name, "uri": uri,
                                                   "storage_name": storage.storage_name, **params})  # fmt: skip


@pytest.mark.parametrize("where", ["disk", "s3"])
def test_register_with_a_leading_slash_reads_under_the_root_and_stores_the_uri_as_sent(operator_api, request, where):
    storage, root = request.getfixturevalue(where)
    data = b"license content"
    _write(root / "dlm/MyDisk/testfile", data)

    response = _register(operator_api, storage, "/dlm/MyDisk/testfile", "/my/ingest/test/item2")

    assert response.status_code == 200, response.content
    item = DataItem.objects.get(uid=response.json())
    assert item.uri == "/dlm/MyDisk/testfile"
    assert item.item_size == len(data) and item.item_checksum == hashlib.md5(data).hexdigest()
    rows = operator_api.get("/request/query_data_item", {"uid": str(item.uid)}).json()
    assert rows[0]["uri"] == "/dlm/MyDisk/testfile"


def test_a_leading_slash_never_reaches_the_host(operator_api, disk):
    storage, _ = disk
    host_file = Path("/etc/hostname")
    assert host_file.exists()

    response = _register(operator_api, storage, str(host_file), "hostname")

    assert response.status_code == 422
    assert response.json()["exec"] == "UnmetPreconditionForOperation"
    assert f"{storage.root_directory}/etc/hostname" in response.json()["message"]
    assert DataItem.objects.count() == 0


def test_a_doubled_slash_is_collapsed(operator_api, disk):
    storage, root = disk
    _write(root / "dlm/MyDisk/container/file1", b"Some data")

    response = _register(operator_api, storage, "/dlm/MyDisk//container/", "container", item_type="container")

    assert response.status_code == 200, response.content
    item = DataItem.objects.get(uid=response.json())
    assert item.uri == "/dlm/MyDisk//container/" and item.item_size == len(b"Some data")


@pytest.mark.parametrize("where", ["disk", "s3"])
def test_bulk_registration_takes_leading_slashes_beside_relative_uris(operator_api, request, where):
    storage, root = request.getfixturevalue(where)
    for name in ("a", "b", "c"):
        _write(root / "obs" / name, name.encode() * 10)
    items = [
        {"item_name": "a", "uri": "/obs/a"},
        {"item_name": "b", "uri": "obs/b"},
        {"item_name": "c", "uri": "//obs//c"},
    ]

    response = operator_api.post("/ingest/register_data_items", {"storage_name": storage.storage_name}, items)

    assert response.status_code == 200, response.content
    stored = dict(DataItem.objects.values_list("item_name", "uri"))
    assert stored == {"a": "/obs/a", "b": "obs/b", "c": "//obs//c"}
    assert set(DataItem.objects.values_list("item_size", flat=True)) == {10}


def _run(migration_id: int) -> str:
    state = ""
    for _ in range(3):
        state = runner.copy_job_run(migration_id)
        if state != JobState.QUEUED:
            break
    return state


@pytest.mark.parametrize(("src", "dst"), [("disk", "s3"), ("s3", "disk")])
def test_copy_to_a_leading_slash_path_lands_under_the_destination_root(operator_api, request, src, dst):
    source_storage, source_root = request.getfixturevalue(src)
    destination, destination_root = request.getfixturevalue(dst)
    _write(source_root / "dlm/MyDisk/testfile", b"license content")
    uid = _register(operator_api, source_storage, "/dlm/MyDisk/testfile", "item").json()

    response = operator_api.post("/migration/copy_data_item", {
        "uid": uid, "destination_name": destination.storage_name, "path": "/dlm/MyDisk2//testfile_copy"
    })  # fmt: skip

    assert response.status_code == 200, response.content
    assert _run(response.json()["migration_id"]) == JobState.COMPLETED
    assert (destination_root / "dlm/MyDisk2/testfile_copy").read_bytes() == b"license content"
    copy = DataItem.objects.get(uid=response.json()["uid"])
    assert copy.item_state == "READY" and copy.uri == "/dlm/MyDisk2//testfile_copy"


def test_a_source_with_a_leading_slash_is_copied_to_the_same_uri(operator_api, disk, s3):
    (storage, root), (_, destination_root) = disk, s3
    _write(root / "obs/f.bin", b"x" * 100)
    uid = _register(operator_api, storage, "/obs/f.bin", "f").json()

    response = operator_api.post("/migration/copy_data_item", {"uid": uid, "destination_name": "acacia"})

    assert response.status_code == 200, response.content
    assert _run(response.json()["migration_id"]) == JobState.COMPLETED
    assert (destination_root / "obs/f.bin").read_bytes() == b"x" * 100


# A container from S3 to a disk: the other way, a tree copied into the loopback S3 test server
# (rclone serve s3) at times leaves that server spinning and the copy unfinished.
@pytest.mark.parametrize(("src", "dst"), [("s3", "disk")])
def test_a_container_copied_to_a_leading_slash_path(operator_api, request, src, dst):
    source_storage, source_root = request.getfixturevalue(src)
    destination, destination_root = request.getfixturevalue(dst)
    _write(source_root / "dlm/MyDisk/container/file1", b"Some data")
    _write(source_root / "dlm/MyDisk/container/dir1/file2", b"More data")
    uid = _register(operator_api, source_storage, "/dlm/MyDisk//container/", "container", item_type="container").json()

    response = operator_api.post("/migration/copy_data_item", {
        "uid": uid, "destination_name": destination.storage_name, "path": "/dlm/MyDisk2/"
    })  # fmt: skip

    assert response.status_code == 200, response.content
    migration_id = response.json()["migration_id"]
    assert _run(migration_id) == JobState.COMPLETED
    assert (destination_root / "dlm/MyDisk2/file1").read_bytes() == b"Some data"
    assert (destination_root / "dlm/MyDisk2/dir1/file2").read_bytes() == b"More data"
    row = operator_api.get("/migration/get_migration", {"migration_id": migration_id}).json()[0]
    assert row["job_stats"]["bytes"] == len(b"Some data") + len(b"More data")
    assert row["job_status"]["finished"] is True and row["complete"] is True


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/../etc/passwd", "'..' segments"),
        ("/a/../../b", "'..' segments"),
        ("/a\x00b", "NUL"),
        ("/a\nb", "control characters"),
        ("/a\x1b[31m", "control characters"),
        ("/a\\b", "backslashes"),
        ("/", "not the root itself"),
    ],
)
def test_what_is_not_a_path_under_the_root_is_refused_naming_the_field(operator_api, disk, s3, path, why):
    storage, root = disk
    _write(root / "f", b"x")
    uid = _register(operator_api, storage, "f", "f").json()
    before = (DataItem.objects.count(), list(DataItem.objects.values_list("uid", "item_state")))

    registered = _register(operator_api, storage, path, "bad", do_storage_access_check="false")
    copied = operator_api.post("/migration/copy_data_item", {"uid": uid, "destination_name": "acacia", "path": path})

    assert registered.status_code == 422
    (error,) = registered.json()["detail"]
    assert error["loc"] == ["query", "uri"] and why in error["msg"]
    assert copied.status_code == 422
    assert copied.json()["detail"][0]["loc"] == ["query", "path"] and why in copied.json()["detail"][0]["msg"]
    assert (DataItem.objects.count(), list(DataItem.objects.values_list("uid", "item_state"))) == before
