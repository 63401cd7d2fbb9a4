"""Prometheus metrics, one definition each, correct under several gunicorn workers.

A serving process points PROMETHEUS_MULTIPROC_DIR at a fresh directory (app/process.py) before
its workers fork, so every worker writes its samples there and ``/metrics`` on any worker reports
the sum; a dead worker's live gauges are dropped by ``mark_process_dead`` (the gunicorn
``child_exit`` hook, app/serving.py).
"""

from __future__ import annotations

import os
from typing import Any, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess,
)
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from app.process import METRICS_DIR_ENV

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

HTTP_REQUESTS = Counter("tka_http_requests", "HTTP requests answered", ["method", "route", "status"])
HTTP_DURATION = Histogram("tka_http_request_duration_seconds", "HTTP request duration", ["route"],
                          buckets=LATENCY_BUCKETS)
BREAKER_STATE = Gauge("tka_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open (worst worker)",
                      ["breaker"], multiprocess_mode="max")
BREAKER_TRANSITIONS = Counter("tka_breaker_transitions", "Circuit breaker state changes", ["breaker", "to"])
WEBSOCKET_CONNECTIONS = Gauge("tka_websocket_connections", "Open WebSocket connections",
                              multiprocess_mode="livesum")
EVENTS_PUBLISHED = Counter("tka_events_published", "Domain events committed and published", ["event_type"])
EVENTS_DELIVERED = Counter("tka_events_delivered", "Event messages sent to WebSocket clients")
EVENT_DELIVERY_LAG = Histogram("tka_event_delivery_lag_seconds",
                               "From an event's timestamp (in its transaction) to a worker offering it to its "
                               "sockets", buckets=LATENCY_BUCKETS)
EVENT_LOG_LAG = Gauge("tka_event_log_lag_events",
                      "Events in the durable log that a worker's tailer has not dispatched yet (worst worker; "
                      "measured by the store watchdog after each ping, and by /health)", multiprocess_mode="livemax")
DB_CALL_DURATION = Histogram("tka_db_call_duration_seconds", "Store transaction duration", ["op"],
                             buckets=LATENCY_BUCKETS)
STORE_COMMIT_COMMANDS = Histogram("tka_store_commit_commands",
                                  "Commands per committed write transaction on SQLite (group commit: commands that "
                                  "queue behind one commit share the next)", buckets=(1, 2, 4, 8, 16, 32, 64))
IDEMPOTENT_REPLAYS = Counter("tka_idempotent_replays", "POSTs answered from an Idempotency-Key record")
UNDOS = Counter("tka_undo", "Commands undone")
REDOS = Counter("tka_redo", "Commands redone")

_STATE_VALUE = {"closed": 0, "half-open": 1, "open": 2}
_ALL = (HTTP_REQUESTS, HTTP_DURATION, BREAKER_STATE, BREAKER_TRANSITIONS, WEBSOCKET_CONNECTIONS,
        EVENTS_PUBLISHED, EVENTS_DELIVERED, EVENT_DELIVERY_LAG, EVENT_LOG_LAG, DB_CALL_DURATION, IDEMPOTENT_REPLAYS,
        STORE_COMMIT_COMMANDS, UNDOS, REDOS)


_CHILDREN: dict[tuple[object, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, remembered: prometheus_client checks the labels and takes a lock
    on every call, and the hot paths ask for the same few children again and again (label values
    are routes, methods, statuses, event types: a bounded set)."""
    key = (metric, labels)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = metric.labels(*labels)
    return found


def breaker_changed(name: str, old: str | None, new: str) -> None:
    """A Breaker's ``on_change``: its state gauge from the start, and its transitions."""
    BREAKER_STATE.labels(name).set(_STATE_VALUE.get(new, 2))
    if old is not None:
        BREAKER_TRANSITIONS.labels(name, new).inc()


class _WithEveryFamily(Collector):
    """The workers' merged samples, plus every family (HELP/TYPE) that has none yet, so
    dashboards and alerts see the full set from start-up."""

    def __init__(self, inner: Collector) -> None:
        self.inner = inner

    def collect(self) -> Iterable[Metric]:
        seen = set()
        for family in self.inner.collect():
            seen.add(family.name)
            yield family
        for metric in _ALL:
            for family in metric.describe():
                if family.name not in seen:
                    yield family


def render() -> tuple[bytes, str]:
    """The exposition for ``/metrics``: all workers' samples when running multi-process."""
    if not os.environ.get(METRICS_DIR_ENV):
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    registry.register(_WithEveryFamily(multiprocess.MultiProcessCollector(None)))
    return generate_latest(registry), CONTENT_TYPE_LATEST
