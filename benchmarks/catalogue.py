#!/usr/bin/env python
"""Catalogue lookups at scale: PostgreSQL with 1,000,000 data items, the real server, 4 clients.

    .venv/bin/python benchmarks/catalogue.py [--items N] [--duration S] [--clients C] [--fresh]

1. Creates the database ``dlm_bench`` if absent (``--fresh``: drops it first) and migrates it.
2. Fills it with one location, 20 storages and ``--items`` data_item rows by ``COPY … FROM STDIN``,
   and prints the fill rate. A database already holding that many rows is kept as it is.
3. Starts gunicorn (``dlm.wsgi``, 2 sync workers, ``DLM_DEBUG=false``) on a free port.
4. For each scenario, ``--clients`` client processes send requests for ``--duration`` seconds
   (after ``--warmup`` seconds not counted), each on its own ``http.client`` connection, with
   keys drawn at random from a sample of the filled rows. Every answer is checked.
5. Prints requests/s, p50/p95/p99 and each lookup's throughput as a share of the heartbeat's,
   with PASS/FAIL against the targets (p95 <= 20 ms, >= 50 % of the heartbeat's throughput).
6. Profiles one request of each kind in-process: SQL statements per request, and the plan of
   the lookup query (EXPLAIN ANALYZE).

See benchmarks/README.md for the figures measured and how to read them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import psycopg

ROOT = Path(__file__).resolve().parent.parent
# Run as ``python benchmarks/catalogue.py``, this directory comes first on sys.path, and this file
# would shadow the ``catalogue`` app when the profile step sets Django up: put the project there.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

from benchmarks.common import (  # noqa: E402  (after the sys.path fix above)
    django_env,
    ensure_database,
    free_port,
    log,
    manage,
    percentile,
    start_server,
    stop_server,
)

P95_TARGET_MS = 20.0
RATIO_TARGET = 0.5
BENCH_USER = "dlm-bench"

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


# --- database -------------------------------------------------------------------------------


def api_token(conn: psycopg.Connection, env: dict[str, str]) -> str:
    """A viewer token for the bench account, its earlier tokens deleted."""
    conn.execute(
        "DELETE FROM knox_authtoken WHERE user_id IN (SELECT id FROM auth_user WHERE username = %s)", (BENCH_USER,)
    )
    conn.commit()
    return manage(env, "create_api_token", BENCH_USER, "--role", "viewer", "--days", "1").strip().splitlines()[-1]


def uuid4_of(bits: int) -> str:
    """A version-4 uuid from 128 random bits, as PostgreSQL reads it (32 hex digits)."""
    bits = (bits & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
    return f"{bits:032x}"


def timestamp(epoch: float) -> str:
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


# --- server ---------------------------------------------------------------------------------


# --- load -----------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    operation: str
    # (path with query, expected JSON: "ACK", True, or (field, value) every returned row must match)
    targets: list[tuple[str, object]]
    floor: bool = False


def scenarios(keys: list[tuple[str, str, str]]) -> list[Scenario]:
    names = [k[0] for k in keys]
    q = quote
    return [
        Scenario("heartbeat", "GET /heartbeat", [("/heartbeat", "ACK")], floor=True),
        Scenario(
            "data_item by item_name",
            "query_data_item?item_name=",
            [(f"/request/query_data_item?item_name={q(n)}", ("item_name", n)) for n in names],
        ),
        Scenario(
            "data_item by uid",
            "query_data_item?uid=",
            [(f"/request/query_data_item?uid={u}", ("uid", u)) for _, u, _ in keys],
        ),
        Scenario(
            "data_item by oid",
            "query_data_item?oid=",
            [(f"/request/query_data_item?oid={o}", ("oid", o)) for _, _, o in keys],
        ),
        Scenario(
            "item_storage",
            "query_item_storage?item_name=",
            [(f"/request/query_item_storage?item_name={q(n)}", ("item_name", n)) for n in names],
        ),
        Scenario(
            "exists",
            "query_exists?item_name=",
            [(f"/request/query_exists?item_name={q(n)}", True) for n in names],
        ),
    ]


def check(status: int | None, body: bytes, expect: object) -> tuple[bool, int]:
    """Whether an answer is right, and how many rows it held."""
    if status != 200:
        return False, 0
    try:
        value = json.loads(body)
    except ValueError:
        return False, 0
    if isinstance(expect, tuple):
        field, wanted = expect
        ok = isinstance(value, list) and len(value) > 0 and all(row.get(field) == wanted for row in value)
        return ok, len(value) if isinstance(value, list) else 0
    return value == expect, 1


def client(port, token, targets, warmup, duration, seed, barrier, results) -> None:
    """One client: a keep-alive ``http.client`` loop (it reconnects when the server closes)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops the clients
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}", "Host": "127.0.0.1"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies: list[float] = []
    errors = 0
    rows = 0
    first_error = ""
    barrier.wait()
    begin = time.perf_counter()
    measure_from = begin + warmup
    end = measure_from + duration
    last = measure_from
    cpu_from = None
    while True:
        t0 = time.perf_counter()
        if t0 >= end:
            break
        if cpu_from is None and t0 >= measure_from:
            cpu_from = time.process_time()
        path, expect = targets[rng.randrange(len(targets))]
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            status, body = None, repr(exc).encode()
        t1 = time.perf_counter()
        if t0 < measure_from:
            continue
        last = t1
        latencies.append(t1 - t0)
        ok, n = check(status, body, expect)
        rows += n
        if not ok:
            errors += 1
            if not first_error:
                first_error = f"{status} {path}: {body[:200]!r}"
    cpu = time.process_time() - (cpu_from or time.process_time())
    conn.close()
    results.put(
        {
            "latencies": latencies,
            "errors": errors,
            "rows": rows,
            "elapsed": last - measure_from,
            "error": first_error,
            "cpu": cpu,
        }
    )


class CpuMeter:
    """CPU seconds used over a window: by the server (gunicorn and its PostgreSQL backends) and by the
    whole machine, from /proc. What neither the server nor the clients used is someone else's load."""

    def __init__(self, server_pid: int, conn: psycopg.Connection, database: str) -> None:
        self.server_pid = server_pid
        self.conn = conn
        self.database = database
        self.tick = os.sysconf("SC_CLK_TCK")

    def _stat(self, pid: int) -> list[str] | None:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None

    def _pids(self) -> tuple[set[int], set[int]]:
        web = {self.server_pid}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                fields = self._stat(int(entry))
                if fields and int(fields[1]) == self.server_pid:
                    web.add(int(entry))
        backends = {
            pid
            for (pid,) in self.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (self.database,)
            ).fetchall()
        }
        return web, backends

    def _cpu(self, pid: int) -> float:
        fields = self._stat(pid)
        return (int(fields[11]) + int(fields[12])) / self.tick if fields else 0.0

    def _machine(self) -> float:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return (sum(values[:8]) - values[3] - values[4]) / self.tick  # busy: all but idle and iowait

    def snapshot(self, previous: dict | None = None) -> dict:
        """CPU seconds so far per process; with ``previous``, processes that ended since (a worker's
        connection closed after CONN_MAX_AGE, say) keep their last reading."""
        web, backends = self._pids()
        taken = {
            "web": {pid: self._cpu(pid) for pid in web},
            "db": {pid: self._cpu(pid) for pid in backends},
            "machine": self._machine(),
            "at": time.perf_counter(),
        }
        if previous:
            for kind in ("web", "db"):
                for pid, cpu in previous[kind].items():
                    taken[kind].setdefault(pid, cpu)
        return taken

    def window(self, seconds: float, every: float = 0.5) -> dict[str, float]:
        """CPU used by the server, its database backends and the machine over the next ``seconds``."""
        before = latest = self.snapshot()
        end = before["at"] + seconds
        while (left := end - time.perf_counter()) > 0:
            time.sleep(min(every, left))
            latest = self.snapshot(latest)
        used = {
            kind: sum(cpu - before[kind].get(pid, 0.0) for pid, cpu in latest[kind].items()) for kind in ("web", "db")
        }
        used["machine"] = latest["machine"] - before["machine"]
        used["wall"] = latest["at"] - before["at"]
        return used


def run_scenario(
    scenario: Scenario, port: int, token: str, clients: int, warmup: float, duration: float, seed: int, meter: CpuMeter
):
    ctx = mp.get_context("spawn")  # clean children: no inherited sockets or connections
    barrier = ctx.Barrier(clients + 1)  # the clients and this process, which measures CPU use
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=client,
            args=(port, token, scenario.targets, warmup, duration, seed * 100 + n, barrier, results),
            daemon=True,
        )
        for n in range(clients)
    ]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=60)
        time.sleep(warmup)
        used = meter.window(duration)
        parts = [results.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
    latencies = [x for part in parts for x in part["latencies"]]
    count = len(latencies)
    client_cpu = sum(part["cpu"] for part in parts)
    ncpu = os.cpu_count() or 1
    per_request = 1000 / count if count else float("nan")
    others = max(0.0, used["machine"] - used["web"] - used["db"] - client_cpu)
    return {
        "scenario": scenario.name,
        "operation": scenario.operation,
        "requests": count,
        "errors": sum(part["errors"] for part in parts),
        "first_error": next((part["error"] for part in parts if part["error"]), ""),
        "rps": sum(len(part["latencies"]) / part["elapsed"] for part in parts if part["elapsed"] > 0),
        "p50_ms": percentile(latencies, 50) * 1000 if count else float("nan"),
        "p95_ms": percentile(latencies, 95) * 1000 if count else float("nan"),
        "p99_ms": percentile(latencies, 99) * 1000 if count else float("nan"),
        "mean_ms": statistics.fmean(latencies) * 1000 if count else float("nan"),
        "rows_per_answer": sum(part["rows"] for part in parts) / count if count else 0.0,
        # CPU milliseconds per request: Django in gunicorn, PostgreSQL backends, the clients.
        "web_cpu_ms": used["web"] * per_request,
        "db_cpu_ms": used["db"] * per_request,
        "client_cpu_ms": client_cpu * per_request,
        # Share of the machine's CPU used by anything else (other processes) during the window.
        "other_cpu_pct": 100 * others / (used["wall"] * ncpu),
        "floor": scenario.floor,
    }


def print_table(results: list[dict], p95_target: float, ratio_target: float) -> bool:
    """The figures, with PASS/FAIL. ``cpu ratio`` is the heartbeat's server CPU per request over the
    lookup's: the throughput share the lookup would reach if the server's CPU were the only limit."""
    floor = next(r for r in results if r["floor"])
    floor_cpu = floor["web_cpu_ms"] + floor["db_cpu_ms"]
    header = (
        f"{'scenario':<23} {'requests':>8} {'err':>3} {'req/s':>6} {'p50 ms':>6} {'p95 ms':>6} {'p99 ms':>6} "
        f"{'rows':>4} {'vs hb':>5} | {'web':>5} {'db':>5} {'cli':>5} {'cpu':>5} {'other':>5}  verdict"
    )
    log(f"{'':<74}| CPU ms/request, cpu ratio, other load")
    log(header)
    log("-" * len(header))
    all_ok = True
    for r in results:
        ratio = r["rps"] / floor["rps"] if floor["rps"] else 0.0
        r["ratio"] = ratio
        server_cpu = r["web_cpu_ms"] + r["db_cpu_ms"]
        r["cpu_ratio"] = floor_cpu / server_cpu if server_cpu else 0.0
        if r["floor"]:
            verdict = "floor" if r["errors"] == 0 else "FAIL (errors)"
        else:
            misses = []
            if r["p95_ms"] > p95_target:
                misses.append(f"p95 > {p95_target:g} ms")
            if ratio < ratio_target:
                misses.append(f"< {ratio_target:.0%} of heartbeat")
            if r["errors"]:
                misses.append("errors")
            verdict = "PASS" if not misses else "FAIL: " + ", ".join(misses)
        if r["errors"] or verdict.startswith("FAIL"):
            all_ok = False
        r["verdict"] = verdict
        log(
            f"{r['scenario']:<23} {r['requests']:>8,} {r['errors']:>3} {r['rps']:>6.0f} {r['p50_ms']:>6.2f} "
            f"{r['p95_ms']:>6.2f} {r['p99_ms']:>6.2f} {r['rows_per_answer']:>4.2f} {ratio:>5.0%} | "
            f"{r['web_cpu_ms']:>5.2f} {r['db_cpu_ms']:>5.2f} {r['client_cpu_ms']:>5.2f} {r['cpu_ratio']:>5.0%} "
            f"{r['other_cpu_pct']:>4.0f}%  {verdict}"
        )
    for r in results:
        if r["first_error"]:
            log(f"  first error of {r['scenario']}: {r['first_error']}")
    noisy = max(r["other_cpu_pct"] for r in results)
    if noisy > 10:
        log(f"  warning: other processes used up to {noisy:.0f}% of the machine's CPU during a scenario")
    return all_ok


# --- profile --------------------------------------------------------------------------------


def selected(scenario: Scenario, only: list[str] | None) -> bool:
    return not only or scenario.floor or any(word in scenario.name for word in only)


def profile(
    env: dict[str, str], token: str, keys: list[tuple[str, str, str]], repeat: int, only: list[str] | None
) -> list[dict]:
    """SQL per request and in-process time of one request of each kind, and the lookups' plans.

    Runs the same Django stack as gunicorn (middleware, DRF, authentication) through the test
    client, in this process. Gunicorn adds one ``SELECT 1`` per request that the test client does
    not show: the connection health check (CONN_HEALTH_CHECKS) on a reused connection.
    """
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    web = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
    found = []
    for scenario in scenarios(keys):
        if not selected(scenario, only):
            continue
        paths = [path for path, _ in scenario.targets]
        web.get(paths[0])
        with CaptureQueriesContext(connection) as captured:
            response = web.get(paths[1 % len(paths)])
        assert response.status_code == 200, response.content
        # captured_queries reads connection.queries, which the next request resets: copy it now.
        statements = [q["sql"] for q in captured.captured_queries]
        started = time.perf_counter()
        for n in range(repeat):
            web.get(paths[n % len(paths)])
        per_request = (time.perf_counter() - started) / repeat * 1000
        plans = []
        with connection.cursor() as cursor:
            for sql in statements:
                if "data_item" in sql:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                    plans.append([line for (line,) in cursor.fetchall()])
        found.append({"scenario": scenario.name, "ms": per_request, "sql": statements, "plans": plans})
    return found


def print_profile(found: list[dict]) -> None:
    log("\nin-process profile (Django test client, same stack, no HTTP): SQL statements per request")
    for entry in found:
        log(f"\n{entry['scenario']}: {len(entry['sql'])} SQL statements, {entry['ms']:.2f} ms per request in-process")
        for sql in entry["sql"]:
            log(f"  - {sql if len(sql) <= 160 else sql[:157] + '...'}")
        for plan in entry["plans"]:
            log("    plan: " + "\n          ".join(line for line in plan if not line.startswith("  Buffers")))


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="data_item rows (default 1,000,000)")
    parser.add_argument("--storages", type=int, default=20, help="storages the items are spread over (20)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per scenario (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each scenario (2)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes (4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync, as scripts/run)")
    parser.add_argument("--wsgi", default="dlm.wsgi", help="WSGI module gunicorn serves (dlm.wsgi)")
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database, then fill it")
    parser.add_argument(
        "--keep-indexes", action="store_true", help="fill with every index in place (slower than rebuilding)"
    )
    parser.add_argument("--db", default="dlm_bench", help="database name (dlm_bench)")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--two-copy-share", type=float, default=0.1, help="share of objects with 2 copies (0.1)")
    parser.add_argument("--samples", type=int, default=5000, help="keys sampled for the clients (5000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument("--only", nargs="*", help="run only the scenarios whose name contains one of these")
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process SQL profile")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    database_url = f"{args.pg}/{args.db}"
    var_dir = tempfile.mkdtemp(prefix="dlm-bench-")
    env = django_env(database_url, var_dir)
    server = None

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        log(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        ensure_database(args.pg, args.db, args.fresh)
        manage(env, "migrate", "--noinput")
        with psycopg.connect(database_url) as conn:
            log(f"PostgreSQL {conn.info.server_version // 10000}.{conn.info.server_version % 10000}")
            fill(conn, args.items, args.storages, args.seed, args.two_copy_share, args.keep_indexes)
            stats = describe(conn)
            log(
                f"data_item: {stats['rows']:,} copies of {stats['objects']:,} objects, {stats['ready']:,} READY;"
                f" {stats['total_size']} with indexes (heap {stats['heap_size']})"
            )
            keys = sample_keys(conn, stats["rows"], args.samples, args.seed)
            token = api_token(conn, env)
        log(f"sampled {len(keys):,} READY keys")

        port = free_port()
        server = start_server(env, port, args.workers, args.worker_class, args.wsgi, Path(var_dir) / "gunicorn.log")
        log(
            f"gunicorn {args.wsgi}: {args.workers} {args.worker_class} workers on 127.0.0.1:{port};"
            f" {args.clients} client processes, {args.warmup:g} s warm-up + {args.duration:g} s per scenario\n"
        )
        results = []
        with psycopg.connect(database_url, autocommit=True) as conn:
            meter = CpuMeter(server.pid, conn, args.db)
            for scenario in scenarios(keys):
                if not selected(scenario, args.only):
                    continue
                results.append(
                    run_scenario(scenario, port, token, args.clients, args.warmup, args.duration, args.seed, meter)
                )
                r = results[-1]
                log(
                    f"  {r['scenario']}: {r['rps']:.0f} req/s, p95 {r['p95_ms']:.2f} ms, {r['errors']} errors,"
                    f" load avg {os.getloadavg()[0]:.1f}"
                )
        stop_server(server)
        server = None
        log(f"\ntargets: lookup p95 <= {P95_TARGET_MS:g} ms and >= {RATIO_TARGET:.0%} of the heartbeat's req/s\n")
        ok = print_table(results, P95_TARGET_MS, RATIO_TARGET)
        found = []
        if not args.no_profile:
            found = profile(env, token, keys, repeat=200, only=args.only)
            print_profile(found)
        if args.json:
            options = {k: str(v) for k, v in vars(args).items()}
            report = {"args": options, "data": stats, "results": results, "profile": found}
            args.json.write_text(json.dumps(report, indent=2))
        log("\nall targets met" if ok else "\nsome targets missed")
        return 0 if ok else 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        stop_server(server)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
