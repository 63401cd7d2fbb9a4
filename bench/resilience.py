"""Does the store breaker cost throughput? (issue 5: within 5 % of no breaker)

12 threads (fewer than either pool's connections) run short read transactions on one store for a
fixed time, three ways, in rotating order over several rounds: through our Breaker (state checked
before, outcome recorded after, never holding a lock during the call), through no breaker at all,
and through ``pybreaker.CircuitBreaker.call`` wrapping the whole transaction (which holds the
breaker's lock for the call: the trap DESIGN.md §5 warns about). Two workloads:

* ``ping``: ``SELECT 1``, almost all Python; the GIL serializes it anyway, so a lock around it
  costs nothing (it even spares the threads some contention);
* ``io``: the same transaction waiting 2 ms on the database (``pg_sleep``; on SQLite, a sleep
  inside the open transaction, standing in for a slow disk), the case where serializing calls
  shows: every request would queue behind the one in flight.

A third, single-threaded ``ping`` in short alternating blocks measures what the breaker itself
costs per call, which the threaded runs' scheduling noise (±20 % between rounds) would hide.
``python -m bench.resilience [--quick]``.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pybreaker
import sqlalchemy as sa

from app.core.breaker import Breaker
from app.store import Store
from tests.servers import free_port

IO_WAIT_S = 0.002


class _NoBreaker(Breaker):
    def admit(self) -> None:
        return None

    def success(self) -> None:
        return None

    def failure(self, exc: BaseException) -> None:
        return None


def _throughput(call: Callable[[], Any], threads: int, seconds: float) -> float:
    count = [0] * threads
    stop = time.perf_counter() + seconds

    def run(i: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            call()
            n += 1
        count[i] = n

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(count) / seconds


def _io(store: Store) -> None:
    """A read transaction that waits ``IO_WAIT_S`` on the database (GIL released meanwhile)."""
    with store.read() as uow:
        if store.kind == "postgresql":
            uow.conn.execute(sa.text("SELECT pg_sleep(:s)"), {"s": IO_WAIT_S})
        else:
            uow.conn.execute(sa.text("SELECT 1"))
            time.sleep(IO_WAIT_S)


def _measure(url: str, seconds: float, rounds: int, threads: int) -> dict[str, Any]:
    with_breaker = Store(url)
    with_breaker.migrate()
    without = Store(url, breaker=_NoBreaker("none"))
    wrapped_cb = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=5)
    plain = Store(url, breaker=_NoBreaker("none"))
    result: dict[str, Any] = {}
    for workload, work in (("ping", lambda store: store.ping()), ("io", _io)):
        ways: dict[str, Callable[[], Any]] = {
            "breaker": lambda: work(with_breaker),
            "no_breaker": lambda: work(without),
            "pybreaker_call_wrapping": lambda: wrapped_cb.call(work, plain),
        }
        names = list(ways)
        samples: dict[str, list[float]] = {name: [] for name in ways}
        for r in range(rounds):
            for name in names[r % 3:] + names[:r % 3]:  # no way always goes first
                samples[name].append(_throughput(ways[name], threads, seconds))
        entry: dict[str, Any] = {name: round(statistics.median(values), 1) for name, values in samples.items()}
        # Ratios within each round (measured minutes apart at most), then their median: the load of a
        # shared machine drifts between rounds far more than between neighbouring samples.
        for way, key in (("breaker", "ratio_breaker_vs_none"), ("pybreaker_call_wrapping", "ratio_pybreaker_call_vs_none")):
            ratios = [a / b for a, b in zip(samples[way], samples["no_breaker"])]
            entry[key] = round(statistics.median(ratios), 3)
            entry[key + "_range"] = [round(min(ratios), 3), round(max(ratios), 3)]
        result[workload] = entry
    # The breaker's own cost, without 12 threads' scheduling noise: one thread, short alternating blocks.
    solo: dict[str, list[float]] = {"breaker": [], "no_breaker": []}
    for r in range(rounds * 3):
        for name in (("breaker", "no_breaker") if r % 2 else ("no_breaker", "breaker")):
            store = with_breaker if name == "breaker" else without
            solo[name].append(_throughput(store.ping, 1, seconds / 4))
    ratios = [a / b for a, b in zip(solo["breaker"], solo["no_breaker"])]
    result["ping_1_thread"] = {**{k: round(statistics.median(v), 1) for k, v in solo.items()},
                               "ratio_breaker_vs_none": round(statistics.median(ratios), 3),
                               "ratio_breaker_vs_none_range": [round(min(ratios), 3), round(max(ratios), 3)]}
    # And the breaker alone: admit() before + success() after, per guarded call, against that call.
    breaker = with_breaker.breaker
    n = 200_000
    started = time.perf_counter()
    for _ in range(n):
        breaker.admit()
        breaker.success()
    per_call_us = (time.perf_counter() - started) / n * 1e6
    result["breaker_us_per_call"] = round(per_call_us, 3)
    result["breaker_share_of_ping"] = round(per_call_us / (1e6 / result["ping_1_thread"]["no_breaker"]), 5)
    result.update(threads=threads, seconds_per_sample=seconds, rounds=rounds, io_wait_ms=IO_WAIT_S * 1000,
                  unit="read transactions/s")
    for store in (with_breaker, without, plain):
        store.dispose()
    return result


def main(quick: bool = False) -> dict[str, Any]:
    seconds, rounds, threads = (0.5, 3, 12) if quick else (1.0, 12, 12)
    path = Path(tempfile.mkdtemp(prefix="tka-bench-breaker-")) / "b.db"
    results: dict[str, Any] = {"sqlite": _measure(f"sqlite:///{path}", seconds, rounds, threads)}
    try:  # PostgreSQL over loopback: each call waits on I/O, where serializing shows
        from tests import pg

        server = pg.PostgresServer(free_port())
        try:
            results["postgresql"] = _measure(server.create_database(), seconds, rounds, threads)
        finally:
            server.destroy()
    except Exception as exc:  # no PostgreSQL here: report why instead
        results["postgresql"] = {"skipped": f"{type(exc).__name__}: {exc}"}
    return results


