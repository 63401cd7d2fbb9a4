"""The event stream's HTTP edge: ``GET /ws`` and ``/ws/<client_id>`` (flask-sock), one session each.

The protocol is app/events/session.py, an I/O-free state machine; this is its driver: the socket,
the waiting and the writes. A session runs on the worker thread (gthread) or greenlet (gevent)
that accepted the upgrade. simple-websocket's reader thread collects the client's messages and
sets ``ws.event``, the same event the hub sets when it queues for this client or asks it to close,
so one wait serves them all. Three parties write to the socket: the session (blocking writes: its
replies, replays, queued frames and the close), simple-websocket's reader (answers to pings) and
the hub's tailer (non-blocking writes of events to an idle client, app/events/subscriber.py);
``_GuardedSocket`` keeps their frames whole.
"""

from __future__ import annotations

import functools
import logging
import math
import socket
import threading
import time
from collections import deque
from typing import Any, Callable

import flask
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from app.api.problems import ApiProblem
from app.api.security import EdgeConfig, require_bearer, token_matches
from app.core import metrics
from app.core.events import utc_now
from app.core.greenlets import cooperative
from app.core.ids import random_uuid
from app.events import protocol as p
from app.events import session as s
from app.events.hub import Hub
from app.events.subscriber import Subscriber, Written
from app.store import StoreUnavailable

log = logging.getLogger(__name__)

CLOSE_WAIT = 1.0  # seconds a client gets to answer our close frame before the socket is shut
SEND_BATCH = 256 * 1024  # bytes of queued frames written with one sendall


def install(app: flask.Flask, hub: Hub, edge: EdgeConfig) -> None:
    """Add the WebSocket routes, served by ``hub``, to ``app``."""
    config = hub.config
    # Reader threads must not keep a stopping worker alive; oversized frames close with 1009.
    app.config["SOCK_SERVER_OPTIONS"] = {
        "max_message_size": config.max_message_bytes,
        "thread_class": functools.partial(threading.Thread, daemon=True),
    }
    bp = flask.Blueprint("tka_events", __name__)

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
        header = request.headers.get("Authorization")
        if edge.token and header is not None:
            require_bearer(header, edge.token)
        flask.g.tka_stream = {"client_id": client_id or f"client_{random_uuid()[:8]}", "since": since,
                              "event_filter": event_filter.filter,  # type: ignore[attr-defined]
                              "token": edge.token if header is None else None,
                              "peer": request.remote_addr or ""}
        # No permessage-deflate: events are small, and a compressor per socket costs ~300 KB and
        # CPU for every client on every event.
        request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)

    def serve(ws: Any, client_id: str | None = None) -> None:
        SocketSession(ws, hub, **flask.g.tka_stream).run()

    sock = Sock()
    sock.route("/ws", bp=bp, endpoint="stream")(serve)
    sock.route("/ws/<client_id>", bp=bp, endpoint="named_stream")(serve)
    app.register_blueprint(bp)


class _GuardedSocket:
    """The connection's socket, written one whole frame at a time, and the hub's ``Connection``.

    The lock keeps the frames of the three writers from interleaving. A non-blocking write may
    take only part of a frame; the socket then owes the rest, and every later write pays that debt
    first, so the client never sees a torn frame.
    """

    def __init__(self, sock: socket.socket, wake: Callable[[], None]) -> None:
        self._sock = sock
        self._lock = threading.Lock()
        self._owed = b""
        self.wake = wake
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

    def try_send(self, frame: bytes) -> Written:
        """Write ``frame`` without waiting."""
        if not self._lock.acquire(blocking=False):
            return Written.NOTHING
        try:
            if self._owed:
                return Written.NOTHING
            try:
                written = self._send_now(frame)
            except OSError:  # full (EAGAIN) or broken: the session's blocking path deals with it
                return Written.NOTHING
            if written < len(frame):
                self._owed = frame[written:]
                return Written.PART
            return Written.ALL
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


class SocketSession:
    """Drives one ``app.events.session.Session`` over a flask-sock WebSocket."""

    def __init__(self, ws: Any, hub: Hub, *, client_id: str, since: int | None, event_filter: p.EventFilter,
                 token: str | None, peer: str) -> None:
        """``token``: the token the client must send first (the upgrade carried none); None: none
        needed. ``peer``: the client's address (a per-address share of the unauthenticated pool)."""
        self.ws = ws
        self.hub = hub
        self.peer = peer
        config = hub.config
        if config.send_buffer_bytes:
            ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, config.send_buffer_bytes)
        self.sock = _GuardedSocket(ws.sock, ws.event.set)
        ws.sock = self.sock
        self.sub = Subscriber(client_id, config.queue_size, event_filter)
        self.machine = s.Session(
            client_id, since, config.heartbeat_interval,
            auth_deadline=None if token is None else time.monotonic() + config.auth_timeout,
            token_matches=None if token is None else functools.partial(_matches, token))
        self.last_send = time.monotonic()

    def run(self) -> None:
        if self.machine.auth_deadline is None:  # no token needed, or it came with the upgrade
            admitted, reason = self._counted(lambda: self.hub.register(self.sub, self.sock))
        else:  # held apart from the counted connections until it authenticates (Hub.hold)
            admitted, reason = self.hub.hold(self.sub, self.sock, self.peer), \
                "too many connections are waiting to authenticate; retry"
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

    @staticmethod
    def _counted(count: Callable[[], bool]) -> tuple[bool, str]:
        """Whether ``count`` (the hub's register or admit) counted the connection; why not."""
        try:
            if count():
                return True, ""
            return False, "this worker holds its maximum of sockets; retry"
        except StoreUnavailable as exc:  # this worker never read the log yet, and cannot now
            return False, f"the store is unavailable; retry in {math.ceil(exc.retry_after or 1)} s"

    def _serve(self) -> None:
        machine, event = self.machine, self.ws.event
        self._perform(machine.open(time.monotonic(), self.hub.position))
        while machine.phase is not s.Phase.CLOSED:
            event.wait(max(0.0, machine.wake_at(self._quiet_since()) - time.monotonic()))
            event.clear()
            while machine.phase is not s.Phase.CLOSED and (raw := self.ws.receive(timeout=0)) is not None:
                try:
                    message: p.ClientMessage | p.ProtocolError = p.parse(raw)
                except p.ProtocolError as exc:
                    message = exc
                self._perform(machine.received(message, self.hub.position, self.sub.resume_point, time.monotonic()))
            self._perform(machine.tick(time.monotonic(), self._quiet_since(), self.sub.resume_point,
                                       self.hub.store_status == p.STORE_AVAILABLE))

    def _quiet_since(self) -> float:
        """When the client was last written to, by the session or the tailer."""
        return max(self.last_send, self.sub.written_at)

    def _perform(self, actions: list[s.Action]) -> None:
        """Do ``actions`` in order. What the machine answers to one (a page of the log, the hub's
        answer to going live) comes before the rest; a close the hub asked for, before anything."""
        pending = deque(actions)
        while True:
            if self.sub.closing is not None and self.machine.phase is not s.Phase.CLOSED:
                pending = deque(self.machine.close_asked(*self.sub.closing, self.sub.resume_point))
            if not pending:
                return
            pending.extendleft(reversed(self._do(pending.popleft())))

    def _do(self, action: s.Action) -> list[s.Action]:
        """Perform one action; what the machine answers to its result."""
        sub, hub = self.sub, self.hub
        if isinstance(action, s.Send):
            self._send(action.message)
        elif isinstance(action, s.Flush):
            self._flush()
        elif isinstance(action, s.ReadLog):
            try:
                events, bounds = hub.read(action.after)
            except StoreUnavailable as exc:
                retry_after = exc.retry_after if exc.retry_after is not None else hub.store.breaker.retry_after()
                return self.machine.log_unreadable(retry_after, time.monotonic())
            return self.machine.page(events, bounds)
        elif isinstance(action, s.Replay):
            self._send_events(hub.frames(action.events, sub.filter))
            with sub.lock:
                sub.delivered = action.through
        elif isinstance(action, s.GoLive):
            after = hub.go_live(sub, action.after)
            return self.machine.behind() if after is None else self.machine.went_live(after)
        elif isinstance(action, s.TellStoreStatus):
            with sub.lock:
                news = sub.tell_store_status(action.status)
            if news:
                self._send(p.store_status(action.status, action.last_event_id, action.retry_after))
        elif isinstance(action, s.Rewind):
            hub.pause(sub)
            with sub.lock:
                sub.delivered = action.since
        elif isinstance(action, s.Admit):
            admitted, reason = self._counted(lambda: hub.admit(sub))
            return self.machine.admitted(hub.position) if admitted else self.machine.refused(reason)
        elif isinstance(action, s.SetFilter):
            hub.set_filter(sub, action.filter)
        elif isinstance(action, s.RecordPing):
            sub.last_ping = utc_now()
            hub.mark_dirty()
        elif isinstance(action, s.SendStats):
            self._send(p.reply("stats", action.msg_id, data=hub.stats()))
        elif isinstance(action, s.Close):
            self._close(action.code, action.reason)
        return []

    # -- writing ------------------------------------------------------------------------------
    def _flush(self) -> None:
        """Write what the tailer left: a frame it could only start, then the queue; once both are
        done, the tailer writes directly again."""
        while True:
            if self.sock.owes:
                self._timed(self.sock.pay)
            with self.sub.lock:
                items = self.sub.take()
            if not items:
                return
            self._send_events(items)

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
            with self.sub.lock:
                events = self.sub.written(batch)
            metrics.EVENTS_DELIVERED.inc(events)
            start = end
        if items:
            self.hub.mark_dirty()

    def _send(self, message: dict[str, Any]) -> None:
        text = p.encode(message)
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
        with self.sub.lock:
            self.sub.hold()
        try:
            self.ws.close(int(code), reason[:120])
        except (ConnectionClosed, OSError):
            pass

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


def _matches(token: str, presented: str) -> bool:
    return token_matches(presented, token)
