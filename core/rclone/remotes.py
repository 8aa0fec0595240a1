"""A remote definition (a ``StorageConfig``'s ``{name, type, parameters, root_path}``) as the rc
daemon takes it with each call, and paths on it. A remote is never configured in the daemon, so
its secrets touch neither the disk nor a command line."""

from __future__ import annotations

import re
from typing import Any

from core.rclone.daemon import DAEMON
from core.secrets import PASSWORD_OPTION_NAMES


def obscure(value: str) -> str:
    """rclone's reversible obscuring of a password option (what ``rclone obscure`` prints)."""
    return DAEMON.call("core/obscure", {"clear": value})["obscured"]


def fs_of(config: dict[str, Any]) -> dict[str, Any]:
    """The rc ``fs`` object for a remote definition: its options, obscured where rclone wants it."""
    fs: dict[str, Any] = {"type": str(config["type"])}
    for key, value in (config.get("parameters") or {}).items():
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        fs[key] = obscure(text) if key.lower() in PASSWORD_OPTION_NAMES and text else text
    fs["_root"] = config.get("root_path") or "/"
    return fs


def fs_at(config: dict[str, Any], path: str) -> dict[str, Any]:
    """The rc ``fs`` object for the directory ``path`` of a remote: its root moved there."""
    fs = fs_of(config)
    fs["_root"] = full_path(fs["_root"], path).rstrip("/") or "/"  # a directory, not "dir/"
    return fs


def remote_of(path: str) -> str:
    """``path`` as the rc daemon takes it: relative to the remote's root, without doubled or
    trailing slashes (a directory written ``container/`` is listed as ``container``)."""
    return re.sub(r"/{2,}", "/", path).strip("/")


def full_path(root_directory: str | None, uri: str = "") -> str:
    """A storage's ``root_directory`` and an item's ``uri`` joined, repeated slashes collapsed."""
    return re.sub(r"/{2,}", "/", "/".join(part for part in (root_directory or "", uri) if part))
