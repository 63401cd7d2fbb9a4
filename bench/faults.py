"""Issue 5: a store outage as clients see it: time to open, 503 latency, time to recover.

A real PostgreSQL (``tests/pg.py``) behind ``tka serve --workers 2``. Each round:

* **time to open**: PostgreSQL is stopped (``pg_ctl -m fast``); from the stop until every worker
  answers 503 on ``/health/ready`` and on a write and reports its breaker open (target <= 2 s).
  Under a light load (2 clients writing and reading, about 25 requests/s each, plus the probe's own
  writes) the load's failed calls open the breakers; idle, only each worker's watchdog ping does
  (every 0.5 s, three failures in a row), and the probe writes only once the breaker reports open;
* **503 latency**: while the breakers are open, writes (``POST /api/sequences``) and reads
  (``GET /api/sequences/{id}``) on each worker, timed by the client and by the server
  (``X-Process-Time``): p50 and p99 (target < 5 ms);
* **time to recover**: PostgreSQL is started; from the moment it accepts connections until a
  write succeeds on every worker (the breaker probes every 5 s, so expect up to about 5.5 s).

Each worker is reached on a kept-alive connection of its own (found by ``served_by`` in
``/api/websocket/stats``), so "every worker" is measured, not sampled. SQLite has no comparable
cheap fault: a full disk fails writes only while reads (and the watchdog's ping) go on, so its
breaker does not open; this section measures PostgreSQL. ``python -m bench.faults [--quick]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.servers import LiveServer, free_port, one_per_worker
from bench.stats import percentile

TARGET_OPEN_S = 2.0
TARGET_503_MS = 5.0
WORKERS = 2
POLL = 0.02  # seconds between a prober's looks
WRITE = ("POST", "/api/sequences", b'{"name": "fault"}')


class Worker:
    """One kept-alive connection that the kernel gave to one gunicorn worker."""

    def __init__(self, port: int, conn: http.client.HTTPConnection, pid: int) -> None:
        self.port, self.conn, self.pid = port, conn, pid

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, float, float]:
        """(status, body, client seconds, server seconds from X-Process-Time)."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        started = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        return response.status, data, elapsed, float(response.getheader("X-Process-Time") or "nan")


def pin_workers(port: int, n: int = WORKERS) -> list[Worker]:
    """A kept-alive connection to each of the ``n`` workers (see ``bench.http.one_per_worker``)."""
    def served_by(worker: Worker) -> int | None:
        try:
            status, body, _, _ = worker.request("GET", "/api/websocket/stats")
        except OSError:
            return None
        pid = json.loads(body)["data"]["served_by"] if status == 200 else None
        worker.pid = pid or 0
        return pid

    return one_per_worker(lambda: Worker(port, http.client.HTTPConnection("127.0.0.1", port, timeout=10), 0),
                          served_by, lambda worker: worker.conn.close(), n)


class Load:
    """The light background load: each client writes, reads a page, pauses; statuses are counted."""

    def __init__(self, port: int, clients: int = 2, pause: float = 0.04) -> None:
        self.port, self.pause = port, pause
        self.statuses: Counter[str] = Counter()
        self.running = threading.Event()  # cleared: the clients idle
        self.running.set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for thread in self._threads:
            thread.start()

    def _count(self, what: str) -> None:
        with self._lock:
            self.statuses[what] += 1

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self._stop.is_set():
            if not self.running.wait(0.1):
                continue
            for method, path, body in (WRITE, ("GET", "/api/sequences?page_size=5", None)):
                for attempt in (1, 2):  # a kept-alive connection the server closed while idle: reconnect
                    try:
                        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
                        response = conn.getresponse()
                        response.read()
                        self._count(str(response.status))
                        break
                    except (OSError, http.client.HTTPException):
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                        if attempt == 2:
                            self._count("connection error")
            self._stop.wait(self.pause)
        conn.close()

    def stop(self) -> dict[str, int]:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)
        return dict(self.statuses)


def _until_open(worker: Worker, t0: float, deadline: float, loaded: bool) -> dict[str, float | None]:
    """Seconds after ``t0`` at which this worker first answered 503 on readiness, on a write, and
    reported its breaker open (None if not by ``deadline``). ``/health/ready`` reads the watchdog's
    results and never touches the store; idle, writes wait for the breaker, so they cannot open it."""
    seen: dict[str, float | None] = {"ready_503": None, "write_503": None, "breaker_open": None}
    while time.perf_counter() < deadline and None in seen.values():
        now = time.perf_counter() - t0
        status, body, _, _ = worker.request("GET", "/health/ready")
        if status == 503 and seen["ready_503"] is None:
            seen["ready_503"] = now
        if seen["breaker_open"] is None and json.loads(body)["checks"]["store:breaker"][0]["observed_value"] == 2:
            seen["breaker_open"] = time.perf_counter() - t0
        if seen["write_503"] is None and (loaded or seen["breaker_open"] is not None) \
                and worker.request(*WRITE)[0] == 503:
            seen["write_503"] = time.perf_counter() - t0
        time.sleep(POLL)
    return seen


def _until_writable(worker: Worker, t0: float, deadline: float) -> float | None:
    """Seconds after ``t0`` of this worker's first successful write (None if not by ``deadline``)."""
    while time.perf_counter() < deadline:
        if worker.request(*WRITE)[0] == 201:
            return time.perf_counter() - t0
        time.sleep(POLL)
    return None


def _in_parallel(fn: Any, workers: list[Worker], *args: Any) -> list[Any]:
    results: list[Any] = [None] * len(workers)

    def run(i: int) -> None:
        results[i] = fn(workers[i], *args)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _refusals(workers: list[Worker], sequence_id: str, n: int) -> dict[str, Any]:
    """``n`` writes and ``n`` reads on each worker while its breaker is open."""
    client: list[float] = []
    server: list[float] = []
    other: Counter[int] = Counter()
    for worker in workers:
        for i in range(2 * n):
            request = WRITE if i % 2 == 0 else ("GET", f"/api/sequences/{sequence_id}", None)
            status, _, elapsed, process = worker.request(*request)
            if status != 503:
                other[status] += 1
                continue
            client.append(elapsed * 1000)
            server.append(process * 1000)
    return {"n": len(client), "client_p50_ms": _r(percentile(client, 50)), "client_p99_ms": _r(percentile(client, 99)),
            "server_p50_ms": _r(percentile(server, 50)), "server_p99_ms": _r(percentile(server, 99)),
            "not_503": dict(other)}


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None or x != x else round(x, digits)


def _round(db: Any, port: int, sequence_id: str, refusals: int, load: Load, loaded: bool) -> dict[str, Any]:
    if not loaded:
        load.running.clear()
        time.sleep(1.0)  # the load's last calls are done; the watchdog's pings alone from here
    workers = pin_workers(port)
    stopped: list[float] = []
    t0 = time.perf_counter()
    stopper = threading.Thread(target=lambda: (db.stop("fast"), stopped.append(time.perf_counter() - t0)))
    stopper.start()
    opened = _in_parallel(_until_open, workers, t0, t0 + 20, loaded)
    stopper.join()
    latency = _refusals(workers, sequence_id, refusals)
    t1 = time.perf_counter()
    db.start()
    pg_ready = time.perf_counter()
    recovered = _in_parallel(_until_writable, workers, pg_ready, pg_ready + 30)
    for worker in workers:
        worker.conn.close()
    load.running.set()
    signals = {key: [o[key] for o in opened] for key in ("ready_503", "write_503", "breaker_open")}
    every = [max(v for v in o.values() if v is not None) if None not in o.values() else None for o in opened]
    return {
        "load": "light" if loaded else "idle",
        "time_to_open_s": _r(max(every)) if None not in every else None,
        "per_worker_open_s": [_r(x) for x in every],
        "first_503_s": {key: _r(max(v)) if None not in v else None for key, v in signals.items()},
        "pg_stop_s": _r(stopped[0]) if stopped else None, "pg_start_s": _r(pg_ready - t1),
        "refusals": latency,
        "time_to_recover_s": _r(max(recovered)) if None not in recovered else None,
        "per_worker_recover_s": [_r(x) for x in recovered],
    }


def _summary(values: list[float | None]) -> dict[str, float | None]:
    got = [v for v in values if v is not None]
    return {"median": _r(statistics.median(got)) if got else None, "max": _r(max(got)) if got else None,
            "missed": len(values) - len(got)}


def bench_postgres(rounds: int, idle_rounds: int, refusals: int, log: Any = print) -> dict[str, Any]:
    from tests import pg  # the same PostgreSQL the tests use: installed if missing, on loopback

    db = pg.PostgresServer(free_port())
    try:
        url = db.create_database()
        with tempfile.TemporaryDirectory(prefix="tka-bench-faults-") as tmp:
            server = LiveServer(url, workers=WORKERS, log=Path(tmp) / "tka.log")
            load = None
            try:
                pin_workers(server.port)  # both workers booted
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                conn.request("POST", "/api/sequences", body=b'{"name": "read me"}',
                             headers={"Content-Type": "application/json"})
                sequence_id = json.loads(conn.getresponse().read())["data"]["id"]
                conn.close()
                load = Load(server.port)
                time.sleep(1.0)
                runs = []
                plan = [True] * rounds + [False] * idle_rounds
                for i, loaded in enumerate(plan):
                    result = _round(db, server.port, sequence_id, refusals, load, loaded)
                    runs.append(result)
                    log(f"  round {i + 1}/{len(plan)} ({result['load']}): open {result['time_to_open_s']} s, "
                        f"503 p50/p99 client "
                        f"{result['refusals']['client_p50_ms']}/{result['refusals']['client_p99_ms']} ms, server "
                        f"{result['refusals']['server_p50_ms']}/{result['refusals']['server_p99_ms']} ms, "
                        f"recover {result['time_to_recover_s']} s")
                    time.sleep(1.0)  # the load runs on the recovered server before the next stop
                statuses = load.stop()
                load = None
                if server.proc.poll() is not None:
                    raise RuntimeError(f"the server died: {server.log_tail()}")
            finally:
                if load is not None:
                    load.stop()
                server.stop()
    finally:
        db.destroy()
    refused = [r["refusals"] for r in runs]
    return {
        "store": "postgresql", "workers": WORKERS, "rounds": rounds, "idle_rounds": idle_rounds,
        "refusals_per_worker_per_round": 2 * refusals,
        "time_to_open_s": _summary([r["time_to_open_s"] for r in runs if r["load"] == "light"]),
        "time_to_open_idle_s": _summary([r["time_to_open_s"] for r in runs if r["load"] == "idle"]),
        "target_open_s": TARGET_OPEN_S,
        "refusal_latency_ms": {key: _r(statistics.median([x[key] for x in refused if x[key] is not None]))
                               for key in ("client_p50_ms", "client_p99_ms", "server_p50_ms", "server_p99_ms")},
        "target_503_ms": TARGET_503_MS,
        "time_to_recover_s": _summary([r["time_to_recover_s"] for r in runs]),
        "background_load_statuses": statuses,
        "unexpected_5xx": sum(n for s, n in statuses.items() if s.startswith("5") and s != "503"),
        "runs": runs,
    }


def main(quick: bool = False) -> dict[str, Any]:
    rounds, idle_rounds, refusals = (1, 1, 50) if quick else (3, 2, 200)
    try:
        results = {"postgresql": bench_postgres(rounds, idle_rounds, refusals)}
    except Exception as exc:  # no PostgreSQL here: report why instead
        results = {"postgresql": {"skipped": f"{type(exc).__name__}: {exc}"}}
    results["sqlite"] = {"skipped": "no cheap fault opens its breaker: a full disk fails writes, reads go on"}
    results["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    return results


def table(results: dict[str, Any]) -> str:
    """The numbers as a few lines, for ``python -m bench``."""
    pgr = results.get("postgresql", {})
    if "skipped" in pgr or "time_to_open_s" not in pgr:
        return f"  postgresql: {pgr.get('skipped', 'no result')}"
    lat, recovered = pgr["refusal_latency_ms"], pgr["time_to_recover_s"]

    def opened(key: str) -> str:
        got = pgr[key]
        verdict = "meets" if got["max"] is not None and got["max"] <= pgr["target_open_s"] else "MISSES"
        return f"{got['median']} s ({got['max']} s)   target <= {pgr['target_open_s']} s: {verdict}"

    return "\n".join([
        f"  PostgreSQL stopped (pg_ctl -m fast), tka serve --workers {pgr['workers']}, "
        f"{pgr['rounds']} round(s) under light load + {pgr['idle_rounds']} idle, medians (max)",
        f"  time to open, light load  {opened('time_to_open_s')}",
        f"  time to open, idle        {opened('time_to_open_idle_s')}",
        f"  503 latency               client p50 {lat['client_p50_ms']} ms  p99 {lat['client_p99_ms']} ms   "
        f"server p50 {lat['server_p50_ms']} ms  p99 {lat['server_p99_ms']} ms   target < {pgr['target_503_ms']} ms",
        f"  time to recover           {recovered['median']} s ({recovered['max']} s) "
        "after PostgreSQL accepts connections",
        f"  background load           {pgr['background_load_statuses']}  (unexpected 5xx: {pgr['unexpected_5xx']})",
    ])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    out = main(parser.parse_args().quick)
    print(table(out))
    print(json.dumps(out, indent=2))
