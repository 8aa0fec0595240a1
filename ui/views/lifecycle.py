"""Pages: the lifecycle — what DLM does by itself and why. Its last passes and what each decided,
what it holds back, the copies it asked for, the deletions and how they ended, a dry run; and the
placement rules, which admins write.

Every action calls the service the API calls: ``lifecycle_pass(dry_run=True)``, the deletion jobs'
cancel and retry, ``rule_create``, ``rule_update`` and ``rule_delete``. A rule form's refusal is
shown beside the field of the key it names (``ui.errors`` through the form); a button's refusal
as a message, the page unchanged.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.roles import Role
from catalogue.models import DataItem
from core.errors import DataLifecycleError, ObjectNotFound
from lifecycle import services
from lifecycle.engine import lifecycle_pass, rule_preview
from lifecycle.models import Hold, HoldKind, LifecyclePass, PassState, PlacementRule
from lifecycle.report import DECISIONS_KEPT, STEPS
from migrations_app.models import Deletion
from migrations_app.services import deletion_job_cancel, deletion_job_retry
from migrations_app.states import ACTIVE, DELETION_CANCELLABLE, FAILURES, RETRYABLE
from ui.access import role_required
from ui.errors import REFUSALS
from ui.forms import RuleForm, iso_duration
from ui.job_rows import human_duration
from ui.paging import page_number, paged

PASSES = 10  # passes a page of the overview shows
PAGE_SIZE = 25  # holds, copies and deletions a page of the overview shows
FORM_REFUSED = 422


# --- small helpers ----------------------------------------------------------------------------------


def _id(ref: str) -> int | None:
    """The row id a URL carries: ASCII digits, within a 64-bit id's range."""
    if not (ref.isascii() and ref.isdigit()):
        return None
    number = int(ref)
    return number if 1 <= number < 2**63 else None


def _not_found(request: HttpRequest, what: str, back: str, back_label: str) -> HttpResponse:
    context = {"what": what, "back": back, "back_label": back_label}
    return render(request, "ui/places/not_found.html", context, status=404)


def counts_text(counts: dict[str, dict[str, int]]) -> list[tuple[str, str]]:
    """A pass's counts, by step in the pass's order: ``[("uid-expiry", "delete 1 · keep 2"), …]``."""
    order = [step for step in STEPS if step in counts] + sorted(step for step in counts if step not in STEPS)
    return [
        (step, " · ".join(f"{what} {n}" for what, n in sorted(counts[step].items())))
        for step in order
        if counts.get(step)
    ]


def duration_text(seconds: float | None) -> str:
    """How long a pass took: ``0.042 s``, ``12.5 s``, ``3 min 5 s`` (empty while unknown)."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.3f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return human_duration(round(seconds))


def _decision_rows(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decisions as the table shows them: what the job number of each is (a copy job's page, or
    a deletion)."""
    rows = []
    for decision in decisions:
        job = decision.get("job")
        rows.append({**decision, "copy_job": job if job and decision.get("action") in ("copy", "cancel") else None})
    return rows


# --- the overview -----------------------------------------------------------------------------------


def _hold_rows(holds: list[Hold]) -> list[dict[str, Any]]:
    """Each hold and the copy its item links to: the kept copy, or a copy of the object held."""
    objects = [hold.oid for hold in holds if hold.kind != HoldKind.EXPIRED_KEPT]
    first: dict[uuid.UUID, uuid.UUID] = {}
    for oid, uid in DataItem.objects.filter(oid__in=objects).order_by("uid_creation", "uid").values_list("oid", "uid"):
        first.setdefault(oid, uid)
    return [
        {"hold": hold, "uid": hold.subject if hold.kind == HoldKind.EXPIRED_KEPT else first.get(hold.oid)}
        for hold in holds
    ]


@require_safe
@role_required(Role.VIEWER)
def lifecycle_overview(request: HttpRequest) -> HttpResponse:
    """The lifecycle at a glance: how much it holds back, the copies and deletions under way and
    failed; its last passes; what it holds back and why; the copies it asked for that are under
    way; the deletions, newest first, with cancel and retry for operators."""
    passes = paged(request, LifecyclePass.objects.defer("decisions").order_by("-pass_id"), "passes_page", PASSES)
    holds = paged(request, Hold.objects.order_by("-since", "id"), "holds_page", PAGE_SIZE)
    copies = paged(
        request,
        services.pending_lifecycle_copies().select_related("source_storage", "destination_storage"),
        "copies_page",
        PAGE_SIZE,
    )
    deletions = paged(
        request, Deletion.objects.select_related("storage").order_by("-deletion_id"), "deletions_page", PAGE_SIZE
    )
    context = {
        "held": Hold.objects.count(),
        "pending_copies": services.pending_lifecycle_copies().count(),
        "deleting": Deletion.objects.filter(state__in=ACTIVE).count(),
        "deletions_failed": Deletion.objects.filter(state__in=FAILURES).count(),
        "passes": passes,
        "pass_rows": [
            {"row": row, "counts": counts_text(row.counts or {}), "duration": duration_text(row.duration)}
            for row in passes["rows"]
        ],
        "holds": holds,
        "hold_rows": _hold_rows(holds["rows"]),
        "copies": copies,
        "deletions": deletions,
        "deletion_rows": [
            {
                "deletion": deletion,
                "can_cancel": deletion.state in DELETION_CANCELLABLE,
                "can_retry": deletion.state in RETRYABLE,
            }
            for deletion in deletions["rows"]
        ],
        "interval": settings.DLM_LIFECYCLE_INTERVAL,
    }
    return render(request, "ui/lifecycle/overview.html", context)


@require_safe
@role_required(Role.VIEWER)
def pass_detail(request: HttpRequest, ref: str) -> HttpResponse:
    """One pass (or dry run): when, how long, its counts by step, and its decisions with their
    reasons (the first ``DECISIONS_KEPT`` a pass keeps)."""
    pass_id = _id(ref)
    row = LifecyclePass.objects.filter(pk=pass_id).first() if pass_id else None
    if row is None:
        return _not_found(request, "lifecycle pass", "/lifecycle", "The lifecycle")
    decisions = row.decisions if isinstance(row.decisions, list) else []
    context = {
        "row": row,
        "counts": counts_text(row.counts or {}),
        "duration": duration_text(row.duration),
        "decisions": _decision_rows(decisions),
        "caption": (
            f"The first {DECISIONS_KEPT} decisions (a pass keeps no more), with their reasons."
            if len(decisions) >= DECISIONS_KEPT
            else "What it did (or, in a dry run, would do), on which item, and why."
        ),
    }
    return render(request, "ui/lifecycle/pass_detail.html", context)


@require_POST
@role_required(Role.OPERATOR)
def dry_run(request: HttpRequest) -> HttpResponse:
    """Decide now as a lifecycle pass would, and change nothing (``POST /lifecycle/dry_run``);
    then the dry run's page, with its decisions."""
    report = lifecycle_pass(dry_run=True)
    if report.state == PassState.FINISHED:
        messages.success(request, f"Dry run done: {len(report.decisions)} decision(s); nothing was changed.")
    else:
        messages.error(request, f"The dry run stopped: {report.error or report.state}. Nothing was changed.")
    return redirect(f"/lifecycle/passes/{report.pass_id}")


def _deletion_act(request: HttpRequest, ref: str, action: str) -> HttpResponse:
    """Cancel or retry a deletion through the services the API uses; a refusal is a message."""
    deletion_id = _id(ref)
    if deletion_id is None:
        return _not_found(request, "deletion", "/lifecycle", "The lifecycle")
    back = "/lifecycle?" + urlencode({"deletions_page": page_number(request.POST.get("deletions_page"))}) + "#deletions"
    try:
        if action == "cancel":
            deletion_job_cancel(deletion_id=deletion_id)
        else:
            deletion_job_retry(deletion_id=deletion_id)
    except ObjectNotFound:
        return _not_found(request, "deletion", "/lifecycle", "The lifecycle")
    except DataLifecycleError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    done = "cancelled: its copy is left as it is" if action == "cancel" else "queued again"
    messages.success(request, f"Deletion {deletion_id} {done}.")
    return redirect(back)


@require_POST
@role_required(Role.OPERATOR)
def deletion_cancel(request: HttpRequest, ref: str) -> HttpResponse:
    """Cancel a deletion no worker has taken yet (``deletion_job_cancel``)."""
    return _deletion_act(request, ref, "cancel")


@require_POST
@role_required(Role.OPERATOR)
def deletion_retry(request: HttpRequest, ref: str) -> HttpResponse:
    """Queue a failed or cancelled deletion again (``deletion_job_retry``)."""
    return _deletion_act(request, ref, "retry")


# --- placement rules --------------------------------------------------------------------------------


def rule_summary(rule: PlacementRule) -> dict[str, str]:
    """What a rule matches and what it asks for, in words."""
    matches = []
    if rule.item_name_pattern:
        matches.append(f"name {rule.item_name_pattern}")
    if rule.source_storage:
        matches.append(f"a READY copy on {rule.source_storage.storage_name}")
    if rule.item_type:
        matches.append(f"type {rule.item_type}")
    if rule.metadata_key:
        matches.append(f"metadata {rule.metadata_key}" + (f" = {rule.metadata_value}" if rule.metadata_value else ""))
    asks = []
    if rule.copies:
        asks.append(f"{rule.copies} {'copy' if rule.copies == 1 else 'copies'} on {rule.min_phase or '?'} or better")
    if rule.storage:
        asks.append(f"a copy on {rule.storage.storage_name}")
    return {
        "matches": ", ".join(matches) or "every item",
        "asks": " and ".join(asks) or "nothing",
        "lifetime": iso_duration(rule.lifetime),
    }


def _rule(ref: str) -> PlacementRule | None:
    rule_id = _id(ref)
    if rule_id is None:
        return None
    return PlacementRule.objects.select_related("storage", "source_storage").filter(pk=rule_id).first()


def _rule_not_found(request: HttpRequest) -> HttpResponse:
    return _not_found(request, "placement rule", "/lifecycle/rules", "All placement rules")


@require_safe
@role_required(Role.VIEWER)
def rule_list(request: HttpRequest) -> HttpResponse:
    """The placement rules, by name: what each matches and asks for."""
    rules = PlacementRule.objects.select_related("storage", "source_storage").order_by("name")
    return render(request, "ui/lifecycle/rule_list.html", {"rules": [{"rule": r, **rule_summary(r)} for r in rules]})


@require_safe
@role_required(Role.VIEWER)
def rule_detail(request: HttpRequest, ref: str) -> HttpResponse:
    """One rule: its keys, what it matches and asks for; edit and delete for admins."""
    rule = _rule(ref)
    if rule is None:
        return _rule_not_found(request)
    return render(request, "ui/lifecycle/rule_detail.html", {"rule": rule, **rule_summary(rule)})


def _rule_form(request: HttpRequest, rule: PlacementRule | None) -> HttpResponse:
    """The new-rule or edit form; saved through ``rule_create`` / ``rule_update`` with every key."""
    if request.method == "POST":
        form = RuleForm(request.POST)
    else:
        form = RuleForm(initial=RuleForm.initial_of(rule) if rule else None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                if rule is None:
                    saved = services.rule_create(fields=form.rule_body())
                else:
                    saved = services.rule_update(rule_id=rule.rule_id, fields=form.rule_body())
        except REFUSALS as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Rule {saved.name} {'saved' if rule else 'created'}.")
            return redirect(f"/lifecycle/rules/{saved.rule_id}")
    context = {"form": form, "rule": rule}
    return render(request, "ui/lifecycle/rule_form.html", context, status=FORM_REFUSED if form.errors else 200)


@require_http_methods(["GET", "HEAD", "POST"])
@role_required(Role.ADMIN)
def rule_new(request: HttpRequest) -> HttpResponse:
    """A new placement rule (``POST /lifecycle/create_rule``)."""
    return _rule_form(request, None)


@require_http_methods(["GET", "HEAD", "POST"])
@role_required(Role.ADMIN)
def rule_edit(request: HttpRequest, ref: str) -> HttpResponse:
    """Change a placement rule (``PATCH /lifecycle/update_rule``, every key given)."""
    rule = _rule(ref)
    if rule is None:
        return _rule_not_found(request)
    return _rule_form(request, rule)


@require_http_methods(["GET", "HEAD", "POST"])
@role_required(Role.ADMIN)
def rule_delete(request: HttpRequest, ref: str) -> HttpResponse:
    """Remove a placement rule (``DELETE /lifecycle/delete_rule``) after asking; the copies it
    made stay."""
    rule = _rule(ref)
    if rule is None:
        return _rule_not_found(request)
    if request.method == "POST":
        try:
            services.rule_delete(rule_id=rule.rule_id)
        except DataLifecycleError as exc:
            messages.error(request, exc.message)
            return redirect(f"/lifecycle/rules/{rule.rule_id}")
        messages.success(request, f"Rule {rule.name} deleted; the copies it made stay.")
        return redirect("/lifecycle/rules")
    return render(request, "ui/lifecycle/rule_delete.html", {"rule": rule, **rule_summary(rule)})


@require_safe
@role_required(Role.VIEWER)
def rule_preview_page(request: HttpRequest, ref: str) -> HttpResponse:
    """What the lifecycle would copy for this rule now, and why (``GET /lifecycle/preview_rule``:
    a dry run of the rule alone, which changes nothing)."""
    rule = _rule(ref)
    if rule is None:
        return _rule_not_found(request)
    report = rule_preview(rule)
    context = {
        "rule": rule,
        **rule_summary(rule),
        "report": report,
        "counts": counts_text(report.counts_dict()),
        "duration": duration_text(report.duration),
        "decisions": _decision_rows([decision.as_dict() for decision in report.decisions]),
        "caption": "The copies the rule would ask for now, and why (nothing is changed).",
        "failed": report.state != PassState.FINISHED,
    }
    return render(request, "ui/lifecycle/rule_preview.html", context)


urlpatterns = [
    path("lifecycle", lifecycle_overview, name="lifecycle"),
    path("lifecycle/dry-run", dry_run, name="lifecycle-dry-run"),
    path("lifecycle/passes/<str:ref>", pass_detail, name="lifecycle-pass"),
    path("lifecycle/deletions/<str:ref>/cancel", deletion_cancel, name="lifecycle-deletion-cancel"),
    path("lifecycle/deletions/<str:ref>/retry", deletion_retry, name="lifecycle-deletion-retry"),
    path("lifecycle/rules", rule_list, name="lifecycle-rules"),
    path("lifecycle/rules/new", rule_new, name="lifecycle-rule-new"),
    path("lifecycle/rules/<str:ref>", rule_detail, name="lifecycle-rule"),
    path("lifecycle/rules/<str:ref>/edit", rule_edit, name="lifecycle-rule-edit"),
    path("lifecycle/rules/<str:ref>/delete", rule_delete, name="lifecycle-rule-delete"),
    path("lifecycle/rules/<str:ref>/preview", rule_preview_page, name="lifecycle-rule-preview"),
]
