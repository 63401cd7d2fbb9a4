"""The store: transactions over SQLite or PostgreSQL, guarded by a breaker, never half-done.

Writes run in short serialized transactions (``BEGIN IMMEDIATE`` behind app/store/locks.py on
SQLite, a transaction-scoped advisory lock on PostgreSQL), so a sequence's new state, its
command-history entry and its events commit together or not at all, and event ids follow commit
order. On SQLite, commands queued behind a running transaction share the next one (``transact``,
app/store/group.py), and WAL checkpoints run beside the writers (app/store/checkpoint.py).

Only the start of a transaction is ever retried (nothing has run yet); every infrastructure fault
counts against the breaker, and while it is open calls are refused at once (StoreUnavailable).
"""

from __future__ import annotations

import logging
import random
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from tenacity import (
    Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_random, wait_random_exponential,
)

from app.core import metrics
from app.core.breaker import Breaker, BreakerOpen
from app.core.greenlets import cooperative
from app.store import schema as t
from app.store.checkpoint import Checkpointer
from app.store.engine import BUSY_TIMEOUT_MS, WRITE_OPTION, kind_of, make_engine, sqlite_file
from app.store.errors import StoreUnavailable, describe, is_infrastructure_fault, is_transient
from app.store.event_log import LAST_ID
from app.store.fastpath import Peek
from app.store.group import GroupCommit, Job
from app.store.locks import BUSY, WriterLocks
from app.store.sequences import VERSION
from app.store.unit_of_work import UnitOfWork

T = TypeVar("T")
log = logging.getLogger(__name__)

PG_WRITE_LOCK = 0x544B41  # "TKA": serializes writers so event ids follow commit order
WRITE_QUEUE_TIMEOUT_S = 6.0  # how long a write may queue behind others before it is refused (503)


class Store:
    def __init__(self, url: str, *, breaker: Breaker | None = None) -> None:
        self.url = sa.engine.make_url(url)
        self.kind = kind_of(self.url)
        self.engine = make_engine(self.url)
        self.breaker = breaker or Breaker("store")
        self._retrying = _begin_retries()
        database = sqlite_file(self.url)
        # PostgreSQL takes concurrent writers on separate connections (and groups commits itself).
        self._locks = WriterLocks(database) if self.kind == "sqlite" else None
        self._group = GroupCommit(self._run_batch) if self._locks is not None else None
        self._peek = Peek(database) if database is not None else None
        self._checkpointer = Checkpointer(database, self._checkpoint_locks) if database is not None else None
        self._on_events: list[Callable[[], None]] = []

    def on_events_committed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (in the committing thread) after each transaction that added events:
        once per commit, however many events or grouped commands it held."""
        self._on_events.append(callback)

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()
        if self._locks is not None:
            self._locks.close()

    # -- the read path's shortcuts (SQLite files only; None: take a read transaction) ----------
    def peek_version(self, sequence_id: str) -> tuple[int | None, bool] | None:
        """(version, present) of a sequence, as ``uow.sequences.version`` answers it."""
        row = self._peek.one(VERSION, {"sid": sequence_id}) if self._peek is not None else False
        if row is False:
            return None
        return (None, False) if row is None else (row[0], not row[1])  # type: ignore[index]

    def peek_last_event_id(self) -> int | None:
        """The newest id in the event log, as ``uow.events.last_id`` answers it."""
        row = self._peek.one(LAST_ID, {}) if self._peek is not None else False
        return None if row is False or row is None else int(row[0])  # type: ignore[index]

    # -- transactions -------------------------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator[UnitOfWork]:
        self._admit()
        with self._transaction(write=False) as uow:
            yield uow

    @contextmanager
    def write(self) -> Iterator[UnitOfWork]:
        """One serialized read-write transaction; commits on success, rolls back on error."""
        self._admit()
        with self._writer_locks(time.monotonic() + WRITE_QUEUE_TIMEOUT_S):
            with self._transaction(write=True) as uow:
                yield uow
        self._committed(uow)

    def transact(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run ``work(uow)`` in a serialized write transaction; what it returns, once committed.

        What ``write()`` does, for work that is a function: on SQLite, commands that arrive while
        another transaction runs are run together in the next one, each in a savepoint of its own
        (see ``app.store.group``). A command that raises is rolled back alone and its caller gets
        the error; an infrastructure fault or a failed commit fails the whole batch, and every
        caller in it gets StoreUnavailable. Nobody hears "done" before the commit that holds
        their work.
        """
        self._admit()
        if self._group is None:
            with self.write() as uow:
                return work(uow)
        return self._group.run(work, time.monotonic() + WRITE_QUEUE_TIMEOUT_S)

    def _run_batch(self, jobs: list[Job[Any]]) -> None:
        now = time.monotonic()
        for job in jobs:
            if job.deadline <= now:  # queued too long behind other writers (or a stuck disk)
                job.error = StoreUnavailable(BUSY, retry_after=1)
        live = [job for job in jobs if job.error is None]
        if not live:
            return
        try:
            self._admit()
            with self._writer_locks(min(job.deadline for job in live)):
                with self._transaction(write=True) as uow:
                    if len(live) == 1:  # no savepoint: an error rolls back the transaction
                        live[0].result = live[0].run(uow)
                    else:
                        for job in live:
                            uow.run_in_savepoint(job)
        except Exception as exc:  # refused or rolled back: nothing in this batch was committed
            for job in live:
                if job.error is None:
                    job.error = exc
            return
        metrics.STORE_COMMIT_COMMANDS.observe(len(live))
        self._committed(uow)

    @contextmanager
    def _writer_locks(self, deadline: float) -> Iterator[None]:
        if self._locks is None:
            yield
            return
        with self._locks.held(deadline):
            yield

    def _checkpoint_locks(self) -> Any:
        return self._writer_locks(time.monotonic() + WRITE_QUEUE_TIMEOUT_S)

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[UnitOfWork]:
        failure: BaseException | None = None
        started = time.perf_counter()
        try:
            conn, tx = self._begin(write)
        except DBAPIError as exc:
            self._outcome(exc)
            raise StoreUnavailable(describe(exc)) from exc
        try:
            with conn:
                try:
                    yield UnitOfWork(conn, self.kind)
                    if write:
                        tx.commit()
                except BaseException as exc:
                    failure = exc
                    if tx.is_active:
                        tx.rollback()
                    raise
                finally:
                    if not write and tx.is_active:
                        tx.rollback()
        except DBAPIError as exc:
            failure = exc
            if is_infrastructure_fault(exc):
                raise StoreUnavailable(describe(exc)) from exc
            raise
        finally:
            self._outcome(failure)
            metrics.child(metrics.DB_CALL_DURATION, "write" if write else "read").observe(time.perf_counter() - started)

    def _begin(self, write: bool) -> tuple[Connection, Any]:
        """Only BEGIN is retried: nothing has run yet, so a repeat is always safe. The first attempt
        is made directly (tenacity's per-call bookkeeping costs more than an SQLite BEGIN)."""
        try:
            return self._open(write)
        except OperationalError as exc:
            if not is_transient(exc):
                raise
        return self._retrying.copy()(self._open, write)

    def _open(self, write: bool) -> tuple[Connection, Any]:
        conn = self.engine.connect()
        try:
            conn.info[WRITE_OPTION] = write
            tx = conn.begin()
            if write and self.kind == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_WRITE_LOCK})
            return conn, tx
        except BaseException:
            conn.close()
            raise

    def _admit(self) -> None:
        try:
            self.breaker.admit()
        except BreakerOpen as exc:
            raise StoreUnavailable(str(exc), retry_after=exc.retry_after) from None

    def _outcome(self, exc: BaseException | None) -> None:
        if exc is not None and is_infrastructure_fault(exc):
            self.breaker.failure(exc)
        else:
            self.breaker.success()

    def _committed(self, uow: UnitOfWork) -> None:
        # Called once the write locks are released: a woken thread must not compete for the GIL
        # with a transaction that other writers queue behind.
        if self._checkpointer is not None:
            self._checkpointer.committed()
        if not uow.events.appended:
            return
        for callback in self._on_events:
            try:
                callback()
            except Exception:  # the commit stands; a listener's failure must not turn it into an error
                log.exception("event-commit listener failed")

    # -- schema and health --------------------------------------------------------------------
    def migrate(self, target: int | None = None) -> int:
        """Bring the schema to ``target`` (default: latest). Safe to run from several processes."""
        target = t.LATEST if target is None else target
        with self.write() as uow:
            conn = uow.conn
            if not sa.inspect(conn).has_table("schema_version"):
                t.schema_version.create(conn)
                conn.execute(t.schema_version.insert().values(version=0))
            current = conn.execute(sa.select(t.schema_version.c.version)).scalar_one()
            for version in range(current + 1, target + 1):
                t.MIGRATIONS[version - 1](conn)
                conn.execute(t.schema_version.update().values(version=version))
            return max(current, target)

    def schema_version(self) -> int:
        with self.read() as uow:
            return uow.conn.execute(sa.select(t.schema_version.c.version)).scalar_one()  # type: ignore[no-any-return]

    def ping(self) -> float:
        """Round-trip a trivial query; returns the latency in milliseconds."""
        start = time.perf_counter()
        with self.read() as uow:
            uow.conn.execute(sa.text("SELECT 1"))
        return (time.perf_counter() - start) * 1000


def _begin_retries() -> Retrying:
    """BEGIN's retries after a transient failure (another program holds SQLite's lock: tka's own
    writers queue on the store's locks): bounded and jittered. Under gevent SQLite itself waits
    only a few milliseconds per attempt (app/store/engine.py), so the retries come a few
    milliseconds apart, the worker's other greenlets running meanwhile, for as long as SQLite
    would have waited over two attempts."""
    if cooperative():
        stop, wait, first = stop_after_delay(2 * BUSY_TIMEOUT_MS / 1000), wait_random(0.002, 0.01), (0.002, 0.01)
    else:
        stop, wait, first = stop_after_attempt(2), wait_random_exponential(multiplier=0.05, max=0.3), (0, 0.05)
    return Retrying(retry=retry_if_exception(is_transient), stop=stop, wait=wait, reraise=True,
                    before=lambda state: time.sleep(random.uniform(*first)) if state.attempt_number == 1 else None)
