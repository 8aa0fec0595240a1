"""The integrity figures other pages show: the dashboard's tile and an item page's verification
section (``ui.views.integrity`` has the integrity pages themselves)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from catalogue.choices import ItemState
from catalogue.models import DataItem
from integrity.models import CHECK_ACTIVE, CHECK_BAD, CheckState, Finding, FindingKind, FindingStatus, FixityCheck


def item_verification(item: DataItem) -> dict[str, Any]:
    """The item page's verification section: when the copy was last verified, and its last fixity
    check (state, when, detail, repair job)."""
    check = FixityCheck.objects.filter(item=item).order_by("-check_id").first()
    return {
        "last_verified_at": item.last_verified_at,
        "check": check,
        "state": check.state if check else "",
        "when": (check.finished_at or check.started_at or check.created_at) if check else None,
        "detail": check.detail if check else "",
        "repair_migration_id": check.repair_migration_id if check else None,
        "active": bool(check and check.state in CHECK_ACTIVE),
        "bad": bool(check and check.state in CHECK_BAD),
        "verifiable": item.item_state == ItemState.READY and item.storage_id is not None,
        "verify_url": f"/items/{item.uid}/verify",
    }


def _unrepairable() -> int:
    """CORRUPTED copies that no repair is mending: a scan found them unrepairable, or a check
    found them bad and could start no repair."""
    bad = Q(findings__status=FindingStatus.UNREPAIRABLE) | Q(
        fixity_checks__state__in=CHECK_BAD, fixity_checks__repair_migration_id=None
    )
    return DataItem.objects.filter(bad, item_state=ItemState.CORRUPTED).values("uid").distinct().count()


def integrity_tile(states: dict[str | None, int] | None = None) -> dict[str, Any]:
    """The dashboard's integrity figures: CORRUPTED copies (from ``states``, the catalogue's counts
    by state, where the caller has them), open lost, mismatched and dark findings, unrepairable
    copies, and the checks of the last day that found a copy bad or could not be made. Three
    queries."""
    open_by_kind = dict(
        Finding.objects.filter(status=FindingStatus.OPEN).values_list("kind").annotate(n=Count("finding_id")).order_by()
    )
    since = timezone.now() - timedelta(days=1)
    checks = FixityCheck.objects.filter(finished_at__gte=since).aggregate(
        bad=Count("check_id", filter=Q(state__in=CHECK_BAD)),
        errors=Count("check_id", filter=Q(state=CheckState.ERROR)),
    )
    if states is None:
        corrupted = DataItem.objects.filter(item_state=ItemState.CORRUPTED).count()
    else:
        corrupted = states.get(ItemState.CORRUPTED, 0)
    return {
        "corrupted": corrupted,
        "lost": open_by_kind.get(FindingKind.LOST, 0),
        "mismatch": open_by_kind.get(FindingKind.MISMATCH, 0),
        "dark": open_by_kind.get(FindingKind.DARK, 0),
        "unrepairable": _unrepairable(),
        "failed_checks": checks["bad"],
        "check_errors": checks["errors"],
    }
