"""Typed domain events and the in-process bus that fans them out.

Events are frozen dataclasses. A service builds them inside a transaction, the store appends them
to the durable event log (which assigns ``event_id``, a monotonic integer) and only after the
commit are they published here, so a subscriber never hears of a change that did not happen.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from app.core.ids import random_uuid

log = logging.getLogger(__name__)

Handler = Callable[["Event"], None]


_second: tuple[int, str] = (0, "")  # the last second formatted, and its text: a few calls per request


def utc_now() -> str:
    """An ISO-8601 UTC timestamp with millisecond precision, the one format we emit."""
    return utc_text(time.time())


def utc_text(now: float) -> str:
    """``now`` (seconds since the epoch) as ``isoformat(timespec="milliseconds")`` writes it in UTC,
    ``2026-11-26T12:00:00.123Z``, in a third of the time: the second's text is kept."""
    global _second
    whole = int(now)
    micros = round((now - whole) * 1e6)  # as datetime rounds a timestamp: to the microsecond, half-even
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    second, text = _second
    if whole != second:
        text = datetime.fromtimestamp(whole, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        _second = (whole, text)
    return f"{text}.{micros // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Event:
    """A domain event such as ``sequence.beat_added``.

    ``event_id`` is None until the event log has stored it; ``uuid`` identifies it before that.
    """

    event_type: str
    data: Mapping[str, Any] = field(default_factory=dict)
    sequence_id: str | None = None
    command_id: str | None = None
    request_id: str | None = None
    event_id: int | None = None
    uuid: str = field(default_factory=random_uuid)
    timestamp: str = field(default_factory=utc_now)

    def stored_as(self, event_id: int) -> "Event":
        # The constructor, not dataclasses.replace: it is called for every event of every write.
        return Event(self.event_type, self.data, self.sequence_id, self.command_id, self.request_id, event_id,
                     self.uuid, self.timestamp)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "timestamp": self.timestamp,
            "sequence_id": self.sequence_id,
            "request_id": self.request_id,
            "command_id": self.command_id,
            "uuid": self.uuid,
            "data": dict(self.data),
        }


def matches(pattern: str, event_type: str) -> bool:
    """``*`` matches everything, ``sequence.*`` a prefix, anything else exactly."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


class EventBus:
    """Synchronous publish/subscribe by event type or wildcard.

    A handler that raises is logged and skipped; it never stops the other handlers or the
    publisher. Thread-safe: subscriptions may change while another thread publishes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: dict[int, tuple[str, Handler]] = {}
        self._ids = itertools.count(1)
        self.handler_failures = 0

    def subscribe(self, pattern: str, handler: Handler) -> int:
        with self._lock:
            token = next(self._ids)
            self._handlers[token] = (pattern, handler)
            return token

    def unsubscribe(self, token: int) -> bool:
        with self._lock:
            return self._handlers.pop(token, None) is not None

    def publish(self, event: Event) -> None:
        with self._lock:
            targets = [h for p, h in self._handlers.values() if matches(p, event.event_type)]
        for handler in targets:
            try:
                handler(event)
            except Exception:  # a subscriber's bug must not break the publisher
                self.handler_failures += 1
                log.exception("event handler %r failed on %s", handler, event.event_type)

    def publish_all(self, events: list[Event]) -> None:
        for event in events:
            self.publish(event)
