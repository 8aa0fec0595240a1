"""The jobs' state machine, whole: its states, the moves allowed between them, the groups of
states the rest of the code asks about, and ``transition()``, the one way a job changes state.
Copy jobs (``Migration``) and deletion jobs (``Deletion``) share it; a deletion is never
cancelled once a worker holds it (its services refuse that), so it uses only part of the table.

A job is made QUEUED. A worker claims it (RUNNING), copies the bytes, verifies them (VERIFYING)
and ends it COMPLETED. A failed attempt puts it back QUEUED until its retry time, or ends it
FAILED; a cancel ends it CANCELLED. A worker that died leaves its job RUNNING or VERIFYING with a
stale heartbeat, and another worker claims it again (RUNNING). A FAILED or CANCELLED job may be
retried: QUEUED again, from its first attempt.

Every move is one conditional UPDATE: the row changes only while it is still in a state the move
may start from (and matches the caller's fence, such as the attempt a worker claimed), so that of
two racing writers exactly one wins and the other learns it lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import Q


class JobState(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    VERIFYING = "verifying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Where each state may go.
TRANSITIONS: dict[str, frozenset[str]] = {
    # claimed by a worker; cancelled before any worker took it
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    # verified next; taken over after its worker died; back in the queue after a failed attempt;
    # failed for good; cancelled
    JobState.RUNNING: frozenset(
        {JobState.VERIFYING, JobState.RUNNING, JobState.QUEUED, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.VERIFYING: frozenset(
        {JobState.COMPLETED, JobState.RUNNING, JobState.QUEUED, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.COMPLETED: frozenset(),
    # retried
    JobState.FAILED: frozenset({JobState.QUEUED}),
    JobState.CANCELLED: frozenset({JobState.QUEUED}),
}

# --- the groups (tuples in the states' order: the model's constraint stores ACTIVE as written) ---

INITIAL = JobState.QUEUED  # a new job's state
WAITING = (JobState.QUEUED,)  # for a worker, or for its retry time
COPYING = (JobState.RUNNING,)  # rclone copies the bytes
CHECKING = (JobState.VERIFYING,)  # the copy's bytes are checked against the catalogue's
WORKING = COPYING + CHECKING  # a worker holds the job; its heartbeat says whether it lives
ACTIVE = WAITING + WORKING  # not ended: the destination copy is being written (one job per object and storage)
SUCCEEDED = (JobState.COMPLETED,)  # the destination copy is verified and READY
FAILURES = (JobState.FAILED,)  # ended for good without a copy
RETRYABLE = (JobState.FAILED, JobState.CANCELLED)  # ended without a copy: may be queued again
FINISHED = SUCCEEDED + RETRYABLE  # ended (``complete`` is true)
CANCELLABLE = ACTIVE
# A deletion is cancelled only before a worker takes it: once one has, bytes are being removed.
DELETION_CANCELLABLE = WAITING
CLAIMABLE = ACTIVE  # a queued job whose time has come, or a held one whose worker died

# The states each state may be reached from.
SOURCES: dict[str, tuple[str, ...]] = {
    to: tuple(state for state in JobState if to in TRANSITIONS[state]) for to in JobState
}


class TransitionRefused(ValueError):
    """A move the state machine does not allow: a mistake in the code, never a client's."""


def _check_moves(sources: Iterable[str], to: str) -> tuple[str, ...]:
    states = tuple(sources)
    if not states:
        raise TransitionRefused(f"No state of a job may become {to}")
    refused = [state for state in states if to not in TRANSITIONS.get(state, ())]
    if refused or to not in JobState.values:
        raise TransitionRefused(f"A job may not go from {', '.join(refused) or '?'} to {to}")
    return states


def _jobs(model: type[models.Model] | None) -> type[models.Model]:
    """The job model moved: a copy job (``Migration``) unless told otherwise."""
    return model or apps.get_model("migrations_app", "Migration")


def fenced_update(
    pk: int,
    /,
    *,
    states: Iterable[str],
    fence: Q | None = None,
    model: type[models.Model] | None = None,
    **fields: Any,
) -> int:
    """Set ``fields`` on job ``pk`` of ``model`` (default: a copy job) in one conditional
    UPDATE, only while it is in one of ``states`` and matches ``fence``; the number of rows
    changed (0: it was not, or no more)."""
    rows = _jobs(model).objects.filter(pk=pk, state__in=tuple(states))
    if fence is not None:
        rows = rows.filter(fence)
    return rows.update(**fields)


def transition(
    pk: int,
    /,
    *,
    to: str,
    from_states: Iterable[str] | None = None,
    fence: Q | None = None,
    model: type[models.Model] | None = None,
    **fields: Any,
) -> bool:
    """Move job ``pk`` of ``model`` (default: a copy job, ``Migration``; or ``Deletion``) to
    state ``to``, setting ``fields`` with it, in one conditional UPDATE: only while the job is in
    one of ``from_states`` (by default every state that may go to ``to``) and matches ``fence``.
    True when this call moved it; False when the job was not in such a state (any more): another
    worker or request got there first, and nothing was written.

    Raises ``TransitionRefused`` for a move the table does not allow, before writing anything.
    """
    states = _check_moves(SOURCES.get(to, ()) if from_states is None else from_states, to)
    moved = fenced_update(pk, states=states, fence=fence, model=model, state=to, **fields) == 1
    if moved and model is not None and model._meta.model_name == "deletion":
        from migrations_app.events import deletion_update  # the copy jobs' callers emit their own

        deletion_update([pk])
    return moved


# --- what goes with a move ----------------------------------------------------------------------


def attempt_times(*, started: datetime | None) -> dict[str, Any]:
    """The time columns of a new attempt, which every job has: set when a worker claims the job
    (``started``: now, its first heartbeat too) and when a retry queues a finished job again
    (``started`` None: no attempt yet)."""
    return {"next_attempt_at": None, "started_at": started, "heartbeat_at": started}


def fresh_attempt(*, started: datetime | None) -> dict[str, Any]:
    """The progress columns of a copy job's attempt that has copied nothing yet (see
    ``attempt_times``)."""
    return {"bytes_done": 0, "rate": 0.0, **attempt_times(started=started)}


def ended_status(status: dict[str, Any] | None, *, success: bool, error: str) -> dict[str, Any]:
    """The job's ``job_status`` once it has ended, keeping rclone's keys where there were any:
    ``finished`` is true only then, not when rclone's copy has finished."""
    return {**(status or {}), "finished": True, "success": success, "error": error}


def ending(*, now: datetime, status: dict[str, Any] | None, success: bool, error: str) -> dict[str, Any]:
    """The columns every ending sets (completed, failed or cancelled), besides the state."""
    return {
        "complete": True,
        "job_status": ended_status(status, success=success, error=error),
        "finished_at": now,
        "completion_date": now,
    }
