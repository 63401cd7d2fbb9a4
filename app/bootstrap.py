"""The composition root: the one place that wires TKA's real dependencies together.

Tests call ``bootstrap`` with their own database URL (a temporary SQLite file or a test
PostgreSQL server) and get the same wiring the server uses.
"""

from __future__ import annotations

from app.core.commands import CommandProcessor
from app.core.container import Container
from app.core.events import EventBus
from app.services.sequences import SequenceManagementService
from app.store import Store


def bootstrap(database_url: str, *, migrate: bool = True) -> Container:
    container = Container()
    store = Store(database_url)
    if migrate:
        store.migrate()
    container.register_instance(Store, store)
    container.register_instance(EventBus, EventBus())
    container.register_instance(CommandProcessor, CommandProcessor())
    container.register_singleton(SequenceManagementService, lambda c: SequenceManagementService(
        c.resolve(Store), c.resolve(EventBus), c.resolve(CommandProcessor)))
    return container
