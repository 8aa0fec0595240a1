"""A plain local disk's files described in this process, as rclone would describe them.

The rclone daemon is this process's own child: on this machine, as this user, in this working
directory, started with no flags and none of the caller's ``RCLONE_`` variables. A ``local``
remote without options therefore shows it exactly the files this process sees, and rclone's
description of one of them (its size, and hashes that rclone's local backend computes by reading
the bytes) can be made here from one ``lstat`` and one read, without the round trip to the daemon
and its JSON: about 1 ms of the machine's CPU a file, most of a checked registration's cost
beyond an unchecked one's (benchmarks/README.md).

Only what is certainly the same is answered here; everything else goes to rclone as before:
a remote of another type or with any option, a relative root, a root or a path that rclone's
encoding for local names would change (``．``, ``／``, ``‛``) or that names ``.`` or ``..``, a
symlink, a special file, an error other than "nothing there", a hash not known here, a file
replaced while it is read, and a file larger than ``DLM_RCLONE_DIRECT_MAX_BYTES`` when hashes are
asked for (its hashing then has rclone's timeout). ``DLM_RCLONE_DIRECT=false`` sends everything
to rclone.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat as stat_mode
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

import xxhash
from django.conf import settings

from core.rclone.remotes import remote_of


class _Unanswered:
    def __repr__(self) -> str:
        return "UNANSWERED"


# What is not answered here: the caller asks rclone.
UNANSWERED: Any = _Unanswered()

_READ = 1 << 20
# Characters that rclone's encoding of local names (``Slash,Dot`` on Linux) maps to others or quotes.
_ENCODED = frozenset("\uff0f\uff0e\u201b\x00")


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


class _Crc32:
    """crc32 as rclone writes it: 8 hex digits."""

    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes, /) -> None:
        self._value = zlib.crc32(data, self._value)

    def hexdigest(self) -> str:
        return f"{self._value:08x}"


# rclone's hash names, and how each is made here (every one agrees with rclone's: tests/core/test_rclone_direct.py).
HASHERS: dict[str, Callable[[], _Hasher]] = {
    "md5": hashlib.md5,
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
    "crc32": _Crc32,
    "xxh3": xxhash.xxh3_64,
}


def local_root(config: dict[str, Any], hashes: tuple[str, ...]) -> str | None:
    """The absolute root directory of ``config`` where this process may describe its files
    itself, with ``hashes`` (a ``local`` remote without options, direct answers on, every hash
    known here), else None."""
    if not settings.DLM_RCLONE_DIRECT or str(config.get("type", "")).lower() != "local":
        return None
    if any(name not in HASHERS for name in hashes):
        return None
    if any(value is not None for value in (config.get("parameters") or {}).values()):
        return None
    root = config.get("root_path") or "/"
    if not isinstance(root, str) or not root.startswith("/") or not _plain(root):
        return None  # rclone cleans ``..`` out of a root by its text; the kernel would follow a symlink before it
    return root


def _plain(path: str) -> bool:
    """Whether rclone's local backend takes ``path`` (slash-separated, relative) as it is."""
    if any(char in _ENCODED for char in path):
        return False
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: rclone would encode it
        return False
    return all(part not in (".", "..") for part in path.split("/") if part)


def stat(config: dict[str, Any], path: str, hashes: tuple[str, ...]) -> dict[str, Any] | None:
    """rclone's ``operations/stat`` answer for ``path`` (relative to the remote's root): the entry,
    None when nothing is there, or ``UNANSWERED``."""
    root = local_root(config, hashes)
    remote = remote_of(path)
    if root is None or not remote or not _plain(remote):
        return UNANSWERED
    return _describe(os.path.join(root, remote), remote, hashes)


def list_named(
    config: dict[str, Any], path: str, names: list[str], hashes: tuple[str, ...]
) -> tuple[list[dict[str, Any]], list[str]]:
    """rclone's listing entries of the files ``names`` under ``path`` (``Path`` relative to
    ``path``; those not there left out) that are answered here, and the names left for rclone."""
    root = local_root(config, hashes)
    base = remote_of(path)
    if root is None or not _plain(base):
        return [], list(names)
    directory = os.path.join(root, base) if base else root
    entries: list[dict[str, Any]] = []
    left: list[str] = []
    for name in names:
        relative = remote_of(name)
        if not relative or not _plain(relative):
            left.append(name)
            continue
        entry = _describe(os.path.join(directory, relative), relative, hashes)
        if entry is UNANSWERED or (entry is not None and entry["IsDir"]):
            left.append(name)  # a directory named: as rclone's filter takes it
        elif entry is not None:
            entries.append(entry)
    return entries, left


def _describe(full: str, remote: str, hashes: tuple[str, ...]) -> dict[str, Any] | None:
    """The entry for the file or directory at ``full`` (``remote``: its rclone path), None when
    nothing is there, or ``UNANSWERED``."""
    try:
        info = os.lstat(full)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return UNANSWERED
    if stat_mode.S_ISDIR(info.st_mode):
        return _entry(remote, info, is_dir=True)
    if not stat_mode.S_ISREG(info.st_mode):
        return UNANSWERED  # a symlink or a special file: rclone's rules for them are its own
    if not hashes:
        return _entry(remote, info, is_dir=False)
    if info.st_size > settings.DLM_RCLONE_DIRECT_MAX_BYTES:
        return UNANSWERED
    try:
        digests = _hashed(full, info, hashes)
    except OSError:
        return UNANSWERED
    if digests is None:
        return UNANSWERED
    return _entry(remote, info, is_dir=False, hashes=digests)


def _hashed(full: str, info: os.stat_result, hashes: tuple[str, ...]) -> dict[str, str] | None:
    """The hashes of the file at ``full`` read once, or None when it is not the file ``info``
    described (replaced meanwhile)."""
    fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino) or not stat_mode.S_ISREG(opened.st_mode):
            return None
        hashers = [HASHERS[name]() for name in hashes]
        while chunk := os.read(fd, _READ):
            for hasher in hashers:
                hasher.update(chunk)
    finally:
        os.close(fd)
    return {name: hasher.hexdigest() for name, hasher in zip(hashes, hashers, strict=True)}


def _entry(remote: str, info: os.stat_result, *, is_dir: bool, hashes: dict[str, str] | None = None) -> dict[str, Any]:
    """rclone's entry (its ``MimeType`` only for a directory: rclone's table of extensions is not Python's)."""
    entry: dict[str, Any] = {
        "Path": remote,
        "Name": posixpath.basename(remote),
        "Size": info.st_size,
        "ModTime": _rfc3339(info.st_mtime_ns),
        "IsDir": is_dir,
    }
    if is_dir:
        entry["MimeType"] = "inode/directory"
    if hashes:
        entry["Hashes"] = hashes
    return entry


def _rfc3339(nanoseconds: int) -> str:
    seconds, fraction = divmod(nanoseconds, 1_000_000_000)
    moment = _second(seconds)
    return f"{moment}.{fraction:09d}Z"  # as rclone writes it: always nine digits


@lru_cache(maxsize=1024)
def _second(seconds: int) -> str:
    """A second's time in UTC as text: the files of one listing were mostly written in a few
    seconds (formatting it cost a sixth of a bulk registration's listing)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
