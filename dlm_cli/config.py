"""Where ``dlm`` finds its server and token: ``--url``/``--token``, else ``DLM_URL``/``DLM_TOKEN``,
else the file ``dlm login`` wrote (``$XDG_CONFIG_HOME/dlm/config.json``, by default under
``~/.config``; ``DLM_CONFIG`` names another), readable by its owner only."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


def config_path() -> Path:
    """The file ``dlm login`` writes."""
    if os.environ.get("DLM_CONFIG"):
        return Path(os.environ["DLM_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dlm" / "config.json"


def read_config() -> dict[str, str]:
    """What ``dlm login`` stored, or nothing."""
    try:
        data = json.loads(config_path().read_text())
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in data.items() if k in ("url", "token") and isinstance(v, str)}


def write_config(*, url: str, token: str) -> Path:
    """Store the server and token, the file readable and writable by its owner only (0600)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created 0600 before anything is written, so that the token is never readable by others.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"url": url, "token": token}, handle)
        handle.write("\n")
    return path


@dataclass
class Settings:
    url: str
    token: str
    url_from: str  # where the URL came from: option, environment, config file, default


def resolve(url: str | None, token: str | None) -> Settings:
    """The server and token to use, by precedence: options, environment, the login file."""
    stored = read_config()
    if url:
        found_url, source = url, "option"
    elif os.environ.get("DLM_URL"):
        found_url, source = os.environ["DLM_URL"], "environment"
    elif stored.get("url"):
        found_url, source = stored["url"], "config file"
    else:
        found_url, source = DEFAULT_URL, "default"
    found_token = token or os.environ.get("DLM_TOKEN") or stored.get("token", "")
    return Settings(found_url.rstrip("/"), found_token, source)
