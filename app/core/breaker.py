"""Circuit breakers that never serialize the calls they guard.

pybreaker keeps the state machine (closed -> open -> half-open), its listeners and its settings,
but ``CircuitBreaker.call`` holds the breaker's lock for the whole wrapped call, so calls through
one breaker would run one at a time. Here the guarded work runs outside that lock: ``admit``
checks the state before the work, and the outcome is recorded afterwards by passing pybreaker a
call that does nothing (success) or only re-raises (failure), which holds the lock for
microseconds. Only infrastructure faults are recorded as failures; a caller's bad input is a
success as far as the dependency is concerned.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Callable

import pybreaker


class BreakerOpen(Exception):
    """The dependency is failing; calls are refused until the half-open probe time."""

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"{name} is unavailable (circuit open); retry in {retry_after:.1f} s")
        self.name = name
        self.retry_after = retry_after


class _Failure(Exception):
    pass


def _noop() -> None:
    return None


def _raise(exc: BaseException) -> None:
    raise exc


class Breaker:
    def __init__(self, name: str, *, fail_max: int = 3, reset_timeout: float = 5.0,
                 on_change: Callable[[str, str | None, str], None] | None = None) -> None:
        """``on_change(name, old, new)`` on every change of state, and once at the start (old None)."""
        self.name = name
        # Our own storage, to read when the breaker opened (pybreaker has no getter for it).
        self._storage = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self._cb = pybreaker.CircuitBreaker(fail_max=fail_max, reset_timeout=reset_timeout, name=name,
                                            state_storage=self._storage)
        self._lock = threading.Lock()
        if on_change is not None:
            outer = self

            class _Listener(pybreaker.CircuitBreakerListener):
                def state_change(self, cb: pybreaker.CircuitBreaker, old: object, new: object) -> None:
                    on_change(outer.name, getattr(old, "name", str(old)), getattr(new, "name", str(new)))

            self._cb.add_listener(_Listener())
            on_change(name, None, self.state)

    @property
    def state(self) -> str:
        return self._cb.current_state

    def retry_after(self) -> float:
        """Seconds until the half-open probe (0 when not open)."""
        opened_at = self._storage.opened_at
        if self.state != pybreaker.STATE_OPEN or opened_at is None:
            return 0.0
        return max(0.0, (opened_at.timestamp() + self._cb.reset_timeout)
                   - datetime.now(timezone.utc).timestamp())

    def admit(self) -> None:
        """Raise BreakerOpen while open; once the timeout has passed, let calls probe (half-open)."""
        if self.state != pybreaker.STATE_OPEN:
            return
        wait = self.retry_after()
        if wait > 0:
            raise BreakerOpen(self.name, wait)
        with self._lock:
            if self.state == pybreaker.STATE_OPEN:
                self._cb.half_open()

    def success(self) -> None:
        # The common case, closed with no failures counted, has nothing to record: skip the lock.
        if self._cb.current_state == pybreaker.STATE_CLOSED and self._cb.fail_counter == 0:
            return
        self._cb.call(_noop)

    def failure(self, exc: BaseException) -> None:
        try:
            self._cb.call(_raise, _Failure(str(exc)))
        except (_Failure, pybreaker.CircuitBreakerError):
            pass

    def reset(self) -> None:
        self._cb.close()
