"""Jobs asked for many at a time by a caller that has judged them (the lifecycle): written
together with their tasks, or, when the database refuses one, none of them."""

from __future__ import annotations

import pytest
from django_q.models import OrmQ

from catalogue.models import DataItem
from core.errors import ValueAlreadyInDB
from migrations_app.choices import JobOrigin
from migrations_app.jobs import COPY_TASK, DELETION_TASK
from migrations_app.models import Deletion, Migration
from migrations_app.services.planned import (
    PlannedCopy,
    PlannedDeletion,
    copy_jobs_create_planned,
    deletion_jobs_create_planned,
)
from tests.factories import make_copy_job
from tests.lifecycle.helpers import register

pytestmark = pytest.mark.django_db


def _tasks(func: str) -> list[int]:
    return sorted(task.task["args"][0] for task in OrmQ.objects.all() if task.task["func"] == func)


def test_planned_copies_are_written_with_their_tasks(gas, solid, liquid):
    first, second = register(gas, "obs/p1.ms", b"one"), register(gas, "obs/p2.ms", b"two")

    jobs = copy_jobs_create_planned(
        plans=[
            PlannedCopy(first.uid, solid.storage.storage_id, "why 1"),
            PlannedCopy(second.uid, liquid.storage.storage_id, "why 2"),
        ],
        user="dlm-lifecycle",
        origin=JobOrigin.LIFECYCLE,
    )

    assert [(job.oid, job.destination_storage_id, job.reason, job.origin) for job in jobs] == [
        (first.oid, solid.storage.storage_id, "why 1", "lifecycle"),
        (second.oid, liquid.storage.storage_id, "why 2", "lifecycle"),
    ]
    copies = {item.uid: item for item in DataItem.objects.filter(uid__in=[job.destination_uid for job in jobs])}
    assert {item.item_state for item in copies.values()} == {"INITIALISED"}
    assert copies[jobs[0].destination_uid].oid == first.oid and copies[jobs[0].destination_uid].uri == "obs/p1.ms"
    assert _tasks(COPY_TASK) == sorted(job.migration_id for job in jobs)


def test_a_planned_batch_that_breaks_a_rule_is_refused_whole(gas, solid, liquid):
    first, second = register(gas, "obs/q1.ms"), register(gas, "obs/q2.ms")
    make_copy_job(second, liquid.storage)  # a job under way to liquid already
    before = (DataItem.objects.count(), Migration.objects.count(), OrmQ.objects.count())

    with pytest.raises(ValueAlreadyInDB):
        copy_jobs_create_planned(
            plans=[
                PlannedCopy(first.uid, solid.storage.storage_id, "a"),
                PlannedCopy(second.uid, liquid.storage.storage_id, "b"),
            ],
            user="dlm-lifecycle",
            origin=JobOrigin.LIFECYCLE,
        )

    assert (DataItem.objects.count(), Migration.objects.count(), OrmQ.objects.count()) == before


def test_planned_deletions_are_written_with_their_tasks_or_not_at_all(gas):
    first, second = register(gas, "obs/d1.ms"), register(gas, "obs/d2.ms")

    made = deletion_jobs_create_planned(
        plans=[PlannedDeletion(first.uid, "expired"), PlannedDeletion(second.uid, "expired", forced=True)],
        user="dlm-lifecycle",
        origin=JobOrigin.LIFECYCLE,
    )
    assert [(d.uid, d.state, d.forced) for d in made] == [(first.uid, "queued", False), (second.uid, "queued", True)]
    assert _tasks(DELETION_TASK) == sorted(d.deletion_id for d in made)

    with pytest.raises(ValueAlreadyInDB):  # a second active deletion of the same copy
        deletion_jobs_create_planned(plans=[PlannedDeletion(first.uid, "again")], user="x", origin=JobOrigin.LIFECYCLE)
    assert Deletion.objects.count() == 2 and len(_tasks(DELETION_TASK)) == 2
