"""The lifecycle benchmark's catalogue: four storages with rclone configs and ``items`` copies, of
which 1 % are expired copies and 1 % are objects below their target phase.

The objects, by kind (a copy is a ``data_item`` row; ``n`` is ``items``):

- ``deletable`` (0.5 % of n objects, 2 copies each): an expired copy on ``gas-1`` and a copy on
  ``solid-1`` (target SOLID): the pass deletes the expired copy.
- ``kept`` (0.5 % of n objects, 2 copies each): an expired copy on ``gas-1`` and one on ``gas-2``
  (target LIQUID, which the two GAS copies reach together): the pass keeps the expired copy, with
  the reason "would leave the object at GAS below its target LIQUID".
- ``below`` (1 % of n objects, 1 copy each): a copy on ``gas-1``, target SOLID: the pass asks for a
  copy job to ``solid-1`` (only queued: no job runs).
- the rest, at their target and not expired: one copy on ``solid-1`` (target SOLID), a copy on
  ``gas-2`` and one on ``liquid-1`` (target LIQUID), one copy on ``gas-2`` (target GAS), or a
  READY copy on ``solid-1`` beside a DELETED one on ``gas-2``.

Every copy was registered long before the phase grace; the expired ones expired 1 hour to 30 days
ago, the others expire in the coming years. On PostgreSQL the rows go in by ``COPY … FROM STDIN``
with the secondary indexes dropped and built again (as ``catalogue_fill`` does), on SQLite by one
``executemany`` in one transaction.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from benchmarks.catalogue_fill import timestamp, uuid4_of
from benchmarks.common import log

# name -> phase; every one gets an rclone config of type local (the pass only reads that it has one)
STORAGES = {"gas-1": "GAS", "gas-2": "GAS", "liquid-1": "LIQUID", "solid-1": "SOLID"}
EXPIRED_SHARE = 0.01  # of the copies: expired, half deletable, half kept
BELOW_SHARE = 0.01  # of the copies: objects below target with somewhere to go

COLUMNS = (
    "uid", "oid", "item_version", "item_name", "storage_id", "uri", "item_value", "item_type", "item_format",
    "item_encoding", "item_mime_type", "item_level", "uid_phase", "oid_phase", "item_state", "target_phase",
    "uid_creation", "oid_creation", "uid_expiration", "oid_expiration", "uid_deletion", "expired", "deleted",
    "item_checksum", "checksum_method", "item_owner", "item_group", "item_size", "metadata", "hashes",
    "lifecycle_hold",
)  # fmt: skip

# The tables a fill empties first (a previous run's jobs, passes, holds and their audit records).
TABLES = (
    "audit_record", "django_q_ormq", "lifecycle_hold", "lifecycle_pass", "lifecycle_lease", "lifecycle_rule",
    "deletion", "migration", "data_item", "storage_config", "storage", "location",
)  # fmt: skip


@dataclass
class Row:
    """One copy, as the fill writes it (times in seconds since the epoch)."""

    uid: str  # 32 hex digits
    oid: str
    name: str
    storage: str  # storage name
    state: str
    oid_phase: str
    target: str
    created: float
    expires: float
    deleted_at: float | None = None


@dataclass
class Plan:
    """How many objects of each kind a fill of ``items`` copies holds."""

    items: int
    deletable: int
    kept: int
    below: int

    @classmethod
    def of(cls, items: int) -> Plan:
        expired = round(items * EXPIRED_SHARE)
        return cls(items, expired // 2, expired - expired // 2, round(items * BELOW_SHARE))

    @property
    def expected(self) -> dict[str, dict[str, int]]:
        """The first pass's decisions, by step and kind."""
        return {"uid-expiry": {"delete": self.deletable, "keep": self.kept}, "target-phase": {"copy": self.below}}


# Objects at their target, not expired: (copies as (storage, state), target, share of such objects).
BASELINE = (
    ((("solid-1", "READY"),), "SOLID", 0.6),
    ((("gas-2", "READY"), ("liquid-1", "READY")), "LIQUID", 0.2),
    ((("gas-2", "READY"),), "GAS", 0.15),
    ((("solid-1", "READY"), ("gas-2", "DELETED")), "SOLID", 0.05),
)
SPECIAL = {
    "deletable": ((("gas-1", "READY", True), ("solid-1", "READY", False)), "SOLID", "SOLID"),
    "kept": ((("gas-1", "READY", True), ("gas-2", "READY", False)), "LIQUID", "LIQUID"),
    "below": ((("gas-1", "READY", False),), "SOLID", "GAS"),
}
PHASE_OF = {("solid-1",): "SOLID", ("gas-2", "liquid-1"): "LIQUID", ("gas-2",): "GAS"}


def rows(plan: Plan, seed: int, now: float) -> Iterator[Row]:
    """The ``plan.items`` copies, the objects of every kind shuffled together (so that each batch of
    the pass meets a few of the ones it acts on)."""
    rng = random.Random(seed)
    kinds = ["deletable"] * plan.deletable + ["kept"] * plan.kept + ["below"] * plan.below
    left = plan.items - sum(len(SPECIAL[kind][0]) for kind in kinds)
    if left < 0:
        raise SystemExit(f"{plan.items} items are too few for the plan {plan}")
    weights = [share for _, _, share in BASELINE]
    while left > 0:
        choice = rng.choices(range(len(BASELINE)), weights)[0]
        if len(BASELINE[choice][0]) > left:
            choice = 0  # one copy left to place
        kinds.append(choice)
        left -= len(BASELINE[choice][0])
    rng.shuffle(kinds)
    year = 365 * 86400
    for number, kind in enumerate(kinds):
        oid = uuid4_of(rng.getrandbits(128))
        created = now - 2 * year + number * (year / len(kinds))  # all long before the grace
        name = f"lc/eb-{number // 8:07d}/product-{number % 8}.ms"
        if isinstance(kind, int):
            copies, target, _ = BASELINE[kind]
            ready = tuple(storage for storage, state in copies if state == "READY")
            phase = PHASE_OF[ready]
            for n, (storage, state) in enumerate(copies):
                uid = oid if n == 0 else uuid4_of(rng.getrandbits(128))
                expires = now + year + rng.random() * 3 * year
                gone = created + 86400 if state == "DELETED" else None
                yield Row(uid, oid, name, storage, state, phase, target, created + n * 60, expires, gone)
            continue
        copies, target, phase = SPECIAL[kind]
        for n, (storage, state, expired) in enumerate(copies):
            uid = oid if n == 0 else uuid4_of(rng.getrandbits(128))
            expires = now - rng.uniform(3600, 30 * 86400) if expired else now + year + rng.random() * 3 * year
            yield Row(uid, oid, name, storage, state, phase, target, created + n * 60, expires)


def _values(row: Row, storage_ids: dict[str, str], size: int, checksum: str, form: Form) -> tuple:
    """The row's ``COLUMNS``, in the database's written ``form``."""
    deleted = row.state == "DELETED"
    gone = form.stamp(row.deleted_at) if row.deleted_at else form.null
    return (
        row.uid, row.oid, 1, row.name, storage_ids[row.storage], row.name, "", "file", "ms", "unknown",
        "application/octet-stream", -1, _PHASES[row.storage], row.oid_phase, row.state, row.target,
        form.stamp(row.created), form.stamp(row.created), form.stamp(row.expires), form.stamp(FAR), gone,
        form.yes if deleted else form.no, form.yes if deleted else form.no, checksum, "md5", "SKA", "SKA", size,
        '{"project": "bench"}', "{}", form.no,
    )  # fmt: skip


@dataclass(frozen=True)
class Form:
    """How a database is given times, booleans and nulls: COPY's text, or SQLite's parameters."""

    stamp: Callable[[float], str]
    yes: object
    no: object
    null: object


FAR = 4102444799.0  # 2099-12-31 23:59:59 UTC, upstream's oid_expiration
COPY_FORM = Form(timestamp, "t", "f", "\\N")
SQLITE_FORM = Form(lambda epoch: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)), True, False, None)
_PHASES = dict(STORAGES)


def storages_create(root: Path) -> dict[str, str]:
    """The location and the four storages, each with an rclone config (a local directory under
    ``root``), made through the catalogue's services; their ids (32 hex digits) by name. Needs
    Django set up."""
    from catalogue.services import location_create, storage_config_create, storage_create

    location = location_create(location_name="bench-lifecycle", location_type="local-dev", location_country="AU")
    ids = {}
    for name, phase in STORAGES.items():
        storage = storage_create(
            storage_name=name, storage_type="filesystem", storage_interface="posix", root_directory="data",
            location_id=location.location_id, storage_phase=phase,
        )  # fmt: skip
        (root / name / "data").mkdir(parents=True, exist_ok=True)
        config = {"name": f"bench-{name}", "type": "local", "root_path": str(root / name)}
        storage_config_create(storage_id=storage.storage_id, config=config, check_remote=False)
        ids[name] = storage.storage_id.hex
    return ids


def tables_empty(vendor: str) -> None:
    """Empty ``TABLES`` (Django's connection)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")
        else:
            for table in TABLES[1:]:  # a fresh file: its audit trail is empty (and refuses DELETE)
                cursor.execute(f"DELETE FROM {table}")


def fill(*, items: int, seed: int, root: Path, database_url: str | None) -> tuple[Plan, dict[str, float]]:
    """Empty the tables and fill them (PostgreSQL when ``database_url`` is given, else Django's
    SQLite database); the plan and the seconds each stage took."""
    from django.db import connection

    plan = Plan.of(items)
    times: dict[str, float] = {}
    started = time.perf_counter()
    tables_empty(connection.vendor)
    storage_ids = storages_create(root)
    times["storages"] = time.perf_counter() - started
    rng = random.Random(seed + 1)
    form = COPY_FORM if database_url else SQLITE_FORM
    values = (
        _values(row, storage_ids, rng.randrange(1 << 20, 1 << 34), f"{rng.getrandbits(128):032x}", form)
        for row in rows(plan, seed, time.time())
    )
    began = time.perf_counter()
    if database_url:
        times.update(_fill_postgres(database_url, values, items))
    else:
        times.update(_fill_sqlite(values))
    times["rows"] = time.perf_counter() - began
    times["total"] = time.perf_counter() - started
    return plan, times


def _fill_postgres(database_url: str, values: Iterator[tuple], items: int) -> dict[str, float]:
    """The rows by ``COPY``, the secondary indexes dropped and built again, then ``VACUUM ANALYZE``."""
    times = {}
    with psycopg.connect(database_url) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        secondary = conn.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE x.indrelid = 'data_item'::regclass"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        ).fetchall()
        for name, _ in secondary:
            conn.execute(f'DROP INDEX "{name}"')
        started = time.perf_counter()
        chunk: list[str] = []
        with conn.cursor() as cur, cur.copy(f"COPY data_item ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for line in values:
                chunk.append("\t".join(map(str, line)))
                if len(chunk) == 20_000:
                    copy.write("\n".join(chunk) + "\n")
                    chunk.clear()
            if chunk:
                copy.write("\n".join(chunk) + "\n")
        times["copy"] = time.perf_counter() - started
        log(f"  COPY: {items:,} rows in {times['copy']:.1f} s = {items / times['copy']:,.0f} rows/s")
        started = time.perf_counter()
        for _, ddl in secondary:
            conn.execute(ddl)
        conn.commit()
        times["indexes"] = time.perf_counter() - started
        log(f"  CREATE INDEX x {len(secondary)}: {times['indexes']:.1f} s")
        conn.autocommit = True
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE data_item")
        conn.execute("ANALYZE storage")
        times["analyze"] = time.perf_counter() - started
        log(f"  VACUUM ANALYZE: {times['analyze']:.1f} s")
    return times


def _fill_sqlite(values: Iterator[tuple]) -> dict[str, float]:
    """The rows by one ``executemany`` (in Django's SQLite forms: uuids as 32 hex digits, times as
    naive UTC text)."""
    from django.db import connection, transaction

    times = {}
    started = time.perf_counter()
    marks = ", ".join(["%s"] * len(COLUMNS))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO data_item ({', '.join(COLUMNS)}) VALUES ({marks})", values)
    times["insert"] = time.perf_counter() - started
    # No ANALYZE: DLM never runs one on SQLite, and its statistics change the plans (with every row's
    # ``parents`` null, the index on it looks useless to the planner, which then scans the table).
    return times


def describe() -> dict[str, int]:
    """Copies by state, and objects (Django's connection)."""
    from django.db.models import Count

    from catalogue.models import DataItem

    states = Counter(dict(DataItem.objects.values_list("item_state").annotate(n=Count("uid")).order_by()))
    objects = DataItem.objects.values("oid").distinct().count()
    return {"copies": sum(states.values()), "objects": objects, **{state.lower(): n for state, n in states.items()}}
