"""The values an audit record's enumerated columns take."""

from __future__ import annotations

from django.db import models


class Action(models.TextChoices):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class ObjectType(models.TextChoices):
    """What was changed."""

    LOCATION = "location"
    LOCATION_FACILITY = "location_facility"
    STORAGE = "storage"
    STORAGE_CONFIG = "storage_config"
    DATA_ITEM = "data_item"
    MIGRATION = "migration"
    DELETION = "deletion"
    PLACEMENT_RULE = "placement_rule"
    SCAN_FINDING = "scan_finding"
    API_TOKEN = "api_token", "API token"
    USER = "user"
    GROUP = "group"
    WEBHOOK = "webhook"
