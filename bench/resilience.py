"""Does the store breaker cost throughput? (issue 5: within 5 % of no breaker)

16 threads run short read transactions (``Store.ping``) on one SQLite file for a fixed time,
three ways, interleaved over several rounds: through our Breaker (state checked before, outcome
recorded after, never holding a lock during the call), through no breaker at all, and through
``pybreaker.CircuitBreaker.call`` wrapping the whole transaction (which holds the breaker's lock
for the call: the trap DESIGN.md §5 warns about). ``python -m bench.resilience [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pybreaker

from app.core.breaker import Breaker
from app.store import Store


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


def _measure(url: str, seconds: float, rounds: int, threads: int) -> dict[str, Any]:
    with_breaker = Store(url)
    with_breaker.migrate()
    without = Store(url, breaker=_NoBreaker("none"))
    wrapped_cb = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=5)
    plain = Store(url, breaker=_NoBreaker("none"))
    ways: dict[str, Callable[[], Any]] = {
        "breaker": with_breaker.ping,
        "no_breaker": without.ping,
        "pybreaker_call_wrapping": lambda: wrapped_cb.call(plain.ping),
    }
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, call in ways.items():
            samples[name].append(_throughput(call, threads, seconds))
    result = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    result["ratio_breaker_vs_none"] = round(result["breaker"] / result["no_breaker"], 3)
    result["ratio_pybreaker_call_vs_none"] = round(result["pybreaker_call_wrapping"] / result["no_breaker"], 3)
    result.update(threads=threads, seconds_per_sample=seconds, rounds=rounds, unit="read transactions/s")
    for store in (with_breaker, without, plain):
        store.dispose()
    return result


def main(quick: bool = False) -> dict[str, Any]:
    seconds, rounds, threads = (0.5, 2, 16) if quick else (2.0, 5, 16)
    path = Path(tempfile.mkdtemp(prefix="tka-bench-breaker-")) / "b.db"
    results: dict[str, Any] = {"sqlite": _measure(f"sqlite:///{path}", seconds, rounds, threads)}
    try:  # PostgreSQL over loopback: each call waits on I/O, where serializing shows
        from tests import pg

        server = pg.PostgresServer(_free_port())
        try:
            results["postgresql"] = _measure(server.create_database(), seconds, rounds, threads)
        finally:
            server.destroy()
    except Exception as exc:  # no PostgreSQL here: report why instead
        results["postgresql"] = {"skipped": f"{type(exc).__name__}: {exc}"}
    return results


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(main(parser.parse_args().quick), indent=2))
