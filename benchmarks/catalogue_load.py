"""The catalogue benchmark's load: its scenarios, the client processes that send them, and the CPU
each side uses while they run."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import time
from dataclasses import dataclass
from urllib.parse import quote

import psycopg

from benchmarks.catalogue_fill import LOCATIONS
from benchmarks.common import load_figures, run_clients


@dataclass
class Scenario:
    """Requests of one kind, with the answer each must give."""

    name: str
    operation: str
    # (path with query, expected JSON: "ACK", True, or (field, value) every returned row must match)
    targets: list[tuple[str, object]]
    floor: bool = False


def scenarios(keys: list[tuple[str, str, str]]) -> list[Scenario]:
    """The heartbeat, then each lookup over the sampled (item_name, uid, oid) keys, and the location
    lookup over the filled locations."""
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
        Scenario(
            "location by name",
            "query_location?location_name=",
            [(f"/storage/query_location?location_name={q(name)}", ("location_name", name)) for name, *_ in LOCATIONS],
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


def selected(scenario: Scenario, only: list[str] | None) -> bool:
    """Whether ``--only``'s words pick ``scenario`` (the heartbeat, the floor, always runs)."""
    return not only or scenario.floor or any(word in scenario.name for word in only)


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
    whole machine, from /proc. What neither the server nor the clients used is someone else's load.
    Without ``conn`` (SQLite, which runs inside gunicorn's workers) there are no backends."""

    def __init__(self, server_pid: int, conn: psycopg.Connection | None, database: str) -> None:
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
        backends = set()
        if self.conn is not None:
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
) -> dict:
    """``clients`` client processes sending ``scenario`` for ``warmup`` then ``duration`` seconds: the load's
    figures, and the CPU per request of the server, its database backends, the clients and others."""

    def measure() -> dict[str, float]:
        time.sleep(warmup)
        return meter.window(duration)

    parts, used = run_clients(
        client,
        lambda n: (port, token, scenario.targets, warmup, duration, seed * 100 + n),
        clients,
        timeout=120,
        during=measure,
    )
    figures = load_figures(parts)
    count = figures["requests"]
    client_cpu = sum(part["cpu"] for part in parts)
    ncpu = os.cpu_count() or 1
    per_request = 1000 / count if count else float("nan")
    others = max(0.0, used["machine"] - used["web"] - used["db"] - client_cpu)
    return {
        "scenario": scenario.name,
        "operation": scenario.operation,
        **figures,
        "rows_per_answer": sum(part["rows"] for part in parts) / count if count else 0.0,
        # CPU milliseconds per request: Django in gunicorn, PostgreSQL backends, the clients.
        "web_cpu_ms": used["web"] * per_request,
        "db_cpu_ms": used["db"] * per_request,
        "client_cpu_ms": client_cpu * per_request,
        # Share of the machine's CPU used by anything else (other processes) during the window.
        "other_cpu_pct": 100 * others / (used["wall"] * ncpu),
        "floor": scenario.floor,
    }
