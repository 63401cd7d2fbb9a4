"""The SQLite fast path: the few statements every command runs, without SQLAlchemy's per-call work.

Every command runs the same handful of statements (insert or update a sequence, add a history
entry, append its events, ...). Through ``Connection.execute`` each costs several times what
SQLite takes to run it, so on SQLite a ``HotStatement`` is compiled once and run on the DB-API
connection of the unit of work's transaction. Its parameters go through the bind processors the
column types give SQLAlchemy's dialect (public ``TypeEngine.bind_processor``), so a row is stored
exactly as the Core path would store it; tests/store/test_fastpath.py checks that it reads back
identically. On PostgreSQL the same Core statement runs through SQLAlchemy as usual.

``Peek`` answers the read path's two hottest questions (a sequence's version, the newest event
id) on a per-thread read-only connection, with no pool checkout, BEGIN or ROLLBACK at all.

This module is the only place in the store that talks to ``sqlite3`` directly.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any, Callable

from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from app.core import jsontext
from app.core.greenlets import os_thread_local
from app.store.engine import busy_timeout_ms

_SQLITE = sqlite_dialect.dialect(json_serializer=jsontext.dumps)  # as the engine's
HOT_STATEMENTS: list["HotStatement"] = []  # every one made, for tests/store/test_fastpath.py


class HotStatement:
    """A Core statement, compiled once for SQLite (``sql``, ``parameters``)."""

    def __init__(self, stmt: Any, keys: list[str] | None = None) -> None:
        """``keys``: the columns an INSERT or UPDATE takes as parameters (its ``values`` keys)."""
        self.stmt = stmt
        compiled = stmt.compile(dialect=_SQLITE, column_keys=keys)
        self.sql: str = compiled.string
        self._binds: list[tuple[str, Callable[[Any], Any] | None]] = []
        self._fixed: dict[str, Any] = {}  # values written into the statement itself (``.values(state=...)``)
        for name in compiled.positiontup or []:
            bind = compiled.binds[name]
            self._binds.append((name, bind.type.dialect_impl(_SQLITE).bind_processor(_SQLITE)))
            if not bind.required and bind.value is not None:
                self._fixed[name] = bind.value
        HOT_STATEMENTS.append(self)

    def parameters(self, params: dict[str, Any]) -> list[Any]:
        get = ({**self._fixed, **params} if self._fixed else params).get
        return [get(name) if convert is None else convert(get(name)) for name, convert in self._binds]


class Runner:
    """Runs hot statements inside one transaction: on the DB-API connection for SQLite, through
    SQLAlchemy otherwise. Errors are SQLAlchemy's, so callers classify them one way."""

    def __init__(self, conn: Connection, sqlite: bool) -> None:
        self.conn = conn
        driver = conn.connection.driver_connection if sqlite else None
        self.db: sqlite3.Connection | None = driver  # type: ignore[assignment]

    def execute(self, hot: HotStatement, params: dict[str, Any]) -> Any:
        """The statement's cursor (SQLite) or result (others)."""
        if self.db is None:
            return self.conn.execute(hot.stmt, params)
        return self._run(hot.sql, hot.parameters(params))

    def first(self, hot: HotStatement, params: dict[str, Any]) -> tuple[Any, ...] | None:
        return self.execute(hot, params).fetchone()

    def scalar(self, hot: HotStatement, params: dict[str, Any]) -> Any:
        row = self.first(hot, params)
        return None if row is None else row[0]

    def rowcount(self, hot: HotStatement, params: dict[str, Any]) -> int:
        """Run an INSERT/UPDATE; the number of rows it touched."""
        return self.execute(hot, params).rowcount  # type: ignore[no-any-return]

    def insert_rows(self, hot: HotStatement, rows: list[dict[str, Any]]) -> list[int]:
        """Insert ``rows`` with one multi-row INSERT (SQLite only); their rowids. Writers are
        serialized, so each new row takes the largest rowid + 1: the ids are consecutive, ending
        at ``lastrowid``."""
        sql = _multi_row(hot.sql, len(rows))
        last = self._run(sql, [value for row in rows for value in hot.parameters(row)]).lastrowid
        assert last is not None
        return list(range(last - len(rows) + 1, last + 1))

    def raw(self, sql: str) -> None:
        """A statement with no parameters, such as SAVEPOINT (SQLite only)."""
        self._run(sql, [])

    def _run(self, sql: str, params: list[Any]) -> sqlite3.Cursor:
        assert self.db is not None
        try:
            return self.db.execute(sql, params)
        except sqlite3.Error as exc:  # the same exception SQLAlchemy's own path would raise
            raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc


@functools.lru_cache(maxsize=16)
def _multi_row(single: str, rows: int) -> str:
    """``INSERT ... VALUES (?, ...)`` for one row, made to insert ``rows`` rows."""
    head, _, values = single.rpartition(" VALUES ")
    return f"{head} VALUES {', '.join([values] * rows)}"


class Peek:
    """One autocommit SELECT on this OS thread's own read-only connection to an SQLite file."""

    def __init__(self, database: str) -> None:
        self.database = database
        self._local = os_thread_local()

    def one(self, hot: HotStatement, params: dict[str, Any]) -> tuple[Any, ...] | None | bool:
        """The first row (None: no row); False when the query failed, and the caller then takes an
        ordinary read transaction, which reports and counts the fault."""
        try:
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = sqlite3.connect(self.database, isolation_level=None, check_same_thread=True,
                                       timeout=busy_timeout_ms() / 1000)
                conn.execute("PRAGMA query_only=1")
                self._local.conn = conn
            return conn.execute(hot.sql, hot.parameters(params)).fetchone()  # type: ignore[no-any-return]
        except sqlite3.Error:
            return False
