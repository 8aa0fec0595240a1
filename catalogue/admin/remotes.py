"""A storage's rclone remote definitions in the admin console: edited as fields
(``catalogue.admin_forms``), tried against the real remote and stored by the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin_site import admin_link
from catalogue.admin.writes import ServiceAdmin
from catalogue.admin_forms import ROWS_MIN, StorageConfigForm, parameter_rows, row_fields, storage_config_form
from catalogue.models import StorageConfig
from catalogue.services.storages import (
    storage_config_check,
    storage_config_create,
    storage_config_delete,
    storage_config_update,
)
from core.crypto import SecretDecryptionError
from core.secrets import MASK, mask_secrets


@admin.register(StorageConfig)
class StorageConfigAdmin(ServiceAdmin):
    """A storage's rclone remote definitions (the first is the storage's remote). Edited as fields,
    tried against the real remote before being stored; secret options are never shown."""

    # The service tries the remote (up to DLM_RCLONE_TIMEOUT) and then writes in its own short
    # transaction: no request-long one.
    one_transaction = False

    list_display = ("remote_name", "remote_type", "storage_link", "config_type", "root_path", "config_date")
    list_filter = ("config_type", "storage")
    list_select_related = ("storage",)
    search_fields = ("storage__storage_name",)
    actions = ["check_remote"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Lists, deletes and links need no secret: a row whose secrets no key decrypts still shows.
        return super().get_queryset(request).defer("secrets")

    def form_for(self, request: HttpRequest, obj: StorageConfig | None = None, change: bool = False, **kwargs: Any):
        return storage_config_form(rows=parameter_rows(obj), adding=obj is None)

    def service_create(self, obj: StorageConfig, form: StorageConfigForm) -> StorageConfig:
        return storage_config_create(
            config=form.definition,
            storage_id=form.cleaned_data["storage"].pk,
            config_type=form.cleaned_data["config_type"],
            check_remote=True,
        )

    def service_update(self, obj: StorageConfig, form: StorageConfigForm) -> StorageConfig:
        return storage_config_update(
            config_id=obj.pk, config=form.definition, secrets_kept=form.secrets_kept, check_remote=True
        )

    def service_delete(self, obj: StorageConfig) -> None:
        storage_config_delete(config_id=obj.pk)

    def get_fieldsets(self, request: HttpRequest, obj: StorageConfig | None = None):
        rows = parameter_rows(obj)
        head = ("storage", "config_type") if obj is None else ("storage_link", "config_type", "config_date")
        fieldsets: list[tuple[str | None, dict[str, Any]]] = [
            (None, {"fields": head}),
            ("rclone remote", {"fields": ("name", "type", "root_path")}),
            (
                "Options",
                {
                    "fields": [row_fields(index) for index in range(max(rows, ROWS_MIN))],
                    "description": (
                        "rclone's options for this backend, one a row (an empty name: no option). Secret "
                        "options (secret_access_key, pass, token…) are stored encrypted and never shown: "
                        "leave one empty to keep it, type a new value to replace it, tick remove to drop it."
                    ),
                },
            ),
        ]
        if obj is not None:
            fieldsets.append(("Stored", {"fields": ("stored_secrets", "other_keys")}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: StorageConfig | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return ("storage_link", "config_type", "config_date", "stored_secrets", "other_keys")

    def construct_change_message(self, request: HttpRequest, form, formsets, add: bool = False):
        # Which fields changed, never their values (the history shows it).
        if add:
            return [{"added": {}}]
        changed = sorted(
            {"options" if name.startswith("param_") else str(form.fields[name].label) for name in form.changed_data}
        )
        return [{"changed": {"fields": changed}}] if changed else []

    @admin.display(description="remote", ordering="config__name")
    def remote_name(self, config: StorageConfig) -> str:
        return str(config.config.get("name", "")) if isinstance(config.config, dict) else ""

    @admin.display(description="rclone type")
    def remote_type(self, config: StorageConfig) -> str:
        return str(config.config.get("type", "")) if isinstance(config.config, dict) else ""

    @admin.display(description="root path")
    def root_path(self, config: StorageConfig) -> str:
        return str(config.config.get("root_path", "")) if isinstance(config.config, dict) else ""

    @admin.display(description="storage", ordering="storage__storage_name")
    def storage_link(self, config: StorageConfig) -> str:
        return admin_link(config.storage)

    @admin.display(description="secret options")
    def stored_secrets(self, config: StorageConfig) -> str:
        try:
            stored = config.secrets or []
        except SecretDecryptionError as exc:
            return f"Unreadable ({exc}): enter them again to replace them."
        return ", ".join(f"{'.'.join(path)} = {MASK}" for path, _ in stored) or "none"

    @admin.display(description="other keys")
    def other_keys(self, config: StorageConfig) -> str:
        others = {
            key: value for key, value in config.config.items() if key not in ("name", "type", "parameters", "root_path")
        }
        if not others:
            return "none"
        try:
            secrets = config.secrets or []
        except SecretDecryptionError:
            secrets = []
        return str(mask_secrets(others, [s for s in secrets if s[0][0] in others]))

    @admin.action(description="Check against the remote (rclone stats its root)")
    def check_remote(self, request: HttpRequest, queryset: QuerySet[StorageConfig]) -> None:
        for config in queryset.select_related("storage"):
            label = f"{config.storage.storage_name} / {self.remote_name(config) or config.pk}"
            result = storage_config_check(config=config)
            if result.reachable:
                self.message_user(request, f"{label}: reachable", messages.SUCCESS)
            else:
                self.message_user(request, f"{label}: not reachable: {result.error}", messages.ERROR)
