"""Signal receivers that record deletes of audited rows, and changes to accounts, groups, group
membership and API tokens (models DLM does not own, so their writes cannot record themselves).

Every receiver does nothing unless an actor is set.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from knox.models import AuthToken

from audit import capture
from audit.capture import EXTERNAL_SPECS, AuditSpec, spec_for
from audit.choices import Action, ObjectType
from audit.services import audit_records_write, record_row
from core.actor import current_actor


def record_delete(sender: type[models.Model], instance: models.Model, using: str, **kwargs: Any) -> None:
    actor = current_actor()
    if actor is not None:
        capture.deleted_recorded(instance, actor, using=using)


def remember_before(sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any) -> None:
    """Before an account or group is saved: its stored values, to compare after the save."""
    if raw or current_actor() is None or instance.pk is None or instance._state.adding:
        return
    update_fields = kwargs.get("update_fields")
    attnames = [
        field.attname
        for field in capture.audited_fields(sender)
        if update_fields is None or field.name in update_fields or field.attname in update_fields
    ]
    instance._audit_before = capture.read_rows(
        sender._base_manager.using(kwargs["using"]).filter(pk=instance.pk), attnames
    ).get(instance.pk)


def record_save(
    sender: type[models.Model], instance: models.Model, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    before = instance.__dict__.pop("_audit_before", None)
    actor = current_actor()
    if raw or actor is None:
        return
    spec = spec_for(sender)
    if created or before is None:
        action, changes = Action.CREATE, capture.snapshot(instance)
    else:
        after = {name: capture.normalized(sender._meta.get_field(name), getattr(instance, name)) for name in before}
        action, changes = Action.UPDATE, capture.diff(spec, before, after)
        if not changes:
            return
    record = record_row(
        actor, action=action, object_type=spec.object_type, object_id=capture.object_id(spec, instance), changes=changes
    )
    audit_records_write([record], using=kwargs["using"])


def record_token_created(sender: type[models.Model], instance: AuthToken, created: bool, **kwargs: Any) -> None:
    actor = current_actor()
    if actor is None or not created or kwargs.get("raw"):
        return
    spec = spec_for(sender)
    record = record_row(
        actor,
        action=Action.CREATE,
        object_type=spec.object_type,
        object_id=capture.object_id(spec, instance),
        changes=capture.snapshot(instance),
    )
    audit_records_write([record], using=kwargs["using"])


def _related_names(instance: models.Model, accessor: str) -> list[str]:
    related = getattr(instance, accessor).all()
    if related.model is Permission:
        return sorted(f"{app}.{code}" for app, code in related.values_list("content_type__app_label", "codename"))
    if related.model is Group:
        return sorted(related.values_list("name", flat=True))
    return sorted(str(name) for name in related.values_list(related.model.USERNAME_FIELD, flat=True))


def _accessor(through: type[models.Model], instance: models.Model, reverse: bool) -> str | None:
    meta = type(instance)._meta
    if not reverse:
        return next((f.name for f in meta.many_to_many if f.remote_field.through is through), None)
    return next((r.get_accessor_name() for r in meta.related_objects if r.many_to_many and r.through is through), None)


def record_membership(
    sender: type[models.Model], instance: models.Model, action: str, reverse: bool, using: str, **kwargs: Any
) -> None:
    """Group membership and permissions: the related names before and after, as one update."""
    actor = current_actor()
    spec = spec_for(type(instance))
    if actor is None or spec is None:
        return
    accessor = _accessor(sender, instance, reverse)
    if accessor is None:
        return
    if action.startswith("pre_"):
        instance.__dict__.setdefault("_audit_related", {})[accessor] = _related_names(instance, accessor)
        return
    before = instance.__dict__.get("_audit_related", {}).pop(accessor, None)
    after = _related_names(instance, accessor)
    if before is None or before == after:
        return
    record = record_row(
        actor,
        action=Action.UPDATE,
        object_type=spec.object_type,
        object_id=capture.object_id(spec, instance),
        changes={accessor: [before, after]},
    )
    audit_records_write([record], using=using)


def connect() -> None:
    """Connect the receivers (from ``AuditConfig.ready``)."""
    user_model = get_user_model()
    EXTERNAL_SPECS[user_model] = AuditSpec(ObjectType.USER, masked=frozenset({"password"}))
    EXTERNAL_SPECS[Group] = AuditSpec(ObjectType.GROUP)
    # A token is named by its key (the first characters, shown in the admin); its digest is
    # what authenticates it, so it is never recorded.
    EXTERNAL_SPECS[AuthToken] = AuditSpec(ObjectType.API_TOKEN, excluded=frozenset({"digest"}), id_attname="token_key")

    for model in apps.get_models():
        if spec_for(model) is not None:
            post_delete.connect(record_delete, sender=model, dispatch_uid=f"audit-delete-{model._meta.label}")
    for model in (user_model, Group):
        label = model._meta.label
        pre_save.connect(remember_before, sender=model, dispatch_uid=f"audit-before-{label}")
        post_save.connect(record_save, sender=model, dispatch_uid=f"audit-save-{label}")
    post_save.connect(record_token_created, sender=AuthToken, dispatch_uid="audit-token-created")
    for through in (user_model.groups.through, user_model.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(record_membership, sender=through, dispatch_uid=f"audit-m2m-{through._meta.label}")
