"""The composition root: the one place that builds TKA's runtime from its settings.

Every way of serving goes through ``bootstrap``: ``tka serve`` and ``gunicorn -c
gunicorn.conf.py`` (in each worker, app/serving.py), and the in-process ``TKAAPIIntegration``.
Tests call it with their own settings (a temporary SQLite file, a test PostgreSQL server) and get
the same wiring. Each part is built here with its dependencies passed in; nothing registers
itself anywhere. The result is a DI container a host app can resolve services from.
"""

from __future__ import annotations

from app import health
from app.api.serializers import event_data_out
from app.core import metrics
from app.core.breaker import Breaker
from app.core.commands import CommandProcessor
from app.core.container import Container
from app.core.events import Event, EventBus
from app.events.hub import Hub
from app.events.registry import PeerRegistry
from app.services.sequences import SequenceManagementService
from app.services.views import RecentSequences, SequenceViews
from app.settings import Settings
from app.store import Store
from app.store.monitor import StoreMonitor


def bootstrap(settings: Settings, *, migrate: bool = True) -> Container:
    """Build (not start) everything one process serves with. ``migrate``: bring the schema up to
    date first (a server's master does that once, before its workers build theirs)."""
    store = Store(settings.database(), breaker=Breaker("store", on_change=metrics.breaker_changed))
    if migrate:
        store.migrate()
    bus = EventBus()
    bus.subscribe("*", _count)
    recent = RecentSequences()
    monitor = StoreMonitor(store)
    hub = Hub(store, settings.stream, data_out=event_data_out, registry=PeerRegistry(settings.run_dir))
    monitor.add_listener(hub.tailer.sample_lag)

    container = Container()
    for key, instance in [
        (Settings, settings), (Store, store), (EventBus, bus), (StoreMonitor, monitor), (Hub, hub),
        (SequenceManagementService, SequenceManagementService(store, bus, recent, CommandProcessor())),
        (SequenceViews, SequenceViews(store, recent)),
        (health.Health, health.Health({**health.store_checks(store, monitor), **health.event_checks(hub)},
                                      store.kind)),
    ]:
        container.register_instance(key, instance)
    return container


def start(container: Container) -> None:
    """Start this process's background work: the store watchdog and the event tailer."""
    container.resolve(StoreMonitor).start()
    container.resolve(Hub).start()


def close(container: Container) -> None:
    """Stop what ``start`` started and release the store (a host app shutting its API down)."""
    container.resolve(Hub).shutdown(wait=True)
    container.resolve(StoreMonitor).stop()
    container.resolve(Store).dispose()


def _count(event: Event) -> None:
    metrics.child(metrics.EVENTS_PUBLISHED, event.event_type).inc()
    if event.event_type == "command.undone":
        metrics.UNDOS.inc()
    elif event.event_type == "command.redone":
        metrics.REDOS.inc()
