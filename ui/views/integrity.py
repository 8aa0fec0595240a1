"""Pages: integrity. A storage's scans and what they found (lost and mismatched copies with their
repair jobs, dark files to register or quarantine), its copies' recent fixity checks; one scan's
page with its findings and CSV report; an overview; the dashboard's tile and the item page's
verification section.

The actions call the integrity services the API calls (``scan_create``, ``fixity_check_create``,
``findings_register``, ``findings_quarantine``); their refusals are shown as messages
(``ui.errors``), never as a server error. A running scan's figures are polled from
``/scans/<id>/progress`` by ``ui/static/ui/integrity.js``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.db.models import Case, Count, Exists, IntegerField, Max, OuterRef, QuerySet, Subquery, Value, When
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Role
from catalogue.models import Storage
from catalogue.services.storages import storage_find
from integrity import fixity, scans
from integrity.models import (
    CHECK_BAD,
    SCAN_ACTIVE,
    CheckOrigin,
    CheckState,
    Finding,
    FindingKind,
    FindingStatus,
    FixityCheck,
    Scan,
)
from migrations_app.models import Migration
from migrations_app.states import JobState
from ui.access import role_required
from ui.errors import REFUSALS, messages_of
from ui.integrity_figures import integrity_tile
from ui.paging import paged
from ui.views.items import item_find, item_not_found

PAGE_SIZE = 50
LATEST_SCANS = 10  # scans listed on a storage's integrity page
LATEST_CHECKS = 20  # fixity checks listed there
MAX_SELECTED = 500  # dark files one action may name
# Findings still waiting for an operator or a repair: shown on the pages and counted.
PROBLEM_STATUSES = (FindingStatus.OPEN, FindingStatus.REPAIRING, FindingStatus.UNREPAIRABLE)
PROBLEM_KINDS = (FindingKind.LOST, FindingKind.MISMATCH)


# --- what the pages share ---------------------------------------------------------------------


def _with_repair(findings: QuerySet) -> QuerySet:
    """``findings`` with the state of each one's repair job (``repair_state``: empty for none)."""
    job = Migration.objects.filter(migration_id=OuterRef("migration_id")).values("state")[:1]
    return findings.annotate(repair_state=Subquery(job))


def _unresolved(findings: QuerySet) -> QuerySet:
    """The lost and mismatched findings still wanting a repair or an operator: open, unrepairable,
    or with a repair job that has not completed."""
    repaired = Migration.objects.filter(migration_id=OuterRef("migration_id"), state=JobState.COMPLETED)
    return (
        findings.filter(kind__in=PROBLEM_KINDS, status__in=PROBLEM_STATUSES)
        .alias(repaired=Exists(repaired))
        .exclude(status=FindingStatus.REPAIRING, repaired=True)
    )


def scan_figures(scan: Scan) -> dict[str, Any]:
    """A scan's figures as the pages and its progress endpoint give them."""
    found = scan.matched + scan.mismatched
    percent = round(min(100.0, found * 100 / scan.copies_expected), 1) if scan.copies_expected else None
    return {
        "scan_id": scan.scan_id,
        "state": scan.state,
        "active": scan.state in SCAN_ACTIVE,
        "entries_listed": scan.entries_listed,
        "bytes_listed": scan.bytes_listed,
        "copies_expected": scan.copies_expected,
        "matched": scan.matched,
        "lost": scan.lost,
        "dark": scan.dark,
        "mismatched": scan.mismatched,
        "percent": percent,  # catalogued copies found in the listing so far
        "error": scan.error,
        "finished_at": scan.finished_at.isoformat() if scan.finished_at else None,
    }


def _scan_rows(scan_list: list[Scan]) -> list[dict[str, Any]]:
    return [{"scan": scan, "figures": scan_figures(scan)} for scan in scan_list]


def _storage(ref: str) -> Storage | None:
    """The storage a URL names, by id or by name."""
    try:
        storage = storage_find(storage_id=uuid.UUID(ref))
    except ValueError:
        storage = None
    return storage or storage_find(storage_name=ref)


def _not_found(request: HttpRequest, what: str, back: str, back_label: str) -> HttpResponse:
    context = {"what": what, "back": back, "back_label": back_label}
    return render(request, "ui/places/not_found.html", context, status=404)


def _scan(ref: str) -> Scan | None:
    if not (ref.isascii() and ref.isdigit()) or not 1 <= int(ref) < 2**63:
        return None
    return Scan.objects.select_related("storage").filter(scan_id=int(ref)).first()


def _failures_first(checks: QuerySet) -> QuerySet:
    """Checks that found a copy bad or could not be made first, then the others; newest first."""
    bad = Case(
        When(state__in=[*CHECK_BAD, CheckState.ERROR], then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return checks.annotate(failed_first=bad).order_by("failed_first", "-check_id")


def _refused(request: HttpRequest, exc: Exception) -> None:
    for line in messages_of(exc):
        messages.error(request, line)


# --- a storage's integrity ----------------------------------------------------------------------


@never_cache
@require_GET
@role_required(Role.VIEWER)
def storage_integrity(request: HttpRequest, ref: str) -> HttpResponse:
    """A storage's last scans (live while one runs), its open lost and mismatched copies with
    their repair jobs, its open dark files (operators register or quarantine them), and its
    copies' recent fixity checks, failures first."""
    storage = _storage(ref)
    if storage is None:
        return _not_found(request, "storage", "/storages", "All storages")
    scan_list = list(Scan.objects.filter(storage=storage).order_by("-scan_id")[:LATEST_SCANS])
    findings = Finding.objects.filter(storage=storage).select_related("item").order_by("finding_id")
    problems = _with_repair(_unresolved(findings))
    dark = findings.filter(kind=FindingKind.DARK, status=FindingStatus.OPEN)
    checks = _failures_first(FixityCheck.objects.filter(storage=storage).select_related("item"))
    context = {
        "storage": storage,
        "scans": _scan_rows(scan_list),
        "active": any(scan.state in SCAN_ACTIVE for scan in scan_list),
        "problems": paged(request, problems, "problems_page", PAGE_SIZE),
        "dark": paged(request, dark, "dark_page", PAGE_SIZE),
        "checks": list(checks[:LATEST_CHECKS]),
        "latest_checks": LATEST_CHECKS,
        "here": request.get_full_path(),
    }
    return render(request, "ui/integrity/storage.html", context)


@require_POST
@role_required(Role.OPERATOR)
def storage_scan_now(request: HttpRequest, ref: str) -> HttpResponse:
    """Start a consistency scan of the storage now (``scan_create``)."""
    storage = _storage(ref)
    if storage is None:
        return _not_found(request, "storage", "/storages", "All storages")
    try:
        scan = scans.scan_create(storage_id=storage.pk, user=request.user.get_username(), origin=CheckOrigin.CLIENT)
    except REFUSALS as exc:
        _refused(request, exc)
    else:
        messages.success(request, f"Scan {scan.scan_id} of {storage.storage_name} queued: a worker lists the storage.")
    return redirect(f"/storages/{storage.pk}/integrity")


# --- one scan -----------------------------------------------------------------------------------


@never_cache
@require_GET
@role_required(Role.VIEWER)
def scan_detail(request: HttpRequest, ref: str) -> HttpResponse:
    """One scan: its figures (live while it runs) and its findings, one kind at a time."""
    scan = _scan(ref)
    if scan is None:
        return _not_found(request, "scan", "/integrity", "Integrity")
    kind = request.GET.get("kind", "")
    if kind not in FindingKind.values:
        kind = ""
    by_kind = dict(scan.findings.values_list("kind").annotate(n=Count("finding_id")).order_by())
    findings = _with_repair(scan.findings.select_related("item").order_by("finding_id"))
    if kind:
        findings = findings.filter(kind=kind)
    context = {
        "scan": scan,
        "figures": scan_figures(scan),
        "kind": kind,
        "kinds": [(value, label, by_kind.get(value, 0)) for value, label in FindingKind.choices],
        "findings": paged(request, findings, "page", PAGE_SIZE),
        "here": request.get_full_path(),
    }
    return render(request, "ui/integrity/scan.html", context)


@require_GET
@role_required(Role.VIEWER)
def scan_progress(request: HttpRequest, ref: str) -> HttpResponse:
    """A scan's figures (``scan_figures``), never cached; an unknown id is a JSON 404."""
    scan = _scan(ref)
    if scan is None:
        response = JsonResponse({"detail": "Not Found"}, status=404)
    else:
        response = JsonResponse(scan_figures(scan))
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@role_required(Role.VIEWER)
def scan_report(request: HttpRequest, ref: str) -> HttpResponse:
    """The scan's findings as CSV (``scan_report_lines``, as the API's ``/storage/scan_report``)."""
    scan = _scan(ref)
    if scan is None:
        return _not_found(request, "scan", "/integrity", "Integrity")
    lines = scans.scan_report_lines(scan.scan_id)
    response = StreamingHttpResponse(line if line.endswith("\n") else line + "\n" for line in lines)
    response["Content-Type"] = "text/csv; charset=utf-8"
    response["Content-Disposition"] = f'attachment; filename="scan-{scan.scan_id}.csv"'
    return response


# --- dark files ---------------------------------------------------------------------------------


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return "/integrity"


@require_POST
@role_required(Role.OPERATOR)
def findings_act(request: HttpRequest) -> HttpResponse:
    """Register (``findings_register``) or move to quarantine (``findings_quarantine``) the
    selected dark files; then back to the page the form was on."""
    back = _back(request)
    action = request.POST.get("action", "")
    raw = request.POST.getlist("finding")
    if action not in ("register", "quarantine"):
        messages.error(request, "action: choose Register or Quarantine.")
        return redirect(back)
    if not raw:
        messages.error(request, "finding: select at least one dark file.")
        return redirect(back)
    if len(raw) > MAX_SELECTED or not all(value.isascii() and value.isdigit() and len(value) < 19 for value in raw):
        messages.error(request, f"finding: at most {MAX_SELECTED} finding ids, as numbers.")
        return redirect(back)
    ids = sorted({int(value) for value in raw})
    from integrity import findings as findings_services  # noqa: PLC0415 (the scans' module, loaded on use)

    act = findings_services.findings_register if action == "register" else findings_services.findings_quarantine
    try:
        done = act(ids, user=request.user.get_username())
    except REFUSALS as exc:
        _refused(request, exc)
        return redirect(back)
    if action == "register":
        messages.success(request, f"Registered {len(done)} dark file{'s' if len(done) != 1 else ''}.")
    else:
        messages.success(request, f"Moved {len(done)} dark file{'s' if len(done) != 1 else ''} to quarantine.")
    return redirect(back)


# --- an item's verification ---------------------------------------------------------------------


@require_POST
@role_required(Role.OPERATOR)
def item_verify(request: HttpRequest, uid: str) -> HttpResponse:
    """Verify the copy now (``fixity_check_create``): a check queued for a worker."""
    item = item_find(uid)
    if item is None:
        return item_not_found(request, uid)
    try:
        check = fixity.fixity_check_create(uid=item.uid, user=request.user.get_username(), origin=CheckOrigin.CLIENT)
    except REFUSALS as exc:
        _refused(request, exc)
    else:
        messages.success(request, f"Fixity check {check.check_id} is {check.state}: a worker reads the copy back.")
    return redirect(f"/items/{item.uid}#verification")


# --- the overview and the dashboard's tile --------------------------------------------------------


def _storage_rows() -> list[dict[str, Any]]:
    """Each storage with its last scan and its open findings by kind."""
    storages = list(Storage.objects.order_by("storage_name"))
    last_ids = Scan.objects.values("storage").annotate(last=Max("scan_id")).values_list("last", flat=True)
    last = {scan.storage_id: scan for scan in Scan.objects.filter(scan_id__in=list(last_ids))}
    counts: dict[Any, dict[str, int]] = {}
    dark = Finding.objects.filter(kind=FindingKind.DARK, status=FindingStatus.OPEN)
    for waiting in (_unresolved(Finding.objects.all()), dark):
        for storage_id, kind, n in waiting.values_list("storage", "kind").annotate(n=Count("finding_id")).order_by():
            counts.setdefault(storage_id, {})[kind] = n
    return [
        {
            "storage": storage,
            "scan": last.get(storage.pk),
            "figures": scan_figures(last[storage.pk]) if storage.pk in last else None,
            "open": counts.get(storage.pk, {}),
        }
        for storage in storages
    ]


@never_cache
@require_GET
@role_required(Role.VIEWER)
def integrity_overview(request: HttpRequest) -> HttpResponse:
    """Integrity at a glance: the tile's figures, each storage's last scan and open findings,
    and the latest checks that found a copy bad."""
    bad_checks = FixityCheck.objects.filter(state__in=CHECK_BAD).select_related("item", "storage")
    context = {
        "integrity": integrity_tile(),
        "storages": _storage_rows(),
        "bad_checks": list(bad_checks.order_by("-check_id")[:LATEST_CHECKS]),
        "latest_checks": LATEST_CHECKS,
    }
    return render(request, "ui/integrity/overview.html", context)


urlpatterns = [
    path("integrity", integrity_overview, name="integrity"),
    path("integrity/findings", findings_act, name="integrity_findings"),
    path("storages/<str:ref>/integrity", storage_integrity, name="storage_integrity"),
    path("storages/<str:ref>/integrity/scan", storage_scan_now, name="storage_scan_now"),
    path("scans/<str:ref>", scan_detail, name="scan"),
    path("scans/<str:ref>/progress", scan_progress, name="scan_progress"),
    path("scans/<str:ref>/report.csv", scan_report, name="scan_report"),
    path("items/<str:uid>/verify", item_verify, name="item_verify"),
]
