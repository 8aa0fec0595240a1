"""Integrity in the admin console: fixity checks, scans and their findings, read-only rows steered
only by actions that call the integrity services as the API does ("Verify again" queues a fixity
check, "Scan again" a scan, "Register" and "Quarantine" act on dark files). Each refusal is shown
as a message naming the row, never as an error page."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import truncatechars

from accounts.admin_site import CappedCountPaginator, changelist_link, links
from catalogue.admin import DATA_ITEM_LINKS, STORAGE_LINKS
from catalogue.models import DataItem, Storage
from core.errors import DataLifecycleError, FieldError, FieldErrors, field_errors
from integrity import fixity, scans
from integrity.models import CheckOrigin, Finding, FindingKind, FindingStatus, FixityCheck, Scan

# Rows one action may act on at once (each is its own service call).
ACTION_MAX = 500
TOO_MANY = f"Select at most {ACTION_MAX} rows at a time: nothing was done."
_REFUSALS = (DataLifecycleError, FieldError, FieldErrors)


def _reason(exc: Exception) -> str:
    if isinstance(exc, FieldError | FieldErrors):
        shown = (f"{error.field}: {error.message}" if error.field else error.message for error in field_errors(exc))
        return "; ".join(shown)
    return exc.message if isinstance(exc, DataLifecycleError) else str(exc)


def _each(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    keys: list[Any],
    call: Callable[[Any], Any],
    *,
    label: Callable[[Any], str],
    done: str,
) -> None:
    """``call`` for each of ``keys``: one message for those done, one per refusal saying why."""
    if len(keys) > ACTION_MAX:
        model_admin.message_user(request, TOO_MANY, messages.ERROR)
        return
    succeeded = []
    for key in keys:
        try:
            result = call(key)
        except _REFUSALS as exc:
            model_admin.message_user(request, f"{label(key)}: refused: {_reason(exc)}", messages.WARNING)
        else:
            succeeded.append(label(result))
    if succeeded:
        model_admin.message_user(request, f"{done}: {', '.join(succeeded)}", messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the integrity workers write: seen, and acted on through actions only."""

    show_full_result_count = False
    paginator = CappedCountPaginator

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record of what was checked and found


@admin.register(FixityCheck)
class FixityCheckAdmin(ReadOnlyAdmin):
    """Fixity checks, newest first; "Verify again" queues a new check of each selected copy."""

    list_display = ("check_id", "item", "storage", "state", "origin", "created_at", "started_at", "finished_at")
    list_display += ("repair_migration_id", "short_detail")
    list_filter = ("state", "origin", "storage")
    list_select_related = ("item", "storage")
    search_fields = ("=check_id",)  # and the copy's uid: get_search_results
    search_help_text = "A check id, or the uid of the copy checked (exact)."
    ordering = ("-check_id",)
    actions = ["verify_again"]
    fields = (
        "check_id",
        "item",
        "storage",
        "state",
        "origin",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "hash_type",
        "downloaded",
        "bytes_checked",
        "detail",
        "repair_migration_id",
    )
    readonly_fields = fields

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isascii() and term.isdigit() and int(term) < 2**63:
            return queryset.filter(check_id=int(term)), False
        try:
            return queryset.filter(item_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.none(), False

    @admin.display(description="detail")
    def short_detail(self, check: FixityCheck) -> str:
        return truncatechars(check.detail, 80)

    @admin.action(description="Verify again: queue a fixity check of each selected copy")
    def verify_again(self, request: HttpRequest, queryset: QuerySet[FixityCheck]) -> None:
        uids = list(dict.fromkeys(queryset.order_by("-check_id").values_list("item_id", flat=True)[: ACTION_MAX + 1]))
        user = request.user.get_username()
        _each(
            self,
            request,
            uids,
            lambda uid: fixity.fixity_check_create(uid=uid, user=user, origin=CheckOrigin.CLIENT),
            label=lambda row: f"check {row.check_id}" if isinstance(row, FixityCheck) else f"copy {row}",
            done="Queued",
        )


@admin.register(Scan)
class ScanAdmin(ReadOnlyAdmin):
    """Consistency scans, newest first, with their counts; "Scan again" queues a new scan of each
    selected scan's storage."""

    list_display = ("scan_id", "storage", "state", "origin", "created_at", "finished_at", "copies_expected")
    list_display += ("matched", "lost", "mismatched", "dark", "short_error")
    list_filter = ("state", "origin", "storage")
    list_select_related = ("storage",)
    search_fields = ("=scan_id",)
    ordering = ("-scan_id",)
    actions = ["scan_again"]
    fields = (
        "scan_id",
        "storage",
        "state",
        "origin",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "with_hashes",
        "entries_listed",
        "bytes_listed",
        "copies_expected",
        "matched",
        "lost",
        "mismatched",
        "dark",
        "error",
    )
    readonly_fields = fields

    @admin.display(description="error")
    def short_error(self, scan: Scan) -> str:
        return truncatechars(scan.error, 80)

    @admin.action(description="Scan again: queue a new scan of each selected scan's storage")
    def scan_again(self, request: HttpRequest, queryset: QuerySet[Scan]) -> None:
        storage_ids = list(dict.fromkeys(queryset.values_list("storage_id", flat=True)[: ACTION_MAX + 1]))
        names = dict(Storage.objects.filter(pk__in=storage_ids).values_list("pk", "storage_name"))
        user = request.user.get_username()
        _each(
            self,
            request,
            storage_ids,
            lambda storage_id: scans.scan_create(storage_id=storage_id, user=user, origin=CheckOrigin.CLIENT),
            label=lambda row: f"scan {row.scan_id}" if isinstance(row, Scan) else f"storage {names.get(row, row)}",
            done="Queued",
        )


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    """What the scans found. Dark files are registered or moved to quarantine by the scans'
    services (audited as the acting admin); lost and mismatched copies are repaired by jobs."""

    list_display = ("finding_id", "kind", "status", "storage", "path", "size", "expected_size", "item")
    list_display += ("migration_id", "acted_by", "found_at")
    list_filter = ("kind", "status", "storage")
    list_select_related = ("storage", "item")
    search_fields = ("path",)
    search_help_text = "The beginning of a path on the storage."
    ordering = ("-finding_id",)
    actions = ["register", "quarantine"]
    fields = (
        "finding_id",
        "scan",
        "storage",
        "kind",
        "status",
        "path",
        "size",
        "expected_size",
        "detail",
        "item",
        "migration_id",
        "quarantine_path",
        "acted_by",
        "acted_at",
        "found_at",
    )
    readonly_fields = fields

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        return (queryset.filter(path__startswith=term), False) if term else (queryset, False)

    @admin.action(description="Register the selected dark files as items")
    def register(self, request: HttpRequest, queryset: QuerySet[Finding]) -> None:
        self._dark(request, queryset, "register")

    @admin.action(description="Quarantine the selected dark files (moved aside, never deleted)")
    def quarantine(self, request: HttpRequest, queryset: QuerySet[Finding]) -> None:
        self._dark(request, queryset, "quarantine")

    def _dark(self, request: HttpRequest, queryset: QuerySet[Finding], action: str) -> None:
        from integrity import findings  # noqa: PLC0415 (the scans' services, loaded on use)

        rows = list(queryset.order_by("finding_id").values_list("finding_id", "kind", "status")[: ACTION_MAX + 1])
        if len(rows) > ACTION_MAX:
            self.message_user(request, TOO_MANY, messages.ERROR)
            return
        ids = [fid for fid, kind, status in rows if kind == FindingKind.DARK and status == FindingStatus.OPEN]
        skipped = len(rows) - len(ids)
        if skipped:
            self.message_user(request, f"{skipped} left alone: only open dark files are acted on.", messages.WARNING)
        if not ids:
            return
        act = findings.findings_register if action == "register" else findings.findings_quarantine
        try:
            done = act(ids, user=request.user.get_username())
        except _REFUSALS as exc:
            self.message_user(request, f"Refused: {_reason(exc)}", messages.ERROR)
            return
        what = "Registered" if action == "register" else "Moved to quarantine"
        self.message_user(request, f"{what}: {', '.join(row.path for row in done)}", messages.SUCCESS)


def _storage_links(storage: Storage) -> str:
    return links(
        changelist_link(Scan, "scans", storage__storage_id__exact=storage.pk),
        changelist_link(Finding, "open findings", storage__storage_id__exact=storage.pk, status__exact="open"),
        changelist_link(FixityCheck, "fixity checks", storage__storage_id__exact=storage.pk),
    )


def _data_item_links(item: DataItem) -> str:
    return changelist_link(FixityCheck, "fixity checks of this copy", q=str(item.uid))


STORAGE_LINKS.append(_storage_links)
DATA_ITEM_LINKS.append(_data_item_links)
