"""Consistency scans of a storage against the catalogue.

A scan lists the storage with rclone (``core.rclone.list_stream``: streamed, never held in
memory) and compares it with the catalogue a chunk at a time: a listed file that no catalogued
copy covers (its uri, or a container's above it) is *dark*; a READY file copy listed with another
size, or another hash where the backend lists hashes cheaply, is *mismatched*; a READY copy the
listing never showed is *lost* (confirmed by asking for it once more). Lost and mismatched copies
go to ``integrity.repair.copy_found_bad``; dark files are only reported (``integrity.findings``
registers or quarantines them when an operator asks). The copies found are remembered as
``ScanMark`` rows, so that the lost ones are the READY copies without one; the marks go when the
scan ends. Each chunk's findings, marks and counts are written in one transaction with the scan's
position in the listing (``entries_listed``), so that a scan stopped anywhere resumes after the
last chunk it finished.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django_q.tasks import async_task

from catalogue.choices import ConfigType
from catalogue.models import Storage, StorageConfig
from catalogue.services.storages import storage_resolve
from core import rclone
from core.actor import Auth, Via, acting
from core.errors import DataLifecycleError, ObjectNotFound, UnmetPreconditionForOperation
from integrity.models import (
    SCAN_ACTIVE,
    CheckOrigin,
    Finding,
    Scan,
    ScanMark,
    ScanState,
)
from integrity.scanning import CHUNK, Scanner, ScanStopped, scan_finished

log = logging.getLogger(__name__)

SCAN_TASK = "integrity.tasks.scan_run"
SCAN_USER = "dlm-integrity"  # who a scheduled scan is requested by, and who acts in every scan
# A running scan whose heartbeat is older than this lost its worker: it may be taken over (resumed).
# Longer than the listing's stall timeout, the longest a live scan can go without a heartbeat.
STALE = timedelta(seconds=rclone.listing.STALL_TIMEOUT + 300)
REPORT_COLUMNS = (
    "finding_id", "kind", "path", "size", "expected_size", "uid", "status", "migration_id", "quarantine_path",
    "detail", "found_at",
)  # fmt: skip


# --- creating, cancelling, scheduling -----------------------------------------------------------


def scan_task_send(scan_id: int) -> None:
    """Put the scan's task in the queue now (only its id travels)."""
    async_task(SCAN_TASK, scan_id, task_name=f"scan-{scan_id}", save=False)


def scan_create(
    *,
    storage_name: str = "",
    storage_id: Any = None,
    user: str,
    origin: str = CheckOrigin.CLIENT,
    enqueue: bool = True,
) -> Scan:
    """Queue a consistency scan of a storage (named by name, which wins, or id); its row, handed to
    a worker when the caller's transaction commits (unless ``enqueue`` is false: the caller runs
    it with ``scan_run``). Refused (422, naming the storage's field) for
    an unknown or retired storage, one without an rclone config, or while a scan of it is queued
    or running."""
    field = "storage_name" if storage_name else "storage_id"
    storage = storage_resolve(storage_id=storage_id, storage_name=storage_name)
    if storage.storage_retired:
        raise UnmetPreconditionForOperation(f"Storage {storage.storage_name} is retired: not scanned", field=field)
    if not StorageConfig.objects.filter(storage=storage, config_type=ConfigType.RCLONE).exists():
        msg = f"No valid configuration for storage found: {storage.storage_name}"
        raise UnmetPreconditionForOperation(msg, field=field)
    with transaction.atomic():
        active = Scan.objects.filter(storage=storage, state__in=SCAN_ACTIVE).first()
        if active is not None:
            raise UnmetPreconditionForOperation(
                f"Scan {active.pk} of storage {storage.storage_name} is {active.state} already", field=field
            )
        try:
            with transaction.atomic():
                scan = Scan.objects.create(storage=storage, origin=origin, requested_by=user)
        except IntegrityError:  # another scan of it was queued at the same moment
            raise UnmetPreconditionForOperation(
                f"A scan of storage {storage.storage_name} is queued already", field=field
            ) from None
        if enqueue:
            transaction.on_commit(lambda: scan_task_send(scan.pk))
    return scan


def scan_get(scan_id: int) -> Scan:
    """The scan's row; 404 ``ObjectNotFound`` (naming ``scan_id``) when there is none."""
    scan = Scan.objects.select_related("storage").filter(pk=scan_id).first()
    if scan is None:
        raise ObjectNotFound(f"No scan with scan_id={scan_id}", field="scan_id")
    return scan


def scan_cancel(scan_id: int, *, user: str) -> Scan:
    """Stop a queued or running scan: CANCELLED at once (a worker running it stops at its next
    chunk, writing nothing more). Refused (422) for a scan that has ended."""
    scan = scan_get(scan_id)
    with transaction.atomic():
        done = Scan.objects.filter(pk=scan_id, state__in=SCAN_ACTIVE).update(
            state=ScanState.CANCELLED, finished_at=timezone.now(), error=f"cancelled by {user}"
        )
        if done:
            scan_finished(scan_id)
    if not done:
        msg = f"Scan {scan_id} has ended ({scan.state}): nothing to cancel"
        raise UnmetPreconditionForOperation(msg, field="scan_id")
    ScanMark.objects.filter(scan_id=scan_id).delete()
    scan.refresh_from_db()
    return scan


def scans_due() -> list[int]:
    """Queue a scan of every storage (not retired, with an rclone config) never scanned, or whose
    last completed scan finished more than ``DLM_SCAN_INTERVAL`` seconds ago, unless one is queued
    or running; and hand again to the workers the running scans whose worker died (they resume).
    The ids of the scans queued or resumed."""
    now = timezone.now()
    last = Scan.objects.filter(storage=OuterRef("pk"), state=ScanState.COMPLETED).order_by("-finished_at")
    configured = StorageConfig.objects.filter(config_type=ConfigType.RCLONE).values("storage_id")
    storages = (
        Storage.objects.filter(storage_retired=False, pk__in=configured)
        .exclude(scans__state__in=SCAN_ACTIVE)
        .annotate(last_scan=Subquery(last.values("finished_at")[:1]))
        .filter(Q(last_scan__isnull=True) | Q(last_scan__lt=now - timedelta(seconds=settings.DLM_SCAN_INTERVAL)))
        .order_by("storage_name")
    )
    started = []
    for storage in storages:
        try:
            started.append(scan_create(storage_id=storage.pk, user=SCAN_USER, origin=CheckOrigin.SCHEDULE).pk)
        except DataLifecycleError as exc:
            log.info("scan of %s not queued: %s", storage.storage_name, exc)
    stale = Scan.objects.filter(state=ScanState.RUNNING, heartbeat_at__lt=now - STALE)
    for scan_id in stale.values_list("pk", flat=True):
        transaction.on_commit(lambda scan_id=scan_id: scan_task_send(scan_id))
        started.append(scan_id)
    return started


# --- running ------------------------------------------------------------------------------------


def _claim(scan_id: int) -> Scan | None:
    """Take the scan for this worker: a queued one, a failed one (resumed), or a running one whose
    worker died (resumed). None when it is not to be run (ended, or running elsewhere)."""
    now = timezone.now()
    takeable = Q(state__in=(ScanState.QUEUED, ScanState.FAILED)) | Q(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - STALE), state=ScanState.RUNNING
    )
    try:
        with transaction.atomic():
            taken = Scan.objects.filter(takeable, pk=scan_id).update(
                state=ScanState.RUNNING, heartbeat_at=now, error="", finished_at=None
            )
    except IntegrityError:  # a failed scan resumed while another scan of the storage is active
        return None
    if not taken:
        return None
    scan = Scan.objects.select_related("storage").get(pk=scan_id)
    if scan.started_at is None:
        Scan.objects.filter(pk=scan_id).update(started_at=now)
        scan.started_at = now
    return scan


def scan_run(scan_id: int, *, progress: Callable[[Scan], None] | None = None) -> str:
    """Run the scan (from where it stopped, if it ran before) to its end; its end state. Safe to
    run twice: a scan that is running elsewhere, or has ended, is left as it is. ``progress`` is
    called with the scan's row after each chunk written."""
    scan = _claim(scan_id)
    if scan is None:
        return Scan.objects.filter(pk=scan_id).values_list("state", flat=True).first() or "unknown"
    with acting(username=SCAN_USER, user_id=None, auth=Auth.SYSTEM, via=Via.INTEGRITY, operation="scan_storage"):
        scanner = None
        try:
            scanner = Scanner(scan, progress)
            return scanner.run()
        except ScanStopped:
            return Scan.objects.filter(pk=scan_id).values_list("state", flat=True).first() or "unknown"
        except Exception as exc:
            text = rclone.mask(str(exc), scanner.secrets if scanner is not None else [])
            if not isinstance(exc, rclone.RcloneError | DataLifecycleError):
                log.exception("scan %s failed", scan_id)
                text = f"{type(exc).__name__}: {text}"
            if isinstance(exc, rclone.RcloneError) and exc.status == 404:
                text = f"The storage's root directory was not found: nothing was judged ({text})"
            with transaction.atomic():
                if Scan.objects.filter(pk=scan_id, state=ScanState.RUNNING).update(
                    state=ScanState.FAILED, error=text[:2000], finished_at=timezone.now(), heartbeat_at=timezone.now()
                ):
                    scan_finished(scan_id)
            return ScanState.FAILED


# --- the report ---------------------------------------------------------------------------------


def scan_report_lines(scan_id: int) -> Iterator[str]:
    """The scan's findings as CSV lines (header first), read from the database a chunk at a time.
    404 ``ObjectNotFound`` (naming ``scan_id``) for an unknown scan, before any line."""
    scan_get(scan_id)
    return _report_lines(scan_id)


def _report_lines(scan_id: int) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(values: Any) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(REPORT_COLUMNS)
    findings = Finding.objects.filter(scan_id=scan_id).order_by("finding_id")
    for finding in findings.iterator(chunk_size=CHUNK):
        yield line(
            (
                finding.finding_id, finding.kind, finding.path, _blank(finding.size), _blank(finding.expected_size),
                _blank(finding.item_id), finding.status, _blank(finding.migration_id), finding.quarantine_path,
                finding.detail, finding.found_at.isoformat(),
            )
        )  # fmt: skip


def _blank(value: Any) -> Any:
    return "" if value is None else value
