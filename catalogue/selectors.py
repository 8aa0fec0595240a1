"""Reads of the catalogue: the queries behind the API's lists and existence checks.

Every list is ordered, so that the API's views can page it (``core.paging``). A value a read
refuses is a ``FieldError`` naming the input it came in.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from catalogue.choices import ItemState, PhaseType
from catalogue.columns import clean_columns
from catalogue.models import DataItem, Location, LocationFacility, Storage, StorageConfig
from core import fastsql
from core.crypto import SecretDecryptionError, decrypt_json
from core.errors import FieldError, InvalidQueryParameters
from core.jsoncheck import json_problem
from core.secrets import mask_options, mask_secrets

log = logging.getLogger("catalogue.selectors")


def facility_list() -> list[str]:
    """Every known facility id."""
    return list(LocationFacility.objects.values_list("id", flat=True))


def location_query(*, location_name: str = "", location_id: uuid.UUID | None = None) -> QuerySet:
    """Locations by name (which wins), by id, or all."""
    if location_name:
        return Location.objects.filter(location_name=location_name)
    if location_id:
        return Location.objects.filter(location_id=location_id)
    return Location.objects.all()


def storage_query(*, storage_name: str = "", storage_id: uuid.UUID | None = None) -> QuerySet:
    """Storages by name (which wins), by id, or all."""
    if storage_name:
        return Storage.objects.filter(storage_name=storage_name)
    if storage_id:
        return Storage.objects.filter(storage_id=storage_id)
    return Storage.objects.all()


def config_shown(public: dict[str, Any], secrets: list[list[Any]] | None) -> dict[str, Any]:
    """A remote definition as every answer shows it: each stored secret, and any secret option
    left in the public part (by a definition stored before its option was known to be secret),
    replaced by ``MASK``."""
    return mask_secrets(mask_options(public), secrets)


def storage_configs(*, storage: Storage | None, config_type: str) -> QuerySet:
    """The remote definitions of one storage and type, or of every storage (any type), oldest first."""
    configs = StorageConfig.objects.all()
    if storage is not None:
        configs = configs.filter(storage=storage, config_type=config_type)
    return configs


def storage_configs_shown(configs: Iterable[StorageConfig]) -> list[dict[str, Any]]:
    """Remote definitions as every answer shows them: masked (``config_shown``)."""
    return [config_shown(c.config, c.secrets) for c in configs]


def storage_configs_embedded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Storage rows (``query_storage``'s) each with its remote definitions appended, as upstream
    embeds them: ``"storage_config": [{"config": {...}}, ...]``, every type, oldest first, masked as
    by ``get_storage_config``. One query for all the rows.

    A definition whose secrets this server's keys cannot decrypt is shown without them (a
    listing of storages must not fail for one unreadable secret), and logged.
    """
    ids = [row["storage_id"] for row in rows]
    embedded: dict[str, list[dict[str, Any]]] = {storage_id: [] for storage_id in ids}
    configs = (
        StorageConfig.objects.filter(storage_id__in=ids)
        .annotate(ciphertext=Cast("secrets", TextField()))
        .values_list("config_id", "storage_id", "config", "ciphertext")
    )
    for config_id, storage_id, public, ciphertext in configs:
        try:
            secrets = decrypt_json(ciphertext) if ciphertext is not None else None
        except SecretDecryptionError:
            log.warning("storage config %s: its secrets cannot be decrypted; shown without them", config_id)
            secrets = None
        embedded[str(storage_id)].append({"config": config_shown(public, secrets)})
    return [{**row, "storage_config": embedded[row["storage_id"]]} for row in rows]


def data_items_named(*, uid: uuid.UUID | None = None, oid: uuid.UUID | None = None, item_name: str = "") -> QuerySet:
    """The rows named by one identifier, with precedence uid > oid > item_name: the copy ``uid``,
    every copy of the object ``oid``, or every row named ``item_name``."""
    if uid:
        return DataItem.objects.filter(uid=uid)
    if oid:
        return DataItem.objects.filter(oid=oid)
    return DataItem.objects.filter(item_name=item_name)


def _text_after(prefix: str) -> str | None:
    """The least text above every text that starts with ``prefix``, in code point order (which
    SQLite's BINARY collation of UTF-8 is); None when there is none."""
    chars = list(prefix)
    while chars:
        following = ord(chars.pop()) + 1
        if 0xD800 <= following <= 0xDFFF:  # surrogates are no text: the next code point is U+E000
            following = 0xE000
        if following <= 0x10FFFF:
            return "".join(chars) + chr(following)
    return None


def item_name_range(prefix: str) -> Q:
    """Names that start with ``prefix`` (case counting) as a range of the name index, for SQLite:
    its ``LIKE`` ignores case and no index answers it. Not for PostgreSQL, whose collation need
    not order text by code point (its ``LIKE``, case counting, has a ``varchar_pattern_ops``
    index)."""
    upper = _text_after(prefix)
    return Q(item_name__gte=prefix) & (Q(item_name__lt=upper) if upper is not None else Q())


def item_name_prefix(prefix: str, *, vendor: str) -> Q:
    """Names that start with ``prefix``, case counting, as the database ``vendor`` finds them by
    an index: PostgreSQL's ``LIKE`` (a ``varchar_pattern_ops`` index), SQLite's name range
    (``item_name_range``)."""
    return item_name_range(prefix) if vendor == "sqlite" else Q(item_name__startswith=prefix)


def _require_identifier(uid: uuid.UUID | None, oid: uuid.UUID | None, item_name: str) -> None:
    if not (uid or oid or item_name):
        raise InvalidQueryParameters("Either an item_name or an OID or an UID have to be provided")


def json_object(name: str, raw: str) -> dict[str, Any]:
    """The value of the input ``name``, text that must hold a JSON object."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise FieldError(name, "json_invalid", f"Invalid JSON: {exc}", raw) from None
    if not isinstance(value, dict):
        raise FieldError(name, "dict_type", f"{name} must be a JSON object", raw)
    problem = json_problem(value)  # the checks a JSON body gets (core.jsoncheck)
    if problem is not None:
        kind, at, msg = problem
        raise FieldError(name, kind, msg, None, at=tuple(at))
    return value


def data_item_params(raw: str) -> dict[str, Any]:
    """The ``params`` filter of ``query_data_item``: a JSON object of column equalities."""
    return clean_columns(DataItem, json_object("params", raw), field="params")


def data_item_query(
    *,
    item_name: str = "",
    oid: uuid.UUID | None = None,
    uid: uuid.UUID | None = None,
    storage_id: uuid.UUID | None = None,
    params: dict[str, Any] | None = None,
) -> QuerySet:
    """Items by uid > oid > item_name, and/or storage, and/or column filters; all when none."""
    items = DataItem.objects.all()
    if uid or oid or item_name:
        items = data_items_named(uid=uid, oid=oid, item_name=item_name)
    if storage_id:
        items = items.filter(storage_id=storage_id)
    if params:
        # null means SQL NULL for every column (on a JSON column, "= None" would look for JSON null).
        nulls = {f"{key}__isnull": True for key, value in params.items() if value is None}
        items = items.filter(**{key: value for key, value in params.items() if value is not None}, **nulls)
    return items


def data_item_exists(
    *, item_name: str = "", oid: uuid.UUID | None = None, uid: uuid.UUID | None = None, ready: bool = False
) -> bool:
    """Whether an item named by uid > oid > item_name exists (READY, when ``ready``)."""
    _require_identifier(uid, oid, item_name)
    items = data_items_named(uid=uid, oid=oid, item_name=item_name)
    if ready:
        items = items.filter(item_state=ItemState.READY)
    return fastsql.exists(items)


def data_item_storage(*, item_name: str = "", oid: uuid.UUID | None = None, uid: uuid.UUID | None = None) -> QuerySet:
    """READY copies, as upstream finds them: an existence check by uid > oid > item_name, then the
    copies by item_name > oid > uid."""
    _require_identifier(uid, oid, item_name)
    # With one identifier both steps select the same rows: skip the existence check.
    several = sum(1 for value in (item_name, oid, uid) if value) > 1
    if several and not data_item_exists(item_name=item_name, oid=oid, uid=uid, ready=True):
        return DataItem.objects.none()
    if item_name:
        # By the name index first (a name is on a storage at most once: a handful of rows), then
        # READY among them: written as one statement, SQLite (without statistics) would walk every
        # READY copy by a state index instead, 0.25 s at 1,000,000 copies (benchmarks/README.md).
        named = DataItem.objects.filter(item_name=item_name).order_by()
        found = fastsql.values(named, ["uid", "item_state"])  # cached SQL, as the lookup that follows
        return DataItem.objects.filter(uid__in=[uid for uid, state in found if state == ItemState.READY])
    copies = DataItem.objects.filter(oid=oid) if oid else DataItem.objects.filter(uid=uid)
    return copies.filter(item_state=ItemState.READY)


def data_item_expired(*, offset: timedelta | None = None, now: datetime | None = None) -> QuerySet:
    """READY copies whose ``uid_expiration`` is before now (+ ``offset``)."""
    try:
        limit = (now or timezone.now()) + (offset or timedelta(0))
    except OverflowError:
        raise FieldError("offset", "value_error", "now + offset is outside the date range", str(offset)) from None
    return DataItem.objects.filter(item_state=ItemState.READY, uid_expiration__lt=limit)


def data_item_deleted(*, uid: uuid.UUID | None = None) -> QuerySet:
    """DELETED copies, optionally one uid."""
    items = DataItem.objects.filter(item_state=ItemState.DELETED)
    return items.filter(uid=uid) if uid else items


def data_item_new(*, check_date: datetime, uid: uuid.UUID | None = None) -> QuerySet:
    """READY GAS-phase copies created after ``check_date``."""
    items = DataItem.objects.filter(uid_creation__gt=check_date, uid_phase=PhaseType.GAS, item_state=ItemState.READY)
    return items.filter(uid=uid) if uid else items


def storage_in_use(storage: Storage) -> bool:
    """True when a row of any app (a data item, a copy job…) refers to the storage by a protected
    reference, so that the storage cannot be deleted."""
    return any(
        relation.related_model._default_manager.filter(**{relation.field.name: storage}).exists()
        for relation in Storage._meta.related_objects
        if relation.on_delete is models.PROTECT
    )
