"""Typed readers for DLM's environment variables.

Every reader fails loudly, with an ``ImproperlyConfigured`` naming the variable, when a value is
set but unusable. A bad value must stop the service at start, never be silently replaced by a
default. Values are never echoed back for variables that may hold secrets.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on", "t", "y"}
_FALSE = {"0", "false", "no", "off", "f", "n", ""}
ROLE_NAMES = ("viewer", "operator", "admin")


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


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    """A number variable, optionally with a lower bound."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name} must be a finite number, got {raw!r}")
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
        if not sep or not group.strip() or role.strip() not in ROLE_NAMES:
            raise ImproperlyConfigured(f"{name}: entry {item.strip()!r} must look like GROUP=viewer|operator|admin")
        mapping[group.strip()] = role.strip()
    return mapping


def env_path(name: str) -> Path | None:
    """A file path, or None when unset or empty. The file need not exist yet."""
    raw = os.environ.get(name, "").strip()
    return Path(raw) if raw else None


# The account of a ``NETWORK=ROLE`` entry, which names no account.
TRUSTED_NETWORK_ACCOUNT = "trusted-network"
_USERNAME = re.compile(r"[\w.@+-]{1,150}")  # what Django's username validator admits


class TrustedNetwork(NamedTuple):
    """One entry of ``DLM_TRUSTED_NETWORKS``: requests without credentials from ``network`` act
    as ``account`` with ``role``."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    account: str
    role: str


def env_trusted_networks(name: str, *, default_role: str) -> list[TrustedNetwork]:
    """Comma-separated ``NETWORK=VALUE`` entries, each VALUE one of:

    * ``ROLE`` (viewer, operator or admin, in any case): that role, as the account
      ``TRUSTED_NETWORK_ACCOUNT``; a role name always means the role, never an account so named;
    * ``ACCOUNT:ROLE``: that account with that role;
    * ``ACCOUNT``: that account with ``default_role`` (``DLM_TRUSTED_NETWORK_ROLE``).

    Host bits of a network are ignored (``10.1.2.3/8`` is ``10.0.0.0/8``). A network listed twice
    is refused; where networks overlap, the most specific one (longest prefix) applies, whatever
    the order of the list.
    """
    entries: list[TrustedNetwork] = []
    seen: dict[ipaddress.IPv4Network | ipaddress.IPv6Network, str] = {}
    for item in env_list(name, []):
        network_text, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not network_text or not value:
            raise ImproperlyConfigured(
                f"{name}: entry {item!r} must look like NETWORK=ROLE, NETWORK=ACCOUNT:ROLE or NETWORK=ACCOUNT"
            )
        try:
            network = ipaddress.ip_network(network_text, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: entry {item!r}: {network_text!r} is not an IP network") from None
        account, colon, role = (part.strip() for part in value.partition(":"))
        if not colon and account.lower() in ROLE_NAMES:
            account, role = TRUSTED_NETWORK_ACCOUNT, account.lower()
        elif not colon:
            role = default_role
        elif role.lower() not in ROLE_NAMES:
            raise ImproperlyConfigured(f"{name}: entry {item!r}: the role must be one of {', '.join(ROLE_NAMES)}")
        if not _USERNAME.fullmatch(account):
            raise ImproperlyConfigured(
                f"{name}: entry {item!r}: {account!r} is not an account name (up to 150 letters, digits and @ . + - _)"
            )
        if network in seen:
            raise ImproperlyConfigured(f"{name}: entry {item!r}: {network} is listed already, in {seen[network]!r}")
        seen[network] = item
        entries.append(TrustedNetwork(network, account, role.lower()))
    return entries


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
