"""Noticing that the durable event log grew, by any process.

The tailer only needs "look again now". This worker's own commits say so at once (``poke``, from
its EventBus); other workers' commits are noticed by a cheap poll. PostgreSQL LISTEN/NOTIFY can
replace the poll later behind the same two methods.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Protocol

import sqlalchemy as sa

from app.store import Store


class LogWatcher(Protocol):
    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` s; True when the log may have grown since the last call."""

    def poke(self) -> None:
        """This process committed events: end the current ``wait`` now."""

    def close(self) -> None: ...


class _Pokeable:
    def __init__(self) -> None:
        self._poked = threading.Event()

    def poke(self) -> None:
        self._poked.set()

    def _sleep(self, timeout: float) -> bool:
        poked = self._poked.wait(timeout)
        self._poked.clear()
        return poked


class SqliteWatcher(_Pokeable):
    """``PRAGMA data_version`` on a private connection: it changes whenever another connection
    (in any process) commits, and costs microseconds to read."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        database = store.url.database
        if not database or database == ":memory:":
            raise ValueError("the event stream needs a file database shared by the workers")
        self._conn = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        self._version = self._read()

    def _read(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def wait(self, timeout: float) -> bool:
        poked = self._sleep(timeout)
        version = self._read()
        changed = poked or version != self._version
        self._version = version
        return changed

    def close(self) -> None:
        self._conn.close()


class PollingWatcher(_Pokeable):
    """Any database: compare ``max(event_id)`` between polls."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self._store = store
        self._last = -1

    def wait(self, timeout: float) -> bool:
        poked = self._sleep(timeout)
        with self._store.engine.connect() as conn:
            last = conn.execute(sa.text("SELECT coalesce(max(event_id), 0) FROM events")).scalar_one()
        changed = poked or last != self._last
        self._last = last
        return changed

    def close(self) -> None:
        pass


def watcher_for(store: Store) -> LogWatcher:
    return SqliteWatcher(store) if store.kind == "sqlite" else PollingWatcher(store)
