"""The store: one SQLAlchemy Core code path for SQLite and PostgreSQL.

Writes run in short serialized transactions (``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped
advisory lock on PostgreSQL), so the sequence state, its command-history entry and its events
commit together or not at all, and event ids are assigned in commit order. On SQLite, commands
queued behind a running transaction share the next one (``transact``, app/store/group.py), and
WAL checkpoints run beside the writers (app/store/checkpoint.py), not inside their commits.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import random
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import platformdirs
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError, ProgrammingError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_random, wait_random_exponential

from app.core import jsontext, metrics
from app.core.breaker import Breaker, BreakerOpen
from app.core.commands import CommandState, HistoryEntry, Snapshot
from app.core.events import Event, utc_now
from app.core.greenlets import cooperative, os_thread_local
from app.store import schema as t
from app.store.checkpoint import Checkpointer
from app.store.group import GroupCommit, Job

T = TypeVar("T")
log = logging.getLogger(__name__)

PG_WRITE_LOCK = 0x544B41  # "TKA": serializes writers so event ids follow commit order
BUSY_TIMEOUT_MS = 2000  # how long SQLite waits for another process's write lock, per attempt
# Under gevent a wait inside SQLite would stop every greenlet of the worker: SQLite waits this long
# only, and ``Store._begin`` waits out the rest (2 x BUSY_TIMEOUT_MS in all) between attempts.
COOPERATIVE_BUSY_MS = 10
WRITE_QUEUE_TIMEOUT_S = 6.0  # how long a write may queue behind others before it is refused (503)
STATEMENT_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_S = 2


def _busy_timeout_ms() -> int:
    return COOPERATIVE_BUSY_MS if cooperative() else BUSY_TIMEOUT_MS


class StoreUnavailable(Exception):
    """The database cannot be reached or written (an infrastructure fault, not bad input)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def is_infrastructure_fault(exc: BaseException) -> bool:
    """Connection loss, timeouts, locks, disk errors: yes. Our own SQL or data bugs: no."""
    return isinstance(exc, DBAPIError) and not isinstance(exc, (IntegrityError, ProgrammingError, DataError))


def default_database_url() -> str:
    """SQLite in the per-user data dir, e.g. ~/.local/share/tka/tka.db."""
    path = Path(platformdirs.user_data_dir("tka", appauthor=False)) / "tka.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _is_transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, OperationalError) and ("database is locked" in text or "busy" in text)


class Store:
    def __init__(self, url: str, *, breaker: Breaker | None = None) -> None:
        self.url = sa.engine.make_url(url)
        self.kind = "postgresql" if self.url.get_backend_name().startswith("postgres") else "sqlite"
        self.engine = self._make_engine()
        self.breaker = breaker or Breaker("store")
        self._retrying = self._retry_policy()  # BEGIN's retries (see _begin)
        # SQLite writers queue on locks that wake them at once: a thread lock within the process
        # and a file lock (flock) between processes. Left to SQLite's own busy handler they
        # would poll with sleeps of up to 100 ms, which halves write throughput and stretches p99.
        self._write_lock = threading.Lock() if self.kind == "sqlite" else None
        self._lock_fd: int | None = None
        if self._write_lock is not None and self.url.database and self.url.database != ":memory:":
            self._lock_fd = os.open(f"{self.url.database}.writelock", os.O_RDWR | os.O_CREAT, 0o600)
        self._peek = os_thread_local()  # per-thread DB-API connections for peek_version
        # PostgreSQL takes concurrent writers on separate connections (and groups commits itself).
        self._group = GroupCommit(self._run_batch) if self._write_lock is not None else None
        self._on_events: list[Callable[[], None]] = []
        self._checkpointer = Checkpointer(self.url.database, self._checkpoint_locks) \
            if self._lock_fd is not None else None

    def on_events_committed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (in the committing thread) after each transaction that added events:
        once per commit, however many events or grouped commands it held."""
        self._on_events.append(callback)

    def _peek_one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None | bool:
        """One autocommit SELECT on this thread's own read-only SQLite connection: no pool checkout,
        BEGIN/ROLLBACK, breaker or retry. False when the shortcut does not apply (PostgreSQL,
        in-memory) or the query failed; the caller then takes an ordinary read transaction, which
        reports and counts any fault."""
        if self._lock_fd is None:
            return False
        try:
            conn = getattr(self._peek, "conn", None)
            if conn is None:
                conn = sqlite3.connect(self.url.database, isolation_level=None, check_same_thread=True,
                                       timeout=_busy_timeout_ms() / 1000)
                conn.execute("PRAGMA query_only=1")
                self._peek.conn = conn
            return conn.execute(sql, params).fetchone()
        except sqlite3.Error:
            return False

    def peek_version(self, sequence_id: str) -> tuple[int | None, bool] | None:
        """(version, present) of a sequence, for cache checks on the read path (see ``_peek_one``);
        None when the shortcut does not apply."""
        row = self._peek_one("SELECT version, deleted FROM sequences WHERE id = ?", (sequence_id,))
        if row is False:
            return None
        return (None, False) if row is None else (row[0], not row[1])

    def peek_last_event_id(self) -> int | None:
        """The newest id in the event log (see ``_peek_one``); None when the shortcut does not apply."""
        row = self._peek_one("SELECT coalesce(max(event_id), 0) FROM events")
        return None if row is False or row is None else int(row[0])

    # -- engine -------------------------------------------------------------------------------
    def _make_engine(self) -> Engine:
        if self.kind == "postgresql":
            url = self.url.set(drivername="postgresql+psycopg")
            return sa.create_engine(
                url, pool_pre_ping=True, pool_size=8, max_overflow=8, json_serializer=jsontext.dumps,
                connect_args={"connect_timeout": CONNECT_TIMEOUT_S,
                              "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"},
            )
        if self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            self.url, connect_args={"timeout": _busy_timeout_ms() / 1000, "check_same_thread": False},
            json_serializer=jsontext.dumps,
        )

        @sa_event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (pysqlite's is broken)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={_busy_timeout_ms()}")
            cur.execute("PRAGMA synchronous=NORMAL")
            if self.url.database and self.url.database != ":memory:":
                cur.execute("PRAGMA wal_autocheckpoint=0")  # app/store/checkpoint.py does it instead
            cur.close()

        @sa_event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # On the DB-API connection itself: exec_driver_sql's machinery costs ~10x the BEGIN.
            sql = "BEGIN IMMEDIATE" if conn.info.get("tka_write") else "BEGIN"
            try:
                conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
            except sqlite3.Error as exc:
                raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc

        return engine

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- transactions -------------------------------------------------------------------------
    # Only BEGIN is retried: nothing has run yet, so a repeat is always safe. The first attempt is
    # made directly (tenacity's per-call bookkeeping costs more than an SQLite BEGIN); after a
    # transient failure (another program holds SQLite's lock: tka's own writers queue on the
    # store's locks) tenacity makes the bounded, jittered retries. Under gevent SQLite itself waits
    # only COOPERATIVE_BUSY_MS per attempt, so the retries come a few milliseconds apart, the
    # worker's other greenlets running meanwhile, for as long as SQLite would have waited over two.
    def _begin(self, write: bool) -> tuple[Connection, Any]:
        try:
            return self._open(write)
        except OperationalError as exc:
            if not _is_transient(exc):
                raise
        return self._retrying.copy()(self._open, write)

    @staticmethod
    def _retry_policy() -> Retrying:
        if cooperative():
            stop, wait, first = stop_after_delay(2 * BUSY_TIMEOUT_MS / 1000), wait_random(0.002, 0.01), (0.002, 0.01)
        else:
            stop, wait, first = stop_after_attempt(2), wait_random_exponential(multiplier=0.05, max=0.3), (0, 0.05)
        return Retrying(retry=retry_if_exception(_is_transient), stop=stop, wait=wait, reraise=True,
                        before=lambda state: time.sleep(random.uniform(*first)) if state.attempt_number == 1 else None)

    def _open(self, write: bool) -> tuple[Connection, Any]:
        conn = self.engine.connect()
        try:
            conn.info["tka_write"] = write
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

    @contextmanager
    def write(self) -> Iterator["UnitOfWork"]:
        """One serialized read-write transaction; commits on success, rolls back on error."""
        self._admit()
        with self._writer_locks(time.monotonic() + WRITE_QUEUE_TIMEOUT_S):
            with self._transaction(write=True) as uow:
                yield uow
        self._committed(uow)

    @contextmanager
    def _writer_locks(self, deadline: float) -> Iterator[None]:
        """SQLite's writers queue on locks that wake them at once: a thread lock within the process
        and a file lock between processes (see ``__init__``). StoreUnavailable past ``deadline``."""
        lock = self._write_lock
        if lock is None:
            yield
            return
        if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise StoreUnavailable("the store is busy; retry shortly", retry_after=1)
        try:
            with _file_lock(self._lock_fd, deadline):
                yield
        finally:
            lock.release()

    def transact(self, work: Callable[["UnitOfWork"], T]) -> T:
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
                job.error = StoreUnavailable("the store is busy; retry shortly", retry_after=1)
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
    def read(self) -> Iterator["UnitOfWork"]:
        self._admit()
        with self._transaction(write=False) as uow:
            yield uow

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator["UnitOfWork"]:
        failure: BaseException | None = None
        started = time.perf_counter()
        try:
            conn, tx = self._begin(write)
        except DBAPIError as exc:
            self._outcome(exc)
            raise StoreUnavailable(_describe(exc)) from exc
        try:
            with conn:
                try:
                    yield UnitOfWork(conn, self)
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
                raise StoreUnavailable(_describe(exc)) from exc
            raise
        finally:
            self._outcome(failure)
            metrics.child(metrics.DB_CALL_DURATION, "write" if write else "read").observe(time.perf_counter() - started)

    def _checkpoint_locks(self) -> Any:
        return self._writer_locks(time.monotonic() + WRITE_QUEUE_TIMEOUT_S)

    def _committed(self, uow: "UnitOfWork") -> None:
        # Called once the write locks are released: a woken thread must not compete for the GIL
        # with a transaction that other writers queue behind.
        if self._checkpointer is not None:
            self._checkpointer.committed()
        if not uow.added_events:
            return
        for callback in self._on_events:
            try:
                callback()
            except Exception:  # the commit stands; a listener's failure must not turn it into an error
                log.exception("event-commit listener failed")

    # -- schema -------------------------------------------------------------------------------
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
            return uow.conn.execute(sa.select(t.schema_version.c.version)).scalar_one()

    def ping(self) -> float:
        """Round-trip a trivial query; returns the latency in milliseconds."""
        start = time.perf_counter()
        with self.read() as uow:
            uow.conn.execute(sa.text("SELECT 1"))
        return (time.perf_counter() - start) * 1000


@contextmanager
def _file_lock(fd: int | None, deadline: float) -> Iterator[None]:
    """An exclusive flock on ``fd`` (released by the kernel if the holder dies), waited for
    until ``deadline``; StoreUnavailable if it cannot be had in time. Callers hold the
    process's thread lock, so one descriptor per process is enough."""
    if fd is None:
        yield
        return
    # Another worker holds it for one short transaction (well under a millisecond), so poll
    # finely at first: a lock left idle while its next holder sleeps is write throughput lost.
    polls = 0
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StoreUnavailable("the store is busy; retry shortly", retry_after=1) from None
            polls += 1
            time.sleep(0.00005 if polls < 40 else 0.002)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _describe(exc: DBAPIError) -> str:
    orig = getattr(exc, "orig", None)
    return f"{type(orig).__name__ if orig else type(exc).__name__}: {str(orig or exc).splitlines()[0]}"


# Hot-path statements, built once: constructing a Core statement and its cache key on every call
# costs more than SQLite takes to run it.
_h, _s = t.command_history, t.sequences
_SEQUENCE_BY_ID = sa.select(_s).where(_s.c.id == sa.bindparam("sid"))
_SEQUENCE_VERSION = sa.select(_s.c.version, _s.c.deleted).where(_s.c.id == sa.bindparam("sid"))
_NEXT_CREATED_ORDER = sa.select(sa.func.coalesce(sa.func.max(_s.c.created_order), 0) + 1)
_SEQUENCE_COLUMNS = ["id", "name", "data", "version", "deleted", "created_at", "updated_at"]
# The order numbers are computed by the INSERT itself: one statement instead of a SELECT and an
# INSERT (writers are serialized, so max + 1 is unique).
_INSERT_SEQUENCE = _s.insert().values(created_order=_NEXT_CREATED_ORDER.scalar_subquery())
_UPDATE_SEQUENCE = _s.update().where(_s.c.id == sa.bindparam("sid"))
_UPDATE_SEQUENCE_COLUMNS = ["name", "data", "version", "deleted", "updated_at"]
_NEXT_DONE_ORDER = sa.select(sa.func.coalesce(sa.func.max(_h.c.done_order), 0) + 1)
_NEXT_UNDONE_ORDER = sa.select(sa.func.coalesce(sa.func.max(_h.c.undone_order), 0) + 1)
_INSERT_ENTRY = _h.insert().values(done_order=_NEXT_DONE_ORDER.scalar_subquery())
_ENTRY_STATE = sa.select(_h.c.state).where(_h.c.command_id == sa.bindparam("cid"))
_UPDATE_ENTRY = _h.update().where(_h.c.command_id == sa.bindparam("cid"))


def _latest(columns: Any, state: CommandState, scoped: bool) -> sa.Select:
    """The top of the undo (DONE) or redo (UNDONE) stack, of one sequence or of all."""
    return sa.select(columns).where(_h.c.state == state.value,
                                    *([_h.c.sequence_id == sa.bindparam("sid")] if scoped else [])) \
        .order_by(_h.c.undone_order.desc() if state is CommandState.UNDONE else _h.c.done_order.desc()).limit(1)


_STACKS = [(state, scoped) for state in (CommandState.DONE, CommandState.UNDONE) for scoped in (False, True)]
_LATEST = {key: _latest(_h, *key) for key in _STACKS}
_DISCARD_REDO = _h.update().where(_h.c.sequence_id == sa.bindparam("sid"), _h.c.state == CommandState.UNDONE.value) \
    .values(state=CommandState.DISCARDED.value, undone_order=None, done_order=None)
_INSERT_EVENTS = t.events.insert().returning(t.events.c.event_id, sort_by_parameter_order=True)
EVENTS_CHANNEL = "tka_events"
_NOTIFY_EVENTS = sa.text(f"SELECT pg_notify('{EVENTS_CHANNEL}', :payload)")
_GET_SETTING = sa.select(t.settings.c.value).where(t.settings.c.key == sa.bindparam("k"))
_UPDATE_SETTING = t.settings.update().where(t.settings.c.key == sa.bindparam("k"))
_ENTRY_COLUMNS = ["command_id", "kind", "description", "sequence_id", "state", "before", "after", "version_before",
                  "version_after", "version_undone", "created_at"]
_EVENT_COLUMNS = ["event_type", "sequence_id", "command_id", "request_id", "uuid", "timestamp", "data"]


class _Hot:
    """A hot-path statement, compiled once for SQLite and run there on the DB-API connection of
    the unit of work's transaction: SQLAlchemy's per-execute machinery costs several times what
    SQLite takes to run such a statement. Parameters go through SQLAlchemy's own bind processors
    (JSON, Boolean), so rows are stored exactly as the Core path writes and reads them. Other
    databases run ``stmt`` through SQLAlchemy as usual."""

    def __init__(self, stmt: Any, keys: list[str] | None = None) -> None:
        self.stmt = stmt
        compiled = stmt.compile(dialect=_SQLITE, column_keys=keys)
        self.sql: str = compiled.string
        processors = compiled._bind_processors
        names = compiled.positiontup or []
        self._binds = [(name, processors.get(name)) for name in names]
        self._fixed = {name: compiled.binds[name].value for name in names
                       if not compiled.binds[name].required and compiled.binds[name].value is not None}

    def parameters(self, params: dict[str, Any]) -> list[Any]:
        get = ({**self._fixed, **params} if self._fixed else params).get
        return [get(name) if proc is None else proc(get(name)) for name, proc in self._binds]


_SQLITE = sqlite_dialect.dialect(json_serializer=jsontext.dumps)  # as the engine's
_HOT = {name: _Hot(stmt, keys) for name, stmt, keys in [
    ("insert_sequence", _INSERT_SEQUENCE, _SEQUENCE_COLUMNS),
    ("update_sequence", _UPDATE_SEQUENCE, _UPDATE_SEQUENCE_COLUMNS),
    ("sequence_version", _SEQUENCE_VERSION, None),
    ("insert_entry", _INSERT_ENTRY, _ENTRY_COLUMNS),
    ("discard_redo", _DISCARD_REDO, None),
    ("insert_event", t.events.insert(), _EVENT_COLUMNS),
    ("get_setting", _GET_SETTING, None),
    ("update_setting", _UPDATE_SETTING, ["value"]),
    *((("describe", *key), _latest(_h.c.description, *key), None) for key in _STACKS),
]}


class UnitOfWork:
    """Queries and writes inside one transaction. Implements ``app.core.commands.History``."""

    def __init__(self, conn: Connection, store: Store) -> None:
        self.conn = conn
        self.store = store
        self._db: sqlite3.Connection | None = \
            conn.connection.driver_connection if store.kind == "sqlite" else None  # type: ignore[assignment]
        self._done_top: str | None = None
        self.added_events = False

    # -- hot statements (see _Hot) ------------------------------------------------------------
    def _run(self, name: Any, params: dict[str, Any]) -> sqlite3.Cursor:
        hot = _HOT[name]
        assert self._db is not None
        try:
            return self._db.execute(hot.sql, hot.parameters(params))
        except sqlite3.Error as exc:  # classified like SQLAlchemy's own (is_infrastructure_fault)
            raise DBAPIError.instance(hot.sql, params, exc, sqlite3.Error) from exc

    def _scalar(self, name: Any, params: dict[str, Any] | None = None) -> Any:
        if self._db is None:
            return self.conn.execute(_HOT[name].stmt, params or {}).scalar()
        row = self._run(name, params or {}).fetchone()
        return None if row is None else row[0]

    def _write(self, name: Any, params: dict[str, Any]) -> int:
        """Run an INSERT/UPDATE; the number of rows it touched."""
        if self._db is None:
            return self.conn.execute(_HOT[name].stmt, params).rowcount
        return self._run(name, params).rowcount

    def run_in_savepoint(self, job: Job[Any]) -> None:
        """Run one job of a group commit; if it raises, undo just its writes and keep its error.
        An infrastructure fault is raised instead: the transaction itself is then in doubt."""
        self._raw("SAVEPOINT tka_job")
        try:
            job.result = job.run(self)
        except Exception as exc:
            if is_infrastructure_fault(exc):
                raise
            self._raw("ROLLBACK TO tka_job")
            self._raw("RELEASE tka_job")
            job.error = exc
            return
        self._raw("RELEASE tka_job")

    def _raw(self, sql: str) -> None:
        assert self._db is not None
        try:
            self._db.execute(sql)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc

    # -- sequences ----------------------------------------------------------------------------
    def load_sequence_row(self, sequence_id: str) -> sa.Row | None:
        return self.conn.execute(_SEQUENCE_BY_ID, {"sid": sequence_id}).first()

    def insert_sequence(self, sequence_id: str, name: str, data: dict[str, Any], version: int,
                        created_at: str) -> None:
        self._write("insert_sequence", {
            "id": sequence_id, "name": name, "data": data, "version": version, "deleted": False,
            "created_at": created_at, "updated_at": created_at})

    def update_sequence(self, sequence_id: str, *, name: str, data: dict[str, Any], version: int,
                        deleted: bool, updated_at: str) -> None:
        self._write("update_sequence", {"sid": sequence_id, "name": name, "data": data, "version": version,
                                        "deleted": deleted, "updated_at": updated_at})

    def list_sequences(self, offset: int, limit: int) -> tuple[list[sa.Row], int]:
        live = t.sequences.c.deleted == sa.false()
        total = self.conn.execute(sa.select(sa.func.count()).select_from(t.sequences).where(live)).scalar_one()
        rows = self.conn.execute(
            sa.select(t.sequences).where(live).order_by(t.sequences.c.created_order)
            .offset(offset).limit(limit)).all()
        return list(rows), total

    # -- History protocol ---------------------------------------------------------------------
    def add_entry(self, entry: HistoryEntry) -> None:
        values = _entry_values(entry)
        self._write("insert_entry", values)
        self._done_top = values["description"]  # the newest DONE entry: the top of the global undo stack

    def update_entry(self, entry: HistoryEntry) -> None:
        values = _entry_values(entry)
        self._done_top = None
        was = self.conn.execute(_ENTRY_STATE, {"cid": entry.command_id}).scalar_one()
        if entry.state is CommandState.UNDONE and was != CommandState.UNDONE.value:
            # Redo order is undo order reversed: the most recently undone is redone first.
            values.update(undone_order=self.conn.execute(_NEXT_UNDONE_ORDER).scalar_one(), done_order=None)
        elif entry.state is CommandState.DONE and was != CommandState.DONE.value:
            # A redone command is the most recent thing done: a global undo takes it back first.
            values.update(done_order=self.conn.execute(_NEXT_DONE_ORDER).scalar_one(), undone_order=None)
        self.conn.execute(_UPDATE_ENTRY, {**values, "cid": entry.command_id})

    def latest(self, state: CommandState, sequence_id: str | None) -> HistoryEntry | None:
        query = _LATEST[(state, sequence_id is not None)]
        row = self.conn.execute(query, {"sid": sequence_id} if sequence_id is not None else {}).first()
        return _entry_from_row(row) if row else None

    def describe_latest(self, state: CommandState, sequence_id: str | None) -> str | None:
        if state is CommandState.DONE and sequence_id is None and self._done_top is not None:
            return self._done_top  # added in this transaction: no need to ask the database
        return self._scalar(("describe", state, sequence_id is not None),
                            {"sid": sequence_id} if sequence_id is not None else None)

    def discard_redo(self, sequence_id: str) -> None:
        self._write("discard_redo", {"sid": sequence_id})

    def sequence_version(self, sequence_id: str) -> tuple[int | None, bool]:
        if self._db is None:
            row = self.conn.execute(_SEQUENCE_VERSION, {"sid": sequence_id}).first()
        else:
            row = self._run("sequence_version", {"sid": sequence_id}).fetchone()
        return (None, False) if row is None else (row[0], not row[1])

    def write_snapshot(self, sequence_id: str, snapshot: Snapshot, version: int) -> None:
        now = utc_now()
        row = self.load_sequence_row(sequence_id)
        if snapshot is None:
            if row is not None:
                self.update_sequence(sequence_id, name=row.name, data=row.data, version=version,
                                     deleted=True, updated_at=now)
            return
        data = dict(snapshot)
        if row is None:
            self.insert_sequence(sequence_id, data["name"], data, version, data.get("created_at") or now)
        else:
            self.update_sequence(sequence_id, name=data["name"], data=data, version=version,
                                 deleted=False, updated_at=now)

    def history(self, limit: int, sequence_id: str | None = None) -> list[HistoryEntry]:
        h = t.command_history
        query = sa.select(h).where(h.c.state != CommandState.DISCARDED.value)
        if sequence_id is not None:
            query = query.where(h.c.sequence_id == sequence_id)
        rows = self.conn.execute(query.order_by(h.c.seq.desc()).limit(limit)).all()
        return [_entry_from_row(r) for r in rows]

    # -- events -------------------------------------------------------------------------------
    def append_events(self, events: list[Event]) -> list[Event]:
        if not events:
            return []
        self.added_events = True
        rows = [{"event_type": ev.event_type, "sequence_id": ev.sequence_id, "command_id": ev.command_id,
                 "request_id": ev.request_id, "uuid": ev.uuid, "timestamp": ev.timestamp, "data": dict(ev.data)}
                for ev in events]
        if self._db is not None:
            ids = self._insert_events(rows)
        else:
            ids = self.conn.execute(_INSERT_EVENTS, rows).scalars().all()
        if self.store.kind == "postgresql":
            # Delivered to every LISTENing process when (and only if) this transaction commits.
            self.conn.execute(_NOTIFY_EVENTS, {"payload": str(ids[-1])})
        return [ev.stored_as(event_id) for ev, event_id in zip(events, ids)]

    def _insert_events(self, rows: list[dict[str, Any]]) -> list[int]:
        """One multi-row INSERT. ``event_id`` is SQLite's rowid, and with writers serialized each
        new row takes the largest id + 1, so the rows' ids are consecutive, ending at lastrowid."""
        assert self._db is not None
        hot = _HOT["insert_event"]
        sql = _multi_row_insert(hot.sql, len(rows))
        params = [value for row in rows for value in hot.parameters(row)]
        try:
            last = self._db.execute(sql, params).lastrowid
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc
        assert last is not None
        return list(range(last - len(rows) + 1, last + 1))

    def events_since(self, after_id: int, limit: int = 1000) -> list[Event]:
        rows = self.conn.execute(sa.select(t.events).where(t.events.c.event_id > after_id)
                                 .order_by(t.events.c.event_id).limit(limit)).all()
        return [Event(event_type=r.event_type, data=r.data, sequence_id=r.sequence_id,
                      command_id=r.command_id, request_id=r.request_id, event_id=r.event_id,
                      uuid=r.uuid, timestamp=r.timestamp) for r in rows]

    def last_event_id(self) -> int:
        return self.conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.events.c.event_id), 0))).scalar_one()

    # -- settings -----------------------------------------------------------------------------
    def get_setting(self, key: str) -> str | None:
        return self._scalar("get_setting", {"k": key})

    def set_setting(self, key: str, value: str | None) -> None:
        if self._write("update_setting", {"k": key, "value": value}) == 0:
            self.conn.execute(t.settings.insert().values(key=key, value=value))

    # -- idempotency records ------------------------------------------------------------------
    def get_idempotency(self, key: str) -> sa.Row | None:
        return self.conn.execute(sa.select(t.idempotency).where(t.idempotency.c.key == key)).first()

    def claim_idempotency(self, key: str, fingerprint: str, ttl: float, claim: str) -> None:
        now = time.time()
        self.conn.execute(t.idempotency.delete().where(t.idempotency.c.key == key))
        self.conn.execute(t.idempotency.insert().values(
            key=key, fingerprint=fingerprint, state="in_flight", claim=claim, created_at=now, expires_at=now + ttl))

    def complete_idempotency(self, key: str, claim: str, status_code: int, headers: dict[str, str],
                             body: str) -> bool:
        """Store the answer if this request still holds the claim; False when a retry took it over
        (the caller must then roll back, so the command is not done twice)."""
        i = t.idempotency
        done = self.conn.execute(i.update().where(i.c.key == key, i.c.claim == claim, i.c.state == "in_flight")
                                 .values(state="complete", status_code=status_code, headers=headers, body=body))
        return done.rowcount == 1

    def release_idempotency(self, key: str, claim: str) -> None:
        i = t.idempotency
        self.conn.execute(i.delete().where(i.c.key == key, i.c.claim == claim, i.c.state == "in_flight"))

    def purge_idempotency(self) -> int:
        return self.conn.execute(t.idempotency.delete().where(t.idempotency.c.expires_at < time.time())).rowcount


@functools.lru_cache(maxsize=16)
def _multi_row_insert(single: str, rows: int) -> str:
    """``INSERT ... VALUES (?, ...)`` for one row, made to insert ``rows`` rows."""
    head, _, values = single.rpartition(" VALUES ")
    return f"{head} VALUES {', '.join([values] * rows)}"


def _entry_values(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "command_id": entry.command_id, "kind": entry.kind, "description": entry.description[:300],
        "sequence_id": entry.sequence_id, "state": entry.state.value, "before": entry.before,
        "after": entry.after, "version_before": entry.version_before,
        "version_after": entry.version_after, "version_undone": entry.version_undone,
        "created_at": entry.created_at,
    }


def _entry_from_row(row: sa.Row) -> HistoryEntry:
    return HistoryEntry(
        command_id=row.command_id, kind=row.kind, description=row.description,
        sequence_id=row.sequence_id, before=row.before, after=row.after,
        version_before=row.version_before, version_after=row.version_after,
        created_at=row.created_at, state=CommandState(row.state), version_undone=row.version_undone,
    )


def database_url_from_env() -> str:
    return os.environ.get("TKA_DATABASE_URL") or default_database_url()
