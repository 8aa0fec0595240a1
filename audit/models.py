"""The audit trail: one append-only row per changed object."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from audit.choices import Action, ObjectType
from core.actor import Auth, Via


class AppendOnlyError(Exception):
    """An audit record was about to be changed or deleted: the trail is append-only."""


class AuditRecordQuerySet(models.QuerySet):
    """Reads of the trail. Updates and deletes are refused (the database refuses them too)."""

    def update(self, **kwargs):
        raise AppendOnlyError("audit records cannot be changed")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError("audit records cannot be changed")

    def delete(self):
        raise AppendOnlyError("audit records cannot be deleted")


class AuditRecord(models.Model):
    """Who changed which object, when, how, and its values before and after.

    ``changes`` is ``{field: [before, after]}`` for an update and ``{field: value}`` (the whole
    row) for a create or a delete. Secret values never reach it: they are shown as ``"***"``.
    ``user_id`` is no foreign key, so that records outlive the accounts they name.
    """

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    username = models.CharField(max_length=150, blank=True)
    user_id = models.IntegerField(null=True, blank=True)
    auth = models.CharField(max_length=32, choices=Auth.choices)
    via = models.CharField(max_length=16, choices=Via.choices)
    operation = models.CharField(max_length=100, blank=True)  # API operation id, "admin:<url name>"…
    action = models.CharField(max_length=8, choices=Action.choices)
    object_type = models.CharField(max_length=32, choices=ObjectType.choices)
    object_id = models.CharField(max_length=255)
    changes = models.JSONField(default=dict)
    request_id = models.CharField(max_length=64, blank=True)  # groups the records of one request
    remote_addr = models.CharField(max_length=64, null=True, blank=True)

    objects = AuditRecordQuerySet.as_manager()

    class Meta:
        db_table = "audit_record"
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_record_object"),
            models.Index(fields=["username", "at"], name="audit_record_username_at"),
            models.Index(fields=["operation", "at"], name="audit_record_operation_at"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id} by {self.username or '?'} ({self.via})"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit records cannot be changed")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit records cannot be deleted")
