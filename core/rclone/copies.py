"""Copies (in the background, or waited for), background hashing and purges, and the daemon's
jobs and statistics that follow them."""

from __future__ import annotations

from typing import Any

from core.rclone.daemon import DAEMON
from core.rclone.errors import RcloneError, mask
from core.rclone.remotes import fs_at, fs_of, remote_of

# A copy is a job nobody waits on, so rclone may retry a failing request one more time than for a
# quick call; not ten times (S3's backoff would make a closed port a four-minute wait): the copy
# job itself is retried later, with backoff (DLM_COPY_MAX_ATTEMPTS).
_COPY = {"LowLevelRetries": 3}


def _copy_config(checksum: bool, rewrite: bool) -> dict[str, Any]:
    config: dict[str, Any] = dict(_COPY)
    if not checksum:
        config["IgnoreChecksum"] = True
    if rewrite:  # a file that looks the same (size, time) may still hold other bytes
        config["IgnoreTimes"] = True
    return config


def copy_start(
    src_config: dict[str, Any],
    src_path: str,
    dst_config: dict[str, Any],
    dst_path: str,
    *,
    tree: bool,
    group: str,
    checksum: bool = True,
    rewrite: bool = False,
) -> int:
    """Start copying ``src_path`` to ``dst_path`` in the background; the rclone job id.

    ``checksum=False`` skips rclone's own hash comparison after each transfer: for a caller that
    reads the destination back and checks it itself, rclone's check would hash the same bytes
    twice more.

    A file is copied with ``operations/copyfile``, a tree with ``sync/copy`` (nothing is deleted at
    the destination). Files already identical at the destination are skipped, so starting the same
    copy again is safe. ``group`` names the job's statistics (see ``job_stats``). ``rewrite``
    transfers every file even where the destination's looks the same by size and time (a repair:
    the bytes there are known bad).
    """
    if tree:
        method = "sync/copy"
        params: dict[str, Any] = {"srcFs": fs_at(src_config, src_path), "dstFs": fs_at(dst_config, dst_path)}
    else:
        method = "operations/copyfile"
        params = {
            "srcFs": fs_of(src_config),
            "srcRemote": remote_of(src_path),
            "dstFs": fs_of(dst_config),
            "dstRemote": remote_of(dst_path),
        }
    params.update(_async=True, _group=group, _config=_copy_config(checksum, rewrite))
    return int(DAEMON.call(method, params)["jobid"])


def copy_file(
    src_config: dict[str, Any],
    src_path: str,
    dst_config: dict[str, Any],
    dst_path: str,
    *,
    checksum: bool = True,
    rewrite: bool = False,
) -> None:
    """Copy one file and return when it is there (for small files: no job to poll); ``RcloneError``
    with rclone's reason when it fails. ``checksum`` and ``rewrite`` as for ``copy_start``."""
    params = {
        "srcFs": fs_of(src_config),
        "srcRemote": remote_of(src_path),
        "dstFs": fs_of(dst_config),
        "dstRemote": remote_of(dst_path),
        "_config": _copy_config(checksum, rewrite),
    }
    DAEMON.call("operations/copyfile", params)


def hashsum_start(config: dict[str, Any], path: str, *, hash_type: str, download: bool, group: str) -> int:
    """Start hashing every file under ``path`` (a file or a tree) in the background; the rclone job
    id. ``download``: read the bytes where the backend cannot give the hash itself. The finished
    job's ``output`` is ``{"hashsum": ["<hash>  <name>", …]}``."""
    params = {"fs": fs_at(config, path), "hashType": hash_type, "download": download, "_async": True, "_group": group}
    return int(DAEMON.call("operations/hashsum", params)["jobid"])


def purge_start(config: dict[str, Any], path: str, *, group: str) -> int:
    """Start removing the directory ``path`` and everything under it, in the background
    (``operations/purge``); the rclone job id. Where nothing is at ``path`` the job fails with
    rclone's "directory not found" (``error_is_not_found``). An empty ``path`` (the remote's
    root) is refused with ``RcloneError`` (400) before anything is asked of rclone."""
    remote = remote_of(path)
    if not remote:
        raise RcloneError("Refused to purge the root of a remote", status=400)
    params = {"fs": fs_of(config), "remote": remote, "_async": True, "_group": group}
    return int(DAEMON.call("operations/purge", params)["jobid"])


def job_status(job_id: int, *, secrets: list[str] | None = None) -> dict[str, Any]:
    """rclone's status of a background job (``finished``, ``success``, ``error``, ``output``…), its
    error text masked with ``secrets``; ``RcloneError`` (404) when rclone does not know the job."""
    answer = DAEMON.call("job/status", {"jobid": job_id})
    if answer.get("error"):
        answer["error"] = mask(str(answer["error"]), secrets or [])
    return answer


def job_stats(group: str, *, secrets: list[str] | None = None) -> dict[str, Any]:
    """rclone's transfer statistics of a job group (``bytes``, ``totalBytes``, ``speed``, ``transfers``,
    ``errors``, ``lastError``…), error text masked with ``secrets``."""
    answer = DAEMON.call("core/stats", {"group": group})
    if answer.get("lastError"):
        answer["lastError"] = mask(str(answer["lastError"]), secrets or [])
    return answer


def job_stop(job_id: int) -> None:
    """Ask rclone to stop a background job (a job that has finished already is left as it is)."""
    try:
        DAEMON.call("job/stop", {"jobid": job_id})
    except RcloneError as exc:
        if exc.status not in (404, 500):
            raise


def stats_delete(group: str) -> None:
    """Forget a job group's statistics (the daemon would keep them for its lifetime)."""
    try:
        DAEMON.call("core/stats-delete", {"group": group})
    except RcloneError:
        pass
