"""Audit records made from changes to models: snapshots of created and deleted rows, and the
before and after values of updated ones.

Each audited model has an ``AuditSpec``: its object type in the trail, which columns are secret
(shown as ``"***"``), which JSON columns may hold secret rclone options, which are never
recorded, and which column names the object. DLM's own models carry theirs as ``audit_spec``
(``audit.mixins.AuditedModel``); Django's accounts and knox's tokens are registered here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from operator import attrgetter
from typing import Any

from django.db import connections, models, router, transaction
from django.utils import timezone

from audit.choices import Action
from audit.services import audit_records_write, record_row
from audit.values import jsonable, masked
from core.actor import Actor
from core.crypto import SecretDecryptionError
from core.secrets import MASK, mask_options

# Rows of one UPDATE ... WHERE pk IN (...): within SQLite's oldest limit of 999 parameters.
PK_CHUNK = 900


@dataclass(frozen=True)
class AuditSpec:
    """How a model's changes are recorded. Column names are attnames (``storage_id``)."""

    object_type: str
    masked: frozenset[str] = frozenset()  # secret columns: "***"
    masked_options: frozenset[str] = frozenset()  # JSON columns whose secret rclone options are "***"
    excluded: frozenset[str] = frozenset()  # never recorded
    id_attname: str = ""  # names the object in the trail (default: the primary key)


# Models that are not DLM's own (accounts, groups, tokens), registered by ``audit.signals``.
EXTERNAL_SPECS: dict[type[models.Model], AuditSpec] = {}


def spec_for(model: type[models.Model]) -> AuditSpec | None:
    """The model's ``AuditSpec``, or None for a model that is not audited."""
    return getattr(model, "audit_spec", None) or EXTERNAL_SPECS.get(model)


@cache
def audited_fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    """The concrete fields of ``model`` that the trail records."""
    spec = spec_for(model)
    excluded = spec.excluded if spec else frozenset()
    return tuple(field for field in model._meta.concrete_fields if field.attname not in excluded)


class _Unreadable:
    """A secret column whose stored value cannot be decrypted: different from any value."""

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


_EXPRESSION = object()


def shown(spec: AuditSpec, attname: str, value: Any) -> Any:
    """A column's value as the trail shows it: JSON-ready, secrets masked."""
    if attname in spec.masked:
        return MASK if isinstance(value, _Unreadable) else masked(value)
    value = jsonable(value)
    return mask_options(value) if attname in spec.masked_options else value


# Columns whose values JSON takes as they are (text, whole numbers, booleans): copied unconverted.
# (Text holds no NUL character here: PostgreSQL refuses it in the row before the record is made.)
_AS_IS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField)


@dataclass(frozen=True)
class _Shown:
    """How a model's recorded columns are shown, decided once per model: ``converted`` columns
    are (attname, how it is shown, whether a ``snapshot``'s memo may keep the shown value)."""

    as_is: tuple[str, ...]
    get_as_is: Callable[[Any], Any]
    converted: tuple[tuple[str, Callable[[Any], Any], bool], ...]


# Columns whose shown values a ``snapshot``'s memo keeps: the rows of one insert share their
# storage, their times, and a new object's oid is its uid (10,000 rows' uuids written as text
# three times each cost a tenth of their records).
_MEMO_FIELDS = (models.UUIDField, models.DateTimeField, models.ForeignKey)


@cache
def _shown_columns(model: type[models.Model]) -> _Shown:
    spec = spec_for(model)
    as_is: list[str] = []
    converted: list[tuple[str, Callable[[Any], Any], bool]] = []
    for field in audited_fields(model):
        name = field.attname
        if name in spec.masked:
            converted.append((name, masked, False))
        elif name in spec.masked_options:
            converted.append((name, lambda value: mask_options(jsonable(value)), False))
        elif isinstance(field, _AS_IS) and not field.is_relation:
            as_is.append(name)
        else:
            converted.append((name, jsonable, isinstance(field, _MEMO_FIELDS)))
    getter = attrgetter(*as_is) if len(as_is) > 1 else (lambda obj: (getattr(obj, as_is[0]),) if as_is else ())
    return _Shown(tuple(as_is), getter, tuple(converted))


def object_id(spec: AuditSpec, instance: models.Model) -> str:
    return str(getattr(instance, spec.id_attname) if spec.id_attname else instance.pk)


def _record_of(
    spec: AuditSpec, instance: models.Model, actor: Actor, *, action: str, changes: dict, at: datetime | None = None
) -> dict[str, Any]:
    """A record of ``action`` on the row ``instance`` by ``actor`` (``record_row``), the row named as
    its spec names it."""
    return record_row(
        actor, action=action, object_type=spec.object_type, object_id=object_id(spec, instance), changes=changes, at=at
    )


def snapshot(instance: models.Model, memo: dict[Any, Any] | None = None) -> dict[str, Any]:
    """Every recorded column of a row that holds a value (not null), as the trail shows it.
    ``memo``: uuids and times shown already, by value (``jsonable``'s text of them), for rows
    snapshot together."""
    how = _shown_columns(type(instance))
    values = {name: value for name, value in zip(how.as_is, how.get_as_is(instance), strict=True) if value is not None}
    for attname, show, memoized in how.converted:
        value = getattr(instance, attname)
        if value is None:
            continue
        if memoized and memo is not None:
            text = memo.get(value)
            if text is None:
                text = memo[value] = show(value)
            values[attname] = text
        else:
            values[attname] = show(value)
    return values


def diff(spec: AuditSpec, before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{column: [before, after]}`` of the columns whose value changed."""
    return {
        attname: [shown(spec, attname, before.get(attname)), shown(spec, attname, value)]
        for attname, value in after.items()
        if before.get(attname) != value
    }


def normalized(field: models.Field, value: Any) -> Any:
    """A value about to be written, in the type the database gives back (a uuid for uuid text,
    the primary key for a model instance); ``_EXPRESSION`` for an F() or other expression."""
    if hasattr(value, "resolve_expression"):
        return _EXPRESSION
    if isinstance(value, models.Model):
        value = value.pk
    try:
        return field.to_python(value)
    except Exception:  # the database decides; compare the value as given
        return value


def read_rows(queryset: models.QuerySet, attnames: list[str]) -> dict[Any, dict[str, Any]]:
    """``{pk: {attname: value}}`` of the rows of ``queryset``, in one query. A secret column that
    cannot be decrypted reads as unreadable (it then shows as changed, masked)."""
    try:
        rows = queryset.values_list("pk", *attnames)
        return {row[0]: dict(zip(attnames, row[1:], strict=True)) for row in rows}
    except SecretDecryptionError:
        spec = spec_for(queryset.model)
        readable = [name for name in attnames if name not in spec.masked]
        found = read_rows(queryset, readable)
        for values in found.values():
            values.update({name: _Unreadable() for name in attnames if name in spec.masked})
        return found


def _locked(queryset: models.QuerySet) -> models.QuerySet:
    """``queryset`` locking its rows until the transaction ends, where the database can."""
    features = connections[queryset.db].features
    if features.has_select_for_update_of and not queryset.query.distinct and queryset.query.group_by is None:
        return queryset.select_for_update(of=("self",))
    return queryset


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the recorded writes ------------------------------------------------------------------------


def update_recorded(queryset: models.QuerySet, values: dict[str, Any], actor: Actor) -> int:
    """``queryset.update(**values)`` with one update record per changed row.

    The affected rows' current values of exactly those columns are read first, locked (one
    query); the update is then made to exactly those rows, so that the records match what
    changed. Columns set from an expression are read again afterwards.
    """
    if queryset.query.is_sliced:
        raise TypeError("Cannot update a query once a slice has been taken.")
    model = queryset.model
    spec = spec_for(model)
    fields = {model._meta.get_field(name): value for name, value in values.items()}
    attnames = [field.attname for field in fields]
    using = queryset.db
    with transaction.atomic(using=using, savepoint=False):
        before = read_rows(_locked(queryset.order_by("pk")), attnames)
        if not before:
            return 0
        pks = list(before)
        count = 0
        for chunk in _chunks(pks, PK_CHUNK):
            count += models.QuerySet.update(queryset.filter(pk__in=chunk), **values)
        after_value = {field.attname: normalized(field, value) for field, value in fields.items()}
        computed = [name for name, value in after_value.items() if value is _EXPRESSION]
        after_rows: dict[Any, dict[str, Any]] = {}
        if computed:
            for chunk in _chunks(pks, PK_CHUNK):
                after_rows.update(read_rows(model._base_manager.using(using).filter(pk__in=chunk), computed))
        at = timezone.now()
        records = []
        for pk, old in before.items():
            changes = diff(spec, old, {**after_value, **after_rows.get(pk, {})})
            if changes:
                records.append(
                    record_row(
                        actor, action=Action.UPDATE, object_type=spec.object_type, object_id=pk, changes=changes, at=at
                    )
                )
        audit_records_write(records, using=using)
    return count


def save_recorded(
    instance: models.Model,
    actor: Actor,
    save: Callable[[], None],
    *,
    force_insert: Any = False,
    force_update: bool = False,
    using: str | None = None,
    update_fields: Iterable[str] | None = None,
) -> None:
    """``instance.save()`` with a create record (a new row) or an update record (the columns
    that changed, read from the database first: one query)."""
    if update_fields is not None and not list(update_fields):
        save()  # Django saves nothing
        return
    model = type(instance)
    meta = model._meta
    spec = spec_for(model)
    using = using or router.db_for_write(model, instance=instance)
    inserting = (
        bool(force_insert)
        or instance.pk is None
        or (instance._state.adding and meta.pk.has_default() and not force_update)
    )
    with transaction.atomic(using=using, savepoint=False):
        before = None
        if not inserting:
            if update_fields is not None:
                names = {meta.get_field(name).attname for name in update_fields}
                fields = [field for field in audited_fields(model) if field.attname in names]
            else:
                deferred = instance.get_deferred_fields()
                fields = [field for field in audited_fields(model) if field.attname not in deferred]
            attnames = [field.attname for field in fields]
            rows = read_rows(_locked(model._base_manager.using(using).filter(pk=instance.pk)), attnames)
            before = rows.get(instance.pk)
        save()
        if before is None:
            record = _record_of(spec, instance, actor, action=Action.CREATE, changes=snapshot(instance))
        else:
            after = {field.attname: normalized(field, getattr(instance, field.attname)) for field in fields}
            computed = [name for name, value in after.items() if value is _EXPRESSION]
            if computed:
                after.update(read_rows(model._base_manager.using(using).filter(pk=instance.pk), computed)[instance.pk])
            changes = diff(spec, before, after)
            if not changes:
                return
            record = _record_of(spec, instance, actor, action=Action.UPDATE, changes=changes)
        audit_records_write([record], using=using)


def created_recorded(objs: list[models.Model], actor: Actor, *, using: str) -> None:
    """Create records of rows just inserted (``bulk_create``), in one insert."""
    if not objs:
        return
    spec = spec_for(type(objs[0]))
    at = timezone.now()
    memo: dict[Any, Any] = {}
    records = []
    for obj in objs:
        changes = snapshot(obj, memo)
        key = getattr(obj, spec.id_attname) if spec.id_attname else obj.pk
        name = memo.get(key) if isinstance(key, uuid.UUID) else None  # the text of its uuid, made already
        records.append(
            record_row(
                actor, action=Action.CREATE, object_type=spec.object_type, object_id=name or key, changes=changes, at=at
            )
        )
    audit_records_write(records, using=using)


def deleted_recorded(instance: models.Model, actor: Actor, *, using: str) -> None:
    """A delete record of a row just deleted, with its last values."""
    spec = spec_for(type(instance))
    record = _record_of(spec, instance, actor, action=Action.DELETE, changes=snapshot(instance))
    audit_records_write([record], using=using)
