"""The lifecycle pass: what DLM does by itself, in this order.

1. **Object expiry**: every copy of an object whose ``oid_expiration`` has passed is deleted (no
   resilience check: the object is gone); copy jobs under way for it are cancelled.
2. **Copy expiry**: a copy whose ``uid_expiration`` has passed is deleted when the copies that
   count without it (READY, verified, not being deleted) still give the object its target phase
   and every placement rule it matches; never the last READY copy. One that must stay is kept,
   with the reason recorded (a ``Hold``), and not looked at again until its object changes.
3. **Target phase**: an object whose copies fall short of its ``target_phase``, and whose newest
   copy is older than ``DLM_PHASE_GRACE``, gets a copy job to the storage that best closes the
   gap; one with nowhere to go is held, with the reason, until the storages change.
4. **Placement rules**: each enabled rule's objects get the copies it asks for.

Work is taken in batches (``DLM_LIFECYCLE_BATCH`` objects), each decided and written in its own
transaction with the objects' rows locked, so that a pass interrupted anywhere leaves only whole
decisions, and the API's deletions and copies cannot slip between a check and its job. One pass
runs at a time (a lease in the database, renewed every batch, which runs out if its worker
dies). A dry run decides the same way and writes nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from catalogue.choices import ItemState
from catalogue.models import BELOW_TARGET_OPEN, EXPIRY_DUE, DataItem
from catalogue.phases import at_least, oid_phases_refresh, weight
from catalogue.services.registrations import uri_problem
from core.actor import Auth, Via, acting, unattended
from core.errors import DataLifecycleError, ValueAlreadyInDB
from core.events import LIFECYCLE_DECISION, RULE_SATISFIED, emit_many
from lifecycle.lease import LeaseLost, abandoned_passes_close, lease_release, lease_take
from lifecycle.models import Hold, HoldKind, LifecyclePass, PassState, PlacementRule
from lifecycle.objects import Copy, ObjectState, objects_load
from lifecycle.places import Places
from lifecycle.report import DECISIONS_KEPT, STEPS, Decision, PassReport
from lifecycle.rules import deletion_refusal, need, rule_filter, rules_enabled, rules_matching
from migrations_app.choices import JobOrigin
from migrations_app.models import Deletion, Migration
from migrations_app.runner.claim import worker_name
from migrations_app.services import copy_job_cancel, copy_job_create, deletion_job_create
from migrations_app.services.planned import (
    PlannedCopy,
    PlannedDeletion,
    copy_jobs_create_planned,
    deletion_jobs_create_planned,
)
from migrations_app.states import ACTIVE, JobState

log = logging.getLogger("dlm.lifecycle")

ACTING = ("copy", "delete", "cancel")  # the decisions that change something: each is an event
LIFECYCLE_USER = "dlm-lifecycle"  # who the copy and deletion jobs the lifecycle asks for are by


# --- the pass -------------------------------------------------------------------------------------


class LifecycleRun:
    """One pass (or dry run). ``only_rule``: a dry run of that rule alone (its preview)."""

    def __init__(
        self,
        *,
        dry_run: bool = False,
        now: datetime | None = None,
        batch: int | None = None,
        only_rule: PlacementRule | None = None,
    ) -> None:
        self.dry_run = dry_run
        self.now = now or timezone.now()
        self.batch = batch or settings.DLM_LIFECYCLE_BATCH
        self.only_rule = only_rule
        self.report = PassReport(dry_run=dry_run)
        self.holder = worker_name()
        self._places: Places | None = None
        self._rule_list: list[PlacementRule] | None = None
        self._retry_failed_after = self.now - timedelta(seconds=settings.DLM_LIFECYCLE_RETRY_FAILED)
        # the batch's jobs, asked for together at its end (``_flush``), with their decisions
        self._planned_copies: list[tuple[PlannedCopy, Decision]] = []
        self._planned_deletions: list[tuple[PlannedDeletion, Decision]] = []
        self._served: dict[int, set[uuid.UUID]] = {}  # by rule: objects its copy jobs served lately
        self._satisfied: list[tuple[str, dict, dict]] = []  # the batch's rule.satisfied events

    @property
    def places(self) -> Places:
        if self._places is None:
            self._places = Places()
        return self._places

    @property
    def rules(self) -> list[PlacementRule]:
        if self._rule_list is None:
            self._rule_list = [self.only_rule] if self.only_rule else rules_enabled()
        return self._rule_list

    # -- running

    def run(self) -> PassReport:
        """Run the pass (the lease taken first: a pass already running elsewhere makes this one
        return at once, its report's state ``"skipped"``)."""
        if not self.dry_run and not lease_take(self.holder):
            self.report.state = "skipped"
            self.report.error = "another lifecycle pass is running"
            return self.report
        began = time.monotonic()
        row = None
        if not self.only_rule:
            abandoned_passes_close()
            row = LifecyclePass.objects.create(dry_run=self.dry_run, worker=self.holder, started_at=self.now)
            self.report.pass_id = row.pk
        try:
            with acting(
                username=LIFECYCLE_USER,
                user_id=None,
                auth=Auth.SYSTEM,
                via=Via.LIFECYCLE,
                operation="lifecycle_dry_run" if self.dry_run else "lifecycle_pass",
            ):
                steps = ("rules",) if self.only_rule else STEPS
                for step in steps:
                    getattr(self, "_" + step.replace("-", "_"))()
                if not self.dry_run:
                    self._holds_prune()
            self.report.state = PassState.FINISHED
        except LeaseLost:
            self.report.state = PassState.ABANDONED
            self.report.error = "the lease ran out: another worker took the lifecycle over"
        except Exception as exc:
            log.exception("lifecycle pass failed")
            self.report.state = PassState.FAILED
            self.report.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.report.duration = round(time.monotonic() - began, 3)
            if row is not None:
                LifecyclePass.objects.filter(pk=row.pk).update(
                    state=self.report.state,
                    finished_at=timezone.now(),
                    duration=self.report.duration,
                    counts=self.report.counts_dict(),
                    decisions=[decision.as_dict() for decision in self.report.decisions[:DECISIONS_KEPT]],
                    error=self.report.error,
                    queries=self.report.queries,
                )
            if not self.dry_run:
                lease_release(self.holder)
        log.info(
            "lifecycle %s %s in %.3f s: %s",
            "dry run" if self.dry_run else "pass",
            self.report.state,
            self.report.duration,
            self.report.counts_dict(),
        )
        return self.report

    def _renew(self) -> None:
        if not self.dry_run and not lease_take(self.holder):
            raise LeaseLost

    def _batches(self, rows: QuerySet, key: str) -> Iterator[list]:
        """Distinct values of ``key`` of ``rows`` in batches, in ``key`` order, from where the last
        batch ended (so every value is seen once per pass, whatever each batch decided)."""
        last = None
        while True:
            page = rows if last is None else rows.filter(**{f"{key}__gt": last})
            values = list(page.order_by(key).values_list(key, flat=True).distinct()[: self.batch])
            if not values:
                return
            yield values
            last = values[-1]
            self._renew()
            if len(values) < self.batch:
                return

    def _decide(self, oids: list[uuid.UUID], decide: Callable[[dict[uuid.UUID, ObjectState]], None]) -> None:
        """Load the objects (locked, unless a dry run) and decide on them in one transaction."""
        if self.dry_run:
            decide(objects_load(oids))
            return
        with transaction.atomic():
            first = len(self.report.decisions)
            decide(objects_load(oids, lock=True))
            self._flush()
            self._tell(self.report.decisions[first:])

    def _tell(self, decisions: list[Decision]) -> None:
        """The batch's events, in its transaction: each decision that acted (a copy, a deletion,
        a cancel asked for), and each rule an object has come to satisfy."""
        acted = [decision for decision in decisions if decision.action in ACTING]
        emit_many(
            [
                (
                    LIFECYCLE_DECISION,
                    {"oid": decision.oid, "pass_id": self.report.pass_id},
                    {**decision.as_dict(), "pass_id": self.report.pass_id},
                )
                for decision in acted
            ]
            + self._satisfied
        )
        self._satisfied = []

    def _flush(self) -> None:
        """Write the batch's planned jobs together (``migrations_app.services.planned``); should
        the database refuse them (a rule broken by a request that came in another way), ask for
        them one at a time instead, each with its own refusal."""
        copies, deletions = self._planned_copies, self._planned_deletions
        self._planned_copies, self._planned_deletions = [], []
        try:
            with transaction.atomic():
                made = copy_jobs_create_planned(
                    plans=[plan for plan, _ in copies], user=LIFECYCLE_USER, origin=JobOrigin.LIFECYCLE
                )
                gone = deletion_jobs_create_planned(
                    plans=[plan for plan, _ in deletions], user=LIFECYCLE_USER, origin=JobOrigin.LIFECYCLE
                )
        except ValueAlreadyInDB:
            for plan, decision in copies:
                self._copy_one(plan, decision)
            for plan, decision in deletions:
                self._delete_one(plan, decision)
            return
        for (_, decision), job in zip(copies, made, strict=True):
            decision.job = job.migration_id
        for (_, decision), job in zip(deletions, gone, strict=True):
            decision.job = job.deletion_id

    def _copy_one(self, plan: PlannedCopy, decision: Decision) -> None:
        try:
            job = copy_job_create(
                user=LIFECYCLE_USER,
                uid=plan.source_uid,
                destination_id=plan.destination_id,
                origin=JobOrigin.LIFECYCLE,
                reason=plan.reason,
                uid_expiration=plan.uid_expiration,
            )
        except DataLifecycleError as exc:
            decision.action, decision.reason = "wait", f"{decision.reason}; the copy was refused: {exc}"
            return
        decision.job = job.migration_id

    def _delete_one(self, plan: PlannedDeletion, decision: Decision) -> None:
        try:
            deletion = deletion_job_create(
                uid=plan.uid, user=LIFECYCLE_USER, reason=plan.reason, origin=JobOrigin.LIFECYCLE, forced=plan.forced
            )
        except DataLifecycleError as exc:
            decision.action, decision.reason = "wait", f"{decision.reason}; not deleted now: {exc}"
            return
        decision.job = deletion.deletion_id

    # -- 1. object expiry

    def _oid_expiry(self) -> None:
        rows = (
            DataItem.objects.filter(oid_expiration__lt=self.now, parents__isnull=True)
            .exclude(item_state=ItemState.DELETED)
            .exclude(uid__in=_being_deleted())
        )
        for oids in self._batches(rows, "oid"):
            self._decide(oids, self._oid_expiry_decide)

    def _oid_expiry_decide(self, objects: dict[uuid.UUID, ObjectState]) -> None:
        step = "oid-expiry"
        failed = self._failed_recently([copy.uid for obj in objects.values() for copy in obj.copies])
        for obj in objects.values():
            expired = [copy for copy in obj.copies if copy.oid_expiration and copy.oid_expiration < self.now]
            if not expired:
                continue
            when = min(copy.oid_expiration for copy in expired)
            reason = f"its object expired at {when.isoformat()}"
            for job in obj.pending:
                if not job.cancel_requested:  # (a running one's worker is stopping it)
                    self._cancel(step, obj, job.migration_id, reason)
            for copy in obj.copies:
                if copy.parents is not None or copy.deletion_id is not None:
                    continue  # inside a container (goes with it), or being deleted already
                if copy.written_by is not None:
                    continue  # its copy job is cancelled above; deleted once that has ended
                if copy.uid in failed:
                    self.report.count(step, "deletion failed recently")
                    continue
                self._delete(step, obj, copy, reason, forced=True)

    # -- 2. copy expiry

    def _uid_expiry(self) -> None:
        for found in self._due_copies():
            inside = [uid for uid, _, parents in found if parents is not None]
            if inside and not self.dry_run:  # items inside a container go with their container
                with unattended():
                    DataItem.objects.filter(uid__in=inside).update(expired=True)
            due = {uid for uid, _, parents in found if parents is None}
            oids = list(dict.fromkeys(oid for uid, oid, parents in found if parents is None))
            self._decide(oids, lambda objects, due=due: self._uid_expiry_decide(objects, due))

    def _due_copies(self) -> Iterator[list[tuple]]:
        """The expired copies not judged yet, in batches in the order they expired (the order of
        their partial index, so a batch costs the same however many are due)."""
        rows = (
            DataItem.objects.filter(EXPIRY_DUE, uid_expiration__lt=self.now)
            .exclude(uid__in=_being_deleted())
            .order_by("uid_expiration", "uid")
        )
        last: tuple | None = None
        while True:
            page = rows
            if last is not None:
                page = rows.filter(Q(uid_expiration__gt=last[0]) | Q(uid_expiration=last[0], uid__gt=last[1]))
            found = list(page.values_list("uid", "oid", "parents", "uid_expiration")[: self.batch])
            if not found:
                return
            yield [row[:3] for row in found]
            last = (found[-1][3], found[-1][0])
            self._renew()
            if len(found) < self.batch:
                return

    def _uid_expiry_decide(self, objects: dict[uuid.UUID, ObjectState], due: set[uuid.UUID]) -> None:
        step = "uid-expiry"
        kept: list[tuple[Copy, ObjectState, str]] = []
        failed = self._failed_recently(list(due))
        for obj in objects.values():
            rules = rules_matching(self.rules, obj) if self.rules else []
            for copy in obj.copies:
                if copy.uid not in due or not copy.uid_expiration or copy.uid_expiration >= self.now:
                    continue
                if copy.deletion_id is not None or copy.written_by is not None or copy.uid in failed:
                    continue  # being deleted; being written (judged once READY); failed lately
                reason = f"it expired at {copy.uid_expiration.isoformat()}"
                if not copy.counts:
                    self._delete(step, obj, copy, f"{reason}; it is {copy.item_state}: it gives its object nothing")
                    continue
                refusal = deletion_refusal(obj, copy, rules)
                if refusal:
                    kept.append((copy, obj, f"kept: {refusal}"))
                    self.report.add(Decision(step, "keep", str(obj.oid), f"kept: {refusal}", **_about(copy)))
                    continue
                self._delete(step, obj, copy, reason)
        if kept and not self.dry_run:
            self._hold(HoldKind.EXPIRED_KEPT, [(copy.uid, obj, why) for copy, obj, why in kept])
            with unattended():
                DataItem.objects.filter(uid__in=[copy.uid for copy, _, _ in kept]).update(expired=True)

    # -- 3. target phase

    def _target_phase(self) -> None:
        # (an object with a copy on its way is left until the copy has ended)
        copying = Migration.objects.filter(state__in=ACTIVE).values("oid")
        rows = DataItem.objects.filter(BELOW_TARGET_OPEN, parents__isnull=True).exclude(oid__in=copying)
        for oids in self._batches(rows, "oid"):
            self._decide(oids, self._target_phase_decide)

    def _target_phase_decide(self, objects: dict[uuid.UUID, ObjectState]) -> None:
        step = "target-phase"
        grace = self.now - timedelta(seconds=settings.DLM_PHASE_GRACE)
        held: list[tuple[uuid.UUID, ObjectState, str]] = []
        settled: list[uuid.UUID] = []
        for obj in objects.values():
            target, phase = obj.target, obj.phase
            if not obj.counted:
                continue
            if at_least(phase, target):
                settled.append(obj.oid)  # its oid_phase was behind: made true below
                continue
            if obj.newest and obj.newest > grace:
                self.report.count(step, "within grace")
                continue
            if obj.pending:
                self.report.count(step, "copy on its way")
                continue
            reason = f"the object is at {phase}, below its target {target}"
            made = self._copy_for(step, obj, reason, have=phase, target=target)
            if made is not None:
                held.append((obj.oid, obj, f"below target: {made}"))
        if not self.dry_run:
            if settled:
                oid_phases_refresh(settled)
            if held:
                self._hold(HoldKind.BELOW_TARGET, held)
                with unattended():
                    DataItem.objects.filter(oid__in=[oid for oid, _, _ in held]).update(lifecycle_hold=True)

    # -- 4. placement rules

    def _rules(self) -> None:
        for rule in self.rules:
            rows = DataItem.objects.filter(rule_filter(rule), parents__isnull=True)
            for oids in self._batches(rows, "oid"):
                self._decide(oids, lambda objects, rule=rule: self._rule_decide(rule, objects))

    def _rule_decide(self, rule: PlacementRule, objects: dict[uuid.UUID, ObjectState]) -> None:
        step = "rules"
        for obj in objects.values():
            if obj.lifecycle_copy is not None:
                self.report.count(step, "copy on its way")
                continue
            pending = {job.destination_id for job in obj.pending}
            counted = obj.counted + [
                _pending_copy(self.places, job.destination_id) for job in obj.pending if job.destination_id
            ]
            wanted = need(rule, counted, pending_to=pending)
            if not wanted:
                self.report.count(step, "satisfied")
                if not self.dry_run and not obj.pending and obj.oid in self._rule_served(rule):
                    self._satisfied.append(_rule_satisfied(rule, obj, self.report.pass_id))
                continue
            reason = wanted.describe()
            if wanted.storage_id:
                self._copy_for(step, obj, reason, have=obj.phase, storage_id=wanted.storage_id, rule=rule)
            else:
                self._copy_for(step, obj, reason, have=obj.phase, min_phase=rule.min_phase or None, rule=rule)

    def _rule_served(self, rule: PlacementRule) -> set[uuid.UUID]:
        """The objects whose copy job for ``rule`` completed between the previous pass's start and
        this one's: each is told satisfied once, by the first pass after its job ended."""
        if rule.pk not in self._served:
            previous = (
                LifecyclePass.objects.filter(dry_run=False, started_at__lt=self.now)
                .exclude(pk=self.report.pass_id)
                .order_by("-started_at")
                .values_list("started_at", flat=True)
                .first()
            )
            jobs = Migration.objects.filter(
                state=JobState.COMPLETED,
                origin=JobOrigin.LIFECYCLE,
                reason__startswith=f"rule {rule.name}: ",
                finished_at__lt=self.now,
            )
            if previous is not None:
                jobs = jobs.filter(finished_at__gte=previous)
            self._served[rule.pk] = set(jobs.values_list("oid", flat=True))
        return self._served[rule.pk]

    # -- the actions

    def _copy_for(
        self,
        step: str,
        obj: ObjectState,
        reason: str,
        *,
        have: str,
        target: str | None = None,
        min_phase: str | None = None,
        storage_id: uuid.UUID | None = None,
        rule: PlacementRule | None = None,
    ) -> str | None:
        """Ask for a copy of ``obj`` to the best place. None when it was asked for (or would be);
        else why there is nowhere to put it (a "keep" decision recorded)."""
        # the most resilient copy on a storage that can be read (configured, reachable)
        source = max(obj.counted, key=lambda copy: (self._readable(copy), weight(copy.storage_phase), str(copy.uid)))
        place, why_not = self.places.choose(
            exclude=obj.holds_on(),
            size=source.item_size,
            name_taken=obj.name_taken,
            have=have,
            target=target,
            min_phase=min_phase,
            storage_id=storage_id,
        )
        about = {**_about(source), "rule": rule.name if rule else ""}
        if place is None:
            self.report.add(Decision(step, "keep", str(obj.oid), f"{reason}, and {why_not}", **about))
            return why_not
        decision = Decision(step, "copy", str(obj.oid), reason, destination=place.name, **about)
        if not self.dry_run:
            plan = PlannedCopy(
                source_uid=source.uid,
                destination_id=place.storage_id,
                reason=reason if not rule else f"rule {rule.name}: {reason}",
                uid_expiration=self.now + rule.lifetime if rule and rule.lifetime else None,
            )
            if self._readable(source) and uri_problem(source.uri or "") is None:
                self._planned_copies.append((plan, decision))
            else:  # the copy service says what is wrong with it
                self._copy_one(plan, decision)
        self.places.take(place, source.item_size)
        self.report.add(decision)
        return None

    def _readable(self, copy: Copy) -> bool:
        place = self.places.all.get(copy.storage_id)
        return place is not None and place.refusal in ("", "retired", "not available")

    def _delete(self, step: str, obj: ObjectState, copy: Copy, reason: str, *, forced: bool = False) -> None:
        decision = Decision(step, "delete", str(obj.oid), reason, **_about(copy))
        copy.deletion_id = -1  # it no longer counts for the next decisions
        self.report.add(decision)
        if self.dry_run:
            return
        plan = PlannedDeletion(uid=copy.uid, reason=reason, forced=forced)
        read = any(job.source_uid == copy.uid for job in obj.pending)
        if copy.storage_id is None or copy.container or read or copy.written_by is not None:
            self._delete_one(plan, decision)  # the deletion service judges these itself
        else:
            self._planned_deletions.append((plan, decision))

    def _cancel(self, step: str, obj: ObjectState, migration_id: int, reason: str) -> None:
        decision = Decision(step, "cancel", str(obj.oid), reason, job=migration_id)
        if not self.dry_run:
            try:
                with transaction.atomic():
                    job = copy_job_cancel(migration_id=migration_id, reason=reason)
            except DataLifecycleError as exc:
                self.report.add(Decision(step, "wait", str(obj.oid), f"{reason}; copy job {migration_id}: {exc}"))
                return
            if job.state != JobState.CANCELLED and job.cancel_requested:
                decision.reason += " (its worker stops it)"
        self.report.add(decision)

    def _hold(self, kind: str, held: list[tuple[uuid.UUID, ObjectState, str]]) -> None:
        """Record what the pass had to leave as it is, and why (one row per copy or object)."""
        subjects = [subject for subject, _, _ in held]
        existing = set(Hold.objects.filter(kind=kind, subject__in=subjects).values_list("subject", flat=True))
        Hold.objects.bulk_create(
            [
                Hold(kind=kind, subject=subject, oid=obj.oid, item_name=obj.name, reason=why, since=self.now)
                for subject, obj, why in held
                if subject not in existing
            ]
        )
        for subject, _, why in held:
            if subject in existing:
                Hold.objects.filter(kind=kind, subject=subject).update(reason=why, checked_at=self.now)

    def _holds_prune(self) -> None:
        """Forget what the pass held back and that is no longer held: a kept copy since deleted or
        given a new expiry, an object brought to its target by other means. The oldest records
        first, a batch per pass."""
        held_copy = DataItem.objects.filter(uid=OuterRef("subject"), expired=True).exclude(item_state=ItemState.DELETED)
        held_object = DataItem.objects.filter(oid=OuterRef("oid"), lifecycle_hold=True)
        oldest = list(Hold.objects.order_by("checked_at", "id").values_list("id", flat=True)[: self.batch])
        if not oldest:
            return
        stale = Hold.objects.filter(id__in=oldest).filter(
            Q(kind=HoldKind.EXPIRED_KEPT) & ~Exists(held_copy) | Q(kind=HoldKind.BELOW_TARGET) & ~Exists(held_object)
        )
        gone = set(stale.values_list("id", flat=True))
        if gone:
            Hold.objects.filter(id__in=gone).delete()
            self.report.count("holds", "released", len(gone))
        Hold.objects.filter(id__in=[pk for pk in oldest if pk not in gone]).update(checked_at=self.now)

    def _failed_recently(self, uids: list[uuid.UUID]) -> set[uuid.UUID]:
        """Copies whose deletion failed lately (after all its attempts): not asked again until
        ``DLM_LIFECYCLE_RETRY_FAILED`` has passed."""
        if not uids:
            return set()
        rows = Deletion.objects.filter(
            uid__in=uids, state=JobState.FAILED, finished_at__gt=self._retry_failed_after
        ).values_list("uid", flat=True)
        return set(rows)


def _being_deleted() -> QuerySet:
    """The copies an active deletion is removing (they are left until it has ended)."""
    return Deletion.objects.filter(state__in=ACTIVE).values("uid")


def _rule_satisfied(rule: PlacementRule, obj: ObjectState, pass_id: int | None) -> tuple[str, dict, dict]:
    """The ``dlm.rule.satisfied`` event of ``obj`` under ``rule``: the READY copies it has."""
    ready = [copy for copy in obj.copies if copy.item_state == ItemState.READY]
    payload = {
        "rule": rule.name,
        "rule_id": rule.pk,
        "oid": obj.oid,
        "item_name": ready[0].item_name if ready else None,
        "copies": [{"uid": c.uid, "storage_id": c.storage_id, "storage_name": c.storage_name} for c in ready],
        "pass_id": pass_id,
    }
    return RULE_SATISFIED, {"oid": obj.oid, "rule_id": rule.pk}, payload


def _about(copy: Copy) -> dict[str, str]:
    return {"uid": str(copy.uid), "item_name": copy.item_name or "", "storage": copy.storage_name or ""}


def _pending_copy(places: Places, storage_id: uuid.UUID) -> Copy:
    """A copy on its way to ``storage_id``, counted as a rule's copy so that it is not asked twice."""
    place = places.all.get(storage_id)
    return Copy(
        uid=uuid.uuid4(), oid=uuid.uuid4(), item_name=None, item_type=None, item_state=ItemState.READY,
        storage_id=storage_id, storage_name=place.name if place else None,
        storage_phase=place.phase if place else None, target_phase=None, uid_creation=timezone.now(),
        uid_expiration=None, oid_expiration=None, item_size=None, parents=None, metadata=None, expired=False, uri=None,
    )  # fmt: skip


def lifecycle_pass(*, dry_run: bool = False, now: datetime | None = None, batch: int | None = None) -> PassReport:
    """Run one lifecycle pass (see the module); its report. With ``dry_run`` nothing is written
    but the pass's own row: the decisions say what a pass would do, and why."""
    return LifecycleRun(dry_run=dry_run, now=now, batch=batch).run()


def rule_preview(rule: PlacementRule, *, now: datetime | None = None) -> PassReport:
    """What the pass would copy for this rule now, and why (a dry run of the rule alone)."""
    return LifecycleRun(dry_run=True, now=now, only_rule=rule).run()
