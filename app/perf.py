"""Baseline tracking: compare a ``make bench`` result file with a stored baseline.

Every numeric leaf whose name says which way is better is compared (``rps``, ``per_s`` and
``ratio_rps``: higher; ``*_ms`` latencies and CPU per request: lower); a change for the worse
beyond the tolerance is a regression. Ratios measured against a same-run baseline are the numbers
to trust across machines; raw numbers are reported too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

HIGHER_IS_BETTER = ("rps", "per_s", "ratio_rps", "ops_per_s", "events_per_s")
LOWER_IS_BETTER = ("_ms", "ms_per_req", "ms_per_create", "kib_per_create", "ratio_p99", "bytes_per_connection")
SKIP = ("elapsed_s", "target", "runs", "meta", "loadavg")


@dataclass(frozen=True)
class Change:
    path: str
    baseline: float
    current: float
    higher_is_better: bool

    @property
    def relative(self) -> float:
        """Positive when better, negative when worse, as a fraction of the baseline."""
        if self.baseline == 0:
            return 0.0
        delta = (self.current - self.baseline) / abs(self.baseline)
        return delta if self.higher_is_better else -delta


def _direction(key: str) -> bool | None:
    if any(part in key for part in SKIP):
        return None
    if key.endswith(HIGHER_IS_BETTER) or key in HIGHER_IS_BETTER:
        return True
    if key.endswith(LOWER_IS_BETTER):
        return False
    return None


def _leaves(tree: Any, prefix: str = "") -> Iterator[tuple[str, str, float]]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            if any(part in key for part in SKIP):
                continue
            yield from _leaves(value, f"{prefix}.{key}" if prefix else key)
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield prefix, prefix.rsplit(".", 1)[-1], float(tree)


def compare(baseline: dict[str, Any], current: dict[str, Any]) -> list[Change]:
    base = {path: (key, value) for path, key, value in _leaves(baseline)}
    changes = []
    for path, key, value in _leaves(current):
        direction = _direction(key)
        if direction is None or path not in base:
            continue
        changes.append(Change(path, base[path][1], value, direction))
    return changes


def report(baseline_file: Path, current_file: Path, tolerance: float = 0.10) -> tuple[str, int]:
    """A table of every comparable number and the count of regressions beyond ``tolerance``."""
    changes = compare(json.loads(baseline_file.read_text()), json.loads(current_file.read_text()))
    lines = [f"baseline {baseline_file}  vs  current {current_file}  (tolerance {tolerance:.0%})", ""]
    regressions = 0
    for c in sorted(changes, key=lambda c: c.relative):
        flag = "REGRESSION" if c.relative < -tolerance else "better" if c.relative > tolerance else "same"
        regressions += flag == "REGRESSION"
        lines.append(f"{flag:10}  {c.path:60} {c.baseline:>12.3f} -> {c.current:>12.3f}  ({c.relative:+.1%})")
    if not changes:
        lines.append("no comparable numbers (different sections?)")
    lines += ["", f"{regressions} regression(s)"]
    return "\n".join(lines), regressions
