"""Registering what lies in a local directory that a storage holds: its files, through the bulk
registration API, skipping what the storage already has (so that a second run registers only
what is new).

The directory is taken as the storage's root as seen from here; ``uri_prefix`` places it under
a subdirectory of that root. Each item's name is its uri, as ska-dlm-client's directory watcher
names them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dlm_cli.client import Client, Refused

PAGE = 1000  # rows per page of the server's lists (its cap)
CHUNK = 500  # items per bulk registration


def storage_row(client: Client, storage_name: str) -> dict[str, Any]:
    """The storage's row; a refusal naming ``storage_name`` when there is none."""
    rows = client.get("/storage/query_storage", storage_name=storage_name)
    if not rows:
        raise Refused(422, None, f"storage_name: no storage named {storage_name!r}")
    return rows[0]


def registered_names(client: Client, storage_id: str) -> set[str]:
    """The names of every item on the storage, whatever its state."""
    names: set[str] = set()
    offset = 0
    while True:
        rows = client.get("/request/query_data_item", storage_id=storage_id, limit=PAGE, offset=offset)
        names.update(row["item_name"] for row in rows if row.get("item_name"))
        if len(rows) < PAGE:
            return names
        offset += PAGE


def is_hidden(name: str) -> bool:
    """Names skipped: dot files (partial uploads, editors' and rsync's temporary files)."""
    return name.startswith(".")


def tree_files(directory: Path) -> Iterator[Path]:
    """The files under ``directory``, in a stable order, hidden ones left out."""
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        for name in sorted(files):
            if not is_hidden(name):
                yield Path(root) / name


def uri_of(path: Path, directory: Path, uri_prefix: str) -> str:
    relative = path.relative_to(directory).as_posix()
    return f"{uri_prefix.strip('/')}/{relative}" if uri_prefix.strip("/") else relative


def register_tree(
    client: Client,
    directory: Path,
    *,
    storage_name: str,
    uri_prefix: str = "",
    access_check: bool = True,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> dict[str, Any]:
    """Register every file under ``directory`` not yet on the storage, ``CHUNK`` at a time;
    ``progress(done, total)`` after each. Answers what was registered and what was there."""
    storage = storage_row(client, storage_name)
    known = registered_names(client, storage["storage_id"])
    new: list[dict[str, Any]] = []
    skipped = 0
    for path in tree_files(directory):
        uri = uri_of(path, directory, uri_prefix)
        if uri in known:
            skipped += 1
            continue
        new.append({"item_name": uri, "uri": uri, "item_type": "file", "item_size": path.stat().st_size})
    registered: list[dict[str, str]] = []
    progress(0, len(new))
    for start in range(0, len(new), CHUNK):
        chunk = new[start : start + CHUNK]
        uids = client.call(
            "POST",
            "/ingest/register_data_items",
            {"storage_name": storage_name, "do_storage_access_check": access_check},
            chunk,
        )
        registered.extend({"item_name": item["item_name"], "uid": uid} for item, uid in zip(chunk, uids, strict=True))
        progress(len(registered), len(new))
    return {"storage_name": storage_name, "registered": registered, "already_registered": skipped}
