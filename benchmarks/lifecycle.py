#!/usr/bin/env python
"""The lifecycle pass at scale: one pass over 1,000,000 copies with work to do, then one with none.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dlm_bench_lifecycle python -m benchmarks.lifecycle
    python -m benchmarks.lifecycle --items 100000          # SQLite: DATABASE_URL unset, a file under --var

1. Creates the PostgreSQL database ``DATABASE_URL`` names if absent (without ``DATABASE_URL``: the
   SQLite file ``--var``/dlm.sqlite3, made afresh) and migrates it, in this process (production
   settings).
2. Empties the catalogue and the jobs' tables and fills them (``lifecycle_fill``): four storages
   with rclone configs and ``--items`` copies, 1 % of them expired (half deletable, half kept: the
   rest would be below target) and 1 % objects below their target with a SOLID storage to go to.
3. Runs one pass (``lifecycle.engine.lifecycle_pass``) and prints its time, its decisions by step
   and kind, decisions/s, the queries it made (every ``execute`` of Django's connection, counted by
   ``connection.execute_wrapper``) per decision, the costliest statements, and the peak RSS of the
   pass. No job runs: the copies and deletions are only queued.
4. Runs a second pass over the same catalogue, which has (almost) nothing to do, and prints the same.

Targets: a pass with nothing to do under 2 s; 10,000 decisions under 60 s (the first pass's time,
scaled to 10,000 decisions). ``--profile`` runs the first pass under cProfile and prints the
functions that cost most. The exit status is 0 when every target is met.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import re
import resource
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import django_env, ensure_database, exit_status, log

IDLE_TARGET_S = 2.0
DECISIONS_TARGET = 10_000
DECISIONS_TARGET_S = 60.0
# Settings of the pass a run may take from its environment (every other DLM_ setting is dropped).
PASSED_ON = ("DLM_LIFECYCLE_BATCH", "DLM_PHASE_GRACE", "DLM_LIFECYCLE_LEASE")


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, help="copies in the catalogue (1,000,000 on PostgreSQL, else 100,000)")
    parser.add_argument("--batch", type=int, help="objects per batch (DLM_LIFECYCLE_BATCH, default 500)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the fill (1)")
    parser.add_argument("--var", type=Path, default=Path("/tmp/dlm-bench-lifecycle"), help="DLM_VAR_DIR of the run")
    parser.add_argument("--profile", action="store_true", help="run the first pass under cProfile")
    parser.add_argument("--top", type=int, default=25, help="functions the profile shows (25)")
    parser.add_argument("--statements", type=int, default=10, help="costliest statements shown per pass (10)")
    return parser.parse_args()


# --- the process's Django ---------------------------------------------------------------------------


def django_start(database_url: str | None, var: Path, batch: int | None) -> None:
    """Django set up in this process on the bench database (production settings: no query log)."""
    var.mkdir(parents=True, exist_ok=True)
    kept = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    env = django_env(database_url or "", str(var))
    env.update(kept)
    if batch:
        env["DLM_LIFECYCLE_BATCH"] = str(batch)
    if not database_url:
        env.pop("DATABASE_URL")
        for leftover in var.glob("dlm.sqlite3*"):  # a fresh file each run (its audit trail refuses DELETE)
            leftover.unlink()
    for name in [name for name in os.environ if name.startswith("DLM_") or name == "DATABASE_URL"]:
        del os.environ[name]
    os.environ.update(env)
    import django

    django.setup()


def django_migrated(var: Path, *, fresh: bool, batch: int | None = None) -> str | None:
    """Django set up in this process (``django_start``) on the database ``DATABASE_URL`` names
    (made afresh when ``fresh``) or a new SQLite file under ``var``, migrated; the date, the
    machine and the database logged. Answers ``DATABASE_URL`` (None: SQLite)."""
    database_url = os.environ.get("DATABASE_URL", "").strip() or None
    log(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}")
    if database_url:
        server, _, name = database_url.rpartition("/")
        ensure_database(server, name, fresh=fresh)
    django_start(database_url, var, batch)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    if connection.vendor == "postgresql":
        version = connection.pg_version
        log(f"PostgreSQL {version // 10000}.{version % 10000}: {connection.settings_dict['NAME']}")
    else:
        log(f"SQLite {connection.Database.sqlite_version}: {connection.settings_dict['NAME']}")
    return database_url


# --- what a pass costs ------------------------------------------------------------------------------

_SHAPES = (
    (re.compile(r"(%s, )+%s"), "%s, …"),
    (re.compile(r'"s\d+_x\d+"'), '"s…"'),
    (re.compile(r"\b\d+\b"), "N"),
)


def shape(sql: str) -> str:
    """A statement with its lists of parameters and savepoint names folded: its kind."""
    for pattern, replacement in _SHAPES:
        sql = pattern.sub(replacement, sql)
    return sql


@dataclass
class Queries:
    """Every statement Django's connection ran: how many, and their time by kind."""

    count: int = 0
    seconds: float = 0.0
    by_shape: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0, 0.0]))

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.perf_counter() - started
            self.count += 1
            self.seconds += took
            entry = self.by_shape[shape(sql)]
            entry[0] += 1
            entry[1] += took

    def top(self, n: int) -> list[tuple[str, int, float]]:
        ranked = sorted(self.by_shape.items(), key=lambda item: -item[1][1])[:n]
        return [(sql, int(count), seconds) for sql, (count, seconds) in ranked]


def peak_rss_reset() -> bool:
    """Reset the process's peak RSS (Linux: ``/proc/self/clear_refs``); False where it cannot be."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """The process's peak RSS since its start or its last reset, MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Measured:
    name: str
    seconds: float
    counts: dict[str, dict[str, int]]
    decisions: int
    changes: int
    queries: Queries
    rss_mib: float
    state: str
    error: str
    profile: str = ""


@contextmanager
def profiled(enabled: bool, out: list[str], top: int):
    if not enabled:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text).sort_stats("cumulative")
        stats.print_stats(top)
        text.write("\n-- by own time --\n")
        stats.sort_stats("tottime").print_stats(top)
        out.append(text.getvalue())


def measure_pass(name: str, *, profile: bool = False, top: int = 25) -> Measured:
    """One lifecycle pass, with its queries counted and its peak RSS."""
    from django.db import connection

    from lifecycle.engine import lifecycle_pass
    from lifecycle.models import LifecyclePass

    queries = Queries()
    peak_rss_reset()
    printed: list[str] = []
    started = time.perf_counter()
    with connection.execute_wrapper(queries), profiled(profile, printed, top):
        report = lifecycle_pass()
    seconds = time.perf_counter() - started
    rss = peak_rss_mib()
    if report.pass_id:
        LifecyclePass.objects.filter(pk=report.pass_id).update(queries=queries.count)
    return Measured(
        name, seconds, report.counts_dict(), len(report.decisions), report.changes, queries, rss, report.state,
        report.error, printed[0] if printed else "",
    )  # fmt: skip


def show(m: Measured, statements: int) -> None:
    per = m.queries.count / m.decisions if m.decisions else float("nan")
    rate = m.decisions / m.seconds if m.seconds else float("nan")
    log(f"\n{m.name}: {m.state} in {m.seconds:.2f} s, peak RSS {m.rss_mib:,.0f} MiB")
    if m.error:
        log(f"  error: {m.error}")
    for step, counts in m.counts.items():
        log(f"  {step}: " + ", ".join(f"{n:,} {kind}" for kind, n in sorted(counts.items())))
    log(
        f"  {m.decisions:,} decisions ({m.changes:,} changes) = {rate:,.0f} decisions/s;"
        f" {m.queries.count:,} queries ({m.queries.seconds:.2f} s in the database driver) = {per:.1f} per decision"
    )
    log("  costliest statements (time, count, statement):")
    for sql, count, seconds in m.queries.top(statements):
        log(f"    {seconds:7.2f} s {count:8,}  {sql[:150]}")
    if m.profile:
        log(f"\n  cProfile of {m.name}:\n{m.profile}")


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model or platform.processor() or '?'}), Python {sys.version.split()[0]}"


def main() -> int:
    args = options()
    database_url = django_migrated(args.var, fresh=False, batch=args.batch)
    items = args.items or (1_000_000 if database_url else 100_000)

    from django.conf import settings

    from benchmarks import lifecycle_fill

    log(f"batch {settings.DLM_LIFECYCLE_BATCH} objects; filling {items:,} copies")
    plan, times = lifecycle_fill.fill(
        items=items, seed=args.seed, root=args.var / "storages", database_url=database_url
    )
    stats = lifecycle_fill.describe()
    log(
        f"fill: {stats['copies']:,} copies of {stats['objects']:,} objects in {times['total']:.1f} s"
        f" ({stats['copies'] / times['total']:,.0f} rows/s, storages and indexes included)"
    )
    log(f"expected of the first pass: {plan.expected}")

    first = measure_pass("first pass", profile=args.profile, top=args.top)
    show(first, args.statements)
    second = measure_pass("second pass (nothing to do)")
    show(second, args.statements)

    per_target = first.seconds * DECISIONS_TARGET / first.decisions if first.decisions else float("inf")
    expected_ok = first.counts == plan.expected
    log("\ntargets:")
    rows = [
        ("a pass with nothing to do", second.seconds, IDLE_TARGET_S),
        (f"{DECISIONS_TARGET:,} decisions (first pass, scaled)", per_target, DECISIONS_TARGET_S),
    ]
    ok = expected_ok and first.state == second.state == "finished"
    for what, value, target in rows:
        met = value <= target
        ok &= met
        log(f"  {what}: {value:.2f} s, target {target:g} s, ratio {value / target:.2f} {'met' if met else 'MISSED'}")
    if not expected_ok:
        log(f"  the first pass's decisions differ from the plan: {first.counts} != {plan.expected}")
    return exit_status(ok)


if __name__ == "__main__":
    sys.exit(main())
