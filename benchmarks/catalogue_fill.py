"""The catalogue benchmarks' data: one location, storages and many data items in PostgreSQL by ``COPY``.

Shared by ``catalogue.py`` and ``ui.py``, which fill the same database.
"""

from __future__ import annotations

import random
import time
import uuid
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
    "hashes",
]  # fmt: skip


def uuid4_of(bits: int) -> str:
    """A version-4 uuid from 128 random bits, as PostgreSQL reads it (32 hex digits)."""
    bits = (bits & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
    return f"{bits:032x}"


def timestamp(epoch: float) -> str:
    """``epoch`` as COPY reads a timestamp with time zone (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(epoch))


def data_item_lines(n_rows: int, storage_ids: list[str], seed: int, two_copy_share: float):
    """COPY text lines for ``n_rows`` copies: objects of 1 copy, some of 2 on different storages.

    A single copy's oid is its uid; the second copy of an object has its own uid, the first copy's
    oid and the same item_name. Names are ``eb-<n>/product-<m>.<ext>``, 8 products per execution
    block; creation times rise over two years, most items are READY.
    """
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    span = 2 * 365 * 86400
    step = span / max(n_rows, 1)
    oid_expiration = "2099-12-31 23:59:59+00"
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
            yield "\t".join(
                (
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
                    timestamp(uid_created),
                    timestamp(created),
                    timestamp(uid_created + 86400),
                    oid_expiration,
                    timestamp(uid_created + 2 * 86400) if state == "DELETED" else "\\N",
                    "t" if gone else "f",
                    "t" if state == "DELETED" else "f",
                    f"{rng.getrandbits(128):032x}",
                    "md5",
                    "SKA",
                    "SKA",
                    str(size),
                    metadata,
                    "{}",
                )
            )
            emitted += 1
        obj += 1


def fill(
    conn: psycopg.Connection, items: int, n_storages: int, seed: int, two_copy_share: float, keep_indexes: bool
) -> None:
    """One location, ``n_storages`` storages and ``items`` data items, unless already there."""
    have = conn.execute("SELECT count(*) FROM data_item").fetchone()[0]
    stores = conn.execute("SELECT count(*) FROM storage").fetchone()[0]
    if have == items and stores == n_storages:
        log(f"database already holds {have:,} data items over {stores} storages: not refilled (--fresh refills)")
        return
    log(f"filling: {items:,} data items over {n_storages} storages (found {have:,} items, {stores} storages)")
    conn.execute("TRUNCATE data_item, storage_config, storage, location CASCADE")
    location_id = str(uuid.UUID(int=random.Random(seed).getrandbits(128), version=4))
    conn.execute(
        "INSERT INTO location (location_id, location_name, location_type, location_country, location_city,"
        " location_facility, location_date) VALUES (%s, 'bench-pawsey', 'low-operations', 'AU', 'Perth',"
        " 'Pawsey Centre', now())",
        (location_id,),
    )
    storage_ids = []
    for n in range(n_storages):
        storage_id = str(uuid.uuid4())
        kind, interface = [("filesystem", "posix"), ("objectstore", "s3"), ("tape", "sftp")][n % 3]
        conn.execute(
            "INSERT INTO storage (storage_id, location_id, storage_name, root_directory, storage_type,"
            " storage_interface, storage_phase, storage_capacity, storage_use_pct, storage_permissions,"
            " storage_checked, storage_num_objects, storage_available, storage_retired, storage_date)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'GAS', -1, 0, 'RW', false, 0, true, false, now())",
            (storage_id, location_id, f"bench-storage-{n:02d}", f"/data/bench/{n:02d}", kind, interface),
        )
        storage_ids.append(storage_id)
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
