"""ska-data-lifecycle's REST integration tests, call for call, against DLM as it runs for people
(gunicorn and a real django-q2 worker): the same parameters, in the same order, as its REST
clients send them (every truthy argument in the query string, enum values by value, the metadata
dict also as the JSON body), and the same assertions.

Its storages are laid out here as its test deployment has them: ``local`` and ``dlm-archive``,
both rooted at ``/`` of their own disk (a directory of this test), so its absolute uris and paths
(``/dlm/MyDisk/testfile``) stay under each storage's root. The archive's ``/root`` cannot be
written (it is a regular file there), which is what upstream's ``test_copy_failed`` relies on.
"""

from __future__ import annotations

import datetime
import shutil
import time
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.e2e

TEST_URI = "/dlm/MyDisk/testfile"
ROOT_DIRECTORY1 = "/dlm/MyDisk/"
ROOT_DIRECTORY2 = "/dlm/MyDisk2/"
RCLONE_TEST_FILE_CONTENT = "license content"
RCLONE_TEST_FILE_SIZE = 15
METADATA_RECEIVED = {"execution_block": "eb-meta-20240723-00000"}


class ItemType(StrEnum):
    FILE = "file"
    CONTAINER = "container"


class PhaseType(StrEnum):
    SOLID = "SOLID"


class Upstream:
    """What upstream's REST clients send: ``{k: v for k, v in locals().items() if v}`` as params."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}

    def _call(self, method: str, path: str, params: dict[str, Any], json: Any = None) -> Any:
        params = {k: v for k, v in params.items() if v}
        response = requests.request(method, f"{self.url}{path}", params=params, json=json, headers=self.headers,
                                    timeout=60)  # fmt: skip
        return response

    def register_data_item(
        self,
        item_name: str,
        uri: str,
        item_type: ItemType = ItemType.FILE,
        target_phase: PhaseType = PhaseType.SOLID,
        storage_name: str = "",
        parents: str | None = None,
        metadata: dict | None = None,
    ) -> requests.Response:
        params = {
            "item_name": item_name,
            "uri": uri,
            "item_type": item_type.value,
            "target_phase": target_phase.value,
            "storage_name": storage_name,
            "parents": parents,
            "metadata": metadata,
            "do_storage_access_check": True,
        }
        return self._call("POST", "/ingest/register_data_item", params, json=metadata)

    def copy_data_item(self, uid: str = "", destination_id: str = "", path: str = "") -> requests.Response:
        return self._call(
            "POST", "/migration/copy_data_item", {"uid": uid, "destination_id": destination_id, "path": path}
        )

    def get_migration_record(self, migration_id: int) -> list:
        response = self._call("GET", "/migration/get_migration", {"migration_id": migration_id})
        response.raise_for_status()
        return response.json()

    def query_migrations(self, **params: Any) -> list:
        response = self._call("GET", "/migration/query_migrations", params)
        response.raise_for_status()
        return response.json()

    def query_data_item(self, **params: Any) -> list:
        response = self._call("GET", "/request/query_data_item", params)
        response.raise_for_status()
        return response.json()

    def query_storage(self, storage_name: str) -> list:
        response = self._call("GET", "/storage/query_storage", {"storage_name": storage_name})
        response.raise_for_status()
        return response.json()


def _ok(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def disks(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("upstream-disks")
    return {"local": base / "local", "dlm-archive": base / "archive"}


@pytest.fixture(scope="module")
def upstream(dlm_server, disks) -> Upstream:
    token = dlm_server.manage("create_api_token", "upstream-tests", "--role", "admin").strip().splitlines()[-1]
    client = Upstream(dlm_server.url, token)
    _ok(client._call("POST", "/storage/init_location", {"location_name": "local", "location_type": "local-dev"}))
    for name, root in disks.items():
        root.mkdir(parents=True)
        storage_id = _ok(
            client._call(
                "POST",
                "/storage/init_storage",
                {
                    "storage_name": name,
                    "location_name": "local",
                    "storage_type": "filesystem",
                    "storage_interface": "posix",
                    "storage_phase": "SOLID",
                    "root_directory": "/",
                },
            )  # fmt: skip
        )
        config = {"name": name, "type": "local", "root_path": str(root)}
        _ok(client._call("POST", "/storage/create_storage_config", {"storage_id": storage_id}, json=config))
    return client


@pytest.fixture
def setup(upstream, disks) -> dict[str, Path]:
    """As upstream's per-test setup: both directories made and emptied, the test file written."""
    local = disks["local"]
    for root in disks.values():
        for directory in (ROOT_DIRECTORY1, ROOT_DIRECTORY2):
            shutil.rmtree(root / directory.strip("/"), ignore_errors=True)
            (root / directory.strip("/")).mkdir(parents=True)
    (local / TEST_URI.lstrip("/")).write_text(RCLONE_TEST_FILE_CONTENT)
    blocker = disks["dlm-archive"] / "root"  # "/root" on the archive cannot be written
    if not blocker.exists():
        blocker.write_text("not a directory")
    return disks


def _get_migration(upstream: Upstream, record: dict, count: int = 100) -> list:
    """Upstream's wait: poll until ``job_status`` is there and ``finished`` is not false."""
    for _ in range(count):
        migration_record = upstream.get_migration_record(record["migration_id"])
        if migration_record[0]["job_status"] is None or migration_record[0]["job_status"]["finished"] is False:
            time.sleep(0.5)
            continue
        return migration_record
    raise TimeoutError("Did not get migration record.")


def test_register_data_item_with_metadata(upstream, setup):
    uid = _ok(upstream.register_data_item("/my/ingest/test/item2", TEST_URI, storage_name="local",
                                          metadata=METADATA_RECEIVED))  # fmt: skip
    assert len(uid) == 36
    again = upstream.register_data_item("/my/ingest/test/item2", TEST_URI, storage_name="local",
                                        metadata=METADATA_RECEIVED)  # fmt: skip
    assert again.status_code == 422
    assert again.json()["exec"] == "ValueAlreadyInDB" and "Item is already registered" in again.json()["message"]
    item = upstream.query_data_item(uid=uid)[0]
    assert item["uri"] == TEST_URI  # stored as sent
    assert item["item_size"] == RCLONE_TEST_FILE_SIZE  # the file under the storage's root was checked


def test_an_absolute_uri_never_reaches_the_host(upstream, setup):
    """``/etc/hostname`` is there on the host, not under the storage's root: not registered."""
    assert Path("/etc/hostname").exists()
    response = upstream.register_data_item("hostname", "/etc/hostname", storage_name="local")
    assert response.status_code == 422
    assert "No file at" in response.json()["message"]
    assert upstream.query_data_item(item_name="hostname") == []


def test_copy(upstream, setup):
    dest_id = upstream.query_storage("dlm-archive")[0]["storage_id"]
    uid = _ok(upstream.register_data_item("/my/ingest/test/copied", TEST_URI, storage_name="local"))
    assert len(uid) == 36
    dest = f"{ROOT_DIRECTORY2}/testfile_copy"
    copy_item_record = _ok(upstream.copy_data_item(uid=uid, destination_id=dest_id, path=dest))
    assert (setup["local"] / TEST_URI.lstrip("/")).read_text() == RCLONE_TEST_FILE_CONTENT

    migration_record = _get_migration(upstream, copy_item_record)

    assert len(migration_record) == 1
    assert migration_record[0]["destination_storage_id"] == dest_id
    assert migration_record[0]["complete"] is True
    assert migration_record[0]["job_status"]["finished"] is True
    assert migration_record[0]["job_stats"]["bytes"] == RCLONE_TEST_FILE_SIZE
    source_data_item = upstream.query_data_item(
        oid=migration_record[0]["oid"], storage_id=migration_record[0]["source_storage_id"]
    )
    assert source_data_item[0]["item_state"] == "READY"
    # The copy is under the archive's root, at the path as given (doubled slash collapsed).
    assert (setup["dlm-archive"] / "dlm/MyDisk2/testfile_copy").read_text() == RCLONE_TEST_FILE_CONTENT
    assert upstream.query_data_item(uid=copy_item_record["uid"])[0]["item_state"] == "READY"

    migrations = upstream.query_migrations(storage_id=dest_id)
    mine = [m for m in migrations if m["migration_id"] == copy_item_record["migration_id"]]
    assert len(mine) == 1
    yesterday = (datetime.datetime.now() - datetime.timedelta(days=1)).strftime("%Y-%m-%d")
    tomorrow = (datetime.datetime.now() + datetime.timedelta(days=1)).strftime("%Y-%m-%d")
    ids = {copy_item_record["migration_id"]}
    assert ids <= {m["migration_id"] for m in upstream.query_migrations(start_date=yesterday)}
    assert upstream.query_migrations(start_date=tomorrow) == []
    assert upstream.query_migrations(end_date=yesterday) == []
    assert ids <= {m["migration_id"] for m in upstream.query_migrations(end_date=tomorrow)}


def test_copy_failed(upstream, setup):
    """rclone cannot write ``/root/testfile_copy``: once the job has finished, the destination
    copy is gone from the catalogue (a permanent error: no retries to wait for)."""
    dest_id = upstream.query_storage("dlm-archive")[0]["storage_id"]
    uid = _ok(upstream.register_data_item("/my/ingest/test/failing", TEST_URI, storage_name="local"))
    assert len(uid) == 36
    copy_item_record = _ok(upstream.copy_data_item(uid=uid, destination_id=dest_id, path="/root/testfile_copy"))
    assert (setup["local"] / TEST_URI.lstrip("/")).read_text() == RCLONE_TEST_FILE_CONTENT

    record = _get_migration(upstream, copy_item_record, count=40)  # 20 s: no backoff on a permanent error

    assert not upstream.query_data_item(uid=copy_item_record["uid"])
    assert record[0]["job_status"]["success"] is False
    assert record[0]["complete"] is True
    assert record[0]["state"] == "failed" and record[0]["attempts"] == 1
    assert record[0]["destination_uid"] == copy_item_record["uid"] and record[0]["source_uid"] == uid
    assert "not a directory" in record[0]["last_error"]
    assert upstream.query_data_item(uid=uid)[0]["item_state"] == "READY"  # the source untouched


def test_copy_container(upstream, setup):
    local = setup["local"]
    (local / "dlm/MyDisk/container/dir1").mkdir(parents=True, exist_ok=True)
    (local / "dlm/MyDisk/container/file1").write_text("Some data")
    (local / "dlm/MyDisk/container/dir1/file2").write_text("More data")
    dest_id = upstream.query_storage("dlm-archive")[0]["storage_id"]

    uid_root = _ok(upstream.register_data_item("container", f"{ROOT_DIRECTORY1}/container/",
                                               item_type=ItemType.CONTAINER, storage_name="local"))  # fmt: skip
    assert len(uid_root) == 36
    dir1_uid = _ok(upstream.register_data_item("container/dir1", f"{ROOT_DIRECTORY1}/container/dir1",
                                               item_type=ItemType.CONTAINER, storage_name="local",
                                               parents=uid_root))  # fmt: skip
    assert len(dir1_uid) == 36
    for name, parent in (("file1", uid_root), ("dir1/file2", dir1_uid)):
        file_uid = _ok(upstream.register_data_item(f"container/{name}", f"{ROOT_DIRECTORY1}/container/{name}",
                                                   item_type=ItemType.FILE, storage_name="local",
                                                   parents=parent))  # fmt: skip
        assert len(file_uid) == 36

    result = _get_migration(upstream, _ok(upstream.copy_data_item(uid=uid_root, destination_id=dest_id,
                                                                  path=ROOT_DIRECTORY2)))  # fmt: skip

    assert len(result) == 1
    assert result[0]["destination_storage_id"] == dest_id
    assert result[0]["complete"] is True
    assert result[0]["job_status"]["finished"] is True
    assert result[0]["job_stats"]["bytes"] == len("Some data") + len("More data")
    assert (setup["dlm-archive"] / "dlm/MyDisk2/dir1/file2").read_text() == "More data"
