"""What ``dlm`` prints: readable tables (rich) by default, the API's JSON body with ``--json``.
Secrets are masked in both: values under secret-named keys, and the token in use."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

MASK = "***"
# Keys whose values are secrets (rclone's sensitive options, tokens, passwords).
SECRET_KEYS = frozenset(
    {
        "pass",
        "password",
        "password2",
        "key",
        "key_pem",
        "secret_access_key",
        "session_token",
        "client_secret",
        "token",
        "bearer_token",
        "sas_url",
        "account_key",
        "service_account_credentials",
        "api_key",
        "app_key",
        "auth_token",
        "access_token",
        "refresh_token",
        "credentials",
        "connection_string",
        "private_key",
        "master_key",
        "encryption_key",
        "passphrase",
        "secret",
    }
)

# The columns a table shows for rows of a known shape (the first key that a row has decides).
COLUMNS = {
    "migration_id": ("migration_id", "state", "oid", "destination_storage_id", "bytes_done", "bytes_total", "complete"),
    "uid": ("uid", "item_name", "item_state", "uid_phase", "storage_id", "uri", "item_size"),
    "storage_name": (
        "storage_name",
        "storage_id",
        "storage_type",
        "storage_interface",
        "storage_phase",
        "storage_use_pct",
        "storage_available",
    ),
    "location_name": ("location_name", "location_id", "location_type", "location_country", "location_facility"),
}
MAX_COLUMNS = 8


def is_secret_key(name: str) -> bool:
    lowered = name.lower()
    return (
        lowered in SECRET_KEYS
        or "secret" in lowered
        or "password" in lowered
        or lowered.endswith(("_pass", "_token", "_passphrase"))
    )


def mask(value: Any, known: tuple[str, ...] = ()) -> Any:
    """``value`` with every secret-named key's value, and every ``known`` secret, replaced by ``***``."""
    if isinstance(value, dict):
        return {
            k: (MASK if is_secret_key(str(k)) and v not in (None, "", MASK) else mask(v, known))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask(v, known) for v in value]
    if isinstance(value, str):
        return mask_text(value, known)
    return value


def mask_text(text: str, known: tuple[str, ...]) -> str:
    for secret in known:
        if secret and len(secret) >= 8:
            text = text.replace(secret, MASK)
    return text


class Printer:
    """Prints answers as tables or JSON, and errors on stderr, every secret masked."""

    def __init__(self, *, as_json: bool, secrets: tuple[str, ...] = ()) -> None:
        self.as_json = as_json
        self.secrets = secrets
        # Piped output is not cut to 80 columns: it is read by programs (and people, later).
        self.out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def answer(self, body: Any) -> None:
        body = mask(body, self.secrets)
        if self.as_json:
            sys.stdout.write(json.dumps(body, indent=2) + "\n")
            sys.stdout.flush()
            return
        render(self.out, body)

    def error(self, message: str) -> None:
        self.err.print(f"error: {mask_text(message, self.secrets)}", markup=False)

    def note(self, message: str) -> None:
        """A remark for people, on stderr (so that stdout stays the answer)."""
        self.err.print(mask_text(message, self.secrets), markup=False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def render(console: Console, body: Any) -> None:
    """A readable form of an answer: scalars as they are, an object as a key/value table, a list of
    objects as a table of their main columns, a list of strings one per line."""
    if body is None:
        return
    if isinstance(body, (str, int, float, bool)):
        console.print(_cell(body) if not isinstance(body, bool) else str(body).lower(), markup=False)
        return
    if isinstance(body, dict):
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column()
        for key, value in body.items():
            table.add_row(str(key), _cell(value))
        console.print(table)
        return
    if isinstance(body, list) and all(isinstance(row, dict) for row in body) and body:
        columns = _columns(body)
        table = Table(*columns, header_style="bold")
        for row in body:
            table.add_row(*(_cell(row.get(column)) for column in columns))
        console.print(table)
        hidden = {key for row in body for key in row} - set(columns)
        if hidden:
            console.print(f"{len(body)} rows; {len(hidden)} more columns with --json", style="dim", markup=False)
        return
    if isinstance(body, list):
        for value in body:
            console.print(_cell(value), markup=False)
        if not body:
            console.print("(none)", style="dim")
        return
    console.print(_cell(body), markup=False)


def _columns(rows: list[dict]) -> list[str]:
    keys = list(dict.fromkeys(key for row in rows for key in row))
    for first, columns in COLUMNS.items():
        if first in keys:
            return [column for column in columns if column in keys]
    return keys[:MAX_COLUMNS]
