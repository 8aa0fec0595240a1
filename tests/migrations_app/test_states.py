"""The copy job's state machine: the table of moves, its groups, and the fenced ``transition()``
that every change of a job's state goes through."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from migrations_app.models import Migration
from migrations_app.runner import copy_job_claim
from migrations_app.states import (
    ACTIVE,
    CANCELLABLE,
    CHECKING,
    CLAIMABLE,
    COPYING,
    FAILURES,
    FINISHED,
    INITIAL,
    RETRYABLE,
    SUCCEEDED,
    TRANSITIONS,
    WAITING,
    WORKING,
    JobState,
    TransitionRefused,
    fresh_attempt,
    transition,
)
from tests.conftest import simultaneously
from tests.factories import make_copy_job, make_storage

ALL = set(JobState.values)
ALLOWED = [(start, to) for start in JobState.values for to in sorted(TRANSITIONS[start])]
FORBIDDEN = [(start, to) for start in JobState.values for to in JobState.values if to not in TRANSITIONS[start]]


def _job(state: str, **fields) -> Migration:
    return make_copy_job(make_storage(), make_storage(), state=state, **fields)


def _row(job: Migration) -> dict:
    return Migration.objects.filter(pk=job.pk).values().get()


# --- the table and its groups ---------------------------------------------------------------------


def test_the_table_names_every_state_and_nothing_else():
    assert set(TRANSITIONS) == ALL
    assert all(targets <= ALL for targets in TRANSITIONS.values())


def test_active_and_finished_split_the_states():
    assert set(ACTIVE) | set(FINISHED) == ALL
    assert not set(ACTIVE) & set(FINISHED)
    assert WAITING + WORKING == ACTIVE
    assert COPYING + CHECKING == WORKING
    assert set(SUCCEEDED) | set(RETRYABLE) == set(FINISHED) and not set(SUCCEEDED) & set(RETRYABLE)
    assert set(FAILURES) <= set(RETRYABLE)
    assert INITIAL in WAITING


def test_a_finished_job_goes_nowhere_but_back_to_the_queue_by_a_retry():
    for state in FINISHED:
        assert TRANSITIONS[state] <= {JobState.QUEUED}, state
        assert (TRANSITIONS[state] == {JobState.QUEUED}) == (state in RETRYABLE), state
    assert TRANSITIONS[JobState.COMPLETED] == frozenset()


def test_the_groups_are_the_states_their_move_starts_from():
    assert set(CLAIMABLE) == {state for state in ALL if JobState.RUNNING in TRANSITIONS[state]}
    assert set(CANCELLABLE) == {state for state in ALL if JobState.CANCELLED in TRANSITIONS[state]}
    assert set(RETRYABLE) == {state for state in FINISHED if JobState.QUEUED in TRANSITIONS[state]}
    # Every active job can end, failed or cancelled, once a worker holds it.
    for state in WORKING:
        assert {JobState.FAILED, JobState.CANCELLED, JobState.QUEUED} <= TRANSITIONS[state], state


def test_every_state_is_reached_from_a_new_job():
    seen, todo = {INITIAL}, [INITIAL]
    while todo:
        for state in TRANSITIONS[todo.pop()]:
            if state not in seen:
                seen.add(state)
                todo.append(state)
    assert seen == ALL


def test_the_one_active_job_constraint_covers_the_active_states():
    [constraint] = [c for c in Migration._meta.constraints if c.name == "migration_one_active_copy_per_destination"]
    assert constraint.condition == Q(state__in=ACTIVE)


# --- transition() -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("start", "to"), ALLOWED)
def test_every_allowed_move_is_made_with_its_columns(start, to):
    job = _job(start)

    assert transition(job.pk, to=to, from_states=(start,), last_error="moved") is True

    row = _row(job)
    assert (row["state"], row["last_error"]) == (to, "moved")


@pytest.mark.django_db
@pytest.mark.parametrize(("start", "to"), ALLOWED)
def test_the_default_sources_of_a_move_are_the_table_s(start, to):
    job = _job(start)
    assert transition(job.pk, to=to) is True
    assert _row(job)["state"] == to


@pytest.mark.django_db
@pytest.mark.parametrize(("start", "to"), FORBIDDEN)
def test_a_forbidden_move_raises_and_writes_nothing(start, to):
    job = _job(start)
    before = _row(job)

    with pytest.raises(TransitionRefused, match=f"from {start} to {to}"):
        transition(job.pk, to=to, from_states=(start,), last_error="moved")

    assert _row(job) == before


@pytest.mark.django_db
def test_an_unknown_state_or_no_source_is_refused():
    job = _job(JobState.QUEUED)
    with pytest.raises(TransitionRefused):
        transition(job.pk, to="paused")
    with pytest.raises(TransitionRefused):
        transition(job.pk, to=JobState.RUNNING, from_states=())
    assert _row(job)["state"] == JobState.QUEUED


@pytest.mark.django_db
def test_a_move_from_a_state_the_job_has_left_loses_and_writes_nothing():
    job = _job(JobState.RUNNING)
    assert transition(job.pk, to=JobState.CANCELLED, from_states=WORKING) is True
    before = _row(job)

    # A worker that still thinks the job is running fails it: it lost, the cancel stands.
    assert transition(job.pk, to=JobState.FAILED, from_states=WORKING, last_error="late") is False

    assert _row(job) == before


@pytest.mark.django_db
def test_a_move_outside_its_fence_loses():
    job = _job(JobState.RUNNING, attempts=2, url="worker-b:2")
    before = _row(job)

    # The worker of attempt 1 finishes late: another worker's attempt 2 holds the job now.
    assert transition(job.pk, to=JobState.VERIFYING, fence=Q(attempts=1, url="worker-a:1")) is False
    assert _row(job) == before
    assert transition(job.pk, to=JobState.VERIFYING, fence=Q(attempts=2, url="worker-b:2")) is True
    assert _row(job)["state"] == JobState.VERIFYING


@pytest.mark.django_db
def test_of_two_claims_of_a_queued_job_the_second_finds_nothing():
    job = _job(JobState.QUEUED)

    first, second = copy_job_claim(job.pk), copy_job_claim(job.pk)

    assert first is not None and second is None
    row = _row(job)
    assert (row["state"], row["attempts"]) == (JobState.RUNNING, 1)
    assert row["started_at"] is not None and row["heartbeat_at"] == row["started_at"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_claiming_at_the_same_instant_one_wins():
    if connection.vendor == "sqlite":
        pytest.skip("SQLite's in-memory test database cannot hold concurrent writers; run on PostgreSQL")
    for _ in range(5):  # a few rounds: the race is on
        job = _job(JobState.QUEUED)
        claimed = simultaneously(lambda job=job: copy_job_claim(job.pk))
        assert sorted(result is None for result in claimed) == [False, True]
        assert _row(job)["attempts"] == 1


@pytest.mark.django_db
def test_a_claim_starts_a_fresh_attempt_as_a_retry_resets_one():
    job = _job(JobState.QUEUED, attempts=1, bytes_done=99, rate=5.0, next_attempt_at=timezone.now())

    assert copy_job_claim(job.pk) is not None

    row = _row(job)
    fresh = fresh_attempt(started=row["started_at"])
    assert {name: row[name] for name in fresh} == fresh
    assert row["attempts"] == 2 and row["job_id"] == 0
