"""The WebSocket event protocol (asyncapi.yaml): message shapes, parsing, close codes.

Pure functions and small value types; no sockets and no Flask, so every rule here is tested
without a server. Client messages may carry an ``id`` (number or string); the reply echoes it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Callable, Mapping

from app.core import jsontext
from app.core.events import Event, matches, utc_now

PROTOCOL_VERSION = 1
MAX_FILTERS = 100
MAX_EVENT_ID = 2**53 - 1  # the largest ``since`` a client may send (exact in every JSON reader)
_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")
_SEQUENCE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class CloseCode(IntEnum):
    """Why the server closed a socket (asyncapi.yaml, "Close codes")."""

    NORMAL = 1000            # the client closed, or the server ended the session normally
    GOING_AWAY = 1001        # the server is shutting down: reconnect with ?since=<last event_id>
    POLICY_VIOLATION = 1008  # authentication missing or wrong
    MESSAGE_TOO_BIG = 1009   # a client message was over the size limit
    INTERNAL_ERROR = 1011    # a server bug; reconnect with ?since=
    TRY_AGAIN_LATER = 1013   # this worker holds its maximum of sockets, or cannot reach the store; retry shortly
    SLOW_CONSUMER = 4008     # the client read too slowly; reason says "resume with since=N"


class ProtocolError(Exception):
    """A client message the server cannot act on; answered with an ``error`` message."""

    def __init__(self, code: str, message: str, msg_id: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.msg_id = code, message, msg_id


@dataclass(frozen=True)
class EventFilter:
    """Which events a client wants: empty tuples mean every event type / every sequence."""

    event_types: tuple[str, ...] = ()
    sequence_ids: tuple[str, ...] = ()

    def accepts(self, event: Event) -> bool:
        if self.event_types and not any(matches(p, event.event_type) for p in self.event_types):
            return False
        return not self.sequence_ids or event.sequence_id in self.sequence_ids

    def to_dict(self) -> dict[str, list[str]]:
        return {"event_types": list(self.event_types), "sequence_ids": list(self.sequence_ids)}


# -- client messages ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ClientMessage:
    type: str
    id: Any = None


@dataclass(frozen=True)
class SetFilters(ClientMessage):
    filter: EventFilter = EventFilter()


@dataclass(frozen=True)
class Resume(ClientMessage):
    since: int = 0


@dataclass(frozen=True)
class Auth(ClientMessage):
    token: str = ""


SIMPLE_TYPES = ("ping", "get_stats")


def parse(raw: str | bytes) -> ClientMessage:
    """One client frame -> a message, or ProtocolError naming what is wrong."""
    if isinstance(raw, (bytes, bytearray)):
        raise ProtocolError("unsupported_data", "binary frames are not supported; send JSON text")
    try:
        body = jsontext.loads(raw)
    except jsontext.JSONRefused as exc:
        raise ProtocolError("invalid_json", exc.message) from None
    if not isinstance(body, dict):
        raise ProtocolError("invalid_message", "a message is a JSON object with a 'type'")
    msg_id = body.get("id")
    if msg_id is not None and (isinstance(msg_id, bool) or not isinstance(msg_id, (int, str))
                               or (isinstance(msg_id, str) and len(msg_id) > 64)):
        raise ProtocolError("invalid_message", "id must be a number or a string of at most 64 characters")
    kind = body.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("invalid_message", "type must be a string", msg_id)
    if kind in SIMPLE_TYPES:
        return ClientMessage(kind, msg_id)
    if kind == "set_filters":
        return SetFilters(kind, msg_id, EventFilter(
            _strings(body, "event_types", _PATTERN, "an event type such as 'sequence.created', "
                                                    "a prefix such as 'sequence.*', or '*'", msg_id),
            _strings(body, "sequence_ids", _SEQUENCE_ID, "a sequence id", msg_id)))
    if kind == "resume":
        since = body.get("since")
        if isinstance(since, bool) or not isinstance(since, int) or not 0 <= since <= MAX_EVENT_ID:
            raise ProtocolError("invalid_message", f"since must be an integer event_id from 0 to {MAX_EVENT_ID}",
                                msg_id)
        return Resume(kind, msg_id, since)
    if kind == "auth":
        token = body.get("token")
        if not isinstance(token, str):
            raise ProtocolError("invalid_message", "token must be a string", msg_id)
        return Auth(kind, msg_id, token)
    raise ProtocolError("unknown_type", f"unknown message type {kind[:40]!r}; expected one of "
                                        "set_filters, ping, get_stats, resume, auth", msg_id)


def _strings(body: Mapping[str, Any], name: str, pattern: re.Pattern[str], what: str,
             msg_id: Any) -> tuple[str, ...]:
    value = body.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_FILTERS:
        raise ProtocolError("invalid_message", f"{name} must be an array of at most {MAX_FILTERS} strings", msg_id)
    for item in value:
        if not isinstance(item, str) or not pattern.match(item):
            raise ProtocolError("invalid_message", f"{name}: {str(item)[:70]!r} is not {what}", msg_id)
    return tuple(dict.fromkeys(value))


def parse_since(raw: str | None) -> int | None:
    """``?since=N`` -> N; ValueError for anything but an integer from 0 to MAX_EVENT_ID."""
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 16 or int(raw) > MAX_EVENT_ID:
        raise ValueError(f"since must be an integer event_id from 0 to {MAX_EVENT_ID}")
    return int(raw)


# -- server messages ---------------------------------------------------------------------------
def encode(message: Mapping[str, Any]) -> str:
    return jsontext.dumps(message)


def reply(kind: str, msg_id: Any = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind}
    if msg_id is not None:
        body["id"] = msg_id
    body.update(fields)
    body["timestamp"] = utc_now()
    return body


def hello(client_id: str, last_event_id: int, heartbeat_interval: float) -> dict[str, Any]:
    return reply("connection_established", client_id=client_id, protocol_version=PROTOCOL_VERSION,
                 last_event_id=last_event_id, heartbeat_interval=heartbeat_interval)


def error(code: str, message: str, msg_id: Any = None, **extra: Any) -> dict[str, Any]:
    return reply("error", msg_id, code=code, message=message, **extra)


# What ``store_status`` says: this worker can read the event log again / cannot (its store breaker
# is open, or a replay could not read the log). Clients stay connected either way.
STORE_AVAILABLE, STORE_UNAVAILABLE = "available", "unavailable"


def store_status(status: str, last_event_id: int, retry_after: float | None = None) -> dict[str, Any]:
    """The store-outage notice: ``last_event_id`` is where this client's stream stands, so it knows
    nothing after it is lost; ``retry_after`` (whole seconds, unavailable only) is when the server
    next tries the store."""
    if status == STORE_AVAILABLE:
        return reply("store_status", status=status, last_event_id=last_event_id)
    return reply("store_status", status=status, retry_after=max(1, math.ceil(retry_after or 0)),
                 last_event_id=last_event_id)


def event_message(event: Event, data_out: Callable[[Mapping[str, Any]], Any] = dict) -> dict[str, Any]:
    """The ``event`` message; ``data_out`` turns stored data into its API shape."""
    return {"type": "event", "event_id": event.event_id, "event_type": event.event_type,
            "timestamp": event.timestamp, "sequence_id": event.sequence_id, "request_id": event.request_id,
            "command_id": event.command_id, "data": data_out(event.data)}


def text_frame(payload: str) -> bytes:
    """One unfragmented, unmasked WebSocket text frame (RFC 6455 5.2), as a server sends it.

    Without per-message compression every client gets the same bytes, so an event is framed once
    for all of them instead of once per client.
    """
    data = payload.encode()
    n = len(data)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 1 << 16:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + data


def slow_consumer_reason(resume_since: int) -> str:
    return f"slow consumer; resume with since={resume_since}"
