"""What the catalogue benchmark reports: its figures against the targets, and an in-process profile of
one request of each kind (SQL statements and plans)."""

from __future__ import annotations

import os
import statistics
import time

from benchmarks.catalogue_load import scenarios, selected
from benchmarks.common import log


def medians(rounds: list[list[dict]]) -> list[dict]:
    """One result per scenario over ``rounds`` (each a list of results in the same order): counts
    summed, every other figure the median of the rounds'."""
    merged = []
    for same in zip(*rounds, strict=True):
        first = same[0]
        r = {"scenario": first["scenario"], "operation": first["operation"], "floor": first["floor"]}
        r["requests"] = sum(x["requests"] for x in same)
        r["errors"] = sum(x["errors"] for x in same)
        r["first_error"] = next((x["first_error"] for x in same if x["first_error"]), "")
        for key in ("rps", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "rows_per_answer", "ratio"):
            r[key] = statistics.median(x[key] for x in same)
        for key in ("web_cpu_ms", "db_cpu_ms", "client_cpu_ms", "other_cpu_pct"):
            r[key] = statistics.median(x[key] for x in same)
        r["rounds"] = len(same)
        merged.append(r)
    return merged


def print_table(results: list[dict], p95_target: float, ratio_target: float) -> bool:
    """The figures, with PASS/FAIL. ``vs hb`` is a result's ``ratio`` when it has one (the median of
    its rounds' shares of their own heartbeat), else its req/s over the heartbeat's. ``cpu ratio`` is
    the heartbeat's server CPU per request over the lookup's: the throughput share the lookup would
    reach if the server's CPU were the only limit."""
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
        ratio = r.get("ratio", r["rps"] / floor["rps"] if floor["rps"] else 0.0)
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


def profile(
    env: dict[str, str], token: str, keys: list[tuple[str, str, str]], repeat: int, only: list[str] | None
) -> list[dict]:
    """SQL per request and in-process time of one request of each kind, and the lookups' plans.

    Runs the same Django stack as gunicorn (middleware, DRF, authentication) through the test
    client, in this process. The plans are PostgreSQL's ``EXPLAIN (ANALYZE, BUFFERS)``, or SQLite's
    ``EXPLAIN QUERY PLAN``.
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
                if '"data_item"' in sql or '"location"' in sql:
                    if connection.vendor == "postgresql":
                        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                        plans.append([line for (line,) in cursor.fetchall()])
                    else:
                        cursor.execute("EXPLAIN QUERY PLAN " + sql)
                        plans.append([row[-1] for row in cursor.fetchall()])
        found.append({"scenario": scenario.name, "ms": per_request, "sql": statements, "plans": plans})
    return found


def print_profile(found: list[dict]) -> None:
    """The profile's SQL statements per request and the lookups' plans."""
    log("\nin-process profile (Django test client, same stack, no HTTP): SQL statements per request")
    for entry in found:
        log(f"\n{entry['scenario']}: {len(entry['sql'])} SQL statements, {entry['ms']:.2f} ms per request in-process")
        for sql in entry["sql"]:
            log(f"  - {sql if len(sql) <= 160 else sql[:157] + '...'}")
        for plan in entry["plans"]:
            log("    plan: " + "\n          ".join(line for line in plan if not line.startswith("  Buffers")))
