"""Storages on real rclone remotes, items with real bytes, and the jobs run to their end in this
process, for the lifecycle's tests."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from catalogue.models import DataItem, Storage
from catalogue.services import storage_config_create
from catalogue.services.ingest import data_item_register
from migrations_app.models import Deletion, Migration
from migrations_app.runner import copy_job_run
from migrations_app.runner.deleting import deletion_job_run
from migrations_app.states import ACTIVE
from tests.factories import make_storage


class Place:
    """A storage on a local directory (or on a remote ``config``), and where its files are."""

    def __init__(self, root: Path | None, storage: Storage) -> None:
        self.root = root
        self.storage = storage

    def path(self, uri: str) -> Path:
        assert self.root is not None
        return self.root / "data" / uri

    def write(self, uri: str, data: bytes) -> str:
        path = self.path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return hashlib.md5(data).hexdigest()


def local_place(tmp_path: Path, name: str, phase: str, **fields: Any) -> Place:
    root = tmp_path / name
    (root / "data").mkdir(parents=True, exist_ok=True)
    storage = make_storage(root_directory="data", storage_name=name, storage_phase=phase, **fields)
    config = {"name": f"local-{name}", "type": "local", "root_path": str(root)}
    storage_config_create(storage_id=storage.storage_id, config=config, check_remote=False)
    return Place(root, storage)


def remote_place(config: dict[str, Any], root_directory: str, name: str, phase: str) -> Place:
    storage = make_storage(
        root_directory=root_directory, storage_name=name, storage_phase=phase, storage_type="objectstore",
        storage_interface="s3",
    )  # fmt: skip
    storage_config_create(storage_id=storage.storage_id, config=dict(config), check_remote=False)
    return Place(None, storage)


def s3_place(server: Any, name: str, phase: str) -> Place:
    """A storage on the S3 test server (``tests.storage_servers``), in ``bucket1/<name>/data``, whose
    files the test reads and writes through the server's directory."""
    root = server.root / "bucket1" / name
    (root / "data").mkdir(parents=True, exist_ok=True)
    place = remote_place(server.config, f"bucket1/{name}/data", name, phase)
    place.root = root
    return place


def register(place: Place, uri: str, data: bytes = b"payload", *, aged: bool = True, **fields: Any) -> DataItem:
    """A file written at ``uri`` on the place and registered there (READY). ``aged``: registered
    long enough ago for the lifecycle's grace to have passed."""
    if place.root is not None:
        place.write(uri, data)
    item = data_item_register(
        owner="tester", item_name=fields.pop("item_name", uri), uri=uri, storage_id=place.storage.storage_id,
        item_size=len(data), do_storage_access_check=place.root is not None, **fields,
    )  # fmt: skip
    if aged:
        age(item.oid)
    return item


def age(oid: uuid.UUID, hours: int = 2) -> None:
    """Make every copy of an object look registered ``hours`` ago (beyond the phase grace)."""
    DataItem.objects.filter(oid=oid).update(uid_creation=timezone.now() - timedelta(hours=hours))


def expire(item: DataItem, *, what: str = "uid_expiration") -> None:
    DataItem.objects.filter(uid=item.uid).update(**{what: timezone.now() - timedelta(minutes=1)})


def run_jobs(limit: int = 50) -> int:
    """Run every copy and deletion job that has not ended, until none is left (or ``limit``
    rounds); the number of job runs."""
    runs = 0
    for _ in range(limit):
        copies = list(Migration.objects.filter(state__in=ACTIVE).values_list("pk", flat=True))
        deletions = list(Deletion.objects.filter(state__in=ACTIVE).values_list("pk", flat=True))
        if not copies and not deletions:
            return runs
        for pk in copies:
            copy_job_run(pk)
            runs += 1
        for pk in deletions:
            deletion_job_run(pk)
            runs += 1
    raise AssertionError(f"jobs still running after {limit} rounds")


def copies_of(oid: uuid.UUID) -> dict[str, str]:
    """Storage name → state of each copy of an object."""
    rows = DataItem.objects.filter(oid=oid).values_list("storage__storage_name", "item_state")
    return dict(rows)
