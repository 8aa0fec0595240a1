"""Typed readers for DLM's environment variables.

Every reader fails loudly, with an ``ImproperlyConfigured`` naming the variable, when a value is
set but unusable. A bad value must stop the service at start, never be silently replaced by a
default. Values are never echoed back for variables that may hold secrets.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on", "t", "y"}
_FALSE = {"0", "false", "no", "off", "f", "n", ""}


def env_str(name: str, default: str = "") -> str:
    """The variable's text, or ``default`` when it is unset."""
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """A boolean variable: true/false, 1/0, yes/no, on/off (any case)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false, 1/0, yes/no, on/off), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """An integer variable, optionally with a lower bound."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blank items are dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (case-insensitive)."""
    raw = os.environ.get(name, "").strip().lower() or default
    if raw not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def env_role_map(name: str, default: str) -> dict[str, str]:
    """``GROUP=ROLE`` pairs, comma-separated, e.g. ``dlm-operators=operator``; ROLE is viewer,
    operator or admin."""
    raw = os.environ.get(name)
    mapping = {}
    for item in (default if raw is None else raw).split(","):
        if not item.strip():
            continue
        group, sep, role = item.partition("=")
        if not sep or not group.strip() or role.strip() not in ("viewer", "operator", "admin"):
            raise ImproperlyConfigured(f"{name}: entry {item.strip()!r} must look like GROUP=viewer|operator|admin")
        mapping[group.strip()] = role.strip()
    return mapping


def env_path(name: str) -> Path | None:
    """A file path, or None when unset or empty. The file need not exist yet."""
    raw = os.environ.get(name, "").strip()
    return Path(raw) if raw else None


def env_trusted_networks(name: str) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
    """``NETWORK=USERNAME`` pairs, comma-separated, e.g. ``10.0.0.0/8=svc-dlm-client``."""
    pairs = []
    for item in env_list(name, []):
        network_text, sep, username = item.partition("=")
        if not sep or not username.strip():
            raise ImproperlyConfigured(f"{name}: entry {item!r} must look like NETWORK=USERNAME")
        try:
            network = ipaddress.ip_network(network_text.strip(), strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {network_text.strip()!r} is not an IP network") from None
        pairs.append((network, username.strip()))
    return pairs


def local_secret_file(path: Path, make: Callable[[], str]) -> str:
    """Read a generated secret from ``path``, creating it (mode 0600) with ``make()`` if absent.

    The file appears atomically (written aside, then hard-linked into place), so a web server and
    a worker starting together agree on one value.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".new-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(make() + "\n")
            os.link(tmp, path)
        except FileExistsError:  # another process made it first: use theirs
            pass
        finally:
            os.unlink(tmp)
    return path.read_text().strip()
