"""The broadcaster: one per worker process, between the durable event log and its sockets.

One delivery path gives order and exactly-once across workers: a tailer thread reads the log
(``event_id > position``, in id order, ids following commit order) and offers every event to every
live subscriber of this worker, each with a bounded queue drained by its own sender thread. The
tailer never writes to a socket, so a slow client can only fill its own queue; when that
overflows the client is cut off with the slow-consumer close code and the id to resume from.

A subscriber that resumes (``since``) reads the log itself until it reaches the tailer's position
and then goes live; a per-subscriber cursor drops anything it already had, so the switch has
neither a gap nor a duplicate.

During a store outage nobody is disconnected: when this worker's store breaker opens, every client
is sent ``store_status: unavailable`` (in order with its events), and once the log reads again,
``store_status: available`` before the events committed since; the tailer's position never moved,
so nothing is skipped or repeated.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from datetime import datetime
from typing import Any, Callable, Iterable

from app.core import metrics
from app.core.breaker import Breaker
from app.core.events import Event, EventBus, utc_now
from app.events import retention
from app.events.config import RUN_DIR_ENV, StreamConfig
from app.events.protocol import (
    PROTOCOL_VERSION, STORE_AVAILABLE, STORE_UNAVAILABLE, CloseCode, EventFilter, encode, event_message, store_status,
    text_frame,
)
from app.events.registry import PeerRegistry
from app.events.watcher import LogWatcher, watcher_for
from app.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

PAGE = 500  # events per log read
SHUTDOWN_GRACE = 1.0  # seconds a closing socket gets to take its close frame before it is cut
IDLE_WAIT = 0.25  # seconds between log catch-ups of a tailer with no live subscriber

_HUBS: "weakref.WeakSet[Hub]" = weakref.WeakSet()


# What a direct (non-blocking) write did: all of the frame is out; part is out and the socket
# owes the rest (written before anything else, by the session); nothing, the socket was busy.
WROTE, OWES, BUSY = "wrote", "owes", "busy"
# What became of an offered event: handled; the session must act (queued, or a frame to finish);
# the client's queue is full.
DONE, WAKE, FULL = "done", "wake", "full"
# The event id a queued frame carries when it is not an event (a store_status notice).
NOTICE = 0


class Subscriber:
    """One connected client as the hub sees it.

    Events reach the client in one of two ways, never both at once. While its queue is empty and
    its session is not writing, the tailer writes an event's frame straight to the socket with
    ``direct`` (a non-blocking write): no thread wakes, which is what makes fan-out to many clients
    cheap. Otherwise (the socket is busy or full, the client is behind, the session is replaying or
    closing) the event is queued and ``wake`` is set for the client's own sender, whose writes may
    block. ``sending`` says the session owns the order of writes; it holds it from the start until
    the hello is out, during replays and when closing. ``abort`` cuts the connection at once (a
    socket shutdown), for a sender stuck writing to a client that stopped reading.
    """

    def __init__(self, client_id: str, wake: threading.Event, abort: Callable[[], None], queue_size: int,
                 direct: Callable[[bytes], str] | None = None) -> None:
        self.client_id = client_id
        self.wake = wake
        self.abort = abort
        self.direct = direct       # write a frame without blocking: WROTE, OWES or BUSY
        self.queue_size = queue_size
        self.queue: deque[tuple[int, bytes]] = deque()  # (event_id, frame)
        self.lock = threading.Lock()
        self.filter = EventFilter()
        self.sending = True
        self.cursor = 0            # last log id offered to this client (sent, queued or filtered out)
        self.delivered = 0         # every event up to here was sent to the client or filtered out
        self.overflowed = False
        self.live = False
        self.last_sent_id = 0      # last event id fully written to the socket
        self.events_sent = 0
        self.sent_at = time.monotonic()
        self.connected_at = utc_now()
        self.last_ping: str | None = None
        self.closing: tuple[CloseCode, str] | None = None
        self.close_deadline: float | None = None
        self.send_started: float | None = None
        self.aborted = False
        self.store_status = STORE_AVAILABLE  # what this client was last told about the store

    def offer(self, event_id: int, frame: bytes | None) -> str:
        """Write or queue one event (``frame`` None: filtered out, only the cursor moves)."""
        with self.lock:
            idle = not self.queue and not self.sending
            if frame is None:
                self.cursor = event_id
                if idle:
                    self.delivered = event_id
                return DONE
            if idle and self.closing is None and self.direct is not None:
                wrote = self.direct(frame)
                if wrote is not BUSY:  # the frame is out, or committed: its rest goes out first
                    self.cursor = self.delivered = self.last_sent_id = event_id
                    self.events_sent += 1
                    self.sent_at = time.monotonic()
                    return DONE if wrote is WROTE else WAKE
            if len(self.queue) >= self.queue_size:
                return FULL
            self.queue.append((event_id, frame))
            self.cursor = event_id
            return WAKE

    def notice(self, status: str, render: Callable[[int], bytes]) -> str:
        """Tell the client the store's ``status``, once per change and in order with its events:
        written or queued like an event (``render(last_event_id)`` makes the frame), but it never
        moves the cursor and never counts against the queue's bound."""
        with self.lock:
            if status == self.store_status or self.closing is not None:
                return DONE
            self.store_status = status
            frame = render(self.cursor)
            if not self.queue and not self.sending and self.direct is not None:
                wrote = self.direct(frame)
                if wrote is not BUSY:
                    self.sent_at = time.monotonic()
                    return DONE if wrote is WROTE else WAKE
            self.queue.append((NOTICE, frame))
            return WAKE

    def note_status(self, status: str) -> bool:
        """The session tells the client ``status`` itself (it holds the writes): False when the
        client already knows."""
        with self.lock:
            if status == self.store_status:
                return False
            self.store_status = status
            return True

    def take(self) -> list[tuple[int, bytes]]:
        """The queued frames, for the sender; an empty answer hands writing back to the tailer."""
        with self.lock:
            items = list(self.queue)
            self.queue.clear()
            self.sending = bool(items)
            if not items and not self.overflowed:
                self.delivered = max(self.delivered, self.cursor)
            return items

    def hold(self) -> None:
        """The session writes next (a replay, a close): the tailer queues instead of writing."""
        with self.lock:
            self.sending = True

    def drop_queue(self, *, overflowed: bool = False) -> None:
        with self.lock:
            if sum(1 for event_id, _ in self.queue if event_id == NOTICE) % 2:  # a change it never heard of
                self.store_status = STORE_AVAILABLE if self.store_status == STORE_UNAVAILABLE else STORE_UNAVAILABLE
            self.queue.clear()
            self.sending = True
            self.overflowed = self.overflowed or overflowed

    def request_close(self, code: CloseCode, reason: str, within: float) -> None:
        """Ask the sender to close; if it cannot within ``within`` s, the hub cuts the socket."""
        with self.lock:
            if self.closing is None:
                self.closing = (code, reason)
                self.close_deadline = time.monotonic() + within
        self.wake.set()

    @property
    def resume_point(self) -> int:
        """Every event up to here was sent to the client (or is committed to its socket) or
        filtered out: where it should resume from."""
        return max(self.delivered, self.last_sent_id)

    def info(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "worker_pid": os.getpid(), "connected_at": self.connected_at,
                "events_sent": self.events_sent, "last_event_id": self.resume_point, "last_ping": self.last_ping,
                "queue_depth": len(self.queue), "filters": self.filter.to_dict()}


class Hub:
    def __init__(self, store: Store, bus: EventBus, config: StreamConfig, *,
                 render: Callable[[Event], str] | None = None, watcher: LogWatcher | None = None,
                 registry: PeerRegistry | None = None) -> None:
        """``render`` turns an event into its ``event`` message as JSON text (the API's shapes)."""
        self.store = store
        self.bus = bus
        self.config = config
        self.render = render or (lambda e: encode(event_message(e)))
        self.registry = registry or PeerRegistry(os.environ.get(RUN_DIR_ENV))
        # Guards the event-notification dependency (PostgreSQL's LISTEN connection); while it is
        # open the tailer polls the log instead of waiting for NOTIFY.
        self.notify_breaker = Breaker("events", on_change=metrics.breaker_changed)
        metrics.BREAKER_STATE.labels("events").set(0)
        self._watcher = watcher
        self._lock = threading.Lock()
        self._subscribers: dict[Subscriber, None] = {}
        self._live: dict[Subscriber, None] = {}
        self._replays = threading.BoundedSemaphore(max(1, config.replay_concurrency))
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._nudge = threading.Event()  # a subscriber went live, or shutdown: the idle tailer looks now
        self._closing_all = False
        self._dirty = True         # counters changed: publish within half a second
        self._members_dirty = True  # connections came, went or changed filters: publish now
        self._pruning = threading.Lock()
        self.store_status = STORE_AVAILABLE  # what this worker last told its clients about the store
        self.lag_sample: tuple[float, int, float] | None = None  # the store watchdog's last lag(): (monotonic, ...)
        self.position = 0          # the last log id the tailer has dispatched
        self.events_dispatched = 0
        self.slow_consumers_cut = 0
        _HUBS.add(self)

    # -- lifecycle ----------------------------------------------------------------------------
    def ensure_started(self) -> None:
        """Start the tailer in this process (lazily: the app may be built before a fork)."""
        if self._thread is not None or self._stopping.is_set():
            return
        with self._lock:
            if self._thread is not None:
                return
            if self._watcher is None:
                self._watcher = watcher_for(self.store, str(self.registry.dir) if self.registry.dir else None,
                                            self.notify_breaker)
            with self.store.read() as uow:
                self.position = max(self.position, uow.last_event_id())
            watcher = self._watcher
            self.store.on_events_committed(watcher.poke)
            self._thread = threading.Thread(target=self._run, name="tka-event-tailer", daemon=True)
            self._thread.start()

    def shutdown(self, code: CloseCode = CloseCode.GOING_AWAY, reason: str = "server shutting down",
                 *, wait: bool = False) -> None:
        """Close every socket with ``code`` now; cut those that cannot take a close frame in time.

        Safe to call from a signal handler with ``wait=False`` (it never blocks then).
        """
        with self._lock:
            self._closing_all = True
            subscribers = list(self._subscribers)
        for sub in subscribers:
            sub.request_close(code, reason, SHUTDOWN_GRACE)

        def finish() -> None:
            deadline = time.monotonic() + SHUTDOWN_GRACE
            while time.monotonic() < deadline and self.connection_count():
                time.sleep(0.02)
            for sub in self._all():
                self._abort(sub)
            self._stopping.set()
            self._nudge.set()
            if self._watcher is not None:
                self._watcher.poke()
            self.registry.remove()

        closer = threading.Thread(target=finish, name="tka-event-shutdown", daemon=True)
        closer.start()
        if wait:
            closer.join(SHUTDOWN_GRACE + 1)

    # -- subscribers --------------------------------------------------------------------------
    def register(self, sub: Subscriber) -> bool:
        """Count a new connection; False when this worker is full (or shutting down)."""
        self.ensure_started()
        with self._lock:
            if self._closing_all or len(self._subscribers) >= self.config.max_connections:
                return False
            self._subscribers[sub] = None
            self._members_dirty = True
            return True

    def unregister(self, sub: Subscriber) -> None:
        with self._lock:
            self._subscribers.pop(sub, None)
            self._live.pop(sub, None)
            sub.live = False
            self._members_dirty = True

    def connection_count(self) -> int:
        return len(self._subscribers)

    def go_live(self, sub: Subscriber, after: int | None = None) -> int | None:
        """Make ``sub`` live if the tailer has dispatched everything up to ``after``.

        ``after=None``: live from the current position (a new client). Returns the id the client is
        live after, or None when it still has log to read (the tailer is ahead of ``after``).
        """
        if after is None and not self._live:
            self._skip_unheard()  # nobody was listening: ``position`` may trail the log (see _run)
        with self._lock:
            if after is None:
                after = self.position
            elif after < self.position:
                return None
            with sub.lock:
                sub.cursor = after
                sub.overflowed = False
            sub.live = True
            self._live[sub] = None
            self._dirty = True
            if self.store_status == STORE_UNAVAILABLE:  # queued: it follows the hello or the replay
                sub.notice(STORE_UNAVAILABLE, self._notice(STORE_UNAVAILABLE))
        self._nudge.set()
        return after

    def pause(self, sub: Subscriber) -> None:
        """Stop offering events to ``sub`` (before a resume re-reads the log)."""
        with self._lock:
            self._live.pop(sub, None)
            sub.live = False
            sub.drop_queue()

    def set_filter(self, sub: Subscriber, event_filter: EventFilter) -> None:
        sub.filter = event_filter
        self._members_dirty = True

    def read(self, after: int, limit: int = PAGE) -> tuple[list[Event], retention.LogBounds]:
        """A page of the log after ``after`` and what the log still holds, from one snapshot."""
        with self._replays, self.store.read() as uow:
            page = uow.events_since(after, limit), retention.bounds(uow)
        self.store_is_back()
        return page

    # -- the tailer ---------------------------------------------------------------------------
    def pump(self) -> int:
        """Read everything committed after ``position`` and offer it to the live subscribers."""
        total = 0
        while True:
            if not self._live and self._skip_unheard():
                return total
            with self.store.read() as uow:
                batch = uow.events_since(self.position, PAGE)
            total += self.dispatch(batch)
            if len(batch) < PAGE:
                return total

    def _skip_unheard(self) -> bool:
        """With no live subscriber, move ``position`` to the end of the log without reading (and
        decoding) events nobody would be sent: a client that joins later reads what it is owed
        from the log itself (``go_live`` refuses a cursor behind ``position``). False when a
        subscriber went live meanwhile; the caller then reads the log as usual."""
        last = self.store.peek_last_event_id()
        if last is None:
            with self.store.read() as uow:
                last = uow.last_event_id()
        with self._lock:
            if self._live:
                return False
            if last > self.position:
                self.events_dispatched += last - self.position
                self.position = last
                self._dirty = True
            return True

    def dispatch(self, events: Iterable[Event]) -> int:
        touched: dict[Subscriber, None] = {}
        count = 0
        with self._lock:
            if self.store_status == STORE_UNAVAILABLE:  # these events were read: say so before them
                touched.update(dict.fromkeys(self._announce(STORE_AVAILABLE)))
            for event in events:
                assert event.event_id is not None
                if event.event_id <= self.position:
                    continue
                self.position = event.event_id
                count += 1
                frame: bytes | None = None
                for sub in list(self._live):
                    if event.event_id <= sub.cursor:
                        continue
                    if not sub.filter.accepts(event):
                        sub.offer(event.event_id, None)
                        continue
                    if frame is None:
                        frame = self.encode_event(event)
                        _observe_delivery_lag(event)
                    outcome = sub.offer(event.event_id, frame)
                    if outcome is WAKE:
                        touched[sub] = None
                    elif outcome is FULL:
                        self._cut_off(sub)
        self.events_dispatched += count
        self._dirty = self._dirty or count > 0
        for sub in touched:
            sub.wake.set()
        return count

    def encode_event(self, event: Event) -> bytes:
        """The ``event`` message as a WebSocket frame, rendered once per event for every client."""
        try:
            return text_frame(self.render(event))
        except Exception:  # never lose an event to a rendering bug: send the stored form
            log.exception("rendering event %s failed; sending its stored data", event.event_id)
            return text_frame(encode(event_message(event)))

    def frames(self, events: Iterable[Event], event_filter: EventFilter) -> list[tuple[int, bytes]]:
        """(event_id, frame) of the events ``event_filter`` accepts, for a replay."""
        return [(self.last_id([e]), self.encode_event(e)) for e in events if event_filter.accepts(e)]

    @staticmethod
    def last_id(events: list[Event]) -> int:
        event_id = events[-1].event_id
        assert event_id is not None, "only stored events are sent"
        return event_id

    def _cut_off(self, sub: Subscriber) -> None:
        """The client's queue overflowed (hub lock held): stop feeding it and have it closed."""
        self._live.pop(sub, None)
        sub.live = False
        sub.drop_queue(overflowed=True)
        self.slow_consumers_cut += 1
        log.warning("WebSocket client %s is too slow (%d queued); closing it", sub.client_id, sub.queue_size)
        sub.request_close(CloseCode.SLOW_CONSUMER, "slow consumer", self.config.send_timeout)

    # -- store outages ------------------------------------------------------------------------
    def log_readable(self) -> bool:
        """Whether reading the log is worth a try: the store breaker is not open, or is due a probe."""
        breaker = self.store.breaker
        return breaker.state != "open" or breaker.retry_after() <= 0

    def check_store(self) -> bool:
        """Tell every client when this worker's store breaker opens. True when the clients were told
        the store is unavailable and the log should be read again to find out (and say) it is back."""
        if self.store_status == STORE_AVAILABLE:
            if self.store.breaker.state == "open":
                with self._lock:
                    woken = self._announce(STORE_UNAVAILABLE)
                for sub in woken:
                    sub.wake.set()
            return False
        return self.log_readable()

    def store_is_back(self) -> None:
        """The log was just read: if the clients were told otherwise, tell them it is available."""
        if self.store_status == STORE_UNAVAILABLE:
            with self._lock:
                woken = self._announce(STORE_AVAILABLE) if self.store_status == STORE_UNAVAILABLE else []
            for sub in woken:
                sub.wake.set()

    def _announce(self, status: str) -> list[Subscriber]:
        """Send ``status`` to every live client, after what it was sent before (hub lock held).
        Returns the subscribers to wake: those with a queued notice, and those not live, whose
        sessions (hello, replay) tell their clients themselves."""
        self.store_status = status
        (log.warning if status == STORE_UNAVAILABLE else log.info)(
            "event stream: the store is %s; telling %d client(s)", status, len(self._subscribers))
        render = self._notice(status)
        return [sub for sub in self._subscribers if not sub.live or sub.notice(status, render) is WAKE]

    def _notice(self, status: str) -> Callable[[int], bytes]:
        retry_after = self.store.breaker.retry_after() if status == STORE_UNAVAILABLE else None
        return lambda last_event_id: text_frame(encode(store_status(status, last_event_id, retry_after)))

    # -- lag ----------------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        """The tailer was started: ``position`` is a real place in the log."""
        return self._thread is not None

    def tailer_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()

    def lag(self) -> tuple[int, float]:
        """(events, ms): how far the tailer is behind the durable log, as the newest id in the log
        minus the last id dispatched, and the age of the oldest event not yet dispatched (0 when
        none). One indexed read, two when behind; StoreUnavailable during an outage."""
        if not self._live and self.tailer_alive():
            self._skip_unheard()  # an idle tailer trails the log on purpose (see _run); a dead one is counted
        position = self.position
        with self.store.read() as uow:
            newest = uow.last_event_id()
            oldest = uow.events_since(position, 1) if newest > position else []
        behind = max(0, newest - position)
        age_ms = max(0.0, (time.time() - _epoch(oldest[0].timestamp)) * 1000) if oldest else 0.0
        metrics.EVENT_LOG_LAG.set(behind)
        return behind, age_ms

    def _run(self) -> None:
        assert self._watcher is not None
        pending = False
        unreadable = False
        now = time.monotonic()
        next_sweep = now + 1.0
        next_publish = next_members = now
        next_prune = now + 1.0
        while not self._stopping.is_set():
            try:
                if self._live:
                    pending = self._watcher.wait(self.config.poll_interval) or pending
                else:
                    # Nobody on this worker to send events to: no wake-up per commit (each costs
                    # the committing workers CPU). ``position`` trails the log by up to IDLE_WAIT
                    # and catches up at once when a subscriber goes live (go_live).
                    self._nudge.wait(IDLE_WAIT)
                    self._watcher.wait(0)  # drain the doorbells / NOTIFYs of meanwhile: none back up
                    pending = True
                self._nudge.clear()
                if self._stopping.is_set():
                    break
                now = time.monotonic()
                if now >= next_sweep:  # a safety net: read the log now and then regardless
                    pending, next_sweep = True, now + 1.0
                pending = self.check_store() or pending
                if pending and self.log_readable():  # an open breaker: wait for its probe time
                    self.pump()
                    self.store_is_back()
                    pending = unreadable = False
                self._reap(now)
                if (self._members_dirty and now >= next_members) or (self._dirty and now >= next_publish):
                    next_members, next_publish = now + 0.1, now + 0.5  # churn of 1000s of sockets: 10/s
                    self._publish()
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
        if self._watcher is not None:
            self._watcher.close()

    def _reap(self, now: float) -> None:
        for sub in self._all():
            if sub.aborted:
                continue
            stuck = sub.send_started is not None and now - sub.send_started > self.config.send_timeout
            overdue = sub.close_deadline is not None and now > sub.close_deadline
            if stuck or overdue:
                log.warning("WebSocket client %s stopped taking data; cutting the connection", sub.client_id)
                self._abort(sub)

    @staticmethod
    def _abort(sub: Subscriber) -> None:
        if not sub.aborted:
            sub.aborted = True
            try:
                sub.abort()
            except Exception:  # already gone
                pass
            sub.wake.set()

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

    # -- stats --------------------------------------------------------------------------------
    def _all(self) -> list[Subscriber]:
        with self._lock:
            return list(self._subscribers)

    def mark_dirty(self) -> None:
        self._dirty = True

    def snapshot(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "last_event_id": self.position,
                "connections": [sub.info() for sub in self._all()]}

    def _publish(self) -> None:
        self._dirty = self._members_dirty = False
        self.registry.publish(self.snapshot())

    def stats(self) -> dict[str, Any]:
        """Every worker's connections (see app.events.registry)."""
        workers = [self.snapshot(), *self.registry.peers()]
        connections = [c for w in workers for c in w.get("connections", [])]
        return {"total_connections": len(connections), "workers": len(workers),
                "scope": "server" if self.registry.shared else "worker", "served_by": os.getpid(),
                "protocol_version": PROTOCOL_VERSION,
                "last_event_id": max(int(w.get("last_event_id") or 0) for w in workers),
                "connections": connections}


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


def _observe_delivery_lag(event: Event) -> None:
    """From the event's timestamp (taken in its transaction) to this worker offering it to sockets."""
    try:
        metrics.EVENT_DELIVERY_LAG.observe(max(0.0, time.time() - _epoch(event.timestamp)))
    except (TypeError, ValueError):  # a hand-made event without a usable timestamp
        pass


def shutdown_all(*, wait: bool = False) -> None:
    """Close every socket of every hub in this process with 1001 (gunicorn shutdown hooks)."""
    for hub in list(_HUBS):
        hub.shutdown(wait=wait)
