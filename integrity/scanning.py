"""One run of a consistency scan (``integrity.scans`` creates, claims and schedules scans): the
storage's listing compared with the catalogue a chunk at a time, then the copies it did not show.

Each chunk's findings, marks and counts are written in one transaction with the scan's position
in the listing (``entries_listed``), so that a scan stopped anywhere resumes after the last chunk
it finished; a chunk read again after a resume finds nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from catalogue.choices import ItemState, ItemType
from catalogue.models import DataItem, UriHead
from catalogue.services.storages import storage_remote
from core import rclone
from core.errors import DataLifecycleError, UnmetPreconditionForOperation
from core.events import SCAN_FINISHED, emit
from core.rows import row_of
from integrity.models import Finding, FindingKind, FindingStatus, Scan, ScanMark, ScanState
from integrity.repair import copy_found_bad
from migrations_app.models import Deletion
from migrations_app.states import ACTIVE

CHUNK = 2000  # listed files compared with the catalogue per transaction
QUARANTINE_DIR = ".dlm-quarantine"  # under the storage's root: dark files set aside by an operator


class ScanStopped(Exception):
    """The scan's row is no longer RUNNING under this worker (cancelled): stop without writing."""


def _ignored(path: str) -> bool:
    """Files DLM itself keeps beside the catalogued ones: the quarantine, and rclone's partial
    transfers of a copy being written."""
    return path.startswith(QUARANTINE_DIR + "/") or path.endswith(".partial")


def _uri_key(uri: str) -> str:
    return rclone.remotes.remote_of(uri)


def _prefixes(path: str) -> list[str]:
    """``a``, ``a/b``, ``a/b/c`` for ``a/b/c``: the uris that cover the file (its own, and its
    directories', where a container may be registered)."""
    parts = path.split("/")
    return ["/".join(parts[: index + 1]) for index in range(len(parts))]


# A scan as the API answers it (JSON key, ORM attribute), with its storage's name.
SCAN_COLUMNS = [
    ("scan_id", "scan_id"),
    ("storage_id", "storage_id"),
    ("origin", "origin"),
    ("requested_by", "requested_by"),
    ("state", "state"),
    ("created_at", "created_at"),
    ("started_at", "started_at"),
    ("finished_at", "finished_at"),
    ("heartbeat_at", "heartbeat_at"),
    ("with_hashes", "with_hashes"),
    ("entries_listed", "entries_listed"),
    ("copies_expected", "copies_expected"),
    ("matched", "matched"),
    ("lost", "lost"),
    ("dark", "dark"),
    ("mismatched", "mismatched"),
    ("bytes_listed", "bytes_listed"),
    ("error", "error"),
]


def scan_row(scan: Scan) -> dict[str, Any]:
    return {**row_of(scan, SCAN_COLUMNS), "storage_name": scan.storage.storage_name}


def scan_finished(scan_id: int) -> None:
    """Emit ``dlm.scan.finished`` with the scan's row as it is now (in this transaction)."""
    scan = Scan.objects.select_related("storage").get(pk=scan_id)
    emit(SCAN_FINISHED, subjects={"scan_id": scan_id, "storage_id": scan.storage_id}, payload=scan_row(scan))


class Scanner:
    """One run of a claimed scan: the listing compared a chunk at a time, then the lost copies."""

    def __init__(self, scan: Scan, progress: Callable[[Scan], None] | None = None) -> None:
        self.scan = scan
        self.progress = progress
        self.storage = scan.storage
        self.secrets: list[str] = []
        self.config = storage_remote(self.storage)
        self.secrets = rclone.secret_values(self.config)
        self.resumed = scan.entries_listed > 0
        self.with_hashes = scan.with_hashes if self.resumed else rclone.hashes_cheap(self.config)
        self.position = 0  # entries of the listing read so far

    def run(self) -> str:
        scan = self.scan
        if not self.resumed:
            expected = DataItem.objects.filter(storage=self.storage, item_state=ItemState.READY).count()
            Scan.objects.filter(pk=scan.pk).update(copies_expected=expected, with_hashes=self.with_hashes)
            scan.copies_expected = expected
        entries = iter(rclone.list_stream(self.config, self.storage.root_directory or "", hashes=self.with_hashes))
        chunk: list[dict[str, Any]] = []
        try:
            for entry in entries:
                self.position += 1
                if self.position <= scan.entries_listed:
                    continue  # compared by the run that stopped
                chunk.append(entry)
                if len(chunk) >= CHUNK:
                    self._compare(chunk)
                    chunk = []
        finally:
            entries.close()  # type: ignore[attr-defined]
        self._compare(chunk)
        if self.position == 0 and scan.copies_expected:
            raise UnmetPreconditionForOperation(
                "The listing is empty though copies are catalogued here (an unmounted disk?): nothing was judged lost"
            )
        self._lost()
        with transaction.atomic():
            self._progress(state=ScanState.COMPLETED, finished_at=timezone.now())
            ScanMark.objects.filter(scan=scan).delete()
            scan_finished(scan.pk)
        return ScanState.COMPLETED

    def _progress(self, **fields: Any) -> None:
        """Write the counts (and ``fields``) to the scan's row; ``ScanStopped`` if it was cancelled."""
        matched = ScanMark.objects.filter(scan=self.scan).count()
        done = Scan.objects.filter(pk=self.scan.pk, state=ScanState.RUNNING).update(
            matched=matched, heartbeat_at=timezone.now(), **fields
        )
        if not done:
            raise ScanStopped()
        if self.progress is not None:
            self.progress(Scan.objects.get(pk=self.scan.pk))

    def _compare(self, entries: list[dict[str, Any]]) -> None:
        """One chunk of the listing against the catalogue, written with the scan's new position."""
        listed = [entry for entry in entries if not _ignored(entry["Path"])]
        by_uri = self._covering(listed)
        marks: set = set()
        dark: list[Finding] = []
        mismatched: list[Finding] = []
        for entry in listed:
            path = entry["Path"]
            covering = [row for prefix in _prefixes(path) for row in by_uri.get(prefix, ())]
            if not covering:
                dark.append(self._finding(FindingKind.DARK, path, size=entry.get("Size")))
                continue
            for row in covering:
                if row[3] != ItemState.READY:
                    continue
                marks.add(row[0])
                problem = self._mismatch(row, entry) if _uri_key(row[1]) == path else None
                if problem:
                    mismatched.append(
                        self._finding(FindingKind.MISMATCH, path, size=entry.get("Size"), expected_size=row[4],
                                      detail=problem, item_id=row[0])
                    )  # fmt: skip
        with transaction.atomic():
            if self.resumed:  # a chunk compared before the stop may come again: found once
                known = set(Finding.objects.filter(scan=self.scan, path__in=[f.path for f in dark + mismatched])
                            .values_list("kind", "path"))  # fmt: skip
                dark = [f for f in dark if (f.kind, f.path) not in known]
                mismatched = [f for f in mismatched if (f.kind, f.path) not in known]
            self._mark(marks)
            Finding.objects.bulk_create(dark)
            for finding in mismatched:
                finding.save()
                self._repair(finding, lost=False)
            self._progress(
                entries_listed=self.position,
                dark=F("dark") + len(dark),
                mismatched=F("mismatched") + len(mismatched),
                bytes_listed=F("bytes_listed") + sum(int(entry.get("Size") or 0) for entry in entries),
            )

    def _covering(self, listed: list[dict[str, Any]]) -> dict[str, list[tuple]]:
        """The catalogued copies (not DELETED) whose uri is a listed file's path or one of its
        directories, by uri. Looked up by name first (the indexed column, and most items are named
        by their uri); the paths no row found so covers are then looked up by uri."""
        rows = DataItem.objects.filter(storage=self.storage).exclude(item_state=ItemState.DELETED)
        columns = ("uid", "uri", "item_type", "item_state", "item_size", "item_checksum", "checksum_method", "hashes")
        by_uri: dict[str, list[tuple]] = {}
        candidates = {prefix for entry in listed for prefix in _prefixes(entry["Path"])}
        if not candidates:
            return by_uri
        for row in rows.filter(item_name__in=candidates).values_list(*columns):
            by_uri.setdefault(_uri_key(row[1]), []).append(row)
        rest = {
            prefix
            for entry in listed
            if not any(prefix in by_uri for prefix in _prefixes(entry["Path"]))
            for prefix in _prefixes(entry["Path"])
        }
        if rest:  # by the head of the uri (the indexed part: ``data_item_storage_uri``), then whole
            wanted = rest | {"/" + uri for uri in rest}
            heads = {uri[: UriHead.length] for uri in wanted}
            named_otherwise = rows.annotate(uri_head=UriHead("uri")).filter(uri_head__in=heads)
            for row in named_otherwise.exclude(item_name__in=candidates).values_list(*columns):
                if row[1] in wanted:
                    by_uri.setdefault(_uri_key(row[1]), []).append(row)
        return by_uri

    def _mark(self, uids: set) -> None:
        """Remember the copies found (once each: a chunk read again after a resume marks nothing new)."""
        if not uids:
            return
        field = ScanMark._meta.get_field("uid")
        table = ScanMark._meta.db_table
        values = [(self.scan.pk, field.get_db_prep_value(uid, connection)) for uid in uids]
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} (scan_id, uid) VALUES (%s, %s) ON CONFLICT (scan_id, uid) DO NOTHING", values
            )

    def _mismatch(self, row: tuple, entry: dict[str, Any]) -> str | None:
        """Why a READY file copy's listed entry is not the copy catalogued, or None."""
        _uid, _uri, item_type, _state, size, checksum, method, hashes = row
        if item_type == ItemType.CONTAINER:
            return None
        listed_size = entry.get("Size")
        if size is not None and listed_size is not None and listed_size >= 0 and int(listed_size) != size:
            return f"size {listed_size} listed, {size} catalogued"
        known = dict(hashes or {})
        if checksum and method:
            known.setdefault(method, checksum)
        for name, value in (entry.get("Hashes") or {}).items():
            if value and known.get(name) and known[name].lower() != str(value).lower():
                return f"{name} {value} listed, {known[name]} catalogued"
        return None

    def _finding(self, kind: str, path: str, **fields: Any) -> Finding:
        return Finding(scan=self.scan, storage=self.storage, kind=kind, path=path, **fields)

    def _repair(self, finding: Finding, *, lost: bool) -> None:
        """Hand a lost or mismatched copy to the repair; the finding says what came of it."""
        try:
            with transaction.atomic():
                repair = copy_found_bad(finding.item_id, lost=lost, detail=f"scan {self.scan.pk}: {finding.detail}")
        except DataLifecycleError as exc:
            finding.status, problem = FindingStatus.UNREPAIRABLE, str(exc)
        else:
            if repair.migration_id is not None:
                finding.status, finding.migration_id, problem = FindingStatus.REPAIRING, repair.migration_id, ""
            else:
                finding.status, problem = FindingStatus.UNREPAIRABLE, repair.problem
        if problem:
            finding.detail = f"{finding.detail}; not repaired: {problem}".lstrip("; ")
        finding.save(update_fields=["status", "migration_id", "detail"])

    def _lost(self) -> None:
        """The READY copies the listing did not show (catalogued before the scan began, not being
        deleted), by uid, each asked for once more before it is called lost."""
        marked = ScanMark.objects.filter(scan=self.scan).values("uid")
        deleting = Deletion.objects.filter(storage=self.storage, state__in=ACTIVE).values("uid")
        last = None
        while True:
            rows = (
                DataItem.objects.filter(
                    storage=self.storage, item_state=ItemState.READY, uid_creation__lt=self.scan.started_at
                )
                .exclude(uid__in=marked)
                .exclude(uid__in=deleting)
            )
            if last is not None:
                rows = rows.filter(uid__gt=last)
            batch = list(rows.order_by("uid").values_list("uid", "uri", "item_size")[:CHUNK])
            if not batch:
                return
            last = batch[-1][0]
            for uid, uri, size in batch:
                there = rclone.stat(self.config, rclone.full_path(self.storage.root_directory, uri or ""), hashes=())
                with transaction.atomic():
                    if there is not None:  # listed after all (written while the listing ran past it)
                        self._mark({uid})
                        self._progress()
                        continue
                    finding = self._finding(FindingKind.LOST, _uri_key(uri or ""), expected_size=size, item_id=uid,
                                            detail="catalogued READY, not on the storage")  # fmt: skip
                    finding.save()
                    self._repair(finding, lost=True)
                    self._progress(lost=F("lost") + 1)
