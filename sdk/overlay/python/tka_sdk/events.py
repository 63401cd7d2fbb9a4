"""Hand-written (sdk/overlay/python): the server's WebSocket event stream (``/ws``, asyncapi.yaml).

    from tka_sdk.events import EventStream

    with EventStream("http://127.0.0.1:8000", event_types=["sequence.*"]) as stream:
        for event in stream:                      # reconnects and resumes on its own
            print(event.event_id, event.event_type, event.sequence_id)

It reconnects with exponential backoff, resumes after the last event id it returned
(``?since=``), re-sends its filters after every reconnect and returns each event once, in order.
Needs ``websocket-client`` (``pip install 'tka-sdk[events]'``).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional
from urllib.parse import urlsplit, urlunsplit

__all__ = ["Event", "EventStream", "StreamClosed"]

# Close codes after which reconnecting cannot help: policy violation (e.g. a bad token), too big.
FATAL_CLOSE_CODES = {1008, 1009}


@dataclass(frozen=True)
class Event:
    event_id: int
    event_type: str
    timestamp: str
    sequence_id: Optional[str]
    request_id: Optional[str]
    command_id: Optional[str]
    data: Dict[str, Any] = field(default_factory=dict)


class StreamClosed(Exception):
    """The stream ended for good: closed by the client, a fatal close code, or out of attempts."""


class EventStream:
    def __init__(self, base_url: str, *, token: Optional[str] = None,
                 event_types: Optional[List[str]] = None, sequence_ids: Optional[List[str]] = None,
                 since: Optional[int] = None,
                 on_message: Optional[Callable[[Dict[str, Any]], None]] = None,
                 backoff_initial: float = 0.25, backoff_max: float = 10.0,
                 max_attempts: Optional[int] = None, connect_timeout: float = 10.0) -> None:
        self.base_url = base_url
        self.token = token
        self.event_types = list(event_types) if event_types is not None else None
        self.sequence_ids = list(sequence_ids) if sequence_ids is not None else None
        self.last_event_id = since
        self.on_message = on_message           # every non-event message: hello, resync_required, store_status, ...
        # False between a store_status "unavailable" and the next "available": the server cannot read
        # its event log, so no events arrive meanwhile (none is lost; they follow "available").
        self.store_available = True
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_attempts = max_attempts
        self.connect_timeout = connect_timeout
        self.hello: Optional[Dict[str, Any]] = None
        self._ws: Any = None
        self._closed = False

    # -- public ------------------------------------------------------------------------------
    def url(self) -> str:
        parts = urlsplit(self.base_url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        path = parts.path.rstrip("/")
        if not path.endswith("/ws") and "/ws/" not in path:
            path += "/ws"
        query = parts.query
        if self.last_event_id is not None:
            query = f"{query}&since={self.last_event_id}" if query else f"since={self.last_event_id}"
        return urlunsplit((scheme, parts.netloc, path, query, ""))

    def connect(self) -> Dict[str, Any]:
        """Open the stream (with retries) and return the server's hello."""
        attempts = 0
        while True:
            try:
                return self._open()
            except StreamClosed:
                raise
            except Exception as e:  # refused, reset, timed out: try again after a while
                attempts += 1
                self._backoff(attempts, e)

    def set_filters(self, event_types: List[str], sequence_ids: Optional[List[str]] = None) -> None:
        """Receive only these event types (exact or ``sequence.*``) and, if given, sequences;
        kept across reconnects."""
        self.event_types = list(event_types)
        if sequence_ids is not None:
            self.sequence_ids = list(sequence_ids)
        if self._ws is not None:
            self._send_filters()

    def _send_filters(self) -> None:
        if self.event_types is None and self.sequence_ids is None:
            return
        self._send({"type": "set_filters", "event_types": self.event_types or [],
                    "sequence_ids": self.sequence_ids or []})

    def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event, or None when none came within ``timeout`` seconds (None: wait on)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        attempts = 0
        while True:
            if self._closed:
                raise StreamClosed("closed")
            if self._ws is None:
                try:
                    self._open()
                    attempts = 0
                except StreamClosed:
                    raise
                except Exception as e:
                    attempts += 1
                    self._backoff(attempts, e)
                    continue
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            try:
                message = self._recv(remaining)
            except _Timeout:
                return None
            except StreamClosed:
                raise
            except Exception:
                self._drop()           # connection lost: the loop reconnects and resumes
                continue
            if message is None:
                continue
            event = self._handle(message)
            if event is not None:
                return event

    def __iter__(self) -> Iterator[Event]:
        while True:
            event = self.next_event()
            if event is not None:
                yield event

    def close(self) -> None:
        self._closed = True
        self._drop()

    def __enter__(self) -> "EventStream":
        self.connect()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------
    def _open(self) -> Dict[str, Any]:
        import websocket  # websocket-client

        headers = [f"Authorization: Bearer {self.token}"] if self.token else []
        ws = websocket.create_connection(self.url(), header=headers, timeout=self.connect_timeout)
        try:
            hello = json.loads(ws.recv())
        except Exception:
            ws.close()
            raise
        if hello.get("type") != "connection_established":
            ws.close()
            raise ConnectionError(f"unexpected first message {hello!r}")
        self._ws = ws
        self.hello = hello
        # Without ``since`` the stream starts after the hello's last_event_id: a reconnect resumes
        # from there, so nothing between two connections is lost.
        if self.last_event_id is None and isinstance(hello.get("last_event_id"), int):
            self.last_event_id = hello["last_event_id"]
        if self.on_message:
            self.on_message(hello)
        self._send_filters()
        return hello

    def _send(self, message: Dict[str, Any]) -> None:
        self._ws.send(json.dumps(message))

    def _recv(self, timeout: Optional[float]) -> Optional[Dict[str, Any]]:
        import websocket

        self._ws.settimeout(timeout)
        try:
            opcode, payload = self._ws.recv_data(control_frame=False)
        except websocket.WebSocketTimeoutException as e:
            raise _Timeout() from e
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._drop()
            if code in FATAL_CLOSE_CODES:
                self._closed = True
                raise StreamClosed(f"server closed the stream: {code} {payload[2:].decode(errors='replace')}")
            return None
        try:
            return json.loads(payload)
        except ValueError:
            return None

    def _handle(self, message: Dict[str, Any]) -> Optional[Event]:
        if message.get("type") == "store_status":
            self.store_available = message.get("status") != "unavailable"
        if message.get("type") == "resync_required" and isinstance(message.get("last_event_id"), int):
            self.last_event_id = message["last_event_id"]  # the stream continues after it; reload over REST
        if message.get("type") != "event":
            if self.on_message:
                self.on_message(message)
            return None
        event_id = int(message["event_id"])
        if self.last_event_id is not None and event_id <= self.last_event_id:
            return None  # a replay overlapping what was already returned
        self.last_event_id = event_id
        return Event(event_id=event_id, event_type=message["event_type"], timestamp=message.get("timestamp", ""),
                     sequence_id=message.get("sequence_id"), request_id=message.get("request_id"),
                     command_id=message.get("command_id"), data=message.get("data") or {})

    def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                ws.close()
            except Exception:
                pass

    def _backoff(self, attempts: int, cause: Exception) -> None:
        if self._closed:
            raise StreamClosed("closed")
        if self.max_attempts is not None and attempts > self.max_attempts:
            self._closed = True
            raise StreamClosed(f"gave up after {attempts - 1} attempts: {cause}") from cause
        delay = min(self.backoff_max, self.backoff_initial * 2 ** (attempts - 1))
        time.sleep(delay * (1 - 0.2 * random.random()))


class _Timeout(Exception):
    pass
