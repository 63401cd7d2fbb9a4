"""The hub: one per worker process, between the durable event log and this worker's sockets.

One delivery path gives order and exactly-once across workers: the tailer (app/events/tailer.py)
reads the log (``event_id > position``, in id order, ids following commit order) and the hub
offers every event to every live subscriber of this worker (``dispatch``, on the tailer's
thread). An event's frame is made once for all of them; it is written straight to each idle
socket without blocking, and queued for a busy one, whose session writes it
(app/events/subscriber.py). A slow client can only fill its own queue; when that overflows the
client is cut off with the slow-consumer close code and the id to resume from.

A subscriber that resumes (``since``) reads the log itself (``read``) until level with the
tailer and then goes live (``go_live``); its cursor drops anything it already had, so the switch
has neither a gap nor a duplicate.

During a store outage nobody is disconnected: when this worker's store breaker opens, every client
is told ``store_status: unavailable`` (in order with its events), and once the log reads again,
``store_status: available`` before the events committed since; the tailer's position never moved,
so nothing is skipped or repeated.

Admission: a socket counts against the worker's ``max_connections`` only once authenticated. One
that must still send its token waits in a small pool of its own (``hold``: ``max_pending`` in all,
``max_pending_per_peer`` from one address, for at most ``auth_timeout`` seconds), so clients
without the token cannot take the places of those with it; ``admit`` moves it over once it has
authenticated.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable, Iterable, Mapping, Protocol

from app.core import metrics
from app.core.events import Event
from app.events import protocol as p
from app.events import retention
from app.events.config import LOG_PAGE, StreamConfig
from app.events.registry import PeerRegistry
from app.events.subscriber import NOT_AN_EVENT, Offer, Subscriber, Written
from app.events.tailer import Tailer, epoch
from app.events.watcher import LogWatcher
from app.store import Store

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 1.0  # seconds a closing socket gets to take its close frame before it is cut


class Connection(Protocol):
    """What the hub needs of a session's socket (app/api/stream.py)."""

    def try_send(self, frame: bytes) -> Written:
        """Write ``frame`` without blocking."""

    def abort(self) -> None:
        """Cut the connection now (unblocks a write stuck on a client that stopped reading)."""

    def wake(self) -> None:
        """Wake the session: something is queued, or a close was asked for."""


class Hub:
    def __init__(self, store: Store, config: StreamConfig, *,
                 data_out: Callable[[Mapping[str, Any]], Any] = dict, watcher: LogWatcher | None = None,
                 registry: PeerRegistry | None = None) -> None:
        """``data_out`` turns an event's stored data into its API shape (asyncapi.yaml)."""
        self.store = store
        self.config = config
        self.data_out = data_out
        self.registry = registry or PeerRegistry(None)
        self.tailer = Tailer(self, store, config, run_dir=self.registry.run_dir, watcher=watcher)
        self._replays = threading.BoundedSemaphore(max(1, config.replay_concurrency))
        self._lock = threading.Lock()  # guards what follows
        self._subscribers: dict[Subscriber, Connection] = {}
        self._live: dict[Subscriber, Connection] = {}  # those the tailer offers events to
        self._pending: dict[Subscriber, tuple[Connection, str]] = {}  # waiting to authenticate: peer address
        self._closing_all = False
        self._located = False  # ``position`` is a real place in the log
        self.position = 0  # the last log id dispatched
        self.store_status = p.STORE_AVAILABLE  # what this worker last told its clients about the store
        self._dirty = True  # counters changed: publish within half a second
        self._members_dirty = True  # connections came, went or changed filters: publish now
        self._next_publish = self._next_members = 0.0
        self._written = 0  # events the tailer wrote to sockets itself, not yet counted
        self.slow_consumers_cut = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the tailer in this process (a worker, after the fork)."""
        with self._lock:
            if not self._closing_all:
                self.tailer.start()

    def shutdown(self, code: p.CloseCode = p.CloseCode.GOING_AWAY, reason: str = "server shutting down",
                 *, wait: bool = False) -> None:
        """Close every socket with ``code`` now; cut those that cannot take a close frame in time.
        Safe to call from a signal handler with ``wait=False`` (it never blocks then)."""
        with self._lock:
            self._closing_all = True
        for sub, conn in self._all():
            self._ask_close(sub, conn, code, reason, SHUTDOWN_GRACE)

        def finish() -> None:
            deadline = time.monotonic() + SHUTDOWN_GRACE
            while time.monotonic() < deadline and (self.connection_count() or self.pending_count()):
                time.sleep(0.02)
            for sub, conn in self._all():
                self._abort(sub, conn)
            self.tailer.stop()
            self.registry.remove()

        closer = threading.Thread(target=finish, name="tka-event-shutdown", daemon=True)
        closer.start()
        if wait:
            closer.join(SHUTDOWN_GRACE + 1)

    # -- subscribers --------------------------------------------------------------------------
    def register(self, sub: Subscriber, conn: Connection) -> bool:
        """Count a new authenticated connection; False when this worker is full (or shutting down).
        StoreUnavailable when this worker could not find where the log stands yet."""
        self.locate()
        with self._lock:
            if self._closing_all or len(self._subscribers) >= self.config.max_connections:
                return False
            self._subscribers[sub] = conn
            self._members_dirty = True
        metrics.WEBSOCKET_CONNECTIONS.inc()
        return True

    def hold(self, sub: Subscriber, conn: Connection, peer: str) -> bool:
        """Keep a connection that must still authenticate, apart from the counted ones; False when
        the pool, or ``peer``'s share of it, is full (or the worker is shutting down)."""
        with self._lock:
            if self._closing_all or len(self._pending) >= self.config.max_pending or \
                    sum(1 for _, held_by in self._pending.values() if held_by == peer) >= \
                    self.config.max_pending_per_peer:
                return False
            self._pending[sub] = (conn, peer)
        return True

    def admit(self, sub: Subscriber) -> bool:
        """``sub`` (held) has authenticated: count it like ``register``, or False (it is then no
        longer held either)."""
        with self._lock:
            conn, _ = self._pending.pop(sub)
        return self.register(sub, conn)

    def unregister(self, sub: Subscriber) -> None:
        with self._lock:
            self._pending.pop(sub, None)
            if self._subscribers.pop(sub, None) is None:
                return
            self._live.pop(sub, None)
            sub.live = False
            self._members_dirty = True
        metrics.WEBSOCKET_CONNECTIONS.dec()

    def connection_count(self) -> int:
        """Authenticated connections (those ``max_connections`` bounds)."""
        return len(self._subscribers)

    def pending_count(self) -> int:
        """Connections still waiting to authenticate."""
        return len(self._pending)

    def has_live(self) -> bool:
        return bool(self._live)

    def go_live(self, sub: Subscriber, after: int | None = None) -> int | None:
        """Make ``sub`` live if the tailer has dispatched everything up to ``after``.

        ``after=None``: live from the current position (a new client). Returns the id the client is
        live after, or None when it still has log to read (the tailer is ahead of ``after``).
        """
        if after is None and not self._live:
            self.tailer.skip_unheard()  # nobody was listening: ``position`` may trail the log
        with self._lock:
            if after is None:
                after = self.position
            elif after < self.position:
                return None
            with sub.lock:
                sub.cursor = sub.delivered = after
                sub.overflowed = False
                # A client that connects during an outage is told after its hello or its replay.
                if self.store_status == p.STORE_UNAVAILABLE and \
                        sub.offer_store_status(p.STORE_UNAVAILABLE) is not Offer.DONE:
                    sub.queue_store_status(self._store_status_frame(p.STORE_UNAVAILABLE, after))
            sub.live = True
            self._live[sub] = self._subscribers[sub]
            self._dirty = True
        self.tailer.nudge.set()
        return after

    def pause(self, sub: Subscriber) -> None:
        """Stop offering events to ``sub`` and forget what is queued (a resume re-reads the log)."""
        with self._lock:
            self._live.pop(sub, None)
            sub.live = False
            with sub.lock:
                sub.drop_queue()

    def set_filter(self, sub: Subscriber, event_filter: p.EventFilter) -> None:
        sub.filter = event_filter
        self._members_dirty = True

    def mark_dirty(self) -> None:
        self._dirty = True

    def read(self, after: int) -> tuple[list[Event], retention.LogBounds]:
        """A page of the log after ``after`` and what the log still holds, from one snapshot."""
        with self._replays, self.store.read() as uow:
            page = uow.events.since(after, LOG_PAGE), retention.bounds(uow)
        self.store_is_back()
        return page

    def frames(self, events: Iterable[Event], event_filter: p.EventFilter) -> list[tuple[int, bytes]]:
        """(event_id, frame) of the events ``event_filter`` accepts, for a replay."""
        return [(e.event_id, self.encode_event(e)) for e in events if event_filter.accepts(e)]  # type: ignore[misc]

    def encode_event(self, event: Event) -> bytes:
        """The ``event`` message as a WebSocket frame, made once per event for every client."""
        try:
            return p.text_frame(p.encode(p.event_message(event, self.data_out)))
        except Exception:  # never lose an event to a rendering bug: send the stored form
            log.exception("rendering event %s failed; sending its stored data", event.event_id)
            return p.text_frame(p.encode(p.event_message(event)))

    # -- fan-out ------------------------------------------------------------------------------
    def dispatch(self, events: Iterable[Event]) -> int:
        """Offer ``events`` (in id order) to every live subscriber; how many were new."""
        to_wake: dict[Subscriber, Connection] = {}
        count = 0
        with self._lock:
            if self.store_status == p.STORE_UNAVAILABLE:  # these events were read: say so before them
                to_wake.update(self._tell_store_status(p.STORE_AVAILABLE))
            for event in events:
                event_id = event.event_id
                assert event_id is not None, "only stored events are dispatched"
                if event_id <= self.position:
                    continue
                self.position = event_id
                count += 1
                frame: bytes | None = None
                for sub, conn in list(self._live.items()):
                    if event_id <= sub.cursor:  # it read this far itself (a replay just ended)
                        continue
                    if not sub.filter.accepts(event):
                        self._deliver(sub, conn, event_id, None)
                        continue
                    if frame is None:
                        frame = self.encode_event(event)
                        _observe_delivery_lag(event)
                    offer = self._deliver(sub, conn, event_id, frame)
                    if offer is Offer.WAKE:
                        to_wake[sub] = conn
                    elif offer is Offer.FULL:
                        self._cut_off(sub, conn)
            written, self._written = self._written, 0
        self._dirty = self._dirty or count > 0
        if written:
            metrics.EVENTS_DELIVERED.inc(written)
        for conn in to_wake.values():
            conn.wake()
        return count

    def _deliver(self, sub: Subscriber, conn: Connection, event_id: int, frame: bytes | None) -> Offer:
        """Offer one event to one client, writing it now if it may go out now (hub lock held)."""
        with sub.lock:
            offer = sub.offer(event_id, frame)
            if offer is Offer.WRITE:
                assert frame is not None
                written = conn.try_send(frame)
                offer = sub.wrote(event_id, frame, written)
                self._written += written is not Written.NOTHING
        return offer

    def _cut_off(self, sub: Subscriber, conn: Connection) -> None:
        """The client's queue overflowed (hub lock held): stop feeding it and have it closed."""
        self._live.pop(sub, None)
        sub.live = False
        with sub.lock:
            sub.cut_off()
        self.slow_consumers_cut += 1
        log.warning("WebSocket client %s is too slow (%d queued); closing it", sub.client_id, sub.queue_size)
        self._ask_close(sub, conn, p.CloseCode.SLOW_CONSUMER, "slow consumer", self.config.send_timeout)

    @staticmethod
    def _ask_close(sub: Subscriber, conn: Connection, code: p.CloseCode, reason: str, within: float) -> None:
        with sub.lock:
            sub.request_close(code, reason, within)
        conn.wake()

    # -- for the tailer -----------------------------------------------------------------------
    def locate(self) -> None:
        """Find where the log stands, once: delivery starts there. StoreUnavailable if it cannot."""
        if self._located:
            return
        with self.store.read() as uow:
            last = uow.events.last_id()
        with self._lock:
            if not self._located:
                self.position, self._located = max(self.position, last), True

    def skip_to(self, last: int) -> bool:
        """With no live subscriber, move ``position`` to ``last`` (see Tailer.skip_unheard)."""
        with self._lock:
            if self._live:
                return False
            if last > self.position:
                self.position = last
                self._dirty = True
            return True

    def reap(self, now: float) -> None:
        """Cut connections whose session is stuck writing, or did not close when asked."""
        for sub, conn in self._all():
            if sub.aborted:
                continue
            started, deadline = sub.send_started, sub.close_deadline
            if (started is not None and now - started > self.config.send_timeout) or \
                    (deadline is not None and now > deadline):
                log.warning("WebSocket client %s stopped taking data; cutting the connection", sub.client_id)
                self._abort(sub, conn)

    @staticmethod
    def _abort(sub: Subscriber, conn: Connection) -> None:
        if not sub.aborted:
            sub.aborted = True
            try:
                conn.abort()
            except Exception:  # already gone
                pass
            conn.wake()

    # -- store outages ------------------------------------------------------------------------
    def log_readable(self) -> bool:
        """Whether reading the log is worth a try: the store breaker is not open, or is due a probe."""
        breaker = self.store.breaker
        return breaker.state != "open" or breaker.retry_after() <= 0

    def check_store(self) -> bool:
        """Tell every client when this worker's store breaker opens. True when the clients were told
        the store is unavailable and the log should be read again to find out (and say) it is back."""
        if self.store_status == p.STORE_AVAILABLE:
            if self.store.breaker.state == "open":
                with self._lock:
                    woken = self._tell_store_status(p.STORE_UNAVAILABLE)
                for conn in woken.values():
                    conn.wake()
            return False
        return self.log_readable()

    def store_is_back(self) -> None:
        """The log was just read: if the clients were told otherwise, tell them it is available."""
        if self.store_status == p.STORE_UNAVAILABLE:
            with self._lock:
                woken = self._tell_store_status(p.STORE_AVAILABLE) if self.store_status == p.STORE_UNAVAILABLE else {}
            for conn in woken.values():
                conn.wake()

    def _tell_store_status(self, status: str) -> dict[Subscriber, Connection]:
        """Tell every live client ``status``, after what it was sent before (hub lock held).
        Returns the sessions to wake: those with a queued store_status, and those not live, whose
        sessions (hello, replay) tell their clients themselves."""
        self.store_status = status
        (log.warning if status == p.STORE_UNAVAILABLE else log.info)(
            "event stream: the store is %s; telling %d client(s)", status, len(self._subscribers))
        woken: dict[Subscriber, Connection] = {}
        for sub, conn in self._subscribers.items():
            if not sub.live:
                woken[sub] = conn
                continue
            with sub.lock:
                offer = sub.offer_store_status(status)
                if offer is Offer.DONE:
                    continue
                frame = self._store_status_frame(status, sub.cursor)
                if offer is Offer.WRITE:
                    offer = sub.wrote(NOT_AN_EVENT, frame, conn.try_send(frame))
                else:
                    sub.queue_store_status(frame)
            if offer is Offer.WAKE:
                woken[sub] = conn
        return woken

    def _store_status_frame(self, status: str, last_event_id: int) -> bytes:
        retry_after = self.store.breaker.retry_after() if status == p.STORE_UNAVAILABLE else None
        return p.text_frame(p.encode(p.store_status(status, last_event_id, retry_after)))

    # -- stats --------------------------------------------------------------------------------
    def _all(self) -> list[tuple[Subscriber, Connection]]:
        """Every connection, authenticated or waiting to be."""
        with self._lock:
            return [*self._subscribers.items(), *((sub, conn) for sub, (conn, _) in self._pending.items())]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            subscribers = list(self._subscribers)
        return {"pid": os.getpid(), "last_event_id": self.position,
                "connections": [sub.info() for sub in subscribers]}

    def publish_stats(self, now: float) -> None:
        """Share this worker's connections with the others (app/events/registry.py): at once when
        they came, went or changed filters, at most 10 times a second (churn of 1000s of sockets),
        and within half a second when only their counters moved."""
        if (self._members_dirty and now >= self._next_members) or (self._dirty and now >= self._next_publish):
            self._next_members, self._next_publish = now + 0.1, now + 0.5
            self._dirty = self._members_dirty = False
            self.registry.publish(self.snapshot())

    def stats(self) -> dict[str, Any]:
        """Every worker's connections (see app.events.registry)."""
        workers = [self.snapshot(), *self.registry.peers()]
        connections = [c for w in workers for c in w.get("connections", [])]
        return {"total_connections": len(connections), "workers": len(workers),
                "scope": "server" if self.registry.shared else "worker", "served_by": os.getpid(),
                "protocol_version": p.PROTOCOL_VERSION,
                "last_event_id": max(int(w.get("last_event_id") or 0) for w in workers),
                "connections": connections}


def _observe_delivery_lag(event: Event) -> None:
    """From the event's timestamp (taken in its transaction) to this worker offering it to sockets."""
    try:
        metrics.EVENT_DELIVERY_LAG.observe(max(0.0, time.time() - epoch(event.timestamp)))
    except (TypeError, ValueError):  # a hand-made event without a usable timestamp
        pass
