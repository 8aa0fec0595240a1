"""What a registration holds: the values of one item to register, parsed and checked where no
database or storage is needed (``ingest`` does the rest), and the names and keys that copies,
deletions and integrity checks read back from registered items."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from catalogue.choices import ChecksumMethod, ItemType, PhaseType
from catalogue.models import DataItem
from core import params as p
from core.errors import FieldError

# ChecksumMethod values rclone can compute (under the same name); others are stored unverified.
RCLONE_HASHES = frozenset({"md5", "sha1", "sha256", "sha512", "crc32", "xxh3"})
# Asked of rclone at registration beside md5 (and the method the caller named): where the backend
# computes it in the same read (a local disk does), it is recorded in ``hashes``, so that a large
# copy can later be verified by a hash far cheaper to compute than md5.
VERIFY_HASHES = ("xxh3",)
# The metadata key under which a verified container's number of files is recorded.
FILE_COUNT_KEY = "file_count"
# At most this many items in one bulk registration.
MAX_BULK_ITEMS = 10_000


@dataclass
class Registration:
    """One item to register, its values parsed, and what is refused in them (``errors``)."""

    item_name: str
    uri: str
    item_type: str = ItemType.FILE
    target_phase: str = PhaseType.SOLID
    uid_expiration: datetime | None = None
    oid_expiration: datetime | None = None
    parents: uuid.UUID | None = None
    item_size: int | None = None
    decompressed_size: int | None = None
    checksum: str | None = None
    checksum_method: str | None = None
    metadata: dict[str, Any] | None = None
    # An element of a list of items: the input holding the list, and the element's index in it.
    within: tuple[str, int] | None = None
    # Filled by the access check:
    checked: bool = False
    file_count: int | None = None
    hashes: dict[str, str] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)

    def error(self, name: str, msg: str, value: Any, kind: str = "value_error", ctx: dict | None = None) -> None:
        """Refuse the value of ``name``: the input itself, or its key in this element of a list."""
        if self.within is None:
            self.errors.append(FieldError(name, kind, msg, value, ctx=ctx))
        else:
            source, index = self.within
            self.errors.append(FieldError(source, kind, msg, value, at=(index, name), ctx=ctx))


def uri_problem(uri: str, name: str = "uri") -> str | None:
    """Why ``uri`` cannot name something inside a storage's root directory, or None.

    As upstream, a leading ``/`` (and any doubled ``/``) stays inside the root: the uri is joined
    under the storage's ``root_directory`` (``/a/b`` on a storage rooted at ``/data`` is
    ``/data/a/b``). What would leave the root, or is not a path, is refused. ``name`` is the
    parameter the messages speak of.
    """
    if not uri:
        return f"{name} cannot be empty"
    if "\x00" in uri:
        return f"{name} should not contain NUL characters"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in uri):
        return f"{name} should not contain control characters"
    if "\\" in uri:
        return f"{name} should not contain backslashes"
    if ".." in uri.split("/"):
        return f"{name} must not contain '..' segments (it would leave the storage's root directory)"
    if not uri.strip("/"):
        return f"{name} must name a path under the storage's root directory, not the root itself"
    return None


def validate(reg: Registration) -> None:
    """Checks that need no database or storage; problems go to ``reg.errors``."""
    if not reg.item_name:
        reg.error("item_name", "item_name cannot be empty", reg.item_name, "string_too_short")
    elif len(reg.item_name) > DataItem._meta.get_field("item_name").max_length:
        reg.error("item_name", "String should have at most 1024 characters", reg.item_name, "string_too_long")
    problem = uri_problem(reg.uri)
    if problem:
        reg.error("uri", problem, reg.uri)
    elif len(reg.uri) > DataItem._meta.get_field("uri").max_length:
        reg.error("uri", "String should have at most 4096 characters", reg.uri, "string_too_long")
    for name in ("item_size", "decompressed_size"):
        value = getattr(reg, name)
        if value is not None and not 0 <= value < 2**63:
            reg.error(name, "Input should be between 0 and 2**63-1", value, "int_range")
    if reg.checksum and not reg.checksum_method:
        reg.error("checksum_method", "checksum_method is required with checksum", None, "missing")
    if reg.checksum_method and not reg.checksum:
        reg.error("checksum", "checksum is required with checksum_method", None, "missing")
    if reg.checksum and reg.checksum_method == ChecksumMethod.NONE:
        reg.error("checksum_method", "A checksum needs a method other than 'none'", reg.checksum_method)
    if reg.checksum and len(reg.checksum) > DataItem._meta.get_field("item_checksum").max_length:
        reg.error("checksum", "String should have at most 255 characters", reg.checksum, "string_too_long")
    if reg.checksum and reg.item_type == ItemType.CONTAINER:
        reg.error("checksum", "A container has no checksum", reg.checksum)


# --- an element of a bulk registration's list ---------------------------------------------------

_ENTRY_KEYS = (
    "item_name",
    "uri",
    "item_type",
    "target_phase",
    "item_size",
    "decompressed_size",
    "parents",
    "uid_expiration",
    "oid_expiration",
    "checksum",
    "checksum_method",
    "metadata",
)


def entry(source: str, index: int, data: Any) -> Registration:
    """Element ``index`` of the list of items ``source``, parsed; its problems are in ``errors``,
    each at its index and key in ``source``."""
    reg = Registration(item_name="", uri="", within=(source, index))
    if not isinstance(data, dict):
        reg.errors.append(FieldError(source, "dict_type", "Input should be a valid dictionary", data, at=(index,)))
        return reg
    for key in data:
        if key not in _ENTRY_KEYS:
            reg.error(key, f"Unknown key '{key}'", data[key], "extra_forbidden")
    for key in ("item_name", "uri"):
        if key not in data:
            reg.error(key, "Field required", None, "missing")
    for key in _ENTRY_KEYS:
        value = data.get(key)
        if value is None:
            continue
        try:
            setattr(reg, key, _entry_value(key, value))
        except p.ParamError as exc:
            reg.error(key, exc.msg, value, exc.kind, exc.ctx)
    return reg


def _entry_value(key: str, value: Any) -> Any:
    if key in ("item_size", "decompressed_size"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise p.ParamError("int_type", "Input should be a valid integer")
        return value
    if key == "metadata":
        if not isinstance(value, dict):
            raise p.ParamError("dict_type", "Input should be a valid dictionary")
        return value
    if not isinstance(value, str):
        raise p.ParamError("string_type", "Input should be a valid string")
    choices = {"item_type": ItemType, "target_phase": PhaseType, "checksum_method": ChecksumMethod}
    if key in choices:
        return p.parse_enum(value, choices[key])
    if key == "parents":
        return p.parse_uuid(value)
    if key in ("uid_expiration", "oid_expiration"):
        return p.parse_datetime(value)
    return value
