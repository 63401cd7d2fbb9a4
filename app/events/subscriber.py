"""One client's delivery state, shared by the hub's tailer and the client's session. No I/O.

Events reach a client in one of two ways, never both at once (``Writer``). While its queue is
empty and its session is not writing, the tailer writes each event's frame straight to the socket
with a non-blocking write: no thread wakes, which is what makes fan-out to many clients cheap.
Otherwise (the socket is busy, the client is behind, the session is replaying or closing) events
are queued, and the session drains the queue with writes that may block. ``store_status``
messages (the store went down, or came back) travel the same way, in order with the events.

Nothing here writes to a socket: ``offer`` and ``offer_store_status`` answer ``Offer.WRITE`` when a frame may
go out now, the caller (the hub) makes the non-blocking write while it holds ``lock``, and reports
what happened with ``wrote``. Who touches what:

* fixed at connect: ``client_id``, ``connected_at``, ``queue_size``;
* tailer and session, only under ``lock``: everything in the "delivery" block of ``__init__``;
* the session only: ``filter`` (set through ``Hub.set_filter``), ``last_ping``, ``send_started``
  (read, not written, by the hub's reaper);
* the hub only, under the hub's lock: ``live``, ``aborted``.
"""

from __future__ import annotations

import enum
import os
import threading
import time
from collections import deque
from typing import Any

from app.core.events import utc_now
from app.events.protocol import STORE_AVAILABLE, STORE_UNAVAILABLE, CloseCode, EventFilter

NOT_AN_EVENT = 0  # the event id a queued frame carries when it is no event (a store_status)


class Writer(enum.Enum):
    """Who writes the client's next frame."""

    SESSION = "session"  # before its hello, during a replay, while it drains the queue, when closing
    TAILER = "tailer"  # the queue is empty: the tailer may write straight to the socket


class Offer(enum.Enum):
    """What became of an offered frame."""

    DONE = "done"  # written, or nothing to write (filtered out, already known)
    WRITE = "write"  # write it now without blocking, then report with ``wrote``
    WAKE = "wake"  # queued (or partly written): wake the session to write it
    FULL = "full"  # the queue is full: the client is too slow and must be cut off


class Written(enum.Enum):
    """What a non-blocking write did."""

    ALL = "all"  # the whole frame is out
    PART = "part"  # part is out; the socket owes the rest, which goes out before anything else
    NOTHING = "nothing"  # the socket was busy or full


class Subscriber:
    def __init__(self, client_id: str, queue_size: int, event_filter: EventFilter = EventFilter()) -> None:
        self.client_id = client_id
        self.connected_at = utc_now()
        self.queue_size = queue_size
        self.lock = threading.Lock()
        # -- delivery: tailer and session, under ``lock`` --------------------------------------
        self.writer = Writer.SESSION
        self.queue: deque[tuple[int, bytes]] = deque()  # (event_id or NOT_AN_EVENT, frame)
        self.cursor = 0  # last log id offered to this client (sent, queued or filtered out)
        self.delivered = 0  # every event up to here was written to the client or filtered out
        self.last_written = 0  # last event id whose frame is out (or owed by the socket)
        self.events_sent = 0
        self.written_at = time.monotonic()
        self.store_status = STORE_AVAILABLE  # what this client was last told about the store
        self.overflowed = False
        self.closing: tuple[CloseCode, str] | None = None
        self.close_deadline: float | None = None
        # -- the session only ------------------------------------------------------------------
        self.filter = event_filter
        self.last_ping: str | None = None
        self.send_started: float | None = None  # while a blocking write is under way
        # -- the hub only ----------------------------------------------------------------------
        self.live = False  # the tailer offers it events
        self.aborted = False  # its connection was cut

    # -- the tailer (hold ``lock``) -------------------------------------------------------------
    def offer(self, event_id: int, frame: bytes | None) -> Offer:
        """An event for this client (``frame`` None: filtered out, only the cursor moves)."""
        idle = not self.queue and self.writer is Writer.TAILER
        if frame is None:
            self.cursor = event_id
            if idle:
                self.delivered = event_id
            return Offer.DONE
        if idle and self.closing is None:
            self.cursor = event_id
            return Offer.WRITE
        if len(self.queue) >= self.queue_size:
            return Offer.FULL
        self.queue.append((event_id, frame))
        self.cursor = event_id
        return Offer.WAKE

    def offer_store_status(self, status: str) -> Offer:
        """Tell the client the store's ``status``, once per change and in order with its events;
        unlike an event it never moves the cursor and never counts against the queue's bound.
        On WRITE or WAKE the caller makes the frame (its last_event_id is ``cursor``)."""
        if status == self.store_status or self.closing is not None:
            return Offer.DONE
        self.store_status = status
        return Offer.WRITE if not self.queue and self.writer is Writer.TAILER else Offer.WAKE

    def queue_store_status(self, frame: bytes) -> None:
        self.queue.append((NOT_AN_EVENT, frame))

    def wrote(self, event_id: int, frame: bytes, written: Written) -> Offer:
        """How the write that ``offer`` or ``offer_store_status`` asked for went (``event_id``
        NOT_AN_EVENT: a store_status)."""
        if written is Written.NOTHING:
            self.queue.append((event_id, frame))
            return Offer.WAKE
        self.written_at = time.monotonic()
        if event_id != NOT_AN_EVENT:
            self.delivered = self.last_written = event_id
            self.events_sent += 1
        return Offer.DONE if written is Written.ALL else Offer.WAKE

    def cut_off(self) -> None:
        """The queue overflowed: drop it; the client is closed with the id to resume from."""
        self.drop_queue()
        self.overflowed = True

    # -- the session (hold ``lock``) ------------------------------------------------------------
    def take(self) -> list[tuple[int, bytes]]:
        """The queued frames, for the session to write; an empty answer hands writing to the tailer."""
        items = list(self.queue)
        self.queue.clear()
        self.writer = Writer.SESSION if items else Writer.TAILER
        if not items and not self.overflowed:
            self.delivered = max(self.delivered, self.cursor)
        return items

    def hold(self) -> None:
        """The session writes next (a replay, a close): the tailer queues instead of writing."""
        self.writer = Writer.SESSION

    def drop_queue(self) -> None:
        """Forget what is queued (a resume re-reads it from the log)."""
        unsent = sum(1 for event_id, _ in self.queue if event_id == NOT_AN_EVENT)
        if unsent % 2:  # the client never heard of the last change of the store's status
            self.store_status = STORE_AVAILABLE if self.store_status == STORE_UNAVAILABLE else STORE_UNAVAILABLE
        self.queue.clear()
        self.writer = Writer.SESSION

    def tell_store_status(self, status: str) -> bool:
        """The session tells the client ``status`` itself: False when the client already knows."""
        if status == self.store_status:
            return False
        self.store_status = status
        return True

    def written(self, items: list[tuple[int, bytes]]) -> int:
        """The session wrote ``items``; how many were events."""
        ids = [event_id for event_id, _ in items if event_id != NOT_AN_EVENT]
        if ids:
            self.last_written = ids[-1]
            self.events_sent += len(ids)
        self.written_at = time.monotonic()
        return len(ids)

    def request_close(self, code: CloseCode, reason: str, within: float) -> bool:
        """Ask the session to close; the hub cuts the socket if it has not within ``within`` s.
        False if a close was asked for already."""
        if self.closing is not None:
            return False
        self.closing = (code, reason)
        self.close_deadline = time.monotonic() + within
        return True

    @property
    def resume_point(self) -> int:
        """Every event up to here was written to the client (or is owed by its socket) or
        filtered out: where it should resume from."""
        return max(self.delivered, self.last_written)

    def info(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "worker_pid": os.getpid(), "connected_at": self.connected_at,
                "events_sent": self.events_sent, "last_event_id": self.resume_point, "last_ping": self.last_ping,
                "queue_depth": len(self.queue), "filters": self.filter.to_dict()}
