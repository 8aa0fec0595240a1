"""The values an audit record's enumerated columns take."""

from __future__ import annotations

from django.db import models


class Action(models.TextChoices):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class Via(models.TextChoices):
    """Where the change came in."""

    API = "api", "API"
    UI = "ui", "web UI"
    ADMIN = "admin"
    COMMAND = "command"
    WORKER = "worker", "copy-job worker"


class Auth(models.TextChoices):
    """How the actor proved who they are."""

    TOKEN = "token", "API token"
    OIDC_TOKEN = "oidc-token", "OpenID provider token"
    SESSION = "session", "logged-in browser"
    TRUSTED_NETWORK = "trusted-network", "trusted network (no credentials)"
    ANONYMOUS = "anonymous"  # an operation open to everyone
    COMMAND = "command"  # a management command, run on the server
    SYSTEM = "system"  # DLM itself


class ObjectType(models.TextChoices):
    """What was changed."""

    LOCATION = "location"
    LOCATION_FACILITY = "location_facility"
    STORAGE = "storage"
    STORAGE_CONFIG = "storage_config"
    DATA_ITEM = "data_item"
    MIGRATION = "migration"
    API_TOKEN = "api_token", "API token"
    USER = "user"
    GROUP = "group"
