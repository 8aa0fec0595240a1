"""Moving a file within one remote (``operations/movefile``): a dark file set aside."""

from __future__ import annotations

from typing import Any

from core.rclone.daemon import DAEMON
from core.rclone.remotes import fs_of, remote_of


def move(config: dict[str, Any], src: str, dst: str) -> None:
    """Move the file at ``src`` to ``dst`` on the same remote (paths relative to its root path);
    ``RcloneError`` with rclone's reason (secrets masked) when it fails, 404 when nothing is at
    ``src``. The file is not at ``src`` any more once this returns."""
    fs = fs_of(config)
    params = {"srcFs": fs, "srcRemote": remote_of(src), "dstFs": fs, "dstRemote": remote_of(dst)}
    DAEMON.call("operations/movefile", params)
