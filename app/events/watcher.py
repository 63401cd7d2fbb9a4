"""Noticing that the durable event log grew, by any process.

The tailer only needs "look again now". This worker's own commits say so at once (``poke``, once
per transaction that added events: ``Store.on_events_committed``); other workers' commits are
noticed by LISTEN/NOTIFY on PostgreSQL, and on SQLite by the committing worker ringing the
others' doorbells, with a cheap poll as the safety net (a commit by another server on the same
file, a missed ring).
"""

from __future__ import annotations

import os
import select
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

import psycopg
import sqlalchemy as sa

from app.core.breaker import Breaker, BreakerOpen
from app.store import Store
from app.store.event_log import EVENTS_CHANNEL


class LogWatcher(Protocol):
    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` s; True when the log may have grown since the last call."""

    def poke(self) -> None:
        """This process committed events: end the current ``wait`` now."""

    def close(self) -> None: ...


class Doorbell:
    """Wakes the other workers of this server the moment this one commits events.

    Each worker binds a Unix datagram socket ``<run dir>/<pid>.bell``; ringing sends one byte to
    every other worker's bell, never blocking (a full or vanished bell is skipped: the poll still
    finds the commit). For SQLite this is what LISTEN/NOTIFY is for PostgreSQL.
    """

    def __init__(self, run_dir: str, name: str | None = None) -> None:
        self.dir = Path(run_dir)
        self.path = self.dir / f"{name or os.getpid()}.bell"
        self.path.unlink(missing_ok=True)
        self._in = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._in.bind(str(self.path))
        self._in.setblocking(False)
        self._out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._out.setblocking(False)
        self._peers: list[str] = []
        self._peers_at = 0.0

    @classmethod
    def open(cls, run_dir: str | None) -> "Doorbell | None":
        if not run_dir or not os.path.isdir(run_dir):
            return None
        try:
            return cls(run_dir)
        except OSError:  # a path too long for AF_UNIX, say: poll only
            return None

    def ring(self) -> None:
        """Wake this worker's tailer and every other worker's."""
        now = time.monotonic()
        if now - self._peers_at > 0.5:  # workers come and go; the poll covers the gap
            self._peers = [str(p) for p in self.dir.glob("*.bell")]
            self._peers_at = now
        for target in self._peers or [str(self.path)]:
            try:
                self._out.sendto(b"!", target)
            except OSError:
                pass

    def wait(self, timeout: float) -> bool:
        ready, _, _ = select.select([self._in], [], [], timeout)
        if not ready:
            return False
        try:
            while self._in.recv(64):
                pass
        except OSError:
            pass
        return True

    def close(self) -> None:
        self._in.close()
        self._out.close()
        self.path.unlink(missing_ok=True)


class _Pokeable:
    def __init__(self, run_dir: str | None = None) -> None:
        self._poked = threading.Event()
        self._bell = Doorbell.open(run_dir)

    def poke(self) -> None:
        self._poked.set()
        if self._bell is not None:
            self._bell.ring()

    def _sleep(self, timeout: float) -> bool:
        if self._bell is None:
            poked = self._poked.wait(timeout)
        else:
            poked = self._bell.wait(timeout) or self._poked.is_set()
        self._poked.clear()
        return poked

    def close(self) -> None:
        if self._bell is not None:
            self._bell.close()


class SqliteWatcher(_Pokeable):
    """``PRAGMA data_version`` on a private connection: it changes whenever another connection
    (in any process) commits, and costs microseconds to read."""

    def __init__(self, store: Store, run_dir: str | None = None) -> None:
        super().__init__(run_dir)
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
        super().close()
        self._conn.close()


class PollingWatcher(_Pokeable):
    """Any database: compare ``max(event_id)`` between polls."""

    def __init__(self, store: Store, run_dir: str | None = None) -> None:
        super().__init__(run_dir)
        self._store = store
        self._last = -1

    def wait(self, timeout: float) -> bool:
        poked = self._sleep(timeout)
        with self._store.engine.connect() as conn:
            last = conn.execute(sa.text("SELECT coalesce(max(event_id), 0) FROM events")).scalar_one()
        changed = poked or last != self._last
        self._last = last
        return changed


class PostgresWatcher(_Pokeable):
    """``LISTEN tka_events`` on a private connection: every transaction that appends events
    NOTIFYs on commit (UnitOfWork.append_events), in whichever process or host it ran. While the
    connection is down (a database outage) it reports "look again" every wait, so the tailer
    degrades to polling the log (its reads guarded by the store breaker) and nothing is missed.

    Reconnecting goes through ``breaker`` (the event-notification breaker): a refused or dropped
    LISTEN connection counts as a failure, and once it is open no connection is attempted until
    its half-open probe; below that, attempts are at least ``RECONNECT_INTERVAL`` s apart."""

    RECONNECT_INTERVAL = 0.5

    def __init__(self, store: Store, breaker: Breaker | None = None) -> None:
        super().__init__()
        self._conninfo = store.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.breaker = breaker or Breaker("events")
        self._conn: psycopg.Connection | None = None
        self._reconnect_at = 0.0
        self._connect()

    @property
    def listening(self) -> bool:
        return self._conn is not None

    def _connect(self) -> None:
        self._reconnect_at = time.monotonic() + self.RECONNECT_INTERVAL
        try:
            self.breaker.admit()
        except BreakerOpen:
            return  # keep polling the log until the probe is due
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=2)
            conn.execute(f"LISTEN {EVENTS_CHANNEL}")
        except psycopg.Error as exc:
            self._conn = None
            self.breaker.failure(exc)
            return
        self._conn = conn
        self.breaker.success()

    def wait(self, timeout: float) -> bool:
        if self._conn is None:
            self._sleep(timeout)
            if time.monotonic() >= self._reconnect_at:
                self._connect()
            return True  # we may have missed notifications: read the log
        try:
            notified = any(True for _ in self._conn.notifies(timeout=timeout, stop_after=1))
        except psycopg.Error as exc:
            self.breaker.failure(exc)
            self.close()
            return True
        poked = self._poked.is_set()
        self._poked.clear()
        return notified or poked

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def watcher_for(store: Store, run_dir: str | None = None, breaker: Breaker | None = None) -> LogWatcher:
    """With a run dir, SQLite workers also ring each other's doorbells (app/serving.py).
    ``breaker`` guards PostgreSQL's LISTEN connection (SQLite's doorbells are local sockets)."""
    if store.kind == "sqlite":
        return SqliteWatcher(store, run_dir)
    return PostgresWatcher(store, breaker) if store.kind == "postgresql" else PollingWatcher(store)
