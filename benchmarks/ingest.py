#!/usr/bin/env python
"""Registration throughput: the real server registering files that really exist.

    .venv/bin/python benchmarks/ingest.py [--duration S] [--clients C] [--bulk N]

1. Creates the database ``dlm_bench_ingest`` (``--db``) afresh (registrations add rows), or with
   ``--sqlite`` a new SQLite file, and migrates it.
2. Writes small files into a local directory and into the directory an ``rclone serve s3`` (on
   loopback, with signature-checked keys) serves as bucket ``bench``.
3. Starts gunicorn (``dlm.wsgi``, 2 sync workers, ``DLM_DEBUG=false``) and, through the API,
   creates a location and three storages: local files, the S3 bucket, and the same local files
   for registration without the access check.
4. For each scenario, ``--clients`` client processes register files for ``--duration`` seconds,
   each file once (every request is a new item); ``GET /heartbeat`` is measured the same way as
   the floor. Every answer is checked (200 and a uid).
5. Registers ``--bulk`` files in one ``POST /ingest/register_data_items`` call (one remote listing),
   with the access check and without, ``--bulk-rounds`` times each (the same files under new
   names), and prints the median items/s. Then times the database alone inserting again the rows
   the last one added (copies, create records, events) into copies of their tables with the same
   indexes: the most items/s any registration could reach on this machine and database.
6. Prints requests/s, p50/p95, and each scenario's share of the heartbeat's throughput, with
   PASS/FAIL against the targets: single registration with the access check >= 100/s and >= 30 %
   of the heartbeat; bulk >= 5,000 items/s on SQLite and >= 10,000 on PostgreSQL.
"""

import argparse
import http.client
import json
import os
import signal
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

# Run as ``python benchmarks/ingest.py``, this directory comes first on sys.path, where copy.py would
# shadow the standard library's ``copy``: put the project there instead.
if os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import psycopg  # noqa: E402

from benchmarks.common import Api, Run, add_database_options, bench_run, exit_status, load_figures, log, run_clients  # noqa: E402

SINGLE_TARGET = 100.0  # registrations/s with the access check
SINGLE_RATIO_TARGET = 0.30
BULK_TARGET = {"sqlite": 5000.0, "postgresql": 10_000.0}  # items/s
FILES_PER_CLIENT = 4000


def write_files(directory: Path, clients: int, per_client: int, bulk: int) -> None:
    """``per_client`` files of 1 KiB in ``c<n>/`` for each client, and ``bulk`` more in ``bulk/``."""
    payload = os.urandom(1024)
    for client in range(clients):
        folder = directory / f"c{client}"
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(per_client):
            (folder / f"f{n}.bin").write_bytes(payload)
    folder = directory / "bulk"
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(bulk):
        (folder / f"b{n}.bin").write_bytes(payload)


def client(port, token, scenario, number, duration, warmup, barrier, results) -> None:
    """One client process: registers its own files one after the other (or GETs the heartbeat)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Host": "127.0.0.1"}
    latencies: list[float] = []
    errors, first_error, n = 0, "", 0
    barrier.wait()
    begin = time.perf_counter()
    measure_from, stop_at = begin + warmup, begin + warmup + duration
    while (now := time.perf_counter()) < stop_at and n < FILES_PER_CLIENT:
        if scenario["storage"] is None:
            method, url = "GET", "/heartbeat"
        else:
            uri = f"c{number}/f{n}.bin"
            query = {"item_name": f"{scenario['name']}/{uri}", "uri": uri, "storage_name": scenario["storage"]}
            query["do_storage_access_check"] = "true" if scenario["check"] else "false"
            method, url = "POST", "/ingest/register_data_item?" + urlencode(query)
        n += 1
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            started = time.perf_counter()
            conn.request(method, url, headers=headers)
            response = conn.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - started
            conn.close()
            ok = response.status == 200 and isinstance(json.loads(body), str)
        except (OSError, ValueError) as exc:
            ok, body, elapsed = False, str(exc).encode(), 0.0
        if not ok:
            errors += 1
            first_error = first_error or body[:300].decode(errors="replace")
        elif now >= measure_from:
            latencies.append(elapsed)
    results.put({"latencies": latencies, "errors": errors, "error": first_error,
                 "elapsed": max(1e-9, min(time.perf_counter(), stop_at) - measure_from)})  # fmt: skip


def run_scenario(port: int, token: str, scenario: dict, clients: int, duration: float, warmup: float) -> dict:
    """``clients`` client processes registering (or asking for the heartbeat): the load's figures."""
    parts, _ = run_clients(
        client, lambda n: (port, token, scenario, n, duration, warmup), clients, timeout=duration + warmup + 120
    )
    return {"scenario": scenario["label"], **load_figures(parts)}


def options() -> argparse.Namespace:
    """The command line, as benchmarks/README.md documents it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per scenario (10)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each scenario (1)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes (4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--bulk", type=int, default=10_000, help="items in the bulk registration (10,000)")
    parser.add_argument("--bulk-rounds", type=int, default=3, help="bulk registrations of each kind (3; the median)")
    parser.add_argument("--sqlite", action="store_true", help="a new SQLite file instead of PostgreSQL")
    parser.add_argument("--only", nargs="+", default=[], metavar="WORD",
                        help="only the scenarios whose name contains a word (plus heartbeat and bulk)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    add_database_options(parser, db="dlm_bench_ingest", db_help="database name, recreated (dlm_bench_ingest)")
    return parser.parse_args()


def measure(run: Run, args: argparse.Namespace) -> tuple[list[dict], float]:
    """Each scenario's figures, and the seconds the bulk registration took."""
    token = run.token("bench-ingest", "admin")
    local_dir, s3_dir = run.work / "local", run.work / "s3" / "bench"
    started = time.perf_counter()
    write_files(local_dir, args.clients, FILES_PER_CLIENT, args.bulk)
    write_files(s3_dir, args.clients, FILES_PER_CLIENT, 0)
    files = 2 * args.clients * FILES_PER_CLIENT + args.bulk
    log(f"wrote {files:,} files of 1 KiB in {time.perf_counter() - started:.1f} s")

    s3 = run.s3(run.work / "s3", "AKBENCH", "SKBENCHSECRET")
    server = run.server(workers=args.workers)
    api = Api(server.port, token)
    api.add_storages(
        {
            "bench-local": ("filesystem", "posix", str(local_dir), {"name": "bl", "type": "local", "root_path": "/"}),
            "bench-s3": ("objectstore", "s3", "/bench", {"name": "bs", "type": "s3", "parameters": s3.parameters}),
            "bench-unchecked": ("filesystem", "posix", str(local_dir), None),
        }
    )

    scenarios = [
        {"label": "heartbeat", "name": "hb", "storage": None, "check": False},
        {"label": "register, checked, local", "name": "local", "storage": "bench-local", "check": True},
        {"label": "register, checked, S3", "name": "s3", "storage": "bench-s3", "check": True},
        {"label": "register, unchecked", "name": "unchecked", "storage": "bench-unchecked", "check": False},
    ]
    if args.only:
        scenarios = [s for s in scenarios if s["storage"] is None or any(w in s["label"] for w in args.only)]
    results = []
    for scenario in scenarios:
        result = run_scenario(server.port, token, scenario, args.clients, args.duration, args.warmup)
        log(f"  {result['scenario']}: {result['rps']:.0f} req/s, p95 {result['p95_ms']:.1f} ms, "
            f"{result['errors']} errors {result['first_error'][:200]}")  # fmt: skip
        results.append(result)

    bulk: dict[str, list[float]] = {"checked": [], "unchecked": []}
    for round_ in range(args.bulk_rounds):  # the same files under new names each round
        for kind, storage in (("checked", "bench-local"), ("unchecked", "bench-unchecked")):
            items = [{"item_name": f"bulk/r{round_}/b{n}.bin", "uri": f"bulk/b{n}.bin"} for n in range(args.bulk)]
            started = time.perf_counter()
            uids = api.call("POST", "/ingest/register_data_items",
                            {"storage_name": storage, "do_storage_access_check": str(kind == "checked").lower()},
                            items)  # fmt: skip
            bulk[kind].append(time.perf_counter() - started)
            assert isinstance(uids, list) and len(uids) == args.bulk, "bulk registration answered the wrong list"
            log(f"  bulk, {kind}, round {round_ + 1}: {args.bulk / bulk[kind][-1]:,.0f} items/s")
    medians = {kind: statistics.median(seconds) for kind, seconds in bulk.items()}
    medians["database"] = statistics.median(database_floor(run, args.bulk) for _ in range(3))
    log(f"  the database's own insert of one bulk's rows: {medians['database']:.2f} s")
    return results, medians


# The rows the last bulk registration added: its copies, their create records, their two events
# each. The database's own insert of them again is what ``database_floor`` times.
FLOOR_ROWS = {
    "data_item": "SELECT * FROM data_item ORDER BY uid_creation DESC LIMIT {items}",
    "audit_record": "SELECT * FROM audit_record ORDER BY id DESC LIMIT {items}",
    "core_outboxevent": "SELECT * FROM core_outboxevent ORDER BY id DESC LIMIT {events}",
}


def database_floor(run: Run, items: int) -> float:
    """Seconds the database itself takes to insert again the rows of the last bulk registration
    (of ``items`` items) into copies of their tables with the same indexes, and commit: a bound on
    bulk registration that no work in DLM's process can beat. (The copies have no foreign keys to
    check, which makes it lower; it reads and sorts the rows it copies, which makes it higher.)"""
    selects = {table: select.format(items=items, events=2 * items) for table, select in FLOOR_ROWS.items()}
    if run.database_url:
        with psycopg.connect(run.database_url, autocommit=True) as conn:
            for table in selects:
                conn.execute(f"DROP TABLE IF EXISTS floor_{table}")
                conn.execute(f"CREATE TABLE floor_{table} (LIKE {table} INCLUDING ALL)")
            started = time.perf_counter()
            with conn.transaction():
                for table, select in selects.items():
                    conn.execute(f"INSERT INTO floor_{table} {select}")
            seconds = time.perf_counter() - started
            for table in selects:
                conn.execute(f"DROP TABLE floor_{table}")
        return seconds
    conn = sqlite3.connect(run.work / "var" / "dlm.sqlite3", isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=NORMAL")  # as DLM's connections (the file is in WAL mode)
        for table in selects:
            conn.execute(f'DROP TABLE IF EXISTS "floor_{table}"')
            schema = conn.execute(
                "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('table', 'index')", [table]
            )
            for kind, sql in sorted(schema.fetchall(), key=lambda row: row[0] != "table"):  # the table first
                if sql is None:  # the index of a table's own UNIQUE or PRIMARY KEY: made with the table
                    continue
                renamed = sql.replace(f'"{table}"', f'"floor_{table}"', 1)
                conn.execute(renamed.replace('INDEX "', 'INDEX "floor_', 1) if kind == "index" else renamed)
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for table, select in selects.items():
            conn.execute(f'INSERT INTO "floor_{table}" {select}')
        conn.execute("COMMIT")
        seconds = time.perf_counter() - started
        for table in selects:
            conn.execute(f'DROP TABLE "floor_{table}"')
        return seconds
    finally:
        conn.close()


def main() -> int:
    args = options()
    with bench_run(pg=args.pg, db=args.db, fresh=True, prefix="dlm-bench-ingest-", sqlite=args.sqlite) as run:
        results, bulk_seconds = measure(run, args)

    floor = results[0]["rps"]
    ok = True
    print()
    print(f"{'scenario':28} {'requests':>9} {'err':>4} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'vs hb':>6}  verdict")
    print("-" * 90)
    for result in results:
        share = result["rps"] / floor if floor else 0.0
        verdict = "floor"
        if "checked" in result["scenario"] and "unchecked" not in result["scenario"]:
            passed = result["rps"] >= SINGLE_TARGET and share >= SINGLE_RATIO_TARGET and not result["errors"]
            verdict = "PASS" if passed else f"FAIL: target >= {SINGLE_TARGET:.0f}/s and >= 30 % of heartbeat"
            ok &= passed
        elif result["scenario"] != "heartbeat":
            verdict = "(no target)"
        print(f"{result['scenario']:28} {result['requests']:>9,} {result['errors']:>4} {result['rps']:>7.0f} "
              f"{result['p50_ms']:>7.2f} {result['p95_ms']:>7.2f} {share:>6.0%}  {verdict}")  # fmt: skip
    target = BULK_TARGET["sqlite" if args.sqlite else "postgresql"]
    rates = {kind: args.bulk / seconds for kind, seconds in bulk_seconds.items()}
    for kind in ("checked", "unchecked"):
        bulk_ok = rates[kind] >= target
        ok &= bulk_ok
        print(f"{'bulk, ' + kind + ', local':28} {args.bulk:>9,} items in {bulk_seconds[kind]:.2f} s: "
              f"{rates[kind]:,.0f} items/s (median of {args.bulk_rounds})  "
              f"{'PASS' if bulk_ok else f'FAIL: target >= {target:,.0f} items/s'}")  # fmt: skip
    print(f"{'bulk, database alone':28} {args.bulk:>9,} items in {bulk_seconds['database']:.2f} s: "
          f"{rates['database']:,.0f} items/s: the database's own insert of a bulk's rows, the most any DLM "
          f"could do here; DLM's unchecked bulk is {rates['unchecked'] / rates['database']:.0%} of it")  # fmt: skip
    if args.json:
        figures = {"database": "sqlite" if args.sqlite else "postgresql", "floor_rps": floor, "scenarios": results,
                   "bulk_items": args.bulk, "bulk_seconds": bulk_seconds, "bulk_rate": rates}  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=2))
    return exit_status(ok)


if __name__ == "__main__":
    sys.exit(main())
