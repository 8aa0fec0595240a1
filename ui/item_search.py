"""The items list's reads: filters parsed from the query string, and keyset pages of the catalogue.

Pages follow the catalogue's order, ``(uid_creation, uid)``, and are fetched from a cursor (the
last row shown, or the first one when going back), never with ``OFFSET`` and never counted: a
deep page costs what the first one does. One row more than a page is read to know whether there
are more. ``catalogue/migrations/0004_data_item_ui_search_indexes`` adds the indexes the filters
need at scale.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import DateTimeField, ExpressionWrapper, F, Func, Q, QuerySet, Value
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Substr
from django.db.models.lookups import Exact
from django.http import QueryDict
from django.utils import timezone

from catalogue.choices import ItemState, ItemType, PhaseType
from catalogue.models import DataItem
from catalogue.selectors import item_name_prefix
from core import params as p

PAGE_SIZE = 50
SEARCH_WINDOW = 5000  # rows of the catalogue a metadata search reads in order before using its index
NAME_CANDIDATES = 2000  # SQLite: a name prefix shared by at most this many copies is read by the name index
MAX_EXPIRY_DAYS = 36_500  # a hundred years: far enough, and now + that stays a valid date
_TEXT_LIMIT = 1024  # no filtered column holds more (item_name is the longest)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The columns the list shows (and the keyset's), read with the storage's name in one query.
LIST_COLUMNS = (
    "uid",
    "oid",
    "item_name",
    "item_state",
    "item_size",
    "uid_phase",
    "item_type",
    "item_owner",
    "uid_expiration",
    "uid_creation",
    "storage__storage_name",
)


@dataclass(frozen=True)
class ItemFilters:
    """What the list is narrowed to; empty values filter nothing."""

    q: str = ""
    state: str = ""
    storage: str = ""
    phase: str = ""
    type: str = ""
    owner: str = ""
    expires_within_days: int | None = None
    meta_key: str = ""
    meta_value: str = ""

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters (the ones set), for the paging links."""
        return {name: str(value) for name, value in asdict(self).items() if value not in ("", None)}

    @property
    def any(self) -> bool:
        return bool(self.as_query())

    @property
    def windowed(self) -> bool:
        """Whether pages are searched for window by window (``_rows``): for the metadata filter,
        the one whose index cannot give the rows in the catalogue's order."""
        return bool(self.meta_key)


@dataclass(frozen=True)
class Cursor:
    """A position in the catalogue's order: the ``(uid_creation, uid)`` of a row.

    Written ``<microseconds since 1970 UTC>.<uid as 32 hex digits>``: short, exact, and safe in a URL.
    """

    created: datetime
    uid: uuid.UUID

    @classmethod
    def of(cls, item: DataItem) -> Cursor:
        return cls(item.uid_creation, item.uid)

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        """The cursor written as ``text``, or None when it is not one."""
        micros, _, hex_uid = text.strip().partition(".")
        try:
            return cls(_EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(hex=hex_uid))
        except (ValueError, OverflowError):
            return None

    def __str__(self) -> str:
        delta = self.created - _EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return f"{micros}.{self.uid.hex}"


@dataclass
class ItemPage:
    """One page of items, and where the pages around it start."""

    items: list[DataItem]
    next_cursor: Cursor | None  # more rows after this page: link with ``after=``
    previous_cursor: Cursor | None  # rows before this page: link with ``before=``
    is_first: bool


def _text(query: QueryDict, name: str, errors: list[str]) -> str:
    value = query.get(name, "").strip()
    if "\x00" in value:  # no database text can hold it (PostgreSQL: a 500)
        errors.append(f"{name}: Input should not contain NUL characters")
        return ""
    if len(value) > _TEXT_LIMIT:
        errors.append(f"{name}: String should have at most {_TEXT_LIMIT} characters")
        return ""
    return value


def _choice(query: QueryDict, name: str, choices: Any, errors: list[str]) -> str:
    value = _text(query, name, errors)
    if not value:
        return ""
    try:
        return p.parse_enum(value, choices)
    except p.ParamError as exc:
        errors.append(f"{name}: {exc.msg}")
        return ""


def _days(query: QueryDict, errors: list[str]) -> int | None:
    raw = _text(query, "expires_within_days", errors)
    if not raw:
        return None
    try:
        days = p.parse_int(raw)
    except p.ParamError as exc:
        errors.append(f"expires_within_days: {exc.msg}")
        return None
    if not 0 <= days <= MAX_EXPIRY_DAYS:
        errors.append(f"expires_within_days must be 0 to {MAX_EXPIRY_DAYS}")
        return None
    return days


def filters_parse(query: QueryDict) -> tuple[ItemFilters, list[str]]:
    """The filters a query string asks for, and what is wrong with it (``"<parameter>: <why>"``).

    A filter that cannot be read is left out of the result and named in the errors.
    """
    errors: list[str] = []
    filters = ItemFilters(
        q=_text(query, "q", errors),
        state=_choice(query, "state", ItemState, errors),
        storage=_text(query, "storage", errors),
        phase=_choice(query, "phase", PhaseType, errors),
        type=_choice(query, "type", ItemType, errors),
        owner=_text(query, "owner", errors),
        expires_within_days=_days(query, errors),
        meta_key=_text(query, "meta_key", errors),
        meta_value=_text(query, "meta_value", errors),
    )
    # A key alone is not searched for: the index answers containment ({key: value}) only.
    if filters.meta_value and not filters.meta_key:
        errors.append("meta_key: a metadata value needs the key it is under")
    if filters.meta_key and not filters.meta_value:
        errors.append("meta_value: a metadata key needs the value to look for")
    return filters, errors


def _metadata_values(raw: str) -> list[Any]:
    """What a typed metadata value may be stored as: the text, and also the JSON number,
    boolean or null it spells (``3`` finds ``{"n": 3}`` and ``{"n": "3"}``)."""
    values: list[Any] = [raw]
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        return values
    if parsed is None or isinstance(parsed, bool | int | float):
        values.append(parsed)
    return values


def _metadata_filter(key: str, raw: str) -> Q:
    """Items whose metadata (a JSON object) holds ``raw`` (as text, or as the JSON scalar it
    spells) under ``key``."""
    q = Q()
    if connection.features.supports_json_field_contains:
        # PostgreSQL: containment, which the GIN (jsonb_path_ops) index answers.
        for value in _metadata_values(raw):
            q |= Q(metadata__contains={key: value})
        return q
    # SQLite has no containment: compare the key's value (the same rows, for a scalar value).
    for value in _metadata_values(raw):
        q |= Q(_meta_value=value)
    return q


def _name_prefix(prefix: str) -> tuple[Q, bool]:
    """Items whose name starts with ``prefix``, case counting, as an index can answer it; and
    whether that is a short list of keys (see ``_equal``).

    PostgreSQL: ``LIKE 'prefix%'``, which the ``varchar_pattern_ops`` index answers. SQLite's
    ``LIKE`` ignores case and no index answers it: a rare prefix walked the whole catalogue
    (0.4 s at 1,000,000 copies, benchmarks/README.md). Its names are a range of the name index
    instead, read first (at most ``NAME_CANDIDATES`` + 1 entries): the list then fetches those
    copies by key. A prefix more copies share is looked for along the catalogue's order, where a
    page of them comes soon, comparing each name's first characters.
    """
    names = item_name_prefix(prefix, vendor=connection.vendor)
    if connection.vendor != "sqlite":
        return names, False
    named = DataItem.objects.filter(names).order_by()
    uids = list(named.values_list("uid", flat=True)[: NAME_CANDIDATES + 1])
    if len(uids) <= NAME_CANDIDATES:
        return Q(uid__in=uids), True
    return Q(Exact(Substr("item_name", 1, len(prefix)), prefix)), False


def _equal(column: str, value: Any, *, keyed: bool) -> Q:
    """``column = value``; with ``keyed`` (the rows are already a short list of keys), written so
    that SQLite's planner does not answer it from an index: without statistics it takes any
    equality's index (every READY copy, say) over a list of keys (``+column``: the same value)."""
    if not keyed:
        return Q(**{column: value})
    field = DataItem._meta.get_field(column)
    field = getattr(field, "target_field", field)  # a foreign key: compared as its target's values
    return Q(Exact(Func(F(column), template="+%(expressions)s", output_field=field), value))


def items_filtered(filters: ItemFilters, *, storage_ids: dict[str, uuid.UUID]) -> QuerySet:
    """The items matching every filter (unordered). ``storage_ids`` maps storage names to ids: the
    storage filter compares ids, so the planner sees the value (an unknown name matches nothing)."""
    items = DataItem.objects.all()
    keyed = False
    if filters.q:
        match, keyed = _name_prefix(filters.q)
        try:
            as_uuid = uuid.UUID(filters.q)
        except ValueError:
            as_uuid = None
        if as_uuid is not None:
            match |= Q(uid=as_uuid) | Q(oid=as_uuid)
        items = items.filter(match)
    if filters.storage:
        storage_id = storage_ids.get(filters.storage)
        if storage_id is None:
            return DataItem.objects.none()
        items = items.filter(_equal("storage_id", storage_id, keyed=keyed))
    for column, value in (
        ("item_state", filters.state),
        ("uid_phase", filters.phase),
        ("item_type", filters.type),
        ("item_owner", filters.owner),
    ):
        if value:
            items = items.filter(_equal(column, value, keyed=keyed))
    if filters.expires_within_days is not None:
        now = timezone.now()
        items = items.filter(
            uid_expiration__gte=now, uid_expiration__lte=now + timedelta(days=filters.expires_within_days)
        )
    if filters.meta_key:
        if not connection.features.supports_json_field_contains:
            items = items.alias(_meta_value=KeyTransform(filters.meta_key, "metadata"))
        items = items.filter(_metadata_filter(filters.meta_key, filters.meta_value))
    return items


def _after(cursor: Cursor) -> Q:
    # The ">=" bound is what an index on uid_creation can start from; the OR settles ties.
    return Q(uid_creation__gte=cursor.created) & (
        Q(uid_creation__gt=cursor.created) | Q(uid_creation=cursor.created, uid__gt=cursor.uid)
    )


def _before(cursor: Cursor) -> Q:
    return Q(uid_creation__lte=cursor.created) & (
        Q(uid_creation__lt=cursor.created) | Q(uid_creation=cursor.created, uid__lt=cursor.uid)
    )


def _ordered(items: QuerySet, *, descending: bool, limit: int, by_index: bool = True) -> list[DataItem]:
    """The first ``limit`` rows of ``items`` in the catalogue's order (or its reverse).

    ``by_index=False`` orders by an expression no index provides: PostgreSQL then finds the rows
    through the filters' indexes and sorts them, instead of walking the order's index."""
    created: Any = F("uid_creation")
    if not by_index and connection.vendor == "postgresql":
        created = ExpressionWrapper(created + Value(timedelta(0)), output_field=DateTimeField())
    order = [key.desc() if descending else key.asc() for key in (created, F("uid"))]
    return list(items.select_related("storage").only(*LIST_COLUMNS).order_by(*order)[:limit])


def _window_edge(start: Cursor | None, *, descending: bool) -> datetime | None:
    """The ``uid_creation`` ``SEARCH_WINDOW`` rows on from ``start`` in the catalogue's order
    (None: fewer rows are left): a read of the ``uid_creation`` index alone."""
    rows = DataItem.objects.all()
    if start is not None:
        rows = (
            rows.filter(uid_creation__lte=start.created) if descending else rows.filter(uid_creation__gte=start.created)
        )
    times = rows.order_by("-uid_creation" if descending else "uid_creation").values_list("uid_creation", flat=True)
    return next(iter(times[SEARCH_WINDOW : SEARCH_WINDOW + 1]), None)


def _rows(items: QuerySet, *, start: Cursor | None, descending: bool, limit: int, windowed: bool) -> list[DataItem]:
    """The first ``limit`` rows of ``items`` after ``start`` (before it, ``descending``), in order.

    ``windowed``: for a filter whose matches may all lie far along the order, which PostgreSQL
    cannot foresee (a metadata value shared by many recent items: walking the order's index to
    reach them reads the whole table). The rows are first looked for among the next
    ``SEARCH_WINDOW`` rows of the catalogue, a bounded read; only if too few are there are the
    rest found through the filter's index and sorted, at a cost that grows with their number.
    """
    if start is not None:
        items = items.filter(_before(start) if descending else _after(start))
    edge = _window_edge(start, descending=descending) if windowed else None
    if edge is None:
        return _ordered(items, descending=descending, limit=limit)
    if descending:
        near, far = Q(uid_creation__gte=edge), Q(uid_creation__lt=edge)
    else:
        near, far = Q(uid_creation__lte=edge), Q(uid_creation__gt=edge)
    rows = _ordered(items.filter(near), descending=descending, limit=limit)
    if len(rows) < limit:
        rows += _ordered(items.filter(far), descending=descending, limit=limit - len(rows), by_index=False)
    return rows


def items_page(
    items: QuerySet,
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    size: int = PAGE_SIZE,
    windowed: bool = False,
) -> ItemPage:
    """The page of ``items`` that starts after ``after``, or else ends before ``before``, or else
    the first. Going back past the beginning gives the first page (always a full one).
    ``windowed``: see ``_rows`` (``ItemFilters.windowed`` says when)."""
    if after is None and before is not None:
        rows = _rows(items, start=before, descending=True, limit=size + 1, windowed=windowed)
        if len(rows) > size:
            rows = rows[:size][::-1]
            return ItemPage(rows, Cursor.of(rows[-1]), Cursor.of(rows[0]), is_first=False)
    rows = _rows(items, start=after, descending=False, limit=size + 1, windowed=windowed)
    more = len(rows) > size
    rows = rows[:size]
    first = after is None
    return ItemPage(
        rows,
        next_cursor=Cursor.of(rows[-1]) if more else None,
        previous_cursor=Cursor.of(rows[0]) if rows and not first else None,
        is_first=first,
    )
