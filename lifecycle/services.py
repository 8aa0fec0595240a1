"""What operators and clients ask of the lifecycle: deleting a copy (with the resilience check),
an item's lifecycle explained, and the placement rules. The API, the web UI and the admin call
these; the scheduled pass is ``lifecycle.engine``."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import CharField, TextField
from django.utils import timezone

from catalogue.choices import ItemState
from catalogue.models import DataItem, Storage
from catalogue.phases import at_least, lifecycle_reconsider
from catalogue.services.fields import row_locked
from core import params as p
from core.errors import (
    FieldError,
    FieldErrors,
    InvalidQueryParameters,
    ObjectNotFound,
    UnmetPreconditionForOperation,
    ValueAlreadyInDB,
)
from core.rows import json_value
from lifecycle.models import Hold, PlacementRule
from lifecycle.objects import objects_load
from lifecycle.rules import deletion_refusal, need, rules_enabled, rules_matching
from migrations_app.choices import JobOrigin
from migrations_app.models import Deletion, Migration
from migrations_app.services import deletion_job_create
from migrations_app.states import ACTIVE

# --- deleting a copy ------------------------------------------------------------------------------


def copy_delete(*, uid: uuid.UUID, user: str, force: bool = False) -> Deletion:
    """Delete one copy's payload, as a job. Refused (``UnmetPreconditionForOperation`` naming
    ``uid``, saying why and that ``force=true`` overrides it) when the copy is the last READY one
    of its object, or when the copies that count without it would leave the object below its
    target phase or short of a placement rule it matches. The check and the job are one
    transaction, with the object's rows locked: two deletions of an object's last two copies
    cannot both pass it. The job's own refusals (being copied, deleted already…) stand even
    with ``force``."""
    oid = DataItem.objects.filter(uid=uid).values_list("oid", flat=True).first()
    if oid is None and not DataItem.objects.filter(uid=uid).exists():
        raise ObjectNotFound(f"No data item with uid={uid}", field="uid")
    with transaction.atomic():
        if oid is not None:
            obj = objects_load([oid], lock=True)[oid]
            copy = next((copy for copy in obj.copies if copy.uid == uid), None)
            if copy is not None and not force:
                refusal = deletion_refusal(obj, copy, rules_matching(rules_enabled(), obj))
                if refusal:
                    raise UnmetPreconditionForOperation(
                        f"Deleting copy {uid} refused: {refusal}. Give force=true to delete it anyway",
                        field="uid",
                    )
        reason = f"asked by {user or 'an anonymous caller'}" + (" (forced past the resilience check)" if force else "")
        return deletion_job_create(uid=uid, user=user, reason=reason, origin=JobOrigin.CLIENT, forced=force)


def copy_delete_refusal(*, uid: uuid.UUID) -> str:
    """Why deleting the copy now would be refused without ``force`` ("" when it would not): for
    the pages that offer the button."""
    oid = DataItem.objects.filter(uid=uid).values_list("oid", flat=True).first()
    if oid is None:
        return ""
    obj = objects_load([oid])[oid]
    copy = next((copy for copy in obj.copies if copy.uid == uid), None)
    if copy is None:
        return ""
    return deletion_refusal(obj, copy, rules_matching(rules_enabled(), obj))


# --- an item's lifecycle, explained ---------------------------------------------------------------


def item_lifecycle(*, uid: uuid.UUID | None = None, oid: uuid.UUID | None = None) -> dict[str, Any]:
    """Where an object stands: its phase and target, its copies (which count, which expired,
    which are being written or deleted), the rules it matches and what they still ask, the jobs
    under way, and why it is not at its target yet. ``uid`` (any copy) wins over ``oid``."""
    if not uid and not oid:
        raise InvalidQueryParameters("Either uid or oid must be given")
    if uid:
        oid = DataItem.objects.filter(uid=uid).values_list("oid", flat=True).first()
        if oid is None:
            raise ObjectNotFound(f"No data item with uid={uid}", field="uid")
    elif not DataItem.objects.filter(oid=oid).exists():
        raise ObjectNotFound(f"No data item with oid={oid}", field="oid")
    obj = objects_load([oid])[oid]
    now = timezone.now()
    rules = rules_matching(rules_enabled(), obj)
    target, phase = obj.target, obj.phase
    deleted = list(
        DataItem.objects.filter(oid=oid, item_state=ItemState.DELETED).values_list("uid", "storage__storage_name")
    )
    copies = []
    for copy in obj.copies:
        expired = bool(copy.uid_expiration and copy.uid_expiration < now)
        entry = {
            "uid": str(copy.uid),
            "storage_name": copy.storage_name,
            "storage_phase": copy.storage_phase,
            "item_state": copy.item_state,
            "counts": copy.counts,
            "uid_expiration": json_value(copy.uid_expiration),
            "expired": expired,
            "being_written_by": copy.written_by,
            "being_deleted_by": copy.deletion_id,
        }
        if expired and copy.counts:
            entry["deletion_refused"] = deletion_refusal(obj, copy, rules) or None
        copies.append(entry)
    pending = [
        {"kind": "copy", "migration_id": job.migration_id, "state": job.state, "origin": job.origin,
         "reason": job.reason}
        for job in obj.pending
    ] + [
        {"kind": "deletion", "deletion_id": d.deletion_id, "uid": str(d.uid), "state": d.state, "origin": d.origin,
         "reason": d.reason}
        for d in Deletion.objects.filter(oid=oid, state__in=ACTIVE).order_by("deletion_id")
    ]  # fmt: skip
    rule_rows = []
    for rule in rules:
        wanted = need(rule, obj.counted, pending_to={job.destination_id for job in obj.pending})
        rule_rows.append({"rule": rule.name, "satisfied": not wanted, "needs": wanted.describe() if wanted else ""})
    holds = [
        {"kind": hold.kind, "reason": hold.reason, "since": json_value(hold.since)}
        for hold in Hold.objects.filter(oid=oid).order_by("kind", "since")
    ]
    oid_expiration = min((c.oid_expiration for c in obj.copies if c.oid_expiration), default=None)
    return {
        "oid": str(oid),
        "item_name": obj.name,
        "phase": phase,
        "target_phase": target,
        "at_target": at_least(phase, target),
        "oid_expiration": json_value(oid_expiration),
        "oid_expired": bool(oid_expiration and oid_expiration < now),
        "copies": copies,
        "deleted_copies": [{"uid": str(uid), "storage_name": name} for uid, name in deleted],
        "rules": rule_rows,
        "pending": pending,
        "holds": holds,
        "why_not_at_target": _why_not(obj, phase, target, now, holds),
    }


def _why_not(obj, phase: str, target: str | None, now, holds: list[dict]) -> list[str]:
    if at_least(phase, target):
        return []
    reasons = []
    if not obj.counted:
        reasons.append("it has no READY copy")
    if obj.pending:
        reasons.append(f"{len(obj.pending)} copy job(s) under way")
    grace_ends = obj.newest + timedelta(seconds=settings.DLM_PHASE_GRACE) if obj.newest else None
    if grace_ends and grace_ends > now and not obj.pending:  # (a job under way is the reason, not the grace)
        reasons.append(f"its newest copy is recent: the lifecycle copies it after {json_value(grace_ends)}")
    reasons += [hold["reason"] for hold in holds if hold["kind"] == "below-target"]
    if not reasons:
        reasons.append("the next lifecycle pass will ask for a copy")
    return reasons


# --- placement rules ------------------------------------------------------------------------------

MAX_COPIES = 100  # more copies than any deployment has storages

# The body of a rule: each key, and how its value is read.
RULE_KEYS = (
    "name", "enabled", "description", "item_name_pattern", "source_storage_name", "item_type",
    "metadata_key", "metadata_value", "copies", "min_phase", "storage_name", "lifetime",
)  # fmt: skip


def _rule_fields(data: dict[str, Any], body: str | None) -> dict[str, Any]:
    """A rule's columns from its JSON form: storages by name, ``lifetime`` as an ISO-8601
    duration (``P30D``) or seconds; ``FieldErrors`` naming every key that does not fit."""
    errors: list[FieldError] = []
    values: dict[str, Any] = {}

    def refuse(key: str, kind: str, message: str, value: Any) -> None:
        field, at = (body, (key,)) if body else (key, ())
        errors.append(FieldError(field, kind, message, value, at=at))

    text_fields = {f.name: f for f in PlacementRule._meta.concrete_fields if isinstance(f, CharField | TextField)}
    for key, value in data.items():
        if key not in RULE_KEYS:
            refuse(key, "extra_forbidden", f"Unknown key '{key}' (a rule has: {', '.join(RULE_KEYS)})", value)
        elif key in ("source_storage_name", "storage_name"):
            column = "source_storage" if key == "source_storage_name" else "storage"
            if value in (None, ""):
                values[column] = None
            elif not isinstance(value, str):
                refuse(key, "string_type", "Input should be a storage name", value)
            else:
                storage = Storage.objects.filter(storage_name=value).first()
                if storage is None:
                    refuse(key, "value_error", f"No storage named {value!r}", value)
                values[column] = storage
        elif key == "enabled":
            if not isinstance(value, bool):
                refuse(key, "bool_type", "Input should be true or false", value)
            values[key] = value
        elif key == "copies":
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COPIES
            ):
                refuse(key, "int_type", f"Input should be a whole number from 1 to {MAX_COPIES}", value)
            values[key] = value
        elif key == "lifetime":
            values[key] = _lifetime(value, refuse)
        else:
            field = text_fields[key]
            value = "" if value is None else value
            if not isinstance(value, str):
                refuse(key, "string_type", "Input should be a valid string", value)
                continue
            if field.choices and value and value not in {choice for choice, _ in field.choices}:
                expected = ", ".join(f"'{choice}'" for choice, _ in field.choices if choice)
                refuse(key, "enum", f"Input should be one of {expected}", value)
            elif field.max_length and len(value) > field.max_length:
                refuse(key, "string_too_long", f"String should have at most {field.max_length} characters", value)
            values[key] = value
    if errors:
        raise FieldErrors(errors)
    return values


def _lifetime(value: Any, refuse) -> timedelta | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        try:
            return p.parse_timedelta(value)
        except p.ParamError as exc:
            refuse("lifetime", exc.kind, exc.msg, value)
            return None
    refuse("lifetime", "value_error", "Input should be an ISO-8601 duration such as P30D, or seconds", value)
    return None


def rule_json(rule: PlacementRule) -> dict[str, Any]:
    """A rule as the API shows it."""
    return {
        "rule_id": rule.rule_id,
        "name": rule.name,
        "enabled": rule.enabled,
        "description": rule.description,
        "item_name_pattern": rule.item_name_pattern,
        "source_storage_name": rule.source_storage.storage_name if rule.source_storage else None,
        "item_type": rule.item_type,
        "metadata_key": rule.metadata_key,
        "metadata_value": rule.metadata_value,
        "copies": rule.copies,
        "min_phase": rule.min_phase,
        "storage_name": rule.storage.storage_name if rule.storage else None,
        "lifetime": rule.lifetime.total_seconds() if rule.lifetime else None,
        "created_at": json_value(rule.created_at),
        "updated_at": json_value(rule.updated_at),
    }


def _rule_check(rule: PlacementRule, *, body: str | None) -> None:
    """A rule must ask for something, coherently; every refusal names its field."""
    errors = []

    def refuse(name: str, message: str, value: Any) -> None:
        field, at = (body, (name,)) if body else (name, ())
        errors.append(FieldError(field, "value_error", message, value, at=at))

    if not rule.name or not rule.name.strip():
        refuse("name", "A rule needs a name", rule.name)
    if rule.copies is None and rule.storage_id is None:
        refuse("copies", "A rule asks for copies (with min_phase) or for a storage (or both)", None)
    if rule.copies is not None and rule.copies < 1:
        refuse("copies", "copies should be at least 1", rule.copies)
    if rule.copies is not None and not rule.min_phase:
        refuse("min_phase", "Give the phase the copies must have at least", rule.min_phase)
    if rule.lifetime is not None and rule.lifetime <= timedelta(0):
        refuse("lifetime", "lifetime should be positive", str(rule.lifetime))
    if rule.metadata_value and not rule.metadata_key:
        refuse("metadata_value", "metadata_value needs a metadata_key", rule.metadata_value)
    if errors:
        raise FieldErrors(errors)


def _rule_save(rule: PlacementRule) -> PlacementRule:
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError:
        raise ValueAlreadyInDB(f"A rule named {rule.name!r} exists already", field="name") from None
    lifecycle_reconsider()  # copies kept for the old rules may go now, objects may need more
    return rule


def rule_create(*, fields: dict[str, Any], body: str | None = None) -> PlacementRule:
    """A new placement rule from its JSON form (``RULE_KEYS``; refusals name the key, inside
    ``body`` when given)."""
    values = _rule_fields(fields, body)
    rule = PlacementRule(**values)
    _rule_check(rule, body=body)
    return _rule_save(rule)


def rule_update(*, rule_id: int, fields: dict[str, Any], body: str | None = None) -> PlacementRule:
    """Change the keys given of a rule (its JSON form, as for ``rule_create``)."""
    values = _rule_fields(fields, body)
    with transaction.atomic():
        rule = row_locked(PlacementRule, rule_id, field="rule_id")
        for name, value in values.items():
            setattr(rule, name, value)
        rule.updated_at = timezone.now()
        _rule_check(rule, body=body)
        return _rule_save(rule)


def rule_delete(*, rule_id: int) -> None:
    with transaction.atomic():
        rule = row_locked(PlacementRule, rule_id, field="rule_id")
        rule.delete()
    lifecycle_reconsider()


def rule_get(*, rule_id: int) -> PlacementRule:
    rule = PlacementRule.objects.select_related("storage", "source_storage").filter(pk=rule_id).first()
    if rule is None:
        raise ObjectNotFound(f"No placement rule with rule_id={rule_id}", field="rule_id")
    return rule


def pending_lifecycle_copies():
    """The copy jobs the lifecycle asked for that have not ended."""
    return Migration.objects.filter(origin=JobOrigin.LIFECYCLE, state__in=ACTIVE).order_by("migration_id")
