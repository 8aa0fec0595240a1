"""The lifecycle under load and under faults, on PostgreSQL: real django-q2 clusters (``manage.py
qcluster``) and two processes running lifecycle passes at once, all on the test database, real
rclone on local directories, while this process asks for deletions (sometimes forced, sometimes
two of one object's copies at the same instant) and copies, and kills at random (``SIGKILL``) a
whole cluster (its rclone daemons with it), a worker in the middle of a job, or a pass runner (most
often in the middle of a pass), starting new ones.

Then every job is let finish (the clusters killed a last time, a fresh one started; the recovery
re-queues what dead workers held, its heartbeat limit set to 5 s) and what the user relies on is
checked:

- no object lost its last READY copy unless a forced deletion or its object's expiry took it;
- every READY copy's file is on its storage with the registered size; no DELETED copy's file is;
- a completed deletion's copy is DELETED; a completed copy's destination is READY, or was
  deleted by a later deletion; no copy was deleted while a copy job was reading it;
- never two lifecycle copies of one object under way, nor two deletions of one copy.

The run is random but seeded: the seed is printed (``DLM_CHAOS_SEED=<seed>`` replays the same
choices; the processes' timing still varies). SQLite's in-memory test database cannot be shared
with other processes: PostgreSQL only.

Two faults the chaos found have a test of their own below: a copy or deletion completing could
deadlock with the lifecycle's or ``copy_delete``'s lock on the object's rows (fixed: every writer
locks an object's rows in uid order first), and a queued job whose task a killed cluster had taken
was not re-queued by the recovery until django-q2's own retry, a day later (fixed: a task taken
longer ago than the heartbeat limit whose job is still queued does not count as in the queue).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError, connection
from django.db.models import Count, F
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import OrmQ, Schedule

from catalogue.choices import ItemState
from catalogue.models import DataItem
from core.errors import DataLifecycleError, FieldError, FieldErrors
from lifecycle.models import LifecyclePass, PassState
from lifecycle.services import copy_delete
from lifecycle.tasks import PASS_SCHEDULE
from migrations_app.choices import JobOrigin
from migrations_app.jobs import copy_task_send
from migrations_app.models import Deletion, Migration
from migrations_app.runner import copy_job_run, copy_jobs_recover, deletion_jobs_recover
from migrations_app.services import copy_job_create
from migrations_app.states import ACTIVE, WORKING, JobState
from tests.conftest import simultaneously
from tests.factories import make_copy_job, make_item
from tests.lifecycle.helpers import Place, age, local_place, register

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

PHASES = {"gas-a": "GAS", "gas-b": "GAS", "liquid": "LIQUID", "solid": "SOLID"}
OBJECTS = 32
CLUSTERS = 2  # alive at any time (a killed one is replaced at once)
CHAOS_SECONDS = 22.0
FINISH_SECONDS = 40.0

PASS_RUNNER = r"""
import json, random, sys, time
from pathlib import Path
import django
django.setup()
from lifecycle.engine import lifecycle_pass

stop, rng = Path(sys.argv[1]), random.Random(int(sys.argv[2]))
while not stop.exists():
    report = lifecycle_pass()
    print(json.dumps({"state": report.state, "counts": report.counts_dict(), "error": report.error}), flush=True)
    time.sleep(rng.uniform(0, 0.3))
"""


# --- the processes ----------------------------------------------------------------------------------


def _database_url() -> str:
    """The test database, for the other processes."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLM_") and k != "DATABASE_URL"}
    env.update(
        DJANGO_SETTINGS_MODULE="dlm.settings",
        DATABASE_URL=_database_url(),
        DLM_VAR_DIR=str(tmp_path / "var"),
        DLM_SECRET_KEY=django_settings.SECRET_KEY,
        DLM_FIELD_ENCRYPTION_KEYS=",".join(key.decode() for key in django_settings.FIELD_ENCRYPTION_KEYS),
        DLM_WORKERS="2",
        DLM_COPY_HEARTBEAT_LIMIT="5",  # the least allowed: a dead worker's job is taken again after 5 s
        DLM_COPY_RETRY_DELAY="1",
        DLM_COPY_BWLIMIT="40M",  # the larger files take a second: a kill may land mid-copy
        DLM_PHASE_GRACE="0",  # an object below its target gets a copy at once
        DLM_LIFECYCLE_BATCH="4",  # many batches, many transactions per pass
        DLM_LIFECYCLE_LEASE="10",  # the least allowed: a killed pass runner's lease runs out in 10 s
        DLM_LOG_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
    )
    return env


class Processes:
    """The clusters and pass runners of the run, each in a process group of its own (killed whole)."""

    def __init__(self, env: dict[str, str], directory: Path, rng: random.Random) -> None:
        self.env, self.directory, self.rng = env, directory, rng
        self.clusters: list[subprocess.Popen] = []
        self.runners: list[subprocess.Popen] = []
        self.stop_file = directory / "stop"
        self.started = Counter()
        self.killed = Counter()
        self.runner_killed_at = None

    def _start(self, kind: str, args: list[str]) -> subprocess.Popen:
        self.started[kind] += 1
        with open(self.directory / f"{kind}-{self.started[kind]}.log", "w") as log:
            return subprocess.Popen(
                args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def cluster(self) -> None:
        self.clusters.append(self._start("cluster", [sys.executable, "manage.py", "qcluster"]))

    def runner(self) -> None:
        seed = str(self.rng.getrandbits(32))
        args = [sys.executable, "-c", PASS_RUNNER, str(self.stop_file), seed]
        self.runners.append(self._start("runner", args))

    def kill(self, process: subprocess.Popen, kind: str) -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(30)
        self.killed[kind] += 1

    def kill_a_cluster(self) -> None:
        victim = self.clusters.pop(self.rng.randrange(len(self.clusters)))
        self.kill(victim, "cluster")
        self.cluster()

    def kill_a_worker(self) -> None:
        """SIGKILL one worker process of a cluster (its cluster starts another): the one running a
        job when there is one, its rclone daemon left behind."""
        groups = {cluster.pid for cluster in self.clusters if cluster.poll() is None}
        busy = []
        for model in (Migration, Deletion):
            busy += list(model.objects.filter(state__in=WORKING).values_list("url", flat=True))
        pids = []
        for url in busy:
            try:
                pid = int(url.rsplit(":", 1)[1])
                if os.getpgid(pid) in groups:
                    pids.append(pid)
            except (IndexError, ValueError, ProcessLookupError):
                continue
        if pids:
            try:
                os.kill(self.rng.choice(pids), signal.SIGKILL)
                self.killed["worker"] += 1
            except ProcessLookupError:
                pass

    def clusters_kill(self) -> None:
        for cluster in self.clusters:
            self.kill(cluster, "cluster")
        self.clusters.clear()

    def kill_a_runner(self) -> None:
        """Once a run (its lease then blocks every pass for ``DLM_LIFECYCLE_LEASE`` seconds)."""
        if self.killed["runner"]:
            return
        victim = self.runners.pop(self.rng.randrange(len(self.runners)))
        self.kill(victim, "runner")
        self.runner()
        self.runner_killed_at = timezone.now()

    def runners_stop(self) -> None:
        """Let a pass finish after the last runner killed (its lease ran out), then let the pass
        runners end their pass (killed after 20 s)."""
        finished = LifecyclePass.objects.filter(state=PassState.FINISHED, dry_run=False)
        if self.runner_killed_at is not None:
            finished = finished.filter(started_at__gt=self.runner_killed_at)
        deadline = time.monotonic() + 30
        while not finished.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.stop_file.touch()
        for runner in self.runners:
            try:
                runner.wait(20)
            except subprocess.TimeoutExpired:
                self.kill(runner, "runner")
        self.runners.clear()

    def close(self) -> None:
        self.stop_file.touch()
        for process in self.clusters + self.runners:
            if process.poll() is None:
                self.kill(process, "at the end")
        self.clusters.clear()
        self.runners.clear()

    def passes(self) -> tuple[Counter, list[str]]:
        """The pass runners' passes, by state, and the errors of those that failed."""
        states: Counter = Counter()
        errors = []
        for log in self.directory.glob("runner-*.log"):
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("{"):
                    report = json.loads(line)
                    states[report["state"]] += 1
                    if report["state"] == PassState.FAILED:
                        errors.append(report["error"])
        return states, errors


# --- the world: storages, objects, and what the chaos does to them -----------------------------------


class World:
    """The storages and objects of the run, and a tally of what the chaos asked and got."""

    def __init__(self, tmp_path: Path, rng: random.Random) -> None:
        self.rng = rng
        self.places: dict[str, Place] = {name: local_place(tmp_path, name, phase) for name, phase in PHASES.items()}
        self.roots = {place.storage.storage_id: place.root for place in self.places.values()}
        self.oids: set[uuid.UUID] = set()
        self.asked: Counter = Counter()
        self.unexpected: list[str] = []
        self._lock = threading.Lock()

    def populate(self, objects: int) -> None:
        """``objects`` objects with real bytes: 1 to 3 copies on random storages, random targets, copies
        expired, expiring during the run or later, and some objects expired or expiring."""
        now = timezone.now()
        names = list(self.places)
        for n in range(objects):
            size = self.rng.choice([1, 1, 1, 40]) * self.rng.randint(1_000, 1_000_000)
            data = self.rng.randbytes(size)
            uri = f"obs/chaos-{n:03d}.bin"
            where = self.rng.sample(names, self.rng.choice([1, 1, 2, 2, 3]))
            target = self.rng.choice(["GAS", "LIQUID", "LIQUID", "SOLID", "SOLID"])
            roll = self.rng.random()
            oid_expiration = (
                now - timedelta(minutes=1)
                if roll < 0.08
                else now + timedelta(seconds=self.rng.uniform(5, 20))
                if roll < 0.15
                else now + timedelta(days=365)
            )
            first = register(
                self.places[where[0]], uri, data, aged=False, target_phase=target,
                uid_expiration=self._uid_expiration(now), oid_expiration=oid_expiration,
            )  # fmt: skip
            for name in where[1:]:
                self.places[name].write(uri, data)
                make_item(
                    self.places[name].storage, item_name=first.item_name, uri=uri, oid=first.uid, item_state="READY",
                    item_size=size, hashes=first.hashes, item_checksum=first.item_checksum,
                    checksum_method=first.checksum_method, target_phase=target,
                    uid_expiration=self._uid_expiration(now), oid_expiration=oid_expiration,
                )  # fmt: skip
            age(first.oid)
            self.oids.add(first.oid)

    def _uid_expiration(self, now):
        roll = self.rng.random()
        if roll < 0.3:
            return now - timedelta(minutes=5)
        if roll < 0.5:
            return now + timedelta(seconds=self.rng.uniform(2, CHAOS_SECONDS))
        return now + timedelta(days=30)

    def attempt(self, what: str, call) -> object | None:
        """``call()``; a refusal (a domain error) is an answer too. Anything else is unexpected."""
        try:
            result = call()
        except (DataLifecycleError, FieldError, FieldErrors):
            with self._lock:
                self.asked[f"{what} refused"] += 1
            return None
        except Exception as exc:  # noqa: BLE001 - collected, and the test fails on it
            with self._lock:
                self.unexpected.append(f"{what}: {type(exc).__name__}: {exc}")
            return None
        with self._lock:
            self.asked[f"{what} done"] += 1
        return result

    def _ready(self) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]:
        return list(DataItem.objects.filter(item_state=ItemState.READY).values_list("uid", "oid", "storage_id"))

    # -- the actions

    def delete_one(self) -> None:
        ready = self._ready()
        if ready:
            uid = self.rng.choice(ready)[0]
            force = self.rng.random() < 0.25
            what = "forced deletion" if force else "deletion"
            self.attempt(what, lambda: copy_delete(uid=uid, user="chaos", force=force))

    def delete_two_at_once(self) -> None:
        by_object: dict[uuid.UUID, list[uuid.UUID]] = {}
        for uid, oid, _ in self._ready():
            by_object.setdefault(oid, []).append(uid)
        pairs = [uids for uids in by_object.values() if len(uids) >= 2]
        if not pairs:
            return
        chosen = self.rng.sample(self.rng.choice(pairs), 2)
        calls = iter([(uid, self.rng.random() < 0.2) for uid in chosen])
        lock = threading.Lock()

        def one():
            with lock:
                uid, force = next(calls)
            what = "forced deletion (racing)" if force else "deletion (racing)"
            return self.attempt(what, lambda: copy_delete(uid=uid, user="chaos", force=force))

        simultaneously(one)

    def copy_one(self) -> None:
        ready = self._ready()
        if ready:
            uid, _, storage_id = self.rng.choice(ready)
            destination = self.rng.choice([p for p in self.places.values() if p.storage.storage_id != storage_id])
            self.attempt(
                "copy", lambda: copy_job_create(user="chaos", uid=uid, destination_id=destination.storage.storage_id)
            )

    def recover(self) -> None:
        copy_jobs_recover()
        deletion_jobs_recover()


# --- the checks ---------------------------------------------------------------------------------------


def _doubles() -> list[str]:
    """Two lifecycle copies of one object under way, or two deletions of one copy."""
    found = []
    copies = Migration.objects.filter(origin=JobOrigin.LIFECYCLE, state__in=ACTIVE).values("oid")
    for row in copies.annotate(n=Count("migration_id")).filter(n__gt=1):
        found.append(f"{row['n']} lifecycle copies of object {row['oid']} under way at once")
    deletions = Deletion.objects.filter(state__in=ACTIVE).values("uid")
    for row in deletions.annotate(n=Count("deletion_id")).filter(n__gt=1):
        found.append(f"{row['n']} deletions of copy {row['uid']} under way at once")
    return found


def _history(oid: uuid.UUID) -> str:
    """An object's copies and jobs, for a failure's message."""
    copies = list(DataItem.objects.filter(oid=oid).values_list("uid", "storage__storage_name", "item_state"))
    deletions = list(
        Deletion.objects.filter(oid=oid).values_list("uid", "state", "forced", "origin", "reason", "finished_at")
    )
    jobs = list(
        Migration.objects.filter(oid=oid).values_list(
            "source_uid", "destination_storage__storage_name", "state", "origin", "date", "finished_at"
        )
    )
    return f"copies {copies}; deletions {deletions}; copy jobs {jobs}"


def _violations(world: World) -> list[str]:
    now = timezone.now()
    problems: list[str] = []
    taken = Deletion.objects.filter(forced=True, state__in=(JobState.COMPLETED, JobState.FAILED))
    forced = set(taken.values_list("oid", flat=True))
    expired = set(DataItem.objects.filter(oid_expiration__lt=now).values_list("oid", flat=True))
    ready = Counter(DataItem.objects.filter(item_state=ItemState.READY).values_list("oid", flat=True))
    for oid in sorted(world.oids - forced - expired):
        if not ready[oid]:
            problems.append(f"object {oid} lost its last READY copy, neither forced nor expired: {_history(oid)}")
    live_paths = set()
    for uid, storage_id, uri, size, state in DataItem.objects.exclude(item_state=ItemState.DELETED).values_list(
        "uid", "storage_id", "uri", "item_size", "item_state"
    ):
        path = world.roots[storage_id] / "data" / uri
        live_paths.add(path)
        if state != ItemState.READY:
            continue
        if not path.is_file():
            problems.append(f"READY copy {uid} has no file at {path}")
        elif path.stat().st_size != size:
            problems.append(f"READY copy {uid}: {path} holds {path.stat().st_size} bytes, not {size}")
    for uid, storage_id, uri in DataItem.objects.filter(item_state=ItemState.DELETED).values_list(
        "uid", "storage_id", "uri"
    ):
        path = world.roots[storage_id] / "data" / uri
        if path.exists() and path not in live_paths:
            problems.append(f"DELETED copy {uid}: its file {path} is still there")
    states = dict(DataItem.objects.values_list("uid", "item_state"))
    finished = {}
    for deletion in Deletion.objects.all():
        if deletion.state == JobState.COMPLETED:
            finished.setdefault(deletion.uid, []).append(deletion)
            state = states.get(deletion.uid)
            if state != ItemState.DELETED:
                problems.append(f"deletion {deletion.pk} completed, its copy {deletion.uid} is {state}")
    for job in Migration.objects.filter(state=JobState.COMPLETED):
        state = states.get(job.destination_uid)
        if state != ItemState.READY and not (state == ItemState.DELETED and job.destination_uid in finished):
            failed = Deletion.objects.filter(uid=job.destination_uid, state=JobState.FAILED).exists()
            if not (state == ItemState.CORRUPTED and failed):
                problems.append(f"copy job {job.pk} completed, its destination {job.destination_uid} is {state}")
        for deletion in finished.get(job.source_uid, []):
            if deletion.date < job.finished_at:
                problems.append(
                    f"copy job {job.pk} completed at {job.finished_at} reading {job.source_uid}, which deletion "
                    f"{deletion.pk} (asked at {deletion.date}) removed"
                )
    return problems + _doubles()


def _unfinished() -> list[str]:
    """The jobs not ended, and whether their task is in the queue (locked: taken by a cluster)."""
    now = timezone.now()
    tasks = {}
    for task in OrmQ.objects.all():
        args = task.task.get("args") or ()
        if args:
            tasks[(task.task.get("func", "").rsplit(".", 1)[-1], int(args[0]))] = task.lock > now
    left = []
    for kind, model, func in (("copy", Migration, "copy_job_run"), ("deletion", Deletion, "deletion_job_run")):
        for pk, state, heartbeat in model.objects.filter(state__in=ACTIVE).values_list("pk", "state", "heartbeat_at"):
            queued = tasks.get((func, pk))
            where = "no task queued" if queued is None else "its task taken by a cluster" if queued else "task waiting"
            left.append(f"{kind} {pk} {state} (heartbeat {heartbeat}), {where}")
    return left


# --- the test -----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_lifecycle_keeps_its_promises_under_concurrency_and_killed_workers(tmp_path, settings):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite's in-memory test database cannot be shared with other processes; run on PostgreSQL")
    seed = int(os.environ.get("DLM_CHAOS_SEED") or random.SystemRandom().getrandbits(32))
    print(f"\nchaos seed {seed} (replay the same choices with DLM_CHAOS_SEED={seed})")
    rng = random.Random(seed)
    settings.DLM_COPY_HEARTBEAT_LIMIT = 5  # this process's recovery calls, as the workers' own
    # The passes are the two runners' (a cluster's scheduled pass could start as the run ends).
    Schedule.objects.filter(name=PASS_SCHEDULE).delete()
    world = World(tmp_path, rng)
    world.populate(OBJECTS)
    processes = Processes(_env(tmp_path), tmp_path, rng)
    doubles: list[str] = []
    try:
        for _ in range(CLUSTERS):
            processes.cluster()
        processes.runner()
        processes.runner()  # two passes asked for at once, again and again
        actions = [
            (world.delete_one, 30),
            (world.delete_two_at_once, 15),
            (world.copy_one, 30),
            (processes.kill_a_cluster, 6),
            (processes.kill_a_worker, 6),
            (processes.kill_a_runner, 3),
            (world.recover, 8),
        ]
        deadline = time.monotonic() + CHAOS_SECONDS
        while time.monotonic() < deadline:
            action = rng.choices([a for a, _ in actions], [w for _, w in actions])[0]
            world.asked[action.__name__] += 1
            action()
            doubles += _doubles()
            time.sleep(rng.uniform(0.05, 0.3))

        processes.runners_stop()
        processes.clusters_kill()  # the last fault
        processes.cluster()  # one that lives to the end
        deadline = time.monotonic() + FINISH_SECONDS
        while _unfinished() and time.monotonic() < deadline:
            world.recover()
            time.sleep(1)
        left = _unfinished()
    finally:
        processes.close()
    passes, pass_errors = processes.passes()
    rows = Counter(LifecyclePass.objects.filter(dry_run=False).values_list("state", flat=True))
    print(f"asked: {dict(world.asked)}")
    print(f"passes (runners): {dict(passes)}; pass rows: {dict(rows)}")
    print(f"processes started {dict(processes.started)}, killed {dict(processes.killed)}")
    print(f"copy jobs: {dict(Counter(Migration.objects.values_list('state', flat=True)))}")
    print(f"deletions: {dict(Counter(Deletion.objects.values_list('state', flat=True)))}")
    assert not left, f"seed {seed}: jobs not ended {FINISH_SECONDS:.0f} s after the chaos: {left}"
    assert not world.unexpected, f"seed {seed}: errors other than refusals: {world.unexpected}"
    assert not pass_errors, f"seed {seed}: passes failed: {pass_errors}"
    problems = _violations(world) + sorted(set(doubles))
    assert not problems, f"seed {seed}:\n" + "\n".join(problems)
    # and the run did what it is for
    assert passes["finished"] > 0 and passes["skipped"] > 0, passes
    assert Deletion.objects.filter(state=JobState.COMPLETED, origin=JobOrigin.LIFECYCLE).exists()
    assert Migration.objects.filter(state=JobState.COMPLETED, origin=JobOrigin.LIFECYCLE).exists()


def test_a_queued_job_whose_task_a_killed_cluster_had_taken_is_recovered(db, settings):
    """What the chaos found: a cluster takes tasks ahead of its workers (up to DLM_WORKERS² of them,
    its queue); killed, it leaves their jobs queued and their tasks locked in the queue. The task is
    taken as a cluster takes it (the broker's ``dequeue``: its lock becomes now + ``retry``)."""
    settings.DLM_COPY_HEARTBEAT_LIMIT = 5
    job = make_copy_job()
    copy_task_send(job.pk)
    assert get_broker().dequeue()  # as a cluster's pusher takes it, before the cluster is killed
    Migration.objects.filter(pk=job.pk).update(date=timezone.now() - timedelta(minutes=10))
    sent: list[int] = []

    copy_jobs_recover(enqueue=sent.append)
    assert sent == []  # just taken: a live cluster may be about to run it

    # ...as if it had been taken ten minutes ago (its lock: the time taken + retry), the cluster dead
    OrmQ.objects.update(lock=F("lock") - timedelta(minutes=10))
    copy_jobs_recover(enqueue=sent.append)

    assert Migration.objects.get(pk=job.pk).state == JobState.QUEUED
    assert sent == [job.pk]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_copy_completing_while_its_object_is_being_deleted_does_not_deadlock(tmp_path, settings):
    """What the chaos found, made certain: a copy job completes (its destination READY, then its
    object's phase on every row) while ``copy_delete`` locks the object's rows, in uid order, for its
    resilience check. The job's transaction is held (by ``execute_wrapper``, as a slow network would)
    right after its destination's update, until the deletion waits for that row."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite locks the whole database: no row lock order to get wrong")
    settings.DLM_COPY_RETRY_DELAY = 0
    gas, solid = local_place(tmp_path, "gas", "GAS"), local_place(tmp_path, "solid", "SOLID")
    data = b"bytes of an object" * 300
    md5 = gas.write("obs/racing.bin", data)
    source = make_item(
        gas.storage, uid=uuid.UUID("00000000-0000-4000-8000-000000000001"),  # the object's first row in uid order
        item_name="obs/racing.bin", uri="obs/racing.bin", item_state="READY", item_size=len(data),
        item_checksum=md5, checksum_method="md5",
    )  # fmt: skip
    job = copy_job_create(user="tester", uid=source.uid, destination_id=solid.storage.storage_id)
    destination_updated, deletion_waits = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def hold_after_the_destination_update(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('UPDATE "data_item" SET "item_state"') and not destination_updated.is_set():
            destination_updated.set()
            deletion_waits.wait(20)
        return result

    def run_the_job() -> None:
        try:
            with connection.execute_wrapper(hold_after_the_destination_update):
                outcome["job"] = copy_job_run(job.pk)
        finally:
            connection.close()

    def delete_the_source() -> None:
        try:
            outcome["deletion"] = copy_delete(uid=source.uid, user="tester")
        except Exception as exc:  # noqa: BLE001 - what the caller would get
            outcome["deletion"] = exc
        finally:
            connection.close()

    runner = threading.Thread(target=run_the_job)
    runner.start()
    assert destination_updated.wait(60)
    deleter = threading.Thread(target=delete_the_source)
    deleter.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not _waiting_for_a_lock():
        time.sleep(0.02)
    deletion_waits.set()
    runner.join(60)
    deleter.join(60)

    row = Migration.objects.get(pk=job.pk)
    assert (row.state, row.attempts, row.last_error) == (JobState.COMPLETED, 1, "")
    assert not isinstance(outcome["deletion"], OperationalError), outcome["deletion"]


def _waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0
