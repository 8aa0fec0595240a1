"""Integrity's own rows: fixity checks of copies, consistency scans of storages with what they
found, and the per-storage clock that paces the checks."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from audit.recording import AuditedModel, AuditSpec, ObjectType
from catalogue.models import DataItem, Storage


class CheckOrigin(models.TextChoices):
    SCHEDULE = "schedule"  # the fixity schedule: every READY copy within DLM_FIXITY_PERIOD
    CLIENT = "client"  # verify_data_item, the web UI, the admin
    SCAN = "scan"  # a consistency scan found the copy's size or hash wrong


class CheckState(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"  # the bytes are as recorded
    CORRUPTED = "corrupted"  # there, but with another size or hash
    LOST = "lost"  # not there
    ERROR = "error"  # the check could not be made (the storage unreachable…): the copy unjudged
    CANCELLED = "cancelled"  # the copy stopped being READY before it was checked


CHECK_ACTIVE = (CheckState.QUEUED, CheckState.RUNNING)
CHECK_BAD = (CheckState.CORRUPTED, CheckState.LOST)


class FixityCheck(models.Model):
    """One re-verification of one READY copy: its bytes read (or the backend's hash asked for) and
    compared with the catalogue's size and checksum. A bad copy is marked CORRUPTED and, where a
    good READY copy of the object exists, repaired by a copy job (``repair_migration_id``)."""

    check_id = models.BigAutoField(primary_key=True)
    item = models.ForeignKey(DataItem, on_delete=models.CASCADE, db_column="uid", related_name="fixity_checks")
    storage = models.ForeignKey(Storage, on_delete=models.CASCADE, related_name="fixity_checks")
    origin = models.CharField(max_length=16, choices=CheckOrigin.choices, default=CheckOrigin.SCHEDULE)
    requested_by = models.CharField(max_length=255, blank=True, default="")
    state = models.CharField(max_length=16, choices=CheckState.choices, default=CheckState.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    hash_type = models.CharField(max_length=32, blank=True, default="")
    downloaded = models.BooleanField(default=False)  # the bytes were read back to hash them
    bytes_checked = models.BigIntegerField(default=0)
    detail = models.TextField(blank=True, default="")  # what was found, or why no check was made
    repair_migration_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "fixity_check"
        ordering = ["-check_id"]
        indexes = [
            models.Index(fields=["item", "-check_id"], name="fixity_check_item"),
            models.Index(fields=["state", "storage"], name="fixity_check_state"),
        ]
        constraints = [
            # one check of a copy waiting or under way at a time
            models.UniqueConstraint(
                fields=["item"], condition=models.Q(state__in=CHECK_ACTIVE), name="fixity_check_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"fixity check {self.check_id} ({self.state})"


class FixityClock(models.Model):
    """When the next check on a storage may start: the checks/s and bytes/s limits paced as one
    clock per storage, moved on by each check as it starts (``integrity.pacing``)."""

    storage = models.OneToOneField(Storage, on_delete=models.CASCADE, primary_key=True, related_name="fixity_clock")
    next_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "fixity_clock"


class ScanState(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"  # stopped by an error (``error`` says which): resumable
    CANCELLED = "cancelled"


SCAN_ACTIVE = (ScanState.QUEUED, ScanState.RUNNING)


class Scan(models.Model):
    """A consistency scan of one storage: its listing compared with the catalogue, streamed, with
    counts kept as it goes (so that a page shows its progress) and every finding a row."""

    scan_id = models.BigAutoField(primary_key=True)
    storage = models.ForeignKey(Storage, on_delete=models.CASCADE, related_name="scans")
    origin = models.CharField(max_length=16, choices=CheckOrigin.choices, default=CheckOrigin.SCHEDULE)
    requested_by = models.CharField(max_length=255, blank=True, default="")
    state = models.CharField(max_length=16, choices=ScanState.choices, default=ScanState.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    with_hashes = models.BooleanField(default=False)  # the listing carried the backend's hashes
    entries_listed = models.BigIntegerField(default=0)  # files read from the listing (resume point)
    copies_expected = models.BigIntegerField(default=0)  # READY copies catalogued on the storage
    matched = models.BigIntegerField(default=0)
    lost = models.BigIntegerField(default=0)
    dark = models.BigIntegerField(default=0)
    mismatched = models.BigIntegerField(default=0)
    bytes_listed = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "integrity_scan"
        ordering = ["-scan_id"]
        indexes = [models.Index(fields=["storage", "-scan_id"], name="integrity_scan_storage")]
        constraints = [
            models.UniqueConstraint(
                fields=["storage"], condition=models.Q(state__in=SCAN_ACTIVE), name="integrity_scan_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"scan {self.scan_id} of {self.storage_id} ({self.state})"


class ScanMark(models.Model):
    """A catalogued copy a scan found in the listing (so that the copies it did not find are the
    lost ones, without holding the listing in memory); removed when the scan ends."""

    id = models.BigAutoField(primary_key=True)
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="marks")
    uid = models.UUIDField()

    class Meta:
        db_table = "integrity_scan_mark"
        constraints = [models.UniqueConstraint(fields=["scan", "uid"], name="integrity_scan_mark_unique")]


class FindingKind(models.TextChoices):
    LOST = "lost"  # catalogued READY, not in the listing
    DARK = "dark"  # in the listing, not catalogued
    MISMATCH = "mismatch"  # in the listing with another size or hash than catalogued


class FindingStatus(models.TextChoices):
    OPEN = "open"
    REPAIRING = "repairing"  # a repair copy job was started (``migration_id``)
    UNREPAIRABLE = "unrepairable"  # no good copy to repair from: shown until an operator acts
    REGISTERED = "registered"  # a dark file registered by an operator (``uid``)
    QUARANTINED = "quarantined"  # a dark file moved aside by an operator (``quarantine_path``)


class Finding(AuditedModel):
    """What a scan found wrong: a lost or mismatched copy, or a dark file. Dark files are never
    deleted by DLM: an operator registers them or moves them to quarantine."""

    audit_spec = AuditSpec(ObjectType.SCAN_FINDING)

    finding_id = models.BigAutoField(primary_key=True)
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="findings")
    storage = models.ForeignKey(Storage, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=16, choices=FindingKind.choices)
    path = models.CharField(max_length=4096)  # relative to the storage's root directory
    size = models.BigIntegerField(null=True, blank=True)  # what the listing said
    expected_size = models.BigIntegerField(null=True, blank=True)  # what the catalogue says
    detail = models.TextField(blank=True, default="")
    item = models.ForeignKey(
        DataItem, on_delete=models.SET_NULL, null=True, blank=True, db_column="uid", related_name="findings"
    )
    status = models.CharField(max_length=16, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    migration_id = models.BigIntegerField(null=True, blank=True)
    quarantine_path = models.CharField(max_length=4096, blank=True, default="")
    acted_by = models.CharField(max_length=255, blank=True, default="")
    acted_at = models.DateTimeField(null=True, blank=True)
    found_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "integrity_finding"
        ordering = ["finding_id"]
        indexes = [
            models.Index(fields=["scan", "kind", "finding_id"], name="integrity_finding_scan"),
            models.Index(fields=["storage", "kind", "status"], name="integrity_finding_storage"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"
