"""Small timing and statistics helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; NaN for no samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary_ms(samples_s: Sequence[float]) -> dict[str, Any]:
    """p50/p90/p99/max/mean of durations given in seconds, reported in milliseconds."""
    ms = [s * 1000 for s in samples_s]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 4),
        "p90_ms": round(percentile(ms, 90), 4),
        "p99_ms": round(percentile(ms, 99), 4),
        "max_ms": round(max(ms), 4) if ms else float("nan"),
        "mean_ms": round(statistics.fmean(ms), 4) if ms else float("nan"),
    }


def best_rate(loop: Callable[[], int], *, repeats: int, min_time: float) -> float:
    """Operations per second of ``loop`` (which returns how many operations it ran), best of ``repeats``.

    Each repeat runs ``loop`` as often as needed to last at least ``min_time`` seconds. The best
    repeat is the one least disturbed by the rest of the machine, the usual choice for CPU loops.
    """
    best = 0.0
    for _ in range(repeats):
        ops = 0
        start = time.perf_counter()
        while True:
            ops += loop()
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        best = max(best, ops / elapsed)
    return best


def ratio(value: float, baseline: float) -> float | None:
    if not baseline or value != value or baseline != baseline:  # zero or NaN
        return None
    return round(value / baseline, 4)
