"""One client's WebSocket session as an I/O-free state machine (the protocol of asyncapi.yaml).

The session's driver (app/api/stream.py) owns the socket and the threads. It tells the machine
what happened and performs the actions each call returns, in order:

* ``open``: the hub took the connection (counted, or held until it authenticates);
* ``admitted`` / ``refused``: the hub's answer to an ``Admit``;
* ``received``: a client message (or the ProtocolError parsing it raised);
* ``went_live`` / ``behind``: the hub's answer to a ``GoLive``;
* ``page``: what a ``ReadLog`` read; ``log_unreadable``: it could not (the store is down);
* ``tick``: time passed (the auth deadline, heartbeats, the next look at the store, the queue);
* ``close_asked``: the hub wants the connection closed (a slow consumer, a shutdown).

Phases: a server with a token whose client sent none in the upgrade starts AUTHENTICATING (the
first message must be ``auth``). A client with ``since`` then REPLAYS the log until level with
the hub's tailer; one without goes LIVE at once. An authenticated client counts against the
worker's limit only from then on (``Admit``). A replay that cannot read the log is
WAITING_FOR_STORE, the connection kept open with heartbeats and replies, until the log reads
again. ``resume`` replays again from where the client says. Every path ends CLOSED.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Union

from app.core.events import Event
from app.events import protocol as p
from app.events.config import LOG_PAGE
from app.events.retention import LogBounds

STORE_RETRY = 0.5  # seconds between a waiting replay's looks at the store


class Phase(enum.Enum):
    AUTHENTICATING = "authenticating"
    REPLAYING = "replaying"
    WAITING_FOR_STORE = "waiting_for_store"
    LIVE = "live"
    CLOSED = "closed"


# -- actions -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Send:
    """Write this message."""

    message: dict[str, Any]


@dataclass(frozen=True)
class SendStats:
    """Reply to ``get_stats`` with the server's connection statistics."""

    msg_id: Any


@dataclass(frozen=True)
class RecordPing:
    """The client pinged (its stats show when)."""


@dataclass(frozen=True)
class Admit:
    """The client authenticated: ask the hub to count it among the worker's connections; answer
    with ``admitted`` or ``refused``."""


@dataclass(frozen=True)
class SetFilter:
    filter: p.EventFilter


@dataclass(frozen=True)
class Rewind:
    """Stop live delivery and forget what is queued: the client is owed everything after ``since``."""

    since: int


@dataclass(frozen=True)
class ReadLog:
    """Read a page of the log after ``after``; answer with ``page`` or ``log_unreadable``."""

    after: int


@dataclass(frozen=True)
class Replay:
    """Write these events (those the client's filter accepts); everything up to ``through`` is
    then delivered."""

    events: list[Event]
    through: int


@dataclass(frozen=True)
class TellStoreStatus:
    """Tell the client the store's ``status``, unless it knows already."""

    status: str
    last_event_id: int
    retry_after: float | None = None


@dataclass(frozen=True)
class GoLive:
    """Ask the hub to deliver live after ``after`` (None: from where its tailer stands); answer
    with ``went_live`` or ``behind``."""

    after: int | None


@dataclass(frozen=True)
class Flush:
    """Write what the tailer queued for the client."""


@dataclass(frozen=True)
class Close:
    code: p.CloseCode
    reason: str


Action = Union[Send, SendStats, RecordPing, Admit, SetFilter, Rewind, ReadLog, Replay, TellStoreStatus, GoLive, Flush,
               Close]


@dataclass
class Session:
    client_id: str
    since: int | None  # where the client asked to start (None: live from now)
    heartbeat_interval: float
    auth_deadline: float | None = None  # monotonic; a token is required and the upgrade carried none
    token_matches: Any = None  # (token) -> bool, when a token is required
    phase: Phase = Phase.LIVE
    cursor: int = 0  # the replay's position in the log: everything up to here was replayed
    retry_at: float = 0.0  # WAITING_FOR_STORE: when to look at the store again
    _store_was_down: bool = field(default=False, repr=False)

    # -- inputs -----------------------------------------------------------------------------
    def open(self, now: float, position: int) -> list[Action]:
        if self.auth_deadline is not None:
            self.phase = Phase.AUTHENTICATING
            return []
        return self._start(position)

    def received(self, message: p.ClientMessage | p.ProtocolError, position: int, resume_point: int,
                 now: float) -> list[Action]:
        if self.phase is Phase.CLOSED:
            return []
        if self.phase is Phase.AUTHENTICATING:
            if isinstance(message, p.Auth) and self.token_matches(message.token):
                self.auth_deadline = None
                return [Admit()]
            return self._close(p.CloseCode.POLICY_VIOLATION, "authentication failed")
        if isinstance(message, p.ProtocolError):
            return [Send(p.error(message.code, message.message, message.msg_id))]
        if isinstance(message, p.SetFilters):
            return [SetFilter(message.filter), Send(p.reply("filters_updated", message.id, **message.filter.to_dict()))]
        if isinstance(message, p.Resume):
            return [Send(p.reply("resumed", message.id, since=message.since)), *self._replay_from(message.since)]
        if isinstance(message, p.Auth):
            return [Send(p.error("already_authenticated", "this connection is already authenticated", message.id))]
        if message.type == "ping":
            return [RecordPing(), Send(p.reply("pong", message.id, last_event_id=resume_point))]
        return [SendStats(message.id)]  # get_stats: the only other type protocol.parse lets through

    def admitted(self, position: int) -> list[Action]:
        return self._start(position)

    def refused(self, reason: str) -> list[Action]:
        """The worker is full (or cannot reach the store yet): the client should retry later."""
        return self._close(p.CloseCode.TRY_AGAIN_LATER, reason)

    def went_live(self, after: int) -> list[Action]:
        starting = self.since is None and self.phase is Phase.LIVE  # a new client: hello first
        self.phase = Phase.LIVE
        return [Send(p.hello(self.client_id, after, self.heartbeat_interval)), Flush()] if starting else [Flush()]

    def behind(self) -> list[Action]:
        """The hub's tailer is ahead of the replay: read on."""
        return [ReadLog(self.cursor)]

    def page(self, events: list[Event], bounds: LogBounds) -> list[Action]:
        """One page of the log after ``cursor``, and what the log still holds."""
        self.phase = Phase.REPLAYING
        actions: list[Action] = [TellStoreStatus(p.STORE_AVAILABLE, self.cursor)]
        cursor = self.cursor
        if bounds.pruned_through > cursor or cursor > bounds.last_event_id or \
                (not events and cursor < bounds.last_event_id):
            actions.append(Send(p.reply(
                "resync_required", since=cursor, reason="ahead" if cursor > bounds.last_event_id else "expired",
                oldest_event_id=bounds.oldest_event_id, last_event_id=bounds.last_event_id,
                message="the log no longer holds every event after 'since': reload state over REST; the stream "
                        "continues after last_event_id")))
            events, self.cursor = [], bounds.last_event_id
        elif events:
            self.cursor = events[-1].event_id  # type: ignore[assignment]
        actions.append(Replay(events, self.cursor))
        actions.append(GoLive(self.cursor) if len(events) < LOG_PAGE else ReadLog(self.cursor))
        return actions

    def log_unreadable(self, retry_after: float, now: float) -> list[Action]:
        """A ``ReadLog`` failed: the store is down. Keep the connection; look again later."""
        self.phase = Phase.WAITING_FOR_STORE
        self.retry_at = now + STORE_RETRY
        self._store_was_down = True
        return [TellStoreStatus(p.STORE_UNAVAILABLE, self.cursor, retry_after)]

    def tick(self, now: float, quiet_since: float, resume_point: int, store_available: bool) -> list[Action]:
        """Time passed. ``quiet_since``: the last write to the client; ``store_available``: what
        the hub last told its clients about the store."""
        if self.phase is Phase.AUTHENTICATING:  # until authenticated, or admitted after it
            if self.auth_deadline is not None and now >= self.auth_deadline:
                return self._close(p.CloseCode.POLICY_VIOLATION,
                                   "authentication required: send {type: auth, token} first")
            return []
        actions: list[Action] = [Flush()] if self.phase is Phase.LIVE else []
        if self.phase is not Phase.CLOSED and now - quiet_since >= self.heartbeat_interval:
            actions.append(Send(p.reply("heartbeat", last_event_id=resume_point)))
        if self.phase is Phase.WAITING_FOR_STORE and (now >= self.retry_at or store_available and self._store_was_down):
            self._store_was_down = not store_available
            actions.append(ReadLog(self.cursor))
        return actions

    def wake_at(self, quiet_since: float) -> float:
        """When the next ``tick`` is due (monotonic), if nothing happens before."""
        if self.phase is Phase.AUTHENTICATING:
            return self.auth_deadline or quiet_since
        due = quiet_since + self.heartbeat_interval
        return min(due, self.retry_at) if self.phase is Phase.WAITING_FOR_STORE else due

    def close_asked(self, code: p.CloseCode, reason: str, resume_point: int) -> list[Action]:
        if self.phase is Phase.CLOSED:
            return []
        if code == p.CloseCode.SLOW_CONSUMER:
            return [Send(p.error("slow_consumer", f"this client read too slowly and is disconnected; reconnect "
                                                  f"with ?since={resume_point}", resume_since=resume_point)),
                    *self._close(code, p.slow_consumer_reason(resume_point))]
        return self._close(code, reason)

    # -- transitions ------------------------------------------------------------------------
    def _start(self, position: int) -> list[Action]:
        if self.since is None:
            self.phase = Phase.LIVE
            return [GoLive(None)]
        return [Send(p.hello(self.client_id, position, self.heartbeat_interval)), *self._replay_from(self.since)]

    def _replay_from(self, since: int) -> list[Action]:
        """Replay the log after ``since`` until level with the tailer, then go live. The first read
        always happens, so a ``since`` the log can no longer serve is answered with
        ``resync_required``, never a silent gap."""
        self.phase, self.cursor = Phase.REPLAYING, since
        return [Rewind(since), ReadLog(since)]

    def _close(self, code: p.CloseCode, reason: str) -> list[Action]:
        self.phase = Phase.CLOSED
        return [Close(code, reason)]
