"""``manage.py scan_storage NAME``: a consistency scan of one storage, run here and now."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from core.actor import acting_command
from core.errors import DataLifecycleError
from integrity import scans
from integrity.models import Scan, ScanState

PROGRESS_EVERY = 2.0  # seconds between progress lines


class Command(BaseCommand):
    help = (
        "Scan a storage: list it with rclone and compare it with the catalogue (lost, dark and "
        "mismatched files; lost and mismatched copies repaired). Runs in this process and prints "
        "its progress and counts; --resume SCAN_ID continues a scan that failed or was interrupted."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("storage_name", help="The storage to scan.")
        parser.add_argument("--resume", type=int, metavar="SCAN_ID", help="Continue this scan of the storage.")

    def handle(self, *args, storage_name: str, resume: int | None, **options) -> None:
        try:
            scan_id = self._scan_id(storage_name, resume)
        except DataLifecycleError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"scan {scan_id} of {storage_name}")
        last = [time.monotonic()]

        def progress(scan: Scan) -> None:
            if time.monotonic() - last[0] >= PROGRESS_EVERY:
                last[0] = time.monotonic()
                self.stdout.write(self._line(scan))

        state = scans.scan_run(scan_id, progress=progress)
        scan = Scan.objects.get(pk=scan_id)
        self.stdout.write(self._line(scan))
        if state != ScanState.COMPLETED:
            raise CommandError(f"scan {scan_id} {state}: {scan.error or 'not run (running elsewhere?)'}")

    def _scan_id(self, storage_name: str, resume: int | None) -> int:
        if resume is not None:
            scan = Scan.objects.filter(pk=resume, storage__storage_name=storage_name).first()
            if scan is None:
                raise CommandError(f"No scan {resume} of storage {storage_name}")
            if scan.state in (ScanState.COMPLETED, ScanState.CANCELLED):
                raise CommandError(f"Scan {resume} has ended ({scan.state}): nothing to resume")
            return scan.pk
        with acting_command("scan_storage") as actor:  # run here: no task for a worker
            scan = scans.scan_create(storage_name=storage_name, user=actor.username or "command", enqueue=False)
        return scan.pk

    @staticmethod
    def _line(scan: Scan) -> str:
        return (
            f"  {scan.state}: {scan.entries_listed} listed, {scan.matched}/{scan.copies_expected} copies found, "
            f"{scan.lost} lost, {scan.dark} dark, {scan.mismatched} mismatched"
            + (f" ({scan.error})" if scan.error else "")
        )
