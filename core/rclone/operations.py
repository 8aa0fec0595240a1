"""What DLM asks of a remote and waits for: a description of a path, the size of a tree, a listing,
whether the remote can be reached, its space, the deletion of a file."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from core.rclone import direct
from core.rclone.daemon import DAEMON, call_timeout
from core.rclone.errors import RcloneError
from core.rclone.remotes import fs_at, fs_of, remote_of


@dataclass(frozen=True)
class Reachability:
    """Whether rclone reaches a remote; if not, rclone's reason (secrets masked)."""

    reachable: bool
    error: str | None


def _hash_opts(hashes: tuple[str, ...]) -> dict[str, Any]:
    return {"showHash": True, "hashTypes": list(hashes)} if hashes else {}


def stat(config: dict[str, Any], path: str, *, hashes: tuple[str, ...] = ("md5",)) -> dict[str, Any] | None:
    """rclone's description of the object at ``path`` (``Size``, ``IsDir``, ``Hashes``, ``ModTime``…),
    or None when nothing is there. Hashes the backend cannot give are absent from ``Hashes``.
    A plain local disk's regular file is described in this process (``direct``)."""
    answer = direct.stat(config, path, hashes)
    if answer is not direct.UNANSWERED:
        return answer
    params = {"fs": fs_of(config), "remote": remote_of(path), "opt": _hash_opts(hashes)}
    try:
        return DAEMON.call("operations/stat", params).get("item")
    except RcloneError as exc:
        if exc.status == 404:
            return None
        raise


def hash_types(config: dict[str, Any]) -> tuple[str, ...]:
    """The hashes the remote's backend can give (rclone's names, e.g. ``("md5",)`` for S3)."""
    return tuple(DAEMON.call("operations/fsinfo", {"fs": fs_of(config)}).get("Hashes") or ())


def size(config: dict[str, Any], path: str) -> tuple[int, int]:
    """Total bytes and number of files under ``path`` (a directory tree)."""
    answer = DAEMON.call("operations/size", {"fs": fs_at(config, path)}, timeout=max(call_timeout(), 300))
    return int(answer["bytes"]), int(answer["count"])


def list_files(
    config: dict[str, Any], path: str, *, hashes: tuple[str, ...] = ("md5",), only: list[str] | None = None
) -> list[dict[str, Any]]:
    """Every file under ``path``, recursively: rclone's entries, ``Path`` relative to ``path``.

    ``only``: just these files (paths relative to ``path``; those not there are left out), found
    through rclone's files-from filter, so that nothing else under ``path`` is listed or, where
    the backend reads a file to hash it, read. On a plain local disk, the regular files named are
    described in this process (``direct``), and only what is left is asked of rclone."""
    if only is not None and any("\n" in name or "\r" in name for name in only):
        raise ValueError("a file name to list holds a line break")  # rclone's files-from cannot name it
    entries: list[dict[str, Any]] = []
    if only is not None:
        entries, only = direct.list_named(config, path, only, hashes)
        if not only:
            return entries
    params = {
        "fs": fs_of(config),
        "remote": remote_of(path),
        "opt": {"recurse": True, "filesOnly": True, **_hash_opts(hashes)},
    }
    prefix = remote_of(path).rstrip("/")  # rc paths, and the filter's names, are from the remote's root
    with _files_from(None if only is None else [f"{prefix}/{name}" if prefix else name for name in only]) as names:
        if names is not None:
            params["_filter"] = {"FilesFromRaw": [names]}
        try:
            listed = DAEMON.call("operations/list", params, timeout=max(call_timeout(), 300))["list"]
        except RcloneError as exc:
            if exc.status == 404:
                return entries
            raise
    for entry in listed:  # make them relative to ``path``
        if prefix and entry["Path"].startswith(prefix + "/"):
            entry["Path"] = entry["Path"][len(prefix) + 1 :]
    return entries + listed


@contextmanager
def _files_from(names: list[str] | None) -> Iterator[str | None]:
    """A file naming ``names`` one a line, for rclone's ``--files-from-raw`` (taken as they are:
    no comments, no spaces trimmed), removed after; None without names."""
    if names is None:
        yield None
        return
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", prefix="dlm-files-", suffix=".txt") as listed:
        listed.write("".join(f"{name}\n" for name in names))
        listed.flush()
        yield listed.name


# rclone's words for a backend without ``About`` (S3: "S3 bucket b doesn't support about"; others
# "about not supported" / "doesn't support About").
_NO_ABOUT = re.compile(r"(?:doesn't|does not) support about|about (?:is )?not supported", re.IGNORECASE)


def about(config: dict[str, Any]) -> dict[str, int] | None:
    """The remote's space as its backend reports it (rclone ``about``): the keys it gives of
    ``total``, ``used``, ``free``, ``trashed``, ``other``, ``objects`` (bytes; a backend may leave
    some out), or None when the backend cannot tell (S3 and most object stores). Any other
    failure (unreachable, no such directory: status 404) is an ``RcloneError``."""
    try:
        answer = DAEMON.call("operations/about", {"fs": fs_of(config)})
    except RcloneError as exc:
        if _NO_ABOUT.search(str(exc)):
            return None
        raise
    return {key: int(value) for key, value in answer.items() if isinstance(value, int | float)}


def remote_reachable(config: dict[str, Any]) -> Reachability:
    """Whether rclone reaches the root of the remote (a stat of its ``root_path``)."""
    try:
        DAEMON.call("operations/stat", {"fs": fs_of(config), "remote": ""})
    except RcloneError as exc:
        return Reachability(False, str(exc))
    return Reachability(True, None)


def remove(config: dict[str, Any], path: str) -> None:
    """Delete the file at ``path``; nothing there is fine. (Never a directory: one may hold files
    that are not DLM's.)"""
    if stat(config, path, hashes=()) is None:
        return
    try:
        DAEMON.call("operations/deletefile", {"fs": fs_of(config), "remote": remote_of(path)})
    except RcloneError as exc:
        if exc.status != 404:
            raise
