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

import argparse
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

# Run as ``python benchmarks/catalogue.py``, this directory comes first on sys.path: this file
# would shadow the ``catalogue`` app when the profile step sets Django up, and copy.py the
# standard library's ``copy`` (which dataclasses imports). Put the project there first.
if os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import psycopg  # noqa: E402

from benchmarks.catalogue_fill import describe, fill, sample_keys  # noqa: E402
from benchmarks.catalogue_load import CpuMeter, run_scenario, scenarios, selected  # noqa: E402
from benchmarks.catalogue_report import print_profile, print_table, profile  # noqa: E402
from benchmarks.common import Run, add_database_options, bench_run, exit_status, log  # noqa: E402

P95_TARGET_MS = 20.0
RATIO_TARGET = 0.5
BENCH_USER = "dlm-bench"


def api_token(conn: psycopg.Connection, run: Run) -> str:
    """A viewer token for the bench account, its earlier tokens deleted."""
    tokens = "SELECT digest FROM knox_authtoken WHERE user_id IN (SELECT id FROM auth_user WHERE username = %s)"
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
    parser.add_argument("--two-copy-share", type=float, default=0.1, help="share of objects with 2 copies (0.1)")
    parser.add_argument("--samples", type=int, default=5000, help="keys sampled for the clients (5000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument("--only", nargs="*", help="run only the scenarios whose name contains one of these")
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process SQL profile")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser.parse_args()


def measure(run: Run, args: argparse.Namespace) -> int:
    """Fill, load, report: 0 when every target is met."""
    with psycopg.connect(run.database_url) as conn:
        log(f"PostgreSQL {conn.info.server_version // 10000}.{conn.info.server_version % 10000}")
        fill(conn, args.items, args.storages, args.seed, args.two_copy_share, args.keep_indexes)
        stats = describe(conn)
        log(
            f"data_item: {stats['rows']:,} copies of {stats['objects']:,} objects, {stats['ready']:,} READY;"
            f" {stats['total_size']} with indexes (heap {stats['heap_size']})"
        )
        keys = sample_keys(conn, stats["rows"], args.samples, args.seed)
        token = api_token(conn, run)
    log(f"sampled {len(keys):,} READY keys")

    server = run.server(workers=args.workers, worker_class=args.worker_class, wsgi=args.wsgi)
    log(
        f"gunicorn {args.wsgi}: {args.workers} {args.worker_class} workers on 127.0.0.1:{server.port};"
        f" {args.clients} client processes, {args.warmup:g} s warm-up + {args.duration:g} s per scenario\n"
    )
    results = []
    with psycopg.connect(run.database_url, autocommit=True) as conn:
        meter = CpuMeter(server.proc.pid, conn, args.db)
        for scenario in scenarios(keys):
            if not selected(scenario, args.only):
                continue
            results.append(
                run_scenario(scenario, server.port, token, args.clients, args.warmup, args.duration, args.seed, meter)
            )
            r = results[-1]
            log(
                f"  {r['scenario']}: {r['rps']:.0f} req/s, p95 {r['p95_ms']:.2f} ms, {r['errors']} errors,"
                f" load avg {os.getloadavg()[0]:.1f}"
            )
    run.stop(server.proc)
    log(f"\ntargets: lookup p95 <= {P95_TARGET_MS:g} ms and >= {RATIO_TARGET:.0%} of the heartbeat's req/s\n")
    ok = print_table(results, P95_TARGET_MS, RATIO_TARGET)
    found = []
    if not args.no_profile:
        found = profile(run.env, token, keys, repeat=200, only=args.only)
        print_profile(found)
    if args.json:
        given = {k: str(v) for k, v in vars(args).items()}
        report = {"args": given, "data": stats, "results": results, "profile": found}
        args.json.write_text(json.dumps(report, indent=2))
    return exit_status(ok)


def main() -> int:
    args = options()

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        log(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        with bench_run(pg=args.pg, db=args.db, fresh=args.fresh, prefix="dlm-bench-") as run:
            return measure(run, args)
    except KeyboardInterrupt:
        log("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
