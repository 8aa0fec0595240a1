"""Verifying a copy: the destination's bytes against what the catalogue recorded for the source
(sizes, hashes, a tree's file count), hashed by rclone jobs polled like the copy, so that a long
read keeps the heartbeat fresh. Bad bytes are removed, so that the next attempt copies them again."""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from catalogue.models import DataItem
from catalogue.services.registrations import FILE_COUNT_KEY, RCLONE_HASHES
from core import rclone
from migrations_app.runner import claim
from migrations_app.runner.claim import Attempt, CopyFailed

log = logging.getLogger("dlm.copy")

# Files up to this size are hashed in the foreground (a stat with the hash: fast, no job to poll);
# larger ones by a background job, so that a long read keeps the heartbeat fresh.
FOREGROUND_HASH_LIMIT = 64 * 1024 * 1024

# Hashes worth preferring when a large copy is read back, fastest first: recorded at registration
# beside the item's checksum (see ``catalogue.services.registrations.VERIFY_HASHES``), and used where the
# destination can compute them; else the item's own checksum.
FAST_HASHES = ("xxh3",)


def verify(attempt: Attempt) -> None:
    """Check the copy's bytes; raises ``CopyFailed`` saying what is wrong, having removed the
    files found bad (only the files this copy wrote, never a directory: it may hold others')."""
    bad: list[str] = []  # the destination paths of bad bytes
    try:
        if attempt.tree:
            _verify_tree(attempt, bad)
        else:
            bad.append(attempt.dst_path)
            _verify_file(attempt)
    except CopyFailed:
        for path in bad:
            try:
                rclone.remove(attempt.dst_config, path)
            except rclone.RcloneError as exc:
                log.warning("copy job %s: could not remove the bad copy %s: %s", attempt.migration.pk, path, exc)
        raise


def hash_by_job(attempt: Attempt, config: dict[str, Any], path: str, hash_type: str, *, download: bool) -> dict:
    """Hashes of the files under ``path`` (a file: its name), as a background rclone job, so that
    the heartbeat stays fresh however long the bytes take to read. ``download``: read the bytes
    even where the backend could give the hash itself."""
    group = f"{attempt.group}-hash"
    job_id = rclone.hashsum_start(config, path, hash_type=hash_type, download=download, group=group)
    status = claim.wait(attempt, job_id, group, progress=False)
    if not status.get("success"):
        raise CopyFailed(f"rclone could not compute {hash_type} of {path}: {status.get('error')}")
    sums: dict[str, str] = {}
    for line in (status.get("output") or {}).get("hashsum") or []:
        value, _, name = line.partition("  ")
        sums[name] = value.lower()
    return sums


def file_hash(attempt: Attempt, config: dict[str, Any], path: str, hash_type: str, size: int) -> str:
    """The file's hash: the backend's own where it has one (S3's md5, say), else computed by
    reading the bytes back (sftp). A large file is never hashed in the foreground, where a long
    read would let the heartbeat go stale and the job be taken over while it is verified."""
    if size <= FOREGROUND_HASH_LIMIT:
        entry = rclone.stat(config, path, hashes=(hash_type,)) or {}
        given = (entry.get("Hashes") or {}).get(hash_type)
        if given:
            return given.lower()
    try:
        sums = hash_by_job(attempt, config, path, hash_type, download=False)
    except CopyFailed:
        sums = {}
    if len(sums) != 1 or not next(iter(sums.values())):  # the backend has no such hash: read the bytes
        sums = hash_by_job(attempt, config, path, hash_type, download=True)
    if len(sums) != 1 or not next(iter(sums.values())):
        raise CopyFailed(f"rclone gave no {hash_type} for {path}")
    return next(iter(sums.values()))


def recorded_hashes(item: DataItem) -> dict[str, str]:
    """The hashes the catalogue holds for the item's bytes that rclone can compute, by name."""
    recorded = {name: value.lower() for name, value in (item.hashes or {}).items() if name in RCLONE_HASHES and value}
    if item.item_checksum and item.checksum_method in RCLONE_HASHES:
        recorded[item.checksum_method] = item.item_checksum.lower()
    return recorded


def _verify_hash_type(attempt: Attempt, recorded: dict[str, str], small: bool) -> str:
    source = attempt.source
    primary = source.checksum_method if source.checksum_method in recorded else "md5"
    fast = [name for name in FAST_HASHES if name in recorded and name != primary]
    if small or not fast:
        return primary
    supported = rclone.hash_types(attempt.dst_config)
    return next((name for name in fast if name in supported), primary)


def _verify_file(attempt: Attempt) -> None:
    source, path = attempt.source, attempt.dst_path
    recorded = recorded_hashes(source)
    small = source.item_size is not None and source.item_size <= FOREGROUND_HASH_LIMIT
    hash_type = _verify_hash_type(attempt, recorded, small)
    entry = rclone.stat(attempt.dst_config, path, hashes=(hash_type,) if small else ())
    if entry is None or entry.get("IsDir"):
        raise CopyFailed(f"Verification failed: no file at {path} after the copy")
    size = int(entry["Size"])
    if source.item_size is not None and size != source.item_size:
        raise CopyFailed(f"Verification failed: {path} holds {size} bytes, the source {source.item_size}")
    given = (entry.get("Hashes") or {}).get(hash_type)
    actual = given.lower() if given else file_hash(attempt, attempt.dst_config, path, hash_type, size)
    expected = recorded.get(hash_type)
    if expected is None:  # nothing recorded that rclone can compute: compare with a fresh hash of the source
        if rclone.stat(attempt.src_config, attempt.src_path, hashes=()) is None:
            raise CopyFailed(f"Verification failed: the source {attempt.src_path} has gone")
        expected = file_hash(attempt, attempt.src_config, attempt.src_path, hash_type, size)
    if actual != expected:
        raise CopyFailed(f"Verification failed: {hash_type} of {path} is {actual}, expected {expected}")


def _verify_tree(attempt: Attempt, bad: list[str]) -> None:
    """Every file of the source's tree is at the destination with its size (and its md5 where both
    backends give one), and they add up to the item's size and file count. Files the destination
    directory holds besides them are not the copy's and are left alone. The paths of files found
    bad go to ``bad``."""
    source, path = attempt.source, attempt.dst_path
    src_files = {entry["Path"]: entry for entry in rclone.list_files(attempt.src_config, attempt.src_path)}
    attempt.mine().update(heartbeat_at=timezone.now())
    dst_files = {entry["Path"]: entry for entry in rclone.list_files(attempt.dst_config, path)}
    problems = []
    for name, entry in sorted(src_files.items()):
        copy = dst_files.get(name)
        if copy is None:
            problems.append(f"{path}/{name} is missing")
            continue
        if int(copy["Size"]) != int(entry["Size"]):
            problems.append(f"{path}/{name} holds {copy['Size']} bytes, the source {entry['Size']}")
            bad.append(f"{path}/{name}")
            continue
        want, got = (entry.get("Hashes") or {}).get("md5"), (copy.get("Hashes") or {}).get("md5")
        if want and got and want.lower() != got.lower():
            problems.append(f"md5 of {path}/{name} is {got}, expected {want}")
            bad.append(f"{path}/{name}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CopyFailed(f"Verification failed: {problems[0]}{more}")
    total = sum(int(entry["Size"]) for entry in src_files.values())
    if source.item_size is not None and total != source.item_size:
        raise CopyFailed(f"Verification failed: the source holds {total} bytes, the item {source.item_size}")
    expected_count = (source.metadata or {}).get(FILE_COUNT_KEY, len(src_files))
    if len(src_files) != expected_count:
        raise CopyFailed(f"Verification failed: the source holds {len(src_files)} files, the item {expected_count}")
