#!/usr/bin/env python
"""Copies through DLM beside plain rclone, in one run.

    .venv/bin/python benchmarks/copy.py [--size-mib 1024] [--small 1000]

1. Creates the database ``dlm_bench_copy`` afresh, writes a ``--size-mib`` file of random bytes
   and ``--small`` files of 1 KiB, and starts an ``rclone serve s3`` on loopback (keys checked),
   gunicorn (2 workers) and a django-q2 worker (``manage.py qcluster``), all on PostgreSQL.
2. Registers the files through the API (with the access check: size and md5 recorded).
3. Copies the large file local → local and local → S3 through DLM (``copy_data_item``, then
   polling ``get_migration`` until the job is completed: copied *and verified*), and the same
   copies with plain ``rclone copyto``, ``--rounds`` times each, alternating, after a ``sync``;
   prints the times and the ratio of the median throughputs.
4. Sends ``--small`` ``copy_data_item`` calls (4 client threads), waits for every job to complete,
   and prints copies/s and the delay from the call to the job running (p50, p95).

Targets: DLM (with verification) >= 0.8 x raw rclone throughput; >= 50 small copies/s; p50 delay
from the call to the job running <= 1 s.
"""

import argparse
import os
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

# Run as ``python benchmarks/copy.py``, this directory comes first on sys.path, where this file
# shadows the standard library's ``copy``: put the project there before anything imports it.
if os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from benchmarks.common import Api, Run, add_database_options, bench_run, exit_status, log, percentile, rclone  # noqa: E402

RATIO_TARGET = 0.8
SMALL_RATE_TARGET = 50.0
DELAY_TARGET_S = 1.0


def wait_completed(api: Api, migration_id: int, timeout: float = 1800) -> dict:
    """The job's row once it is completed; a failed or cancelled job, or a timeout, ends the run."""
    deadline, pause = time.monotonic() + timeout, 0.01
    while time.monotonic() < deadline:
        row = api.call("GET", "/migration/get_migration", {"migration_id": migration_id})[0]
        if row["state"] in ("completed", "failed", "cancelled"):
            if row["state"] != "completed":
                raise SystemExit(f"migration {migration_id} {row['state']}: {row['last_error']}")
            return row
        time.sleep(pause)
        pause = min(pause * 2, 0.25)
    raise SystemExit(f"migration {migration_id} did not complete in {timeout:.0f} s")


def write_random(path: Path, size: int) -> None:
    """A file of ``size`` random bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    chunk = 16 * 1024 * 1024
    with open(path, "wb") as handle:
        left = size
        while left:
            handle.write(os.urandom(min(chunk, left)))
            left -= min(chunk, left)


def raw_copy(source: Path, destination: str) -> float:
    """Seconds ``rclone copyto`` took to copy ``source`` to ``destination``."""
    started = time.perf_counter()
    rclone("copyto", str(source), destination)
    return time.perf_counter() - started


def dlm_copy(api: Api, uid: str, destination: str, path: str) -> float:
    """Seconds from asking DLM for a copy of ``uid`` to the job completed (copied and verified)."""
    started = time.perf_counter()
    answer = api.call("POST", "/migration/copy_data_item", {"uid": uid, "destination_name": destination, "path": path})
    wait_completed(api, answer["migration_id"])
    return time.perf_counter() - started


def options() -> argparse.Namespace:
    """The command line, as benchmarks/README.md documents it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the large file in MiB (1024)")
    parser.add_argument("--small", type=int, default=1000, help="number of 1 KiB copies (1000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed copies of the large file per side (3)")
    parser.add_argument("--clients", type=int, default=4, help="threads sending the small copies (4)")
    parser.add_argument("--workers", type=int, help="qcluster worker processes (DLM_WORKERS; default DLM's)")
    add_database_options(parser, db="dlm_bench_copy", db_help="database name, recreated (dlm_bench_copy)")
    return parser.parse_args()


def measure(run: Run, args: argparse.Namespace) -> dict[str, tuple]:
    """Per direction, the median seconds of rclone's and DLM's copies of the large file; for
    ``small``, the seconds all the small copies took and each one's delay to running."""
    token = run.token("bench-copy", "admin")
    size = args.size_mib * 1024 * 1024
    source, destination, raw, s3_root = run.work / "src", run.work / "dst", run.work / "raw", run.work / "s3"
    started = time.perf_counter()
    write_random(source / "big.bin", size)
    payload = os.urandom(1024)
    (source / "small").mkdir()
    for n in range(args.small):
        (source / "small" / f"s{n}.bin").write_bytes(payload)
    for folder in (destination, raw, s3_root / "bucket"):
        folder.mkdir(parents=True)
    log(f"wrote {args.size_mib} MiB and {args.small} x 1 KiB in {time.perf_counter() - started:.1f} s")

    s3 = run.s3(s3_root, "AKCOPY", "SKCOPYSECRET")
    server = run.server()
    run.start([sys.executable, "manage.py", "qcluster"], env=run.env, log_name="qcluster.log", grace=30)
    results: dict[str, tuple] = {}
    api = Api(server.port, token)
    local = ("filesystem", "posix", str(destination), {"name": "dst", "type": "local"})
    bucket = ("objectstore", "s3", "/bucket", {"name": "s3", "type": "s3", "parameters": s3.parameters})
    storages = {"copy-src": ("filesystem", "posix", str(source), {"name": "src", "type": "local"}), "copy-dst": local}
    # One destination storage per round and kind (a storage holds one copy of an item).
    for n in range(args.rounds):
        storages[f"big-dst-{n}"], storages[f"big-s3-{n}"] = local, bucket
    api.add_storages(storages)

    started = time.perf_counter()
    big = api.call("POST", "/ingest/register_data_item",
                   {"item_name": "big.bin", "uri": "big.bin", "storage_name": "copy-src"})  # fmt: skip
    log(f"registered the large file (size and md5 by rclone) in {time.perf_counter() - started:.1f} s")
    items = [{"item_name": f"small/s{n}.bin", "uri": f"small/s{n}.bin"} for n in range(args.small)]
    small = api.call("POST", "/ingest/register_data_items", {"storage_name": "copy-src"}, items)

    for label, storage, raw_destination in (
        ("local -> local", "big-dst", str(raw) + "/"),
        ("local -> S3", "big-s3", s3.remote("bucket")),
    ):
        raw_times, dlm_times = [], []
        for n in range(args.rounds):
            # Dirty pages of the copy before would be written back during this one: flush first.
            os.sync()
            raw_times.append(raw_copy(source / "big.bin", f"{raw_destination}raw-big-{n}.bin"))
            os.sync()
            dlm_times.append(dlm_copy(api, big, f"{storage}-{n}", f"copied-{storage}-{n}.bin"))
            for folder in (raw, destination, s3_root / "bucket"):  # keep the disk from filling up
                (folder / f"raw-big-{n}.bin").unlink(missing_ok=True)
                (folder / f"copied-{storage}-{n}.bin").unlink(missing_ok=True)
        results[label] = (percentile(raw_times, 50), percentile(dlm_times, 50))
        log(f"  {label}: rclone copyto {' '.join(f'{t:.2f}' for t in raw_times)} s, "
            f"DLM (copy + verify) {' '.join(f'{t:.2f}' for t in dlm_times)} s")  # fmt: skip

    calls: list[tuple[float, int]] = []
    lock = threading.Lock()

    def send(chunk: list[str]) -> None:
        for uid in chunk:
            answer = api.call("POST", "/migration/copy_data_item", {"uid": uid, "destination_name": "copy-dst"})
            with lock:
                calls.append((time.time(), answer["migration_id"]))

    started = time.perf_counter()
    threads = [threading.Thread(target=send, args=(small[n :: args.clients],)) for n in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = [wait_completed(api, migration_id) for _, migration_id in sorted(calls)]
    small_seconds = time.perf_counter() - started
    delays = [
        (datetime.fromisoformat(row["started_at"]) - datetime.fromisoformat(row["date"])).total_seconds()
        for row in rows
    ]
    results["small"] = (small_seconds, delays)
    return results


def main() -> int:
    args = options()
    env = {"DLM_COPY_RETRY_DELAY": "1", **({"DLM_WORKERS": str(args.workers)} if args.workers else {})}
    with bench_run(pg=args.pg, db=args.db, fresh=True, prefix="dlm-bench-copy-", env=env) as run:
        results = measure(run, args)

    ok = True
    mib = args.size_mib
    print(f"\n{'copy of ' + str(mib) + ' MiB':24} {'rclone copyto':>14} {'DLM':>10} {'DLM / rclone':>14}  verdict")
    print("-" * 80)
    for label in ("local -> local", "local -> S3"):
        raw_seconds, dlm_seconds = results[label]
        ratio = raw_seconds / dlm_seconds
        passed = ratio >= RATIO_TARGET
        ok &= passed
        print(f"{label:24} {mib / raw_seconds:>9.0f} MiB/s {mib / dlm_seconds:>5.0f} MiB/s {ratio:>13.0%}  "
              f"{'PASS' if passed else f'FAIL: target >= {RATIO_TARGET:.0%}'}")  # fmt: skip
    small_seconds, delays = results["small"]
    rate = args.small / small_seconds
    p50, p95 = percentile(delays, 50), percentile(delays, 95)
    rate_ok, delay_ok = rate >= SMALL_RATE_TARGET, p50 <= DELAY_TARGET_S
    ok &= rate_ok and delay_ok
    print(f"\n{args.small} copies of 1 KiB (calls to all completed and verified): {small_seconds:.1f} s, "
          f"{rate:.1f} copies/s  {'PASS' if rate_ok else f'FAIL: target >= {SMALL_RATE_TARGET:.0f}/s'}")  # fmt: skip
    print(f"delay from the call to the job running: p50 {p50:.3f} s, p95 {p95:.3f} s  "
          f"{'PASS' if delay_ok else f'FAIL: target p50 <= {DELAY_TARGET_S:.0f} s'}")  # fmt: skip
    return exit_status(ok)


if __name__ == "__main__":
    sys.exit(main())
