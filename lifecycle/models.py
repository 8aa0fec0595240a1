"""The lifecycle's own rows: placement rules, the passes it ran, what it had to keep and why, and
the lease that lets one pass run at a time."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from audit.recording import AuditedModel, AuditSpec, ObjectType
from catalogue.choices import ItemType, PhaseType
from catalogue.models import Storage


class PlacementRule(AuditedModel):
    """Where copies of the items a rule matches must be, and for how long new ones are kept.

    An item matches when every condition given matches: its name (a glob: ``*`` any text, ``?``
    one character, ``[abc]`` one of; a pattern with no wildcard is a prefix), a READY copy on
    ``source_storage``, its ``item_type``, a metadata key (with ``metadata_value``: that value,
    compared as text). The rule then asks for ``copies`` copies on storages of phase
    ``min_phase`` or more, or a copy on ``storage`` (or both). ``lifetime``: how long a copy the
    rule makes is kept (its ``uid_expiration``); none: the source's.
    """

    audit_spec = AuditSpec(ObjectType.PLACEMENT_RULE, id_attname="name")

    rule_id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True, default="")
    # what it matches
    item_name_pattern = models.CharField(max_length=1024, blank=True, default="")
    source_storage = models.ForeignKey(
        Storage, on_delete=models.PROTECT, null=True, blank=True, related_name="rules_from"
    )
    item_type = models.CharField(max_length=16, choices=ItemType.choices, blank=True, default="")
    metadata_key = models.CharField(max_length=255, blank=True, default="")
    metadata_value = models.CharField(max_length=1024, blank=True, default="")
    # what it asks for
    copies = models.PositiveIntegerField(null=True, blank=True)
    min_phase = models.CharField(max_length=8, choices=PhaseType.choices, blank=True, default="")
    storage = models.ForeignKey(Storage, on_delete=models.PROTECT, null=True, blank=True, related_name="rules_to")
    lifetime = models.DurationField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "lifecycle_rule"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PassState(models.TextChoices):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"  # stopped by an error (``error`` says which)
    ABANDONED = "abandoned"  # its worker died: the lease ran out


class LifecyclePass(models.Model):
    """One pass of the lifecycle (or a dry run): when, how long, what it did, by step."""

    pass_id = models.BigAutoField(primary_key=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)  # seconds
    state = models.CharField(max_length=16, choices=PassState.choices, default=PassState.RUNNING)
    dry_run = models.BooleanField(default=False)
    worker = models.CharField(max_length=255, blank=True, default="")
    # {"oid-expiry": {"delete": 3, …}, "uid-expiry": {"delete": 1, "keep": 2}, "target-phase": {"copy": 4}, …}
    counts = models.JSONField(default=dict, blank=True)
    decisions = models.JSONField(default=list, blank=True)  # the first ones, with their reasons
    queries = models.PositiveIntegerField(null=True, blank=True)  # when counted (the benchmark)
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "lifecycle_pass"
        ordering = ["-pass_id"]

    def __str__(self) -> str:
        return f"lifecycle pass {self.pass_id} ({self.state})"


class HoldKind(models.TextChoices):
    EXPIRED_KEPT = "expired-kept", "expired copy kept"
    BELOW_TARGET = "below-target", "below target, nowhere to copy"


class Hold(models.Model):
    """Something the lifecycle should have done and could not, with the reason: an expired copy it
    kept (``subject``: the copy's uid) or an object below its target that no storage can take
    (``subject``: the oid). Looked at again when the object or the storages change."""

    kind = models.CharField(max_length=16, choices=HoldKind.choices)
    subject = models.UUIDField()
    oid = models.UUIDField(db_index=True)
    item_name = models.CharField(max_length=1024, blank=True, default="")
    reason = models.TextField()
    since = models.DateTimeField(default=timezone.now)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "lifecycle_hold"
        ordering = ["-checked_at", "id"]
        constraints = [models.UniqueConstraint(fields=["kind", "subject"], name="lifecycle_hold_one_per_subject")]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}: {self.reason}"


class Lease(models.Model):
    """Who runs the lifecycle pass now, until when: one pass at a time across workers and machines.
    A worker that dies leaves its lease to run out."""

    name = models.CharField(primary_key=True, max_length=32)
    holder = models.CharField(max_length=255, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "lifecycle_lease"
