"""The tailer: one thread per worker that reads the durable event log and hands it to the hub.

It reads everything committed after the hub's ``position`` (in id order, ids following commit
order) whenever the log may have grown: at once for this worker's own commits and other workers'
(app/events/watcher.py), and every second regardless. On its rounds it also tells the clients
when the store breaker opens (the hub announces it), cuts connections that stopped taking data,
and prunes the log (app/events/retention.py).

With no live subscriber on its worker it does not read the log at all: it moves ``position`` to
the end of the log (``skip_unheard``), and a client that joins later reads what it is owed from
the log itself.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING

from app.core import metrics
from app.core.breaker import Breaker
from app.events import retention
from app.events.config import LOG_PAGE, StreamConfig
from app.events.watcher import LogWatcher, watcher_for
from app.store import Store, StoreUnavailable
from app.store.monitor import PingResult

if TYPE_CHECKING:
    from app.events.hub import Hub

log = logging.getLogger(__name__)

IDLE_WAIT = 0.25  # seconds between log catch-ups of a tailer with no live subscriber
SWEEP_S = 1.0  # read the log at least this often, woken or not
LAG_MAX_AGE = 2.0  # seconds a lag measured by the store watchdog answers instead of a new one


class Tailer:
    def __init__(self, hub: "Hub", store: Store, config: StreamConfig, *, run_dir: str | None = None,
                 watcher: LogWatcher | None = None) -> None:
        """``run_dir``: where this server's workers ring each other's doorbells (SQLite)."""
        self.hub = hub
        self.store = store
        self.config = config
        self.run_dir = run_dir
        self.watcher = watcher  # made by ``start``, in the worker, unless given
        # Guards the event-notification dependency (PostgreSQL's LISTEN connection); while it is
        # open the tailer polls the log instead of waiting for NOTIFY.
        self.notify_breaker = Breaker("events", on_change=metrics.breaker_changed)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.nudge = threading.Event()  # a subscriber went live, or shutdown: an idle tailer looks now
        self._pruning = threading.Lock()
        self.lag_sample: tuple[float, int, float] | None = None  # the watchdog's last lag(): (monotonic, ...)

    def start(self) -> None:
        """Start the thread (once; the hub's lock is held)."""
        if self._thread is not None or self._stopping.is_set():
            return
        if self.watcher is None:
            self.watcher = watcher_for(self.store, self.run_dir, self.notify_breaker)
        self.store.on_events_committed(self.watcher.poke)
        self._thread = threading.Thread(target=self._run, name="tka-event-tailer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.nudge.set()
        if self.watcher is not None:
            self.watcher.poke()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()

    def pump(self) -> int:
        """Read everything committed after the hub's position and dispatch it."""
        total = 0
        while True:
            if not self.hub.has_live() and self.skip_unheard():
                return total
            with self.store.read() as uow:
                batch = uow.events.since(self.hub.position, LOG_PAGE)
            total += self.hub.dispatch(batch)
            if len(batch) < LOG_PAGE:
                return total

    def skip_unheard(self) -> bool:
        """With no live subscriber, move the hub's position to the end of the log without reading
        (and decoding) events nobody would be sent (``Hub.go_live`` refuses a cursor behind it).
        False when a subscriber went live meanwhile; the caller then reads the log as usual."""
        last = self.store.peek_last_event_id()
        if last is None:
            with self.store.read() as uow:
                last = uow.events.last_id()
        return self.hub.skip_to(last)

    def _run(self) -> None:
        assert self.watcher is not None
        pending = unreadable = False
        now = time.monotonic()
        next_sweep = next_prune = now + SWEEP_S
        while not self._stopping.is_set():
            try:
                self.hub.locate()
                if self.hub.has_live():
                    pending = self.watcher.wait(self.config.poll_interval) or pending
                else:
                    # Nobody on this worker to send events to: no wake-up per commit (each costs
                    # the committing workers CPU). The position trails the log by up to IDLE_WAIT
                    # and catches up at once when a subscriber goes live.
                    self.nudge.wait(IDLE_WAIT)
                    self.watcher.wait(0)  # drain the doorbells / NOTIFYs of meanwhile: none back up
                    pending = True
                self.nudge.clear()
                if self._stopping.is_set():
                    break
                now = time.monotonic()
                if now >= next_sweep:  # a safety net: read the log now and then regardless
                    pending, next_sweep = True, now + SWEEP_S
                pending = self.hub.check_store() or pending
                if pending and self.hub.log_readable():  # an open breaker: wait for its probe time
                    self.pump()
                    self.hub.store_is_back()
                    pending = unreadable = False
                self.hub.reap(now)
                self.hub.publish_stats(now)
                if now >= next_prune:
                    next_prune = now + self.config.prune_interval
                    self._prune_soon()
            except StoreUnavailable as exc:  # an outage: the clients hear of it once the breaker opens
                if not unreadable:
                    log.warning("event tailer cannot read the log (%s); retrying", exc)
                unreadable = True
                self._stopping.wait(0.25)
            except Exception:
                log.exception("event tailer failed; retrying")
                self._stopping.wait(0.5)
        self.watcher.close()

    def _prune_soon(self) -> None:
        if not self._pruning.acquire(blocking=False):
            return

        def run() -> None:
            try:
                retention.prune_if_due(self.store, keep_events=self.config.retention_events,
                                       keep_hours=self.config.retention_hours,
                                       interval=self.config.prune_interval * 0.9)
            except Exception:
                log.exception("pruning the event log failed")
            finally:
                self._pruning.release()

        threading.Thread(target=run, name="tka-event-prune", daemon=True).start()

    # -- lag ----------------------------------------------------------------------------------
    def lag(self, *, fresh: bool = False) -> tuple[int, float]:
        """(events, ms): how far the hub is behind the durable log, as the newest id in the log
        minus the last id dispatched, and the age of the oldest event not yet dispatched (0 when
        none). ``fresh``: the store watchdog's last measurement will do if it is recent. One
        indexed read, two when behind; StoreUnavailable during an outage."""
        sample = self.lag_sample
        if fresh and sample is not None and time.monotonic() - sample[0] <= LAG_MAX_AGE:
            return sample[1], sample[2]
        if not self.hub.has_live() and self.alive():
            self.skip_unheard()  # an idle tailer trails the log on purpose; a dead one is counted
        position = self.hub.position
        with self.store.read() as uow:
            newest = uow.events.last_id()
            oldest = uow.events.since(position, 1) if newest > position else []
        behind = max(0, newest - position)
        age_ms = max(0.0, (time.time() - epoch(oldest[0].timestamp)) * 1000) if oldest else 0.0
        metrics.EVENT_LOG_LAG.set(behind)
        return behind, age_ms

    def sample_lag(self, ping: PingResult) -> None:
        """A store-watchdog listener: after each good ping, measure the lag (for ``/health`` and the
        gauge, which so keeps growing when the tailer has died, which is when it matters)."""
        if ping.ok and self._thread is not None:
            try:
                behind, age_ms = self.lag()
            except StoreUnavailable:
                return
            self.lag_sample = (time.monotonic(), behind, age_ms)


def epoch(timestamp: str) -> float:
    """Seconds since the epoch of one of tka's timestamps."""
    return datetime.fromisoformat(timestamp).timestamp()
