"""What makes a DLM model audited: its writes record themselves while an actor is set.

Django's signals do not fire for ``QuerySet.update()`` or ``bulk_create()``, which the services
use, so the model's QuerySet and ``save()`` record instead. Deletes are recorded by the
``post_delete`` signal (``audit.signals``), which fires for every deleted row, cascades too; the
overrides here only gather those records into one insert. With no actor set, every write is
Django's own, unchanged.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models, router, transaction

from audit import capture
from audit.capture import AuditSpec
from audit.services import batched
from core.actor import current_actor


class AuditedQuerySet(models.QuerySet):
    """``update()``, ``bulk_create()`` and ``delete()`` that record what they change."""

    def update(self, **kwargs: Any) -> int:
        actor = current_actor()
        if actor is None or not kwargs:
            return super().update(**kwargs)
        return capture.update_recorded(self, kwargs, actor)

    def bulk_create(self, objs, *args: Any, **kwargs: Any) -> list:
        actor = current_actor()
        if actor is None:
            return super().bulk_create(objs, *args, **kwargs)
        with transaction.atomic(using=self.db, savepoint=False):
            created = super().bulk_create(objs, *args, **kwargs)
            capture.created_recorded(list(created), actor, using=self.db)
        return created

    def delete(self) -> tuple[int, dict[str, int]]:
        if current_actor() is None:
            return super().delete()
        with transaction.atomic(using=self.db, savepoint=False), batched(self.db):
            return super().delete()


class AuditedModel(models.Model):
    """A model whose changes are recorded in the audit trail, as ``audit_spec`` says."""

    audit_spec: ClassVar[AuditSpec]

    objects = AuditedQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        actor = current_actor()
        if actor is None or args:  # positional arguments: deprecated by Django, left to it
            return super().save(*args, **kwargs)
        capture.save_recorded(self, actor, lambda: super(AuditedModel, self).save(**kwargs), **kwargs)
        return None

    def delete(self, using: str | None = None, keep_parents: bool = False) -> tuple[int, dict[str, int]]:
        if current_actor() is None:
            return super().delete(using=using, keep_parents=keep_parents)
        using = using or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False), batched(using):
            return super().delete(using=using, keep_parents=keep_parents)
