"""Paging of the contract's lists: the ``limit`` and ``offset`` parameters and the page they select.

Every list is ordered (stable paging) and capped at ``DLM_QUERY_LIMIT`` rows (upstream's 1000);
``limit`` and ``offset`` page through longer results.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from core.contract import Param
from core.errors import FieldError, FieldErrors

MAX_OFFSET = 2**62  # well within the database's 64-bit OFFSET

PAGING = (
    Param("limit", "int", description="At most this many rows (1 to DLM_QUERY_LIMIT, default the cap: 1000)."),
    Param("offset", "int", default=0, description="Skip this many rows of the ordered result."),
)


def page(queryset: QuerySet, *, limit: int | None = None, offset: int = 0, offset_name: str = "offset") -> QuerySet:
    """One page of an ordered queryset, never longer than the configured cap.

    ``offset_name`` is the operation's parameter that carried ``offset`` (the refusal names it)."""
    cap = settings.DLM_QUERY_LIMIT
    errors = []
    if limit is not None and not 1 <= limit <= cap:
        errors.append(FieldError("limit", "less_than_equal", f"limit must be 1 to {cap}", limit))
    if not 0 <= offset <= MAX_OFFSET:
        kind = "greater_than_equal" if offset < 0 else "less_than_equal"
        errors.append(FieldError(offset_name, kind, f"{offset_name} must be 0 to {MAX_OFFSET}", offset))
    if errors:
        raise FieldErrors(errors)
    size = limit or cap
    return queryset[offset : offset + size]
