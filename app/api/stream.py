"""The event stream's HTTP edge: ``GET /ws`` and ``/ws/<client_id>`` (flask-sock), one session each.

A session runs on the gunicorn thread that accepted the upgrade and is its client's only writer:
the hello, replays, queued events, replies, heartbeats and the close frame all leave from here, in
that order. simple-websocket's own reader thread collects the client's messages and sets the same
``threading.Event`` the hub sets when it queues an event, so one wait serves both directions.
The protocol itself (shapes, parsing, close codes) is app.events.protocol; asyncapi.yaml
documents it. A store outage closes nothing: a replay that cannot read the log tells its client
(``store_status``) and waits for the store with the connection open.
"""

from __future__ import annotations

import functools
import logging
import math
import socket
import threading
import time
import uuid
from typing import Any, Callable, Mapping

import flask
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from app.api.handlers import health
from app.api.problems import ApiProblem
from app.api.security import EdgeConfig, require_bearer, token_matches
from app.api.serializers import beat_out, sequence_out
from app.core.container import Container
from app.core.events import Event, EventBus, utc_now
from app.core.greenlets import cooperative
from app.domain.models import BeatData, SequenceData
from app.events import protocol as p
from app.events.config import StreamConfig
from app.events.hub import BUSY, NOTICE, OWES, PAGE, WROTE, Hub, Subscriber
from app.events.retention import LogBounds
from app.store import Store, StoreUnavailable
from app.store.monitor import PingResult, StoreMonitor

log = logging.getLogger(__name__)

CLOSE_WAIT = 1.0  # seconds a client gets to answer our close frame before the socket is shut
SEND_BATCH = 256 * 1024  # bytes of queued frames written with one sendall
STORE_RETRY = 0.5  # seconds between a waiting replay's looks at the store breaker
LAG_WARN_EVENTS = 1000  # /health's events:lag warns beyond this many events not yet dispatched,
LAG_WARN_MS = 5000.0  # or when the oldest of them is older than this
LAG_MAX_AGE = 2.0  # seconds a lag measured by the store watchdog answers /health instead of a new one


def install(app: flask.Flask, container: Container, edge: EdgeConfig, config: StreamConfig | None = None) -> Hub:
    """Add the WebSocket routes and this process's hub to ``app``."""
    config = config or StreamConfig.from_env()
    hub = Hub(container.resolve(Store), container.resolve(EventBus), config, render=render_event)
    app.extensions["tka.events"] = hub
    health.EXTRA_CHECKS["events:lag"] = lag_check
    health.EXTRA_CHECKS["events:breaker"] = notify_breaker_check
    health.EXTRA_CHECKS["websocket:connections"] = connections_check
    if container.is_registered(StoreMonitor):
        container.resolve(StoreMonitor).add_listener(_lag_sampler(hub))
    # Reader threads must not keep a stopping worker alive; oversized frames close with 1009.
    app.config["SOCK_SERVER_OPTIONS"] = {
        "max_message_size": config.max_message_bytes,
        "thread_class": functools.partial(threading.Thread, daemon=True),
    }
    bp = flask.Blueprint("tka_events", __name__)
    sock = Sock()

    @bp.before_request
    def _check_upgrade() -> None:
        """Refuse a bad upgrade with a problem response, before it becomes a socket."""
        request = flask.request
        client_id = (request.view_args or {}).get("client_id")
        if client_id is not None and not p.CLIENT_ID.match(client_id):
            raise ApiProblem(400, "invalid_client_id", "client_id is 1-64 letters, digits or . _ : -",
                             errors=[{"field": "client_id", "message": "1-64 letters, digits or . _ : -"}])
        try:
            since = p.parse_since(request.args.get("since"))
            event_filter = p.parse(p.encode({"type": "set_filters",
                                             "event_types": request.args.getlist("event_type") or None,
                                             "sequence_ids": request.args.getlist("sequence_id") or None}))
        except ValueError as exc:
            raise ApiProblem(400, "invalid_parameter", str(exc),
                             errors=[{"field": "since", "message": str(exc)}]) from None
        except p.ProtocolError as exc:
            field = "event_type" if "event_types" in exc.message else "sequence_id"
            raise ApiProblem(400, "invalid_parameter", exc.message,
                             errors=[{"field": field, "message": exc.message}]) from None
        authorized = not edge.token
        header = request.headers.get("Authorization")
        if edge.token and header is not None:
            require_bearer(header, edge.token)
            authorized = True
        flask.g.tka_stream = {"client_id": client_id or f"client_{uuid.uuid4().hex[:8]}", "since": since,
                              "filter": event_filter.filter, "authorized": authorized}  # type: ignore[attr-defined]
        # No permessage-deflate: events are small, and a compressor per socket costs ~300 KB and
        # CPU for every client on every event.
        request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)

    def serve(ws: Any, client_id: str | None = None) -> None:
        Session(ws, hub, config, token=edge.token, **flask.g.tka_stream).run()

    sock.route("/ws", bp=bp, endpoint="stream")(serve)
    sock.route("/ws/<client_id>", bp=bp, endpoint="named_stream")(serve)
    app.register_blueprint(bp)

    @app.before_request
    def _start_hub() -> None:
        # The tailer also prunes the log, so it runs in every worker that serves anything.
        try:
            hub.ensure_started()
        except Exception:  # the event stream must never take REST down with it
            log.exception("starting the event stream failed; retrying on the next request")

    return hub


# -- how far behind the log ------------------------------------------------------------------
def lag_check() -> dict[str, Any]:
    """``/health``'s ``events:lag``: how far this worker's tailer is behind the durable event log.

    Fails only when the tailer is not running; warns when it is far behind, or when the lag cannot
    be measured because the store is down (the store checks say so). Like the store ping, it reads
    the watchdog's last measurement when that is fresh, so probes do not query the database.
    """
    hub: Hub = flask.current_app.extensions["tka.events"]
    started = time.perf_counter()
    sample = hub.lag_sample
    try:
        if sample is not None and time.monotonic() - sample[0] <= LAG_MAX_AGE:
            behind, age_ms = sample[1], sample[2]
        else:
            behind, age_ms = hub.lag()
    except StoreUnavailable:
        return health.check("warn", unit="events", output="unknown while the store is unavailable",
                            latency_ms=(time.perf_counter() - started) * 1000, component_id="events")
    if not hub.tailer_alive():
        status, output = "fail", f"the event tailer is not running ({behind} events behind)"
    elif behind > LAG_WARN_EVENTS or age_ms > LAG_WARN_MS:
        status, output = "warn", f"{behind} events behind; the oldest is {age_ms:.0f} ms old"
    else:
        status, output = "pass", None
    return health.check(status, value=behind, unit="events", output=output,
                        latency_ms=(time.perf_counter() - started) * 1000, component_id="events")


def connections_check() -> dict[str, Any]:
    """``/health``'s ``websocket:connections``: this worker's open sockets (the server's total in the
    output); ``warn`` from 90 % of the per-worker limit, beyond which new clients get 1013."""
    started = time.perf_counter()
    hub: Hub = flask.current_app.extensions["tka.events"]
    count, limit = hub.connection_count(), hub.config.max_connections
    total = hub.stats()["total_connections"]
    status = "warn" if count >= 0.9 * limit else "pass"
    return health.check(status, value=count, unit="connections",
                        output=f"{count} of {limit} on this worker; {total} on the server",
                        latency_ms=(time.perf_counter() - started) * 1000, component_id="websocket")


def notify_breaker_check() -> dict[str, Any]:
    """``/health``'s ``events:breaker``: the event-notification breaker (PostgreSQL's LISTEN
    connection). Open is a warning, not a failure: the tailer polls the log meanwhile, so events
    still arrive, only later."""
    breaker = flask.current_app.extensions["tka.events"].notify_breaker
    state = breaker.state
    output = None if state == "closed" else \
        f"open; polling the log, next LISTEN attempt in {breaker.retry_after():.1f} s" if state == "open" else state
    return health.check("pass" if state == "closed" else "warn", value={"closed": 0, "half-open": 1}.get(state, 2),
                        unit="state", output=output, component_id="events")


def _lag_sampler(hub: Hub) -> Callable[[PingResult], None]:
    """A store-watchdog listener: after each good ping, measure the lag (for ``/health`` and the
    gauge, which so keeps growing when the tailer has died, which is when it matters)."""

    def sample(ping: PingResult) -> None:
        if ping.ok and hub.started:
            try:
                behind, age_ms = hub.lag()
            except StoreUnavailable:
                return
            hub.lag_sample = (time.monotonic(), behind, age_ms)

    return sample


# -- events in their API shape ----------------------------------------------------------------
def data_out(data: Mapping[str, Any]) -> dict[str, Any]:
    """Stored event data with the sequence and beats in openapi.yaml's shapes."""
    out = dict(data)
    if isinstance(out.get("sequence"), Mapping):
        out["sequence"] = sequence_out(SequenceData.from_dict(out["sequence"]))
    for key in ("beat", "removed_beat"):
        if isinstance(out.get(key), Mapping):
            out[key] = beat_out(BeatData.from_dict(out[key]))
    return out


def render_event(event: Event) -> str:
    return p.encode(p.event_message(event, data_out))


# -- one connection ---------------------------------------------------------------------------
class _GuardedSocket:
    """The connection's socket, written one whole frame at a time.

    Three threads write to it: the session (blocking), simple-websocket's reader (answers to
    pings) and the hub's tailer (``try_send``, never blocking). The lock keeps their frames from
    interleaving. A non-blocking write may take only part of a frame; the socket then owes the rest,
    and every later write pays that debt first, so the client never sees a torn frame.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._lock = threading.Lock()
        self._owed = b""
        # A gevent socket waits for room on EAGAIN, whatever the flags, unless told not to wait.
        if cooperative():
            self._send_now: Callable[[bytes], int] = lambda frame: sock.send(  # type: ignore[call-arg]
                frame, socket.MSG_DONTWAIT, timeout=0.0)
        else:
            self._send_now = lambda frame: sock.send(frame, socket.MSG_DONTWAIT)

    def send(self, data: bytes) -> int:
        with self._lock:
            self._pay()
            self._sock.sendall(data)
        return len(data)

    def try_send(self, frame: bytes) -> str:
        """Write ``frame`` without waiting: WROTE, OWES (the rest is owed) or BUSY (nothing written)."""
        if not self._lock.acquire(blocking=False):
            return BUSY
        try:
            if self._owed:
                return BUSY
            try:
                written = self._send_now(frame)
            except OSError:  # full (EAGAIN) or broken: the session's blocking path deals with it
                return BUSY
            if written < len(frame):
                self._owed = frame[written:]
                return OWES
            return WROTE
        finally:
            self._lock.release()

    @property
    def owes(self) -> bool:
        return bool(self._owed)

    def pay(self) -> None:
        """Write what a partial non-blocking write left owing (blocking)."""
        with self._lock:
            self._pay()

    def _pay(self) -> None:
        if self._owed:
            owed, self._owed = self._owed, b""
            self._sock.sendall(owed)

    def close(self) -> None:
        """Hang up without a reset: closing with unread input (the rest of an oversized frame,
        say) would make the kernel reset the connection and lose our close frame."""
        try:
            self._sock.shutdown(socket.SHUT_WR)
            self._sock.settimeout(CLOSE_WAIT)
            drained = 0
            while drained < 1 << 20:
                chunk = self._sock.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass
        finally:
            self._sock.close()

    def abort(self) -> None:
        """Cut the connection now; unblocks a send stuck on a client that stopped reading."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def __getattr__(self, name: str) -> Any:  # recv, fileno...
        return getattr(self._sock, name)


class Session:
    def __init__(self, ws: Any, hub: Hub, config: StreamConfig, *, client_id: str, since: int | None,
                 filter: p.EventFilter, authorized: bool, token: str | None) -> None:  # noqa: A002
        self.ws = ws
        self.hub = hub
        self.config = config
        self.since = since
        self.authorized = authorized
        self.token = token
        if config.send_buffer_bytes:
            ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, config.send_buffer_bytes)
        self.sock = _GuardedSocket(ws.sock)
        ws.sock = self.sock
        self.sub = Subscriber(client_id, ws.event, self.sock.abort, config.queue_size, direct=self.sock.try_send)
        self.sub.filter = filter
        self.last_send = time.monotonic()
        self._replaying = False
        self._resume_from: int | None = None  # a resume asked for while a replay waits for the store

    def run(self) -> None:
        try:
            admitted, reason = self.hub.register(self.sub), "this worker holds its maximum of sockets; retry"
        except StoreUnavailable as exc:  # this worker never read the log yet, and cannot now
            admitted, reason = False, f"the store is unavailable; retry in {math.ceil(exc.retry_after or 1)} s"
        if not admitted:
            self._close(p.CloseCode.TRY_AGAIN_LATER, reason)
            self._release()
            return
        try:
            self._serve()
        except (ConnectionClosed, OSError):
            pass  # the client left, or the hub cut the connection
        except Exception:
            log.exception("WebSocket session %s failed", self.sub.client_id)
            self._close(p.CloseCode.INTERNAL_ERROR, f"internal error; resume with since={self.sub.resume_point}")
        finally:
            self.hub.unregister(self.sub)
            self._release()

    def _release(self) -> None:
        """End the TCP connection here, once the client answered our close (or could not).

        Left to gunicorn, a socket is drained on the worker's main thread for up to 2 s each,
        which would serialize a shutdown behind every client that does not hang up at once.
        """
        reader = getattr(self.ws, "thread", None)
        if reader is not None and reader is not threading.current_thread():
            reader.join(CLOSE_WAIT)  # simple-websocket's reader ends on the client's close frame
        self.sock.abort()
        self.sock.close()

    # -- phases -------------------------------------------------------------------------------
    def _serve(self) -> None:
        if not self.authorized and not self._authenticate():
            return
        heartbeat = self.config.heartbeat_interval
        if self.since is None:  # the tailer queues for this client until the hello is out
            start = self.hub.go_live(self.sub)
            assert start is not None
            self.sub.delivered = start
            self._send(p.hello(self.sub.client_id, start, heartbeat))
        else:
            self._send(p.hello(self.sub.client_id, self.hub.position, heartbeat))
            self._catch_up(self.since)
        self._flush()
        while True:
            if self.sub.closing:
                return self._close_as_asked()
            quiet_since = max(self.last_send, self.sub.sent_at)
            self.ws.event.wait(max(0.0, quiet_since + heartbeat - time.monotonic()))
            self.ws.event.clear()
            self._read_messages()
            if self.sub.closing:
                return self._close_as_asked()
            self._flush()
            if time.monotonic() - max(self.last_send, self.sub.sent_at) >= heartbeat:
                self._send(p.reply("heartbeat", last_event_id=self.sub.resume_point))

    def _authenticate(self) -> bool:
        """The server has a token and the upgrade carried none: the first message must be auth."""
        deadline = time.monotonic() + self.config.auth_timeout
        while not self.sub.closing:
            raw = self.ws.receive(timeout=0)
            if raw is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.ws.event.wait(remaining)
                self.ws.event.clear()
                continue
            try:
                message = p.parse(raw)
            except p.ProtocolError:
                message = None
            if isinstance(message, p.Auth) and self.token and token_matches(message.token, self.token):
                self.authorized = True
                return True
            self._close(p.CloseCode.POLICY_VIOLATION, "authentication failed")
            return False
        if self.sub.closing:
            self._close_as_asked()
        else:
            self._close(p.CloseCode.POLICY_VIOLATION, "authentication required: send {type: auth, token} first")
        return False

    def _catch_up(self, since: int) -> None:
        """Replay the log after ``since`` until level with the tailer, then go live.

        The first read always happens, so a ``since`` the log can no longer serve (pruned, or
        newer than anything in it) is answered with ``resync_required``, never a silent gap. While
        the store is down the replay waits for it (``_await_store``), the connection open.
        """
        self.hub.pause(self.sub)
        cursor = self.sub.delivered = since
        self._replaying = True
        try:
            while not self.sub.closing:
                if self._resume_from is not None:
                    cursor = self.sub.delivered = self._resume_from
                    self._resume_from = None
                try:
                    events, bounds = self.hub.read(cursor)
                except StoreUnavailable as exc:
                    self._await_store(exc)
                    continue
                if self.sub.note_status(p.STORE_AVAILABLE):
                    self._send(p.store_status(p.STORE_AVAILABLE, cursor))
                if self._replay(cursor, events, bounds):
                    return
                cursor = self.sub.delivered
        finally:
            self._replaying = False

    def _replay(self, cursor: int, events: list[Event], bounds: LogBounds) -> bool:
        """Send one page of the log read after ``cursor``; True once the client is live."""
        if bounds.pruned_through > cursor or cursor > bounds.last_event_id or \
                (not events and cursor < bounds.last_event_id):
            self._send(p.reply("resync_required", since=cursor,
                               reason="ahead" if cursor > bounds.last_event_id else "expired",
                               oldest_event_id=bounds.oldest_event_id, last_event_id=bounds.last_event_id,
                               message="the log no longer holds every event after 'since': reload "
                                       "state over REST; the stream continues after last_event_id"))
            cursor = self.sub.delivered = bounds.last_event_id
            events = []
        self._send_events(self.hub.frames(events, self.sub.filter))
        if events:
            cursor = self.sub.delivered = self.hub.last_id(events)
        return len(events) < PAGE and self.hub.go_live(self.sub, cursor) is not None

    def _await_store(self, exc: StoreUnavailable) -> None:
        """The log cannot be read: tell the client (once), then keep the connection (heartbeats,
        replies) until the store is worth trying again, or the client asks to resume elsewhere."""
        if self.sub.note_status(p.STORE_UNAVAILABLE):
            retry_after = exc.retry_after if exc.retry_after is not None else self.hub.store.breaker.retry_after()
            self._send(p.store_status(p.STORE_UNAVAILABLE, self.sub.delivered, retry_after))
        heartbeat = self.config.heartbeat_interval
        retry_at = time.monotonic() + STORE_RETRY
        hub_said = self.hub.store_status
        while not self.sub.closing and self._resume_from is None:
            now = time.monotonic()
            back = hub_said == p.STORE_UNAVAILABLE and self.hub.store_status == p.STORE_AVAILABLE  # it woke us
            if (now >= retry_at or back) and self.hub.log_readable():
                return
            self.ws.event.wait(max(0.0, min(retry_at, self.last_send + heartbeat) - now))
            self.ws.event.clear()
            self._read_messages()
            if time.monotonic() - self.last_send >= heartbeat:
                self._send(p.reply("heartbeat", last_event_id=self.sub.resume_point))
            if now >= retry_at:
                retry_at = now + STORE_RETRY

    def _read_messages(self) -> None:
        while (raw := self.ws.receive(timeout=0)) is not None:
            try:
                self._handle(p.parse(raw))
            except p.ProtocolError as exc:
                self._send(p.error(exc.code, exc.message, exc.msg_id))

    def _handle(self, message: p.ClientMessage) -> None:
        if message.type == "ping":
            self.sub.last_ping = utc_now()
            self.hub.mark_dirty()
            self._send(p.reply("pong", message.id, last_event_id=self.sub.resume_point))
        elif message.type == "get_stats":
            self._send(p.reply("stats", message.id, data=self.hub.stats()))
        elif isinstance(message, p.SetFilters):
            self.hub.set_filter(self.sub, message.filter)
            self._send(p.reply("filters_updated", message.id, **message.filter.to_dict()))
        elif isinstance(message, p.Resume):
            self._send(p.reply("resumed", message.id, since=message.since))
            if self._replaying:  # a replay waiting for the store: it restarts from there
                self._resume_from = message.since
                return
            self._catch_up(message.since)
            self._flush()
        elif isinstance(message, p.Auth):
            self._send(p.error("already_authenticated", "this connection is already authenticated", message.id))

    def _flush(self) -> None:
        """Write what the tailer left: a frame it could only start, then the queue; once both are
        done, the tailer writes directly again."""
        while True:
            if self.sock.owes:
                self._timed(self.sock.pay)
            items = self.sub.take()
            if not items:
                return
            self._send_events(items)

    def _close_as_asked(self) -> None:
        assert self.sub.closing is not None
        self.sub.hold()
        code, reason = self.sub.closing
        if code == p.CloseCode.SLOW_CONSUMER:
            since = self.sub.resume_point
            reason = p.slow_consumer_reason(since)
            try:
                self._send(p.error("slow_consumer", f"this client read too slowly and is disconnected; "
                                                    f"reconnect with ?since={since}", resume_since=since))
            except (ConnectionClosed, OSError):
                return
        self._close(code, reason)

    # -- writing ------------------------------------------------------------------------------
    def _send_events(self, items: list[tuple[int, bytes]]) -> None:
        """Write event frames, several per system call (the hub framed each once for everyone)."""
        start = 0
        while start < len(items):
            end, size = start, 0
            while end < len(items) and (end == start or size + len(items[end][1]) <= SEND_BATCH):
                size += len(items[end][1])
                end += 1
            batch = items[start:end]
            self._timed(lambda: self.sock.send(b"".join(frame for _, frame in batch)))
            ids = [event_id for event_id, _ in batch if event_id != NOTICE]  # a notice is no event
            if ids:
                self.sub.last_sent_id = ids[-1]
                self.sub.events_sent += len(ids)
            start = end
        if items:
            self.hub.mark_dirty()

    def _send(self, message: Mapping[str, Any]) -> None:
        self._write(p.encode(message))

    def _write(self, text: str) -> None:
        self._timed(lambda: self.ws.send(text))

    def _timed(self, write: Callable[[], Any]) -> None:
        """Run one write, visible to the hub's reaper while it blocks."""
        self.sub.send_started = time.monotonic()
        try:
            write()
        finally:
            self.sub.send_started = None
        self.last_send = time.monotonic()

    def _close(self, code: p.CloseCode, reason: str) -> None:
        self.sub.hold()
        try:
            self.ws.close(int(code), reason[:120])
        except (ConnectionClosed, OSError):
            pass
