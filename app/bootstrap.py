"""The composition root: the one place that wires TKA's real dependencies together.

Tests call ``bootstrap`` with their own database URL (a temporary SQLite file or a test
PostgreSQL server) and get the same wiring the server uses.
"""

from __future__ import annotations

from app.core import metrics
from app.core.breaker import Breaker
from app.core.commands import CommandProcessor
from app.core.container import Container
from app.core.events import Event, EventBus
from app.services.sequences import SequenceManagementService
from app.store import Store
from app.store.monitor import StoreMonitor


def _count(event: Event) -> None:
    metrics.child(metrics.EVENTS_PUBLISHED, event.event_type).inc()
    if event.event_type == "command.undone":
        metrics.UNDOS.inc()
    elif event.event_type == "command.redone":
        metrics.REDOS.inc()


def bootstrap(database_url: str, *, migrate: bool = True) -> Container:
    container = Container()
    store = Store(database_url, breaker=Breaker("store", on_change=metrics.breaker_changed))
    metrics.BREAKER_STATE.labels("store").set(0)
    if migrate:
        store.migrate()
    bus = EventBus()
    bus.subscribe("*", _count)
    container.register_instance(Store, store)
    container.register_instance(StoreMonitor, StoreMonitor(store))
    container.register_instance(EventBus, bus)
    container.register_instance(CommandProcessor, CommandProcessor())
    container.register_singleton(SequenceManagementService, lambda c: SequenceManagementService(
        c.resolve(Store), c.resolve(EventBus), c.resolve(CommandProcessor)))
    return container
