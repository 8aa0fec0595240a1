"""The catalogue benchmarks' data: four locations, storages and many data items, in PostgreSQL by
``COPY`` or in a SQLite file by ``executemany``, the same rows in both.

Shared by ``catalogue.py`` and ``ui.py``, which fill the same database.
"""

from __future__ import annotations

import itertools
import os
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from benchmarks.common import log

STATES = [("READY", 0.95), ("INITIALISED", 0.02), ("CORRUPTED", 0.01), ("EXPIRED", 0.01), ("DELETED", 0.01)]
# product suffix -> (item_type, item_mime_type)
PRODUCTS = [
    ("ms", "container", "application/x-tar"),
    ("ms", "container", "application/x-tar"),
    ("ms", "container", "application/x-tar"),
    ("fits", "file", "application/fits"),
    ("fits", "file", "application/fits"),
    ("h5", "file", "application/x-hdf"),
    ("zarr", "container", "application/vnd.zarr"),
    ("json", "file", "application/json"),
]
COPY_COLUMNS = [
    "uid", "oid", "item_version", "item_name", "storage_id", "uri", "item_value", "item_type", "item_format",
    "item_encoding", "item_mime_type", "item_level", "uid_phase", "oid_phase", "item_state", "target_phase",
    "uid_creation", "oid_creation", "uid_expiration", "oid_expiration", "uid_deletion", "expired", "deleted",
    "item_checksum", "checksum_method", "item_owner", "item_group", "item_size", "metadata",
    "hashes", "lifecycle_hold",
]  # fmt: skip
# (location_name, location_type, location_country, location_city, location_facility); storage n is at
# location n % 4.
LOCATIONS = [
    ("bench-pawsey", "low-operations", "AU", "Perth", "Pawsey Centre"),
    ("bench-cape-town", "mid-operations", "ZA", "Cape Town", "SRC"),
    ("bench-stfc", "low-integration", "UK", "Didcot", "STFC"),
    ("bench-aws", "mid-integration", "AU", "Sydney", "AWS"),
]
STORAGE_KINDS = [("filesystem", "posix"), ("objectstore", "s3"), ("tape", "sftp")]


def uuid4_of(bits: int) -> str:
    """A version-4 uuid from 128 random bits, as PostgreSQL reads it (32 hex digits)."""
    bits = (bits & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
    return f"{bits:032x}"


def timestamp(epoch: float) -> str:
    """``epoch`` as COPY reads a timestamp with time zone (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(epoch))


@dataclass(frozen=True)
class Form:
    """How a database is given times, booleans and nulls: COPY's text, or SQLite's parameters (as
    Django writes them there: naive UTC text, 1 and 0)."""

    stamp: Callable[[float], str]
    yes: object
    no: object
    null: object


COPY_FORM = Form(timestamp, "t", "f", "\\N")
SQLITE_FORM = Form(lambda epoch: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)), 1, 0, None)


def data_item_lines(n_rows: int, storage_ids: list[str], seed: int, two_copy_share: float) -> Iterator[str]:
    """COPY text lines of ``data_item_rows``."""
    for row in data_item_rows(n_rows, storage_ids, seed, two_copy_share, COPY_FORM):
        yield "\t".join(row)


def data_item_rows(
    n_rows: int, storage_ids: list[str], seed: int, two_copy_share: float, form: Form
) -> Iterator[tuple]:
    """``COPY_COLUMNS`` of ``n_rows`` copies in ``form``: objects of 1 copy, some of 2 on different storages.

    A single copy's oid is its uid; the second copy of an object has its own uid, the first copy's
    oid and the same item_name. Names are ``eb-<n>/product-<m>.<ext>``, 8 products per execution
    block; creation times rise over two years, most items are READY.
    """
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    span = 2 * 365 * 86400
    step = span / max(n_rows, 1)
    oid_expiration = form.stamp(4102444799.0)  # 2099-12-31 23:59:59 UTC
    state_names = [s for s, _ in STATES]
    state_cum = []
    total = 0.0
    for _, weight in STATES:
        total += weight
        state_cum.append(total)
    emitted = 0
    obj = 0
    while emitted < n_rows:
        eb, product = divmod(obj, len(PRODUCTS))
        ext, item_type, mime = PRODUCTS[product]
        name = f"eb-{eb:07d}/product-{product:02d}.{ext}"
        metadata = f'{{"execution_block": "eb-{eb:07d}", "product": {product}}}'
        copies = 2 if rng.random() < two_copy_share and emitted + 2 <= n_rows else 1
        stores = rng.sample(storage_ids, copies)
        oid = uuid4_of(rng.getrandbits(128))
        created = start + emitted * step + rng.random() * 60
        size = rng.randrange(1 << 20, 1 << 36)
        oid_phase = "LIQUID" if copies == 2 else "GAS"
        for copy in range(copies):
            uid = oid if copy == 0 else uuid4_of(rng.getrandbits(128))
            roll = rng.random()
            state = next((state_names[i] for i, c in enumerate(state_cum) if roll < c), "READY")
            uid_created = created + copy * 3600
            gone = state in ("EXPIRED", "DELETED")
            yield (
                uid,
                oid,
                "1",
                name,
                stores[copy],
                name,
                "",
                item_type,
                ext,
                "unknown",
                mime,
                "-1",
                "GAS",
                oid_phase,
                state,
                "SOLID",
                form.stamp(uid_created),
                form.stamp(created),
                form.stamp(uid_created + 86400),
                oid_expiration,
                form.stamp(uid_created + 2 * 86400) if state == "DELETED" else form.null,
                form.yes if gone else form.no,
                form.yes if state == "DELETED" else form.no,
                f"{rng.getrandbits(128):032x}",
                "md5",
                "SKA",
                "SKA",
                str(size),
                metadata,
                "{}",
                form.no,
            )
            emitted += 1
        obj += 1


def fill(
    conn: psycopg.Connection, items: int, n_storages: int, seed: int, two_copy_share: float, keep_indexes: bool
) -> None:
    """``LOCATIONS``, ``n_storages`` storages and ``items`` data items, unless already there."""
    have = conn.execute("SELECT count(*) FROM data_item").fetchone()[0]
    stores = conn.execute("SELECT count(*) FROM storage").fetchone()[0]
    places = conn.execute("SELECT count(*) FROM location").fetchone()[0]
    if have == items and stores == n_storages and places == len(LOCATIONS):
        log(f"database already holds {have:,} data items over {stores} storages: not refilled (--fresh refills)")
        return
    log(f"filling: {items:,} data items over {n_storages} storages (found {have:,} items, {stores} storages)")
    conn.execute("TRUNCATE data_item, storage_config, storage, location CASCADE")
    location_ids, storages = places_of(n_storages, seed)
    for location_id, location in zip(location_ids, LOCATIONS, strict=True):
        conn.execute(
            "INSERT INTO location (location_id, location_name, location_type, location_country, location_city,"
            " location_facility, location_date) VALUES (%s, %s, %s, %s, %s, %s, now())",
            (location_id, *location),
        )
    for storage in storages:
        conn.execute(
            "INSERT INTO storage (storage_id, location_id, storage_name, root_directory, storage_type,"
            " storage_interface, storage_phase, storage_capacity, storage_use_pct, storage_permissions,"
            " storage_checked, storage_num_objects, storage_available, storage_retired, storage_date,"
            " storage_measure_error) VALUES (%s, %s, %s, %s, %s, %s, 'GAS', -1, 0, 'RW', false, 0, true, false,"
            " now(), '')",
            storage,
        )
    storage_ids = [storage[0] for storage in storages]
    conn.commit()

    conn.execute("SET synchronous_commit = off")
    conn.execute("SET maintenance_work_mem = '512MB'")
    conn.execute("SET CONSTRAINTS ALL IMMEDIATE")  # storage_id's FK is deferred: check it by the COPY's end
    started = time.perf_counter()
    # The usual bulk load: the secondary indexes are dropped and built again after the COPY, in the
    # same transaction (an interrupted fill leaves them in place). The primary key and the unique
    # (item_name, storage) constraint stay, checked row by row.
    secondary = []
    if not keep_indexes:
        secondary = conn.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE x.indrelid = 'data_item'::regclass"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        ).fetchall()
        for name, _ in secondary:
            conn.execute(f'DROP INDEX "{name}"')
    chunk: list[str] = []
    done = 0
    report_at = time.perf_counter() + 10
    with conn.cursor() as cur:
        with cur.copy(f"COPY data_item ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
            for line in data_item_lines(items, storage_ids, seed, two_copy_share):
                chunk.append(line)
                if len(chunk) == 20_000:
                    copy.write("\n".join(chunk) + "\n")
                    done += len(chunk)
                    chunk.clear()
                    if time.perf_counter() >= report_at:
                        rate = done / (time.perf_counter() - started)
                        log(f"  {done:,} rows, {rate:,.0f} rows/s")
                        report_at += 10
            if chunk:
                copy.write("\n".join(chunk) + "\n")
    copied = time.perf_counter() - started
    maintained = f"{len(secondary)} secondary indexes dropped" if secondary else "all indexes maintained"
    log(f"COPY: {items:,} rows in {copied:.1f} s = {items / copied:,.0f} rows/s ({maintained})")
    if secondary:
        built = time.perf_counter()
        for _, ddl in secondary:
            conn.execute(ddl)
        log(f"CREATE INDEX x {len(secondary)}: {time.perf_counter() - built:.1f} s")
    conn.commit()
    conn.execute(
        "UPDATE storage SET storage_num_objects ="
        " (SELECT count(*) FROM data_item d WHERE d.storage_id = storage.storage_id)"
    )
    conn.commit()
    conn.autocommit = True
    analysed = time.perf_counter()
    conn.execute("VACUUM ANALYZE data_item")
    conn.execute("ANALYZE storage")
    conn.autocommit = False
    log(f"VACUUM ANALYZE: {time.perf_counter() - analysed:.1f} s")
    total = time.perf_counter() - started
    log(f"fill: {items:,} rows in {total:.1f} s = {items / total:,.0f} rows/s, indexes and VACUUM ANALYZE included")


def places_of(n_storages: int, seed: int) -> tuple[list[str], list[tuple[str, str, str, str, str, str]]]:
    """The ids (32 hex digits) of ``LOCATIONS``, and ``n_storages`` storages spread over them:
    (storage_id, location_id, storage_name, root_directory, storage_type, storage_interface)."""
    rng = random.Random(seed)
    location_ids = [uuid4_of(rng.getrandbits(128)) for _ in LOCATIONS]
    storages = []
    for n in range(n_storages):
        kind, interface = STORAGE_KINDS[n % len(STORAGE_KINDS)]
        location_id = location_ids[n % len(location_ids)]
        storages.append(
            (
                uuid4_of(rng.getrandbits(128)),
                location_id,
                f"bench-storage-{n:02d}",
                f"/data/bench/{n:02d}",
                kind,
                interface,
            )
        )
    return location_ids, storages


def fill_sqlite(path: str, items: int, n_storages: int, seed: int, two_copy_share: float) -> None:
    """The same data as ``fill`` in the SQLite file ``path``, migrated, unless already there.

    One connection of the standard library: the rows by ``executemany`` in transactions of 100,000,
    with ``data_item``'s secondary indexes dropped first and created again from their own
    definitions after (the primary key and the unique ``(item_name, storage)`` constraint, part of
    the table, stay). Journal writes are not synced during the fill. No ``ANALYZE``: DLM never runs
    one on SQLite, and its statistics would change the plans the server gets.
    """
    db = sqlite3.connect(path, isolation_level=None)
    try:
        have = db.execute("SELECT count(*) FROM data_item").fetchone()[0]
        stores = db.execute("SELECT count(*) FROM storage").fetchone()[0]
        places = db.execute("SELECT count(*) FROM location").fetchone()[0]
        if have == items and stores == n_storages and places == len(LOCATIONS):
            log(f"{path} already holds {have:,} data items over {stores} storages: not refilled (--fresh refills)")
            return
        log(
            f"filling {path}: {items:,} data items over {n_storages} storages (found {have:,} items, {stores} storages)"
        )
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -262144")  # 256 MiB
        started = time.perf_counter()
        now = SQLITE_FORM.stamp(time.time())
        location_ids, storages = places_of(n_storages, seed)
        db.execute("BEGIN")
        for table in ("data_item", "storage_config", "storage", "location"):
            db.execute(f"DELETE FROM {table}")  # noqa: S608 (a fixed name)
        for location_id, location in zip(location_ids, LOCATIONS, strict=True):
            db.execute(
                "INSERT INTO location (location_id, location_name, location_type, location_country, location_city,"
                " location_facility, location_date) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (location_id, *location, now),
            )
        for storage in storages:
            db.execute(
                "INSERT INTO storage (storage_id, location_id, storage_name, root_directory, storage_type,"
                " storage_interface, storage_phase, storage_capacity, storage_use_pct, storage_permissions,"
                " storage_checked, storage_num_objects, storage_available, storage_retired, storage_date,"
                " storage_measure_error) VALUES (?, ?, ?, ?, ?, ?, 'GAS', -1, 0, 'RW', 0, 0, 1, 0, ?, '')",
                (*storage, now),
            )
        secondary = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'data_item' AND sql IS NOT NULL"
        ).fetchall()
        for name, _ in secondary:
            db.execute(f'DROP INDEX "{name}"')
        db.execute("COMMIT")
        storage_ids = [storage[0] for storage in storages]
        insert = f"INSERT INTO data_item ({', '.join(COPY_COLUMNS)}) VALUES ({', '.join('?' * len(COPY_COLUMNS))})"  # noqa: S608
        rows = data_item_rows(items, storage_ids, seed, two_copy_share, SQLITE_FORM)
        done = 0
        report_at = time.perf_counter() + 10
        while True:
            chunk = list(itertools.islice(rows, 100_000))
            if not chunk:
                break
            db.execute("BEGIN")
            db.executemany(insert, chunk)
            db.execute("COMMIT")
            done += len(chunk)
            if time.perf_counter() >= report_at:
                log(f"  {done:,} rows, {done / (time.perf_counter() - started):,.0f} rows/s")
                report_at += 10
        inserted = time.perf_counter() - started
        log(
            f"INSERT: {items:,} rows in {inserted:.1f} s = {items / inserted:,.0f} rows/s"
            f" ({len(secondary)} secondary indexes dropped)"
        )
        built = time.perf_counter()
        db.execute("BEGIN")
        for _, ddl in secondary:
            db.execute(ddl)
        db.execute(
            "UPDATE storage SET storage_num_objects ="
            " (SELECT count(*) FROM data_item d WHERE d.storage_id = storage.storage_id)"
        )
        db.execute("COMMIT")
        log(f"CREATE INDEX x {len(secondary)}: {time.perf_counter() - built:.1f} s")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        total = time.perf_counter() - started
        log(f"fill: {items:,} rows in {total:.1f} s = {items / total:,.0f} rows/s, indexes included")
    finally:
        db.close()


def describe_sqlite(path: str) -> dict[str, object]:
    """``describe`` of the SQLite file ``path``."""
    db = sqlite3.connect(path)
    try:
        row = db.execute("SELECT count(*), count(DISTINCT oid), sum(item_state = 'READY') FROM data_item").fetchone()
    finally:
        db.close()
    size = os.path.getsize(path)
    return {
        "rows": row[0],
        "objects": row[1],
        "ready": row[2] or 0,
        "total_size": f"{size / 2**20:.0f} MB",
        "heap_size": "-",
    }


def sample_keys_sqlite(path: str, n: int, seed: int) -> list[tuple[str, str, str]]:
    """``sample_keys`` of the SQLite file ``path``: rows picked at random by rowid, uuids as the API writes them."""
    db = sqlite3.connect(path)
    try:
        top = db.execute("SELECT max(rowid) FROM data_item").fetchone()[0] or 0
        rng = random.Random(seed)
        picked = rng.sample(range(1, top + 1), min(top, 2 * n))
        rows = []
        for at in range(0, len(picked), 500):
            part = picked[at : at + 500]
            rows += db.execute(
                f"SELECT item_name, uid, oid FROM data_item WHERE rowid IN ({', '.join('?' * len(part))})"  # noqa: S608
                " AND item_state = 'READY'",
                part,
            ).fetchall()
    finally:
        db.close()
    rng.shuffle(rows)
    return [(name, str(uuid.UUID(uid)), str(uuid.UUID(oid))) for name, uid, oid in rows[:n]]


def describe(conn: psycopg.Connection) -> dict[str, object]:
    """Rows, distinct objects and READY rows of data_item, and its size with and without indexes."""
    row = conn.execute(
        "SELECT count(*), count(DISTINCT oid), count(*) FILTER (WHERE item_state = 'READY'),"
        " pg_size_pretty(pg_total_relation_size('data_item')), pg_size_pretty(pg_relation_size('data_item'))"
        " FROM data_item"
    ).fetchone()
    return {"rows": row[0], "objects": row[1], "ready": row[2], "total_size": row[3], "heap_size": row[4]}


def sample_keys(conn: psycopg.Connection, items: int, n: int, seed: int) -> list[tuple[str, str, str]]:
    """(item_name, uid, oid) of up to ``n`` READY copies spread over the whole table."""
    percent = min(100.0, 100.0 * 3 * n / max(items, 1))
    rows = conn.execute(
        f"SELECT item_name, uid::text, oid::text FROM data_item TABLESAMPLE BERNOULLI ({percent:.6f})"
        " REPEATABLE (%s) WHERE item_state = 'READY'",
        (seed,),
    ).fetchall()
    random.Random(seed).shuffle(rows)
    return rows[:n]
