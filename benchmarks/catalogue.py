#!/usr/bin/env python
"""Catalogue lookups at scale: PostgreSQL or SQLite with 1,000,000 data items, the real server, 4 clients.

    .venv/bin/python benchmarks/catalogue.py [--items N] [--duration S] [--clients C] [--fresh] [--sqlite PATH]

1. Creates the database ``dlm_bench`` if absent (``--fresh``: drops it first), or with ``--sqlite``
   the SQLite file ``PATH`` (``--fresh``: removes it first), and migrates it.
2. Fills it with four locations, 20 storages and ``--items`` data_item rows (PostgreSQL: by
   ``COPY … FROM STDIN``; SQLite: by ``executemany``), and prints the fill rate. A database already
   holding that many rows is kept as it is.
3. Starts gunicorn (``dlm.wsgi``, 2 sync workers, ``DLM_DEBUG=false``) on a free port.
4. For each scenario, ``--clients`` client processes send requests for ``--duration`` seconds
   (after ``--warmup`` seconds not counted), each on its own ``http.client`` connection, with
   keys drawn at random from a sample of the filled rows. Every answer is checked. With
   ``--rounds N`` every scenario runs N times, the heartbeat first in each round.
5. Prints requests/s, p50/p95/p99 and each lookup's throughput as a share of the heartbeat's,
   with PASS/FAIL against the targets (p95 <= 10 ms up to 100,000 items, else 20 ms; >= 50 % of
   the heartbeat's throughput).
6. Profiles one request of each kind in-process: SQL statements per request, and the plan of
   the lookup query (EXPLAIN ANALYZE; on SQLite EXPLAIN QUERY PLAN).

See benchmarks/README.md for the figures measured and how to read them.
"""

import argparse
import json
import os
import signal
import sqlite3
import sys
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

# Run as ``python benchmarks/catalogue.py``, this directory comes first on sys.path: this file
# would shadow the ``catalogue`` app when the profile step sets Django up, and copy.py the
# standard library's ``copy`` (which dataclasses imports). Put the project there first.
if os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import psycopg  # noqa: E402

from benchmarks.catalogue_fill import (  # noqa: E402
    describe,
    describe_sqlite,
    fill,
    fill_sqlite,
    sample_keys,
    sample_keys_sqlite,
)
from benchmarks.catalogue_load import CpuMeter, run_scenario, scenarios, selected  # noqa: E402
from benchmarks.catalogue_report import medians, print_profile, print_table, profile  # noqa: E402
from benchmarks.common import Run, add_database_options, bench_run, exit_status, log, sqlite_run  # noqa: E402

RATIO_TARGET = 0.5
BENCH_USER = "dlm-bench"


def p95_target_ms(items: int) -> float:
    """The p95 target: 10 ms up to 100,000 items, 20 ms above."""
    return 10.0 if items <= 100_000 else 20.0


def api_token(conn: psycopg.Connection | sqlite3.Connection, run: Run) -> str:
    """A viewer token for the bench account, its earlier tokens deleted."""
    mark = "?" if isinstance(conn, sqlite3.Connection) else "%s"
    tokens = f"SELECT digest FROM knox_authtoken WHERE user_id IN (SELECT id FROM auth_user WHERE username = {mark})"
    conn.execute(f"DELETE FROM api_token_info WHERE token_id IN ({tokens})", (BENCH_USER,))  # no ON DELETE CASCADE
    conn.execute(f"DELETE FROM knox_authtoken WHERE digest IN ({tokens})", (BENCH_USER,))
    conn.commit()
    return run.token(BENCH_USER, "viewer")


def options() -> argparse.Namespace:
    """The command line, as benchmarks/README.md documents it."""
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
    add_database_options(parser, db="dlm_bench", db_help="database name (dlm_bench)")
    parser.add_argument(
        "--sqlite", type=Path, metavar="PATH", help="use this SQLite file instead of PostgreSQL (kept between runs)"
    )
    parser.add_argument("--p95-ms", type=float, help="p95 target in ms (10 up to 100,000 items, else 20)")
    parser.add_argument("--two-copy-share", type=float, default=0.1, help="share of objects with 2 copies (0.1)")
    parser.add_argument("--samples", type=int, default=5000, help="keys sampled for the clients (5000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="run every scenario this many times, the heartbeat first each time (1)"
    )
    parser.add_argument("--only", nargs="*", help="run only the scenarios whose name contains one of these")
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process SQL profile")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser.parse_args()


def prepare(run: Run, args: argparse.Namespace) -> tuple[dict, list[tuple[str, str, str]], str]:
    """The database filled: its description, the sampled keys and a viewer token."""
    if args.sqlite:
        path = str(args.sqlite.resolve())
        log(f"SQLite {sqlite3.sqlite_version}: {path}")
        fill_sqlite(path, args.items, args.storages, args.seed, args.two_copy_share)
        stats = describe_sqlite(path)
        keys = sample_keys_sqlite(path, args.samples, args.seed)
        with sqlite3.connect(path) as conn:
            token = api_token(conn, run)
        conn.close()
    else:
        with psycopg.connect(run.database_url) as conn:
            log(f"PostgreSQL {conn.info.server_version // 10000}.{conn.info.server_version % 10000}")
            fill(conn, args.items, args.storages, args.seed, args.two_copy_share, args.keep_indexes)
            stats = describe(conn)
            keys = sample_keys(conn, stats["rows"], args.samples, args.seed)
            token = api_token(conn, run)
    log(
        f"data_item: {stats['rows']:,} copies of {stats['objects']:,} objects, {stats['ready']:,} READY;"
        f" {stats['total_size']} with indexes (heap {stats['heap_size']})"
    )
    return stats, keys, token


def measure(run: Run, args: argparse.Namespace) -> int:
    """Fill, load, report: 0 when every target is met."""
    stats, keys, token = prepare(run, args)
    log(f"sampled {len(keys):,} READY keys")

    server = run.server(workers=args.workers, worker_class=args.worker_class, wsgi=args.wsgi)
    log(
        f"gunicorn {args.wsgi}: {args.workers} {args.worker_class} workers on 127.0.0.1:{server.port};"
        f" {args.clients} client processes, {args.warmup:g} s warm-up + {args.duration:g} s per scenario\n"
    )
    rounds = []
    with psycopg.connect(args.pg + "/postgres", autocommit=True) if not args.sqlite else nullcontext() as conn:
        meter = CpuMeter(server.proc.pid, conn, args.db)
        chosen = [scenario for scenario in scenarios(keys) if selected(scenario, args.only)]
        for number in range(args.rounds):
            if args.rounds > 1:
                log(f" round {number + 1} of {args.rounds}")
            floor, lookups = chosen[0], chosen[1:]
            done = []
            for scenario in [floor, *(lookups[::-1] if number % 2 else lookups)]:
                r = run_scenario(
                    scenario, server.port, token, args.clients, args.warmup, args.duration, args.seed, meter
                )
                r["ratio"] = r["rps"] / done[0]["rps"] if done and done[0]["rps"] else 1.0
                done.append(r)
                log(
                    f"  {r['scenario']}: {r['rps']:.0f} req/s ({r['ratio']:.0%} of the heartbeat),"
                    f" p95 {r['p95_ms']:.2f} ms, {r['errors']} errors, load avg {os.getloadavg()[0]:.1f}"
                )
            rounds.append(sorted(done, key=lambda r: [c.name for c in chosen].index(r["scenario"])))
    run.stop(server.proc)
    p95_target = args.p95_ms or p95_target_ms(args.items)
    log(f"\ntargets: lookup p95 <= {p95_target:g} ms and >= {RATIO_TARGET:.0%} of the heartbeat's req/s\n")
    results = medians(rounds)
    if args.rounds > 1:
        log(f"medians of {args.rounds} rounds (vs hb: the median of each round's share of its own heartbeat)")
    ok = print_table(results, p95_target, RATIO_TARGET)
    found = []
    if not args.no_profile:
        found = profile(run.env, token, keys, repeat=200, only=args.only)
        print_profile(found)
    if args.json:
        given = {k: str(v) for k, v in vars(args).items()}
        report = {"args": given, "data": stats, "results": results, "rounds": rounds, "profile": found}
        args.json.write_text(json.dumps(report, indent=2))
    return exit_status(ok)


def main() -> int:
    args = options()

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        log(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        if args.sqlite:
            with sqlite_run(args.sqlite, args.fresh, prefix="dlm-bench-") as run:
                return measure(run, args)
        with bench_run(pg=args.pg, db=args.db, fresh=args.fresh, prefix="dlm-bench-") as run:
            return measure(run, args)
    except KeyboardInterrupt:
        log("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
