"""The catalogue: locations, storages, their rclone configs, and data items with every copy."""

from __future__ import annotations

import functools
import operator
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Func, Q
from django.utils import timezone

from audit.recording import AuditedModel, AuditedQuerySet, AuditSpec, ObjectType
from catalogue import events
from catalogue.choices import (
    PHASE_WEIGHT,
    ChecksumMethod,
    ConfigType,
    ItemState,
    ItemType,
    LocationCountry,
    LocationType,
    MimeType,
    PhaseType,
    StorageInterface,
    StorageType,
)
from core.crypto import EncryptedJSONField

# READY rows of objects whose phase is below their target (weights: ``catalogue.phases``).
BELOW_TARGET = Q(item_state=ItemState.READY) & functools.reduce(
    operator.or_,
    (
        Q(oid_phase=have, target_phase__in=[want for want in PhaseType.values if PHASE_WEIGHT[want] > weight])
        for have, weight in PHASE_WEIGHT.items()
        if have != PhaseType.SOLID
    ),
)

# ...of those, the objects the lifecycle has not found beyond help (``DataItem.lifecycle_hold``).
BELOW_TARGET_OPEN = BELOW_TARGET & Q(lifecycle_hold=False)


class UriHead(Func):
    """The head of a uri (its first 255 characters), as the (storage, uri) index holds it: a uri
    may be longer than an index entry can be. Look a path up by its head, then compare the whole
    uri. The length is written into the SQL, not passed as a parameter, so that the databases see
    the index's own expression."""

    template = "SUBSTR(%(expressions)s, 1, 255)"
    output_field = models.CharField()
    length = 255


# Copies not yet judged by the lifecycle since they expired (with ``uid_expiration`` passed).
EXPIRY_DUE = Q(expired=False) & ~Q(item_state=ItemState.DELETED)


def default_uid_expiration() -> datetime:
    """A new copy may be deleted after this (upstream: now + 24 h)."""
    return timezone.now() + settings.DLM_UID_EXPIRATION


def default_oid_expiration() -> datetime:
    """All copies of an object may be deleted after this (upstream: 2099-12-31 23:59:59)."""
    return settings.DLM_OID_EXPIRATION


class LocationFacility(AuditedModel):
    """A facility a location may belong to (lookup table, seeded with the upstream values)."""

    audit_spec = AuditSpec(ObjectType.LOCATION_FACILITY)

    id = models.CharField(primary_key=True, max_length=100)

    class Meta:
        db_table = "location_facility"
        ordering = ["id"]
        verbose_name_plural = "location facilities"

    def __str__(self) -> str:
        return self.id


class Location(AuditedModel):
    """A place that hosts storages."""

    audit_spec = AuditSpec(ObjectType.LOCATION)

    location_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    location_name = models.CharField(max_length=255, unique=True)
    location_type = models.CharField(max_length=32, choices=LocationType.choices)
    location_country = models.CharField(max_length=2, choices=LocationCountry.choices, null=True, blank=True)
    location_city = models.CharField(max_length=255, null=True, blank=True)
    location_facility = models.ForeignKey(
        LocationFacility,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_column="location_facility",
        related_name="locations",
    )
    location_check_url = models.CharField(max_length=1024, null=True, blank=True)
    location_last_check = models.DateTimeField(null=True, blank=True)
    location_date = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "location"
        ordering = ["location_name"]

    def __str__(self) -> str:
        return self.location_name


class Storage(AuditedModel):
    """A storage volume (disk, object store bucket, SFTP server…) at a location."""

    audit_spec = AuditSpec(ObjectType.STORAGE)

    storage_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    location = models.ForeignKey(Location, on_delete=models.PROTECT, db_column="location_id", related_name="storages")
    storage_name = models.CharField(max_length=255, unique=True)
    root_directory = models.CharField(max_length=4096, null=True, blank=True)
    storage_type = models.CharField(max_length=32, choices=StorageType.choices)
    storage_interface = models.CharField(max_length=32, choices=StorageInterface.choices)
    storage_phase = models.CharField(max_length=8, choices=PhaseType.choices, default=PhaseType.GAS)
    storage_capacity = models.BigIntegerField(default=-1)
    storage_use_pct = models.DecimalField(max_digits=4, decimal_places=1, default=0)
    storage_permissions = models.CharField(max_length=16, default="RW")
    storage_checked = models.BooleanField(default=False)
    storage_check_url = models.CharField(max_length=1024, null=True, blank=True)
    storage_last_checked = models.DateTimeField(null=True, blank=True)
    storage_num_objects = models.BigIntegerField(default=0)
    storage_available = models.BooleanField(default=True)
    storage_retired = models.BooleanField(default=False)
    storage_retire_date = models.DateTimeField(null=True, blank=True)
    storage_date = models.DateTimeField(default=timezone.now)
    # DLM's own: what the backend said of its space when last asked (rclone ``about``), where it
    # can say; ``storage_measure_error`` why it could not, else empty.
    storage_total_bytes = models.BigIntegerField(null=True, blank=True)
    storage_free_bytes = models.BigIntegerField(null=True, blank=True)
    storage_measured_at = models.DateTimeField(null=True, blank=True)
    storage_measure_error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "storage"
        ordering = ["storage_name"]

    def __str__(self) -> str:
        return self.storage_name


class StorageConfig(AuditedModel):
    """An rclone remote definition (``{name, type, parameters, root_path}``) for a storage.

    Secret options are kept apart from the rest, encrypted: ``config`` holds the definition
    without them, ``secrets`` the removed values with their places. ``core.secrets`` joins
    and masks them; nothing else should read ``secrets``.
    """

    audit_spec = AuditSpec(
        ObjectType.STORAGE_CONFIG, masked=frozenset({"secrets"}), masked_options=frozenset({"config"})
    )

    config_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    storage = models.ForeignKey(Storage, on_delete=models.CASCADE, db_column="storage_id", related_name="configs")
    config_type = models.CharField(max_length=16, choices=ConfigType.choices, default=ConfigType.RCLONE)
    config = models.JSONField()
    secrets = EncryptedJSONField(null=True, blank=True, editable=False)
    config_date = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "storage_config"
        ordering = ["config_date", "config_id"]
        indexes = [models.Index(fields=["storage", "config_type"], name="storage_config_storage_type")]

    def __str__(self) -> str:
        return f"{self.config_type} config {self.config.get('name', '?')} of {self.storage_id}"


class DataItemQuerySet(AuditedQuerySet):
    """Writes that set ``item_state`` to READY, CORRUPTED or DELETED tell of it (``catalogue.events``),
    for the rows that were not in that state already."""

    def update(self, **kwargs: Any) -> int:
        state = kwargs.get("item_state")
        if state not in events.STATE_EVENTS:
            return super().update(**kwargs)
        with transaction.atomic(using=self.db, savepoint=False):
            # the rows that change state, as they are, read (and locked) before the update
            changing = list(
                self.exclude(item_state=state).select_for_update(of=("self",)).values(*events.PAYLOAD_COLUMNS)
            )
            count = super().update(**kwargs)
            if changing:
                plain = {
                    k: v
                    for k, v in kwargs.items()
                    if k in events.PAYLOAD_COLUMNS and not hasattr(v, "resolve_expression")
                }
                events.items_state_changed([{**row, **plain} for row in changing])
        return count


class DataItem(AuditedModel):
    """One copy (``uid``) of a logical object (``oid``) on one storage, with the upstream columns."""

    audit_spec = AuditSpec(ObjectType.DATA_ITEM)
    objects = DataItemQuerySet.as_manager()

    uid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    oid = models.UUIDField(null=True, blank=True, db_index=True)
    item_version = models.IntegerField(default=1)
    # Lookups by name use the (item_name, storage) unique index below.
    item_name = models.CharField(max_length=1024, null=True, blank=True)
    item_tags = models.JSONField(null=True, blank=True)
    storage = models.ForeignKey(
        Storage,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_column="storage_id",
        related_name="items",
        db_index=False,  # served by the (storage, item_state) index
    )
    uri = models.CharField(max_length=4096, null=True, blank=True, default="inline://item_value")
    item_value = models.TextField(null=True, blank=True, default="")
    item_type = models.CharField(max_length=64, null=True, blank=True, default=ItemType.FILE)
    item_format = models.CharField(max_length=255, null=True, blank=True, default="unknown")
    item_encoding = models.CharField(max_length=255, null=True, blank=True, default="unknown")
    item_mime_type = models.CharField(
        max_length=64, choices=MimeType.choices, null=True, blank=True, default="application/octet-stream"
    )
    item_level = models.SmallIntegerField(null=True, blank=True, default=-1)
    uid_phase = models.CharField(max_length=8, choices=PhaseType.choices, null=True, blank=True, default=PhaseType.GAS)
    oid_phase = models.CharField(max_length=8, choices=PhaseType.choices, null=True, blank=True, default=PhaseType.GAS)
    item_state = models.CharField(
        max_length=16, choices=ItemState.choices, null=True, blank=True, default=ItemState.INITIALISED
    )  # indexed by (item_state, uid_expiration) below
    target_phase = models.CharField(
        max_length=8, choices=PhaseType.choices, null=True, blank=True, default=PhaseType.SOLID
    )
    uid_creation = models.DateTimeField(default=timezone.now, db_index=True)
    oid_creation = models.DateTimeField(null=True, blank=True)
    uid_expiration = models.DateTimeField(null=True, blank=True, default=default_uid_expiration, db_index=True)
    oid_expiration = models.DateTimeField(null=True, blank=True, default=default_oid_expiration)
    uid_deletion = models.DateTimeField(null=True, blank=True)
    oid_deletion = models.DateTimeField(null=True, blank=True)
    expired = models.BooleanField(null=True, blank=True, default=False)
    deleted = models.BooleanField(null=True, blank=True, default=False)
    last_access = models.DateTimeField(null=True, blank=True)
    last_check = models.DateTimeField(null=True, blank=True)
    item_checksum = models.CharField(max_length=255, null=True, blank=True)
    checksum_method = models.CharField(
        max_length=16, choices=ChecksumMethod.choices, null=True, blank=True, default=ChecksumMethod.NONE
    )
    item_owner = models.CharField(max_length=255, null=True, blank=True, default="SKA")
    item_group = models.CharField(max_length=255, null=True, blank=True, default="SKA")
    acl = models.JSONField(null=True, blank=True)
    activate_method = models.CharField(max_length=255, null=True, blank=True)
    item_size = models.BigIntegerField(null=True, blank=True)
    decompressed_size = models.BigIntegerField(null=True, blank=True)
    compression_method = models.CharField(max_length=255, null=True, blank=True)
    parents = models.UUIDField(null=True, blank=True, db_index=True)
    children = models.UUIDField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    # DLM's own: every hash rclone computed of the bytes when they were registered (by rclone's
    # names, e.g. {"md5": …, "xxh3": …}), carried to each copy; a copy is verified against them.
    hashes = models.JSONField(default=dict, blank=True)
    # DLM's own: the lifecycle found this object below its target phase and could do nothing for
    # it (no storage can take a copy): it is not looked at again until the object, its copies or
    # the storages change (``catalogue.phases.lifecycle_reconsider``). ``expired`` likewise marks a
    # copy the lifecycle found expired and had to keep.
    lifecycle_hold = models.BooleanField(default=False)
    # DLM's own: when the copy's bytes were last found as recorded (by its copy job's verification
    # or a fixity check, ``integrity``); the fixity schedule checks the oldest first.
    last_verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "data_item"
        ordering = ["uid_creation", "uid"]
        constraints = [
            models.UniqueConstraint(fields=["item_name", "storage"], name="data_item_unique_name_per_storage"),
        ]
        indexes = [
            # ...with the size, so that a storage's use is summed from the index alone
            models.Index(fields=["storage", "item_state", "item_size"], name="data_item_storage_use"),
            # a consistency scan's "which copy is at this path?" (the head of the uri: a uri may be
            # longer than an index entry can be)
            models.Index(F("storage"), UriHead("uri"), name="data_item_storage_uri"),
            # the fixity schedule's "which READY copies were verified longest ago?"
            models.Index(fields=["item_state", "last_verified_at"], name="data_item_fixity_due"),
            models.Index(fields=["item_state", "uid_expiration"], name="data_item_state_expiration"),
            models.Index(fields=["oid_expiration"], name="data_item_oid_expiration"),
            # The lifecycle's question "which objects are below their target phase?", answered
            # without reading every row.
            models.Index(fields=["oid"], name="data_item_below_target", condition=BELOW_TARGET_OPEN),
            # The lifecycle's "which copies have expired and are not judged yet?"
            models.Index(fields=["uid_expiration"], name="data_item_expiry_due", condition=EXPIRY_DUE),
        ]

    def __str__(self) -> str:
        return f"{self.item_name} ({self.uid})"
