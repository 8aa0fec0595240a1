"""The scan operations: a consistency scan of a storage queued, the scans and what they found, a
scan's report as CSV, and an operator's registering or quarantining of the dark files found."""

from __future__ import annotations

from django.http import StreamingHttpResponse

from accounts.roles import Role
from catalogue.services.storages import storage_resolve
from core.contract import Body, Param, operation
from core.paging import PAGING, page
from core.rows import row_of, rows
from core.schemas import list_of, row_schema
from integrity import findings as dark_files
from integrity import scans
from integrity.models import Finding, FindingKind, FindingStatus, Scan, ScanState
from integrity.scanning import SCAN_COLUMNS, scan_row

# (JSON key, ORM attribute)
FINDING_COLUMNS = [
    ("finding_id", "finding_id"),
    ("scan_id", "scan_id"),
    ("storage_id", "storage_id"),
    ("kind", "kind"),
    ("path", "path"),
    ("size", "size"),
    ("expected_size", "expected_size"),
    ("detail", "detail"),
    ("uid", "item_id"),
    ("status", "status"),
    ("migration_id", "migration_id"),
    ("quarantine_path", "quarantine_path"),
    ("acted_by", "acted_by"),
    ("acted_at", "acted_at"),
    ("found_at", "found_at"),
]
SCAN_ROW = row_schema(Scan, SCAN_COLUMNS)
FINDING_ROW = row_schema(Finding, FINDING_COLUMNS)
SCAN_ID = Param("scan_id", "int", required=True, description="The scan.")
FINDING_IDS = Body(
    "finding_ids",
    required=True,
    array=True,
    description="The ids of open dark-file findings.",
    schema={"type": "array", "items": {"type": "integer"}},
)


@operation(
    "POST",
    "/storage/scan_storage",
    operation_id="scan_storage",
    role=Role.OPERATOR,
    params=(Param("storage_name", required=True, description="The storage to scan."),),
    response=SCAN_ROW,
    tag="storage",
)
def scan_storage(request, *, storage_name) -> dict:
    """DLM extension: queue a consistency scan of a storage; answers the scan's row.

    A worker lists the storage with rclone and compares it with the catalogue: `lost` (a READY
    copy not there: marked CORRUPTED and repaired from a good copy), `dark` (a file no copy
    covers: reported only, never deleted), `mismatched` (a READY copy listed with another size,
    or hash where the storage lists hashes without reading: repaired). Follow it with
    `query_scans`; the findings are in `query_scan_findings` and `scan_report`. 422 for an unknown
    or retired storage, one without an rclone config, or while a scan of it is queued or running.
    """
    scan = scans.scan_create(storage_name=storage_name, user=request.user.get_username())
    return scan_row(scan)


@operation(
    "GET",
    "/storage/query_scans",
    operation_id="query_scans",
    role=Role.VIEWER,
    params=(
        Param("storage_name", description="The scans of this storage."),
        Param("scan_id", "int", description="This scan."),
        Param("state", "enum", choices=ScanState, description="Only scans in this state."),
        *PAGING,
    ),
    response=list_of(SCAN_ROW),
    tag="storage",
)
def query_scans(request, *, storage_name, scan_id, state, limit, offset) -> list[dict]:
    """DLM extension: the consistency scans, newest first, with their counts and progress
    (`entries_listed` files compared so far), filtered by storage, id and state (combined)."""
    found = Scan.objects.all()
    if storage_name:
        found = found.filter(storage=storage_resolve(storage_id=None, storage_name=storage_name))
    if scan_id is not None:
        found = found.filter(pk=scan_id)
    if state:
        found = found.filter(state=state)
    return rows(page(found.order_by("-scan_id"), limit=limit, offset=offset), [*SCAN_COLUMNS])


@operation(
    "POST",
    "/storage/cancel_scan",
    operation_id="cancel_scan",
    role=Role.OPERATOR,
    params=(SCAN_ID,),
    response=SCAN_ROW,
    tag="storage",
    errors={404: 'No such scan: `{"exec": "ObjectNotFound", …}`'},
)
def cancel_scan(request, *, scan_id) -> dict:
    """DLM extension: stop a queued or running scan (its findings so far are kept); answers its
    row. 422 for a scan that has ended."""
    return scan_row(scans.scan_cancel(scan_id, user=request.user.get_username()))


@operation(
    "GET",
    "/storage/query_scan_findings",
    operation_id="query_scan_findings",
    role=Role.VIEWER,
    params=(
        SCAN_ID,
        Param("kind", "enum", choices=FindingKind, description="Only findings of this kind."),
        Param("status", "enum", choices=FindingStatus, description="Only findings in this status."),
        *PAGING,
    ),
    response=list_of(FINDING_ROW),
    tag="storage",
    errors={404: 'No such scan: `{"exec": "ObjectNotFound", …}`'},
)
def query_scan_findings(request, *, scan_id, kind, status, limit, offset) -> list[dict]:
    """DLM extension: what a scan found, in the order found: lost and mismatched copies (with
    their repair job, `migration_id`, or why none) and dark files (with what an operator did)."""
    scans.scan_get(scan_id)
    found = Finding.objects.filter(scan_id=scan_id)
    if kind:
        found = found.filter(kind=kind)
    if status:
        found = found.filter(status=status)
    return rows(page(found.order_by("finding_id"), limit=limit, offset=offset), FINDING_COLUMNS)


@operation(
    "GET",
    "/storage/scan_report",
    operation_id="scan_report",
    role=Role.VIEWER,
    params=(SCAN_ID,),
    response={"type": "string", "format": "binary"},
    tag="storage",
    errors={404: 'No such scan: `{"exec": "ObjectNotFound", …}`'},
)
def scan_report(request, *, scan_id) -> StreamingHttpResponse:
    """DLM extension: every finding of a scan as a CSV file (`text/csv`), header first."""
    response = StreamingHttpResponse(scans.scan_report_lines(scan_id), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="scan-{scan_id}.csv"'
    return response


@operation(
    "POST",
    "/storage/register_dark_files",
    operation_id="register_dark_files",
    role=Role.OPERATOR,
    body=FINDING_IDS,
    response=list_of(FINDING_ROW),
    tag="storage",
)
def register_dark_files(request, *, finding_ids) -> list[dict]:
    """DLM extension: register open dark files as data items where they lie (READY, named by their
    path, their size and md5 read through rclone), all or none; answers the findings, REGISTERED
    with their `uid`. 422 naming `finding_ids` for findings that are not open dark files."""
    done = dark_files.findings_register(finding_ids, user=request.user.get_username())
    return [row_of(finding, FINDING_COLUMNS) for finding in done]


@operation(
    "POST",
    "/storage/quarantine_dark_files",
    operation_id="quarantine_dark_files",
    role=Role.OPERATOR,
    body=FINDING_IDS,
    response=list_of(FINDING_ROW),
    tag="storage",
)
def quarantine_dark_files(request, *, finding_ids) -> list[dict]:
    """DLM extension: move open dark files to `.dlm-quarantine/<scan_id>/<path>` under their
    storage's root directory (nothing is deleted); answers the findings, QUARANTINED with their
    `quarantine_path`. 422 naming `finding_ids` for findings that are not open dark files, or a
    file that could not be moved (those moved before it stay quarantined)."""
    done = dark_files.findings_quarantine(finding_ids, user=request.user.get_username())
    return [row_of(finding, FINDING_COLUMNS) for finding in done]
