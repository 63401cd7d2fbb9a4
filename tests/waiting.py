"""Waiting for something a background thread or another process does: polls, never a stopwatch.

The timeout only stops a test that would otherwise hang; how soon the condition came true is
not asserted anywhere (speed lives in ``make bench``).
"""

from __future__ import annotations

import time
from typing import Callable

GIVE_UP_S = 30.0


def wait_until(condition: Callable[[], object], what: str, give_up_after: float = GIVE_UP_S) -> None:
    """Return once ``condition()`` is true; fail the test, naming ``what``, if it never becomes so."""
    deadline = time.monotonic() + give_up_after
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.005)
