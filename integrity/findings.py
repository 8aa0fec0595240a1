"""What an operator does with the dark files a scan found: register them as data items where they
are, or move them aside to ``.dlm-quarantine/<scan_id>/<path>`` under the storage's root. DLM
never deletes a dark file. Both are recorded in the audit trail under the acting operator."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from catalogue.models import Storage
from catalogue.services import data_items_register
from catalogue.services.storages import storage_remote
from core import rclone
from core.errors import DataLifecycleError, FieldError, FieldErrors, field_errors
from integrity.models import Finding, FindingKind, FindingStatus
from integrity.scanning import QUARANTINE_DIR

FIELD = "finding_ids"
MAX_FINDINGS = 1000  # at most this many findings acted on in one call


def _ids(finding_ids: Iterable) -> list[int]:
    ids = list(finding_ids) if isinstance(finding_ids, list | tuple) else None
    if ids is None or any(isinstance(value, bool) or not isinstance(value, int) for value in ids):
        raise FieldError(FIELD, "list_type", "Input should be a list of finding ids (integers)", finding_ids)
    if not ids:
        raise FieldError(FIELD, "too_short", "At least one finding id is required", ids)
    if len(ids) > MAX_FINDINGS:
        raise FieldError(FIELD, "too_long", f"At most {MAX_FINDINGS} findings at once", None)
    return list(dict.fromkeys(ids))


def _open_dark(ids: list[int]) -> list[Finding]:
    """The findings, locked, each an open dark file; refused together (422 naming ``finding_ids``)."""
    found = {f.pk: f for f in Finding.objects.select_for_update().filter(pk__in=ids).select_related("storage")}
    errors = []
    for index, finding_id in enumerate(ids):
        finding = found.get(finding_id)
        if finding is None:
            errors.append(FieldError(FIELD, "value_error", f"No finding with id {finding_id}", finding_id, at=(index,)))
        elif finding.kind != FindingKind.DARK or finding.status != FindingStatus.OPEN:
            msg = f"Finding {finding_id} is {finding.kind}, {finding.status}: only open dark files can be acted on"
            errors.append(FieldError(FIELD, "value_error", msg, finding_id, at=(index,)))
    if errors:
        raise FieldErrors(errors)
    return [found[finding_id] for finding_id in ids]


def _acted(finding: Finding, user: str, status: str, **fields) -> None:
    for name, value in fields.items():
        setattr(finding, name, value)
    finding.status, finding.acted_by, finding.acted_at = status, user, timezone.now()
    finding.save(update_fields=["status", "acted_by", "acted_at", *fields])


def findings_register(finding_ids: Iterable, *, user: str) -> list[Finding]:
    """Register open dark files as data items where they lie (READY, named by their path, size and
    md5 read through rclone), all of them or none; the findings REGISTERED with their uid."""
    ids = _ids(finding_ids)
    with transaction.atomic():
        findings = _open_dark(ids)
        by_storage: dict[Storage, list[Finding]] = {}
        for finding in findings:
            by_storage.setdefault(finding.storage, []).append(finding)
        for storage, group in by_storage.items():
            items = [{"item_name": finding.path, "uri": finding.path} for finding in group]
            try:
                registered = data_items_register(owner=user, items=items, storage_id=storage.storage_id)
            except (FieldError, FieldErrors) as exc:
                raise FieldErrors(
                    [FieldError(FIELD, "value_error", error.message, error.value) for error in field_errors(exc)]
                ) from None
            except DataLifecycleError as exc:
                raise FieldError(FIELD, "value_error", str(exc), ids) from None
            for finding, item in zip(group, registered, strict=True):
                _acted(finding, user, FindingStatus.REGISTERED, item=item)
    return findings


def findings_quarantine(finding_ids: Iterable, *, user: str) -> list[Finding]:
    """Move open dark files to ``.dlm-quarantine/<scan_id>/<path>`` under their storage's root
    directory (with rclone: the file is gone from its place); the findings QUARANTINED with that
    path. All are checked first; a move that fails stops there (those moved stay QUARANTINED) with
    a 422 naming ``finding_ids`` and rclone's reason."""
    ids = _ids(finding_ids)
    with transaction.atomic():
        findings = _open_dark(ids)  # checked together: refuse before anything moves
    moved = []
    for finding in findings:
        with transaction.atomic():
            finding = _open_dark([finding.pk])[0]  # still open: not moved by a racing caller
            storage = finding.storage
            config = storage_remote(storage)
            target = f"{QUARANTINE_DIR}/{finding.scan_id}/{finding.path}"
            try:
                rclone.move(
                    config,
                    rclone.full_path(storage.root_directory, finding.path),
                    rclone.full_path(storage.root_directory, target),
                )
            except rclone.RcloneError as exc:
                reason = "it is not there any more" if exc.status == 404 else str(exc)
                msg = f"Finding {finding.pk}: {finding.path} could not be moved to quarantine: {reason}"
                raise FieldError(FIELD, "value_error", msg, finding.pk) from None
            _acted(finding, user, FindingStatus.QUARANTINED, quarantine_path=target)
            moved.append(finding)
    return moved
