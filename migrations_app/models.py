"""Jobs on copies' bytes: copy jobs (the upstream ``migration`` row) and deletion jobs (DLM's
``deletion`` row), with what an operator needs to follow and steer them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from audit.recording import AuditedModel, AuditSpec, ObjectType
from catalogue.models import Storage
from migrations_app.choices import JobOrigin
from migrations_app.states import ACTIVE, INITIAL, JobState


class Migration(AuditedModel):
    """One copy of an object's bytes from a source copy (uid) to a destination storage.

    The row is the truth about the job: its state, attempts, progress and last error. The first
    columns are upstream's ``migration`` row (what ``get_migration`` returns); ``complete`` and
    ``completion_date`` are set once the job has ended: completed (the destination copy
    verified), failed or cancelled; ``job_status.success`` says how.
    """

    audit_spec = AuditSpec(ObjectType.MIGRATION)

    migration_id = models.BigAutoField(primary_key=True)
    job_id = models.BigIntegerField(default=0)  # the attempt's rclone job id (0: none yet)
    oid = models.UUIDField(db_index=True)
    url = models.CharField(max_length=255, default="", blank=True)  # where the job runs (worker)
    source_storage = models.ForeignKey(
        Storage, on_delete=models.PROTECT, db_column="source_storage_id", related_name="outgoing_migrations"
    )
    destination_storage = models.ForeignKey(
        Storage, on_delete=models.PROTECT, db_column="destination_storage_id", related_name="incoming_migrations"
    )
    user = models.CharField(max_length=255, default="SKA")
    group = models.CharField(max_length=255, default="SKA")
    job_status = models.JSONField(null=True, blank=True)
    job_stats = models.JSONField(null=True, blank=True)
    complete = models.BooleanField(default=False)
    date = models.DateTimeField(default=timezone.now, db_index=True)
    completion_date = models.DateTimeField(null=True, blank=True)
    command = models.TextField(default="", blank=True)  # what was asked of rclone, without secrets

    source_uid = models.UUIDField()
    # The copy the job writes: one job at a time (below); a repair job writes again into the row
    # of a copy an earlier job made, so that the copy keeps its uid.
    destination_uid = models.UUIDField(db_index=True)
    # The destination copy's uri: kept here too, since a failed job's destination row is removed
    # and a retry makes it again.
    destination_path = models.CharField(max_length=4096, default="", blank=True)
    state = models.CharField(max_length=16, choices=JobState.choices, default=INITIAL, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(default="", blank=True)
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(null=True, blank=True)
    rate = models.FloatField(default=0.0)  # bytes/s of the running attempt
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a running attempt's last sign of life
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # a retry waits until then
    cancel_requested = models.BooleanField(default=False)
    origin = models.CharField(max_length=16, choices=JobOrigin.choices, default=JobOrigin.CLIENT)
    reason = models.TextField(default="", blank=True)  # why the job was asked for (a lifecycle rule…)

    class Meta:
        db_table = "migration"
        ordering = ["migration_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["destination_uid"],
                condition=Q(state__in=ACTIVE),
                name="migration_one_active_job_per_destination_uid",
            ),
            models.UniqueConstraint(
                fields=["oid", "destination_storage"],
                condition=Q(state__in=ACTIVE),
                name="migration_one_active_copy_per_destination",
            ),
            # The lifecycle makes one copy of an object at a time: a second one it asks for while
            # the first is pending is a duplicate of a decision already taken.
            models.UniqueConstraint(
                fields=["oid"],
                condition=Q(origin=JobOrigin.LIFECYCLE, state__in=ACTIVE),
                name="migration_one_lifecycle_copy_per_object",
            ),
        ]
        indexes = [models.Index(fields=["state", "heartbeat_at"], name="migration_state_heartbeat")]

    def __str__(self) -> str:
        return f"migration {self.migration_id} ({self.state})"


class Deletion(AuditedModel):
    """The removal of one copy's bytes (``uid``) from its storage, done by a worker as a job.

    The row is the truth about the job, as a copy job's is: its state, attempts and last error.
    Once the bytes are gone (verified), the copy and every item inside it are marked DELETED in
    the transaction that completes the job (``items_deleted`` counts them). The copy's name, type
    and uri are kept here, so that the row still says what was deleted when the catalogue's row
    has changed.
    """

    audit_spec = AuditSpec(ObjectType.DELETION)

    deletion_id = models.BigAutoField(primary_key=True)
    uid = models.UUIDField(db_index=True)  # the copy whose bytes are removed
    oid = models.UUIDField(null=True, blank=True, db_index=True)
    item_name = models.CharField(max_length=1024, default="", blank=True)
    item_type = models.CharField(max_length=64, default="", blank=True)
    path = models.CharField(max_length=4096, default="", blank=True)  # the copy's uri when asked
    storage = models.ForeignKey(
        Storage, on_delete=models.PROTECT, null=True, blank=True, db_column="storage_id", related_name="deletions"
    )  # null: the copy was on no storage (nothing to remove)
    state = models.CharField(max_length=16, choices=JobState.choices, default=INITIAL, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    url = models.CharField(max_length=255, default="", blank=True)  # where the job runs (worker)
    job_id = models.BigIntegerField(default=0)  # the attempt's rclone job id (a purge; 0: none)
    last_error = models.TextField(default="", blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a running attempt's last sign of life
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # a retry waits until then
    removal_started_at = models.DateTimeField(null=True, blank=True)  # when bytes first began to be removed
    finished_at = models.DateTimeField(null=True, blank=True)
    complete = models.BooleanField(default=False)
    date = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.CharField(max_length=255, default="SKA")
    origin = models.CharField(max_length=16, choices=JobOrigin.choices, default=JobOrigin.CLIENT)
    reason = models.TextField(default="", blank=True)  # why: "uid expired at …", "asked by operator"…
    forced = models.BooleanField(default=False)  # asked past the lifecycle's resilience check
    items_deleted = models.IntegerField(default=0)  # rows marked DELETED, descendants included

    class Meta:
        db_table = "deletion"
        ordering = ["deletion_id"]
        constraints = [
            models.UniqueConstraint(fields=["uid"], condition=Q(state__in=ACTIVE), name="deletion_one_active_per_copy"),
        ]
        indexes = [models.Index(fields=["state", "heartbeat_at"], name="deletion_state_heartbeat")]

    def __str__(self) -> str:
        return f"deletion {self.deletion_id} ({self.state})"
