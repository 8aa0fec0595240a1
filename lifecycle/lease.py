"""One lifecycle pass at a time, across workers and machines: a lease in the database, taken at the
start of a pass and renewed after every batch, which runs out if its worker dies."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from lifecycle.models import Lease, LifecyclePass, PassState

LEASE = "pass"


class LeaseLost(Exception):
    """Another worker runs the lifecycle now (this one's lease ran out)."""


def lease_take(holder: str, *, seconds: int | None = None) -> bool:
    """Take (or renew) the pass's lease for ``holder``; False while another holder's is valid."""
    now = timezone.now()
    until = now + timedelta(seconds=seconds or settings.DLM_LIFECYCLE_LEASE)
    Lease.objects.get_or_create(name=LEASE)
    taken = Lease.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__lt=now) | Q(holder=holder), name=LEASE)
    return taken.update(holder=holder, expires_at=until) == 1


def lease_release(holder: str) -> None:
    Lease.objects.filter(name=LEASE, holder=holder).update(holder="", expires_at=None)


def abandoned_passes_close() -> None:
    """Passes left running by a worker that died (no lease holds them any more): abandoned."""
    held = Lease.objects.filter(name=LEASE).values_list("holder", flat=True).first() or ""
    LifecyclePass.objects.filter(state=PassState.RUNNING).exclude(worker=held).update(
        state=PassState.ABANDONED, error="its worker stopped before the pass ended"
    )
