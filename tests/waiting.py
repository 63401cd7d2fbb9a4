"""Waiting for something a background thread or another process does: polls, never a stopwatch.

The timeout only stops a test that would otherwise hang; how soon the condition came true is
not asserted anywhere (speed lives in ``make bench``).
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")

GIVE_UP_S = 30.0


def wait_until(condition: Callable[[], T], what: str, give_up_after: float = GIVE_UP_S, every: float = 0.005) -> T:
    """What ``condition()`` returns once it is true, asking ``every`` seconds; fail the test,
    naming ``what``, if it never becomes so."""
    deadline = time.monotonic() + give_up_after
    while not (value := condition()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(every)
    return value
