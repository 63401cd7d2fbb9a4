"""A per-process watchdog for the store.

It pings the store every ``interval`` seconds, so this process's breaker opens within a couple of
seconds of an outage even when no request happens to arrive, and its half-open probe closes the
breaker again when the store is back, without a restart or a user request paying for the probe.
Health endpoints read its last result instead of hitting the database on every probe; other
parts of the app may ride on its tick (``add_listener``) instead of starting a thread of their own.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from app.store import Store, StoreUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PingResult:
    ok: bool
    latency_ms: float
    at: float
    error: str | None = None


class StoreMonitor:
    def __init__(self, store: Store, interval: float = 0.5) -> None:
        self.store = store
        self.interval = interval
        self.last: PingResult | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[PingResult], None]] = []

    def add_listener(self, listener: Callable[[PingResult], None]) -> None:
        """Call ``listener(result)`` on the watchdog's thread after each of its pings."""
        self._listeners.append(listener)

    def ping(self) -> PingResult:
        started = time.perf_counter()
        try:
            self.store.ping()
            result = PingResult(True, (time.perf_counter() - started) * 1000, time.time())
        except StoreUnavailable as exc:
            result = PingResult(False, (time.perf_counter() - started) * 1000, time.time(), str(exc))
        self.last = result
        return result

    def current(self, max_age: float = 2.0) -> PingResult:
        """The last ping if fresh enough, else a new one."""
        last = self.last
        if last is not None and time.time() - last.at <= max_age:
            return last
        return self.ping()

    def start(self) -> "StoreMonitor":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tka-store-monitor", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            result = self.ping()
            for listener in self._listeners:
                try:
                    listener(result)
                except Exception:  # a listener's fault must not stop the watchdog
                    log.exception("store monitor listener failed")
