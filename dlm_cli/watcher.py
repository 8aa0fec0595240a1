"""``dlm watch``: register each new file or directory that lands in a watched directory, once it
has stopped changing, and optionally start its copy to another storage.

* Each entry directly under the directory is one item: a file as ``file``, a directory (its whole
  tree) as ``container``. Its name and uri are its path relative to the directory (under
  ``uri_prefix``), as ska-dlm-client's directory watcher names them. Dot files are skipped.
* An entry is registered once nothing in it has changed for ``settle`` seconds: no event, and the
  same sizes and modification times on a second look.
* Changes come from inotify through watchfiles, or from polling (``poll``, and on network
  filesystems, where inotify sees no other machine's writes).
* On start-up, whatever is in the directory and not on the storage is registered (what arrived
  while the watcher was down), as ska-dlm-client's start-up verification does.
* When DLM cannot be reached, or answers with a server error, the registration is tried again
  with growing waits; nothing is skipped. A registration the server made but whose answer was
  lost is recognised on the next try (the name is already on the storage) and counted once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlm_cli.client import Client, Refused, Unreachable
from dlm_cli.registering import is_hidden, registered_names, storage_row, uri_of

log = logging.getLogger("dlm.watch")

MAX_BACKOFF = 30.0
# Filesystems on which inotify does not see changes made by other machines.
NETWORK_FILESYSTEMS = {
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "fuse.sshfs",
    "lustre",
    "gpfs",
    "beegfs",
    "ceph",
    "fuse.ceph",
    "glusterfs",
    "fuse.glusterfs",
    "9p",
    "fuse.rclone",
}


@dataclass
class Pending:
    """An entry waiting to be registered (or copied)."""

    last_change: float
    signature: Any = None
    next_try: float = 0.0
    backoff: float = 1.0
    uid: str | None = None  # registered, its copy still to start


@dataclass
class Watcher:
    client: Client
    directory: Path
    storage_name: str
    settle: float = 5.0
    copy_to: str | None = None
    uri_prefix: str = ""
    access_check: bool = True
    pending: dict[str, Pending] = field(default_factory=dict)
    registered: int = 0

    # --- the entries ---------------------------------------------------------------------------

    def signature(self, name: str) -> Any:
        """Sizes and modification times of everything in the entry (None when it is gone)."""
        path = self.directory / name
        try:
            if not path.is_dir():
                stat = path.stat()
                return (stat.st_size, stat.st_mtime_ns)
            entries = []
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for leaf in sorted(files):
                    stat = (Path(root) / leaf).stat()
                    entries.append((os.path.relpath(os.path.join(root, leaf), path), stat.st_size, stat.st_mtime_ns))
            return tuple(entries)
        except OSError:
            return None

    def changed(self, name: str, now: float) -> None:
        if is_hidden(name):
            return
        entry = self.pending.get(name)
        if entry is None:
            self.pending[name] = Pending(last_change=now, signature=self.signature(name))
        elif entry.uid is None:
            entry.last_change, entry.signature = now, self.signature(name)

    def top_entry(self, path: str) -> str | None:
        try:
            relative = Path(path).relative_to(self.directory)
        except ValueError:
            return None
        return relative.parts[0] if relative.parts else None

    # --- start-up ------------------------------------------------------------------------------

    def catch_up(self) -> None:
        """Queue every entry of the directory that the storage does not have yet."""
        while True:
            try:
                storage = storage_row(self.client, self.storage_name)
                known = registered_names(self.client, storage["storage_id"])
                break
            except (Unreachable, Refused) as exc:
                if isinstance(exc, Refused) and exc.status < 500:
                    raise
                log.warning("%s; trying again in 5 s", exc)
                time.sleep(5)
        now = time.monotonic()
        missing = 0
        for child in sorted(self.directory.iterdir()):
            if not is_hidden(child.name) and uri_of(child, self.directory, self.uri_prefix) not in known:
                self.changed(child.name, now)
                missing += 1
        log.info(
            "watching %s for storage %s: %d entries to register from before", self.directory, self.storage_name, missing
        )

    # --- registering ---------------------------------------------------------------------------

    def process(self, now: float) -> None:
        """Register (and copy) every entry that has settled and is due."""
        for name in list(self.pending):
            entry = self.pending[name]
            if entry.next_try > now or (entry.uid is None and now - entry.last_change < self.settle):
                continue
            if entry.uid is None:
                signature = self.signature(name)
                if signature is None:
                    log.info("%s is gone before it settled; not registered", name)
                    del self.pending[name]
                    continue
                if signature != entry.signature:  # changed without an event (or between events)
                    entry.last_change, entry.signature = now, signature
                    continue
            try:
                self.settled(name, entry)
            except (Unreachable, _ServerError) as exc:
                log.warning("%s: %s; trying again in %.0f s", name, exc, entry.backoff)
                entry.next_try = now + entry.backoff
                entry.backoff = min(entry.backoff * 2, MAX_BACKOFF)
                continue
            except Refused as exc:
                log.error("%s: DLM refused it: HTTP %s: %s", name, exc.status, exc.message)
            del self.pending[name]

    def settled(self, name: str, entry: Pending) -> None:
        path = self.directory / name
        uri = uri_of(path, self.directory, self.uri_prefix)
        if entry.uid is None:
            entry.uid = self.register(path, uri)
        if self.copy_to:
            answer = _call(
                self.client, "POST", "/migration/copy_data_item", {"uid": entry.uid, "destination_name": self.copy_to}
            )
            log.info("copying %s to %s: job %s", uri, self.copy_to, answer.get("migration_id"))

    def register(self, path: Path, uri: str) -> str:
        is_dir = path.is_dir()
        params: dict[str, Any] = {
            "item_name": uri,
            "uri": uri,
            "item_type": "container" if is_dir else "file",
            "storage_name": self.storage_name,
            "do_storage_access_check": self.access_check,
        }
        if not is_dir:
            params["item_size"] = path.stat().st_size
        try:
            uid = _call(self.client, "POST", "/ingest/register_data_item", params)
        except Refused as exc:
            if not (isinstance(exc.body, dict) and exc.body.get("exec") == "ValueAlreadyInDB"):
                raise
            # Registered already: by an earlier try whose answer was lost, or by someone else.
            rows = _call(self.client, "GET", "/request/query_data_item", {"item_name": uri})
            storage = storage_row(self.client, self.storage_name)
            uid = next(row["uid"] for row in rows if row.get("storage_id") == storage["storage_id"])
            log.info("%s was registered already, as %s", uri, uid)
            return uid
        self.registered += 1
        log.info("registered %s as %s (%s%s)", uri, uid, params["item_type"], _size(params.get("item_size")))
        return uid

    # --- the loop ------------------------------------------------------------------------------

    def run(self, *, poll: bool | None = None, stop: threading.Event | None = None) -> None:
        """Watch until ``stop`` is set."""
        import watchfiles

        stop = stop or threading.Event()
        polling = needs_polling(self.directory) if poll is None else poll
        if polling:
            log.info("polling %s for changes", self.directory)
        self.catch_up()
        self.process(time.monotonic())
        tick = max(100, min(1000, int(self.settle * 500)))
        for changes in watchfiles.watch(
            self.directory,
            stop_event=stop,
            force_polling=polling,
            poll_delay_ms=tick,
            rust_timeout=tick,
            yield_on_timeout=True,
            debounce=tick,
            step=50,
            raise_interrupt=False,
        ):
            now = time.monotonic()
            for _, path in changes:
                name = self.top_entry(path)
                if name:
                    self.changed(name, now)
            self.process(now)
            if stop.is_set():
                break


class _ServerError(Exception):
    """A 5xx answer: the server may be starting or stopping; worth another try."""


def _call(client: Client, method: str, path: str, params: dict[str, Any]) -> Any:
    try:
        return client.call(method, path, params)
    except Refused as exc:
        if exc.status >= 500:
            raise _ServerError(f"HTTP {exc.status}: {exc.message}") from None
        raise


def _size(size: int | None) -> str:
    return f", {size} bytes" if size is not None else ""


def needs_polling(directory: Path) -> bool:
    """True when the directory is on a network filesystem (where inotify misses other machines'
    writes), as /proc/mounts tells."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    target = str(directory.resolve())
    best, kind = "", ""
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, parts[2]
    return kind in NETWORK_FILESYSTEMS
