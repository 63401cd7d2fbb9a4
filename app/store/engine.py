"""Engines and connection settings: SQLite (a file, the embedded default) or PostgreSQL.

SQLite runs in WAL mode with ``synchronous=NORMAL`` (a commit survives a crash of the process,
and readers never wait for the writer) and with automatic checkpoints off: they run beside the
writers instead (app/store/checkpoint.py). Transactions are begun by us, ``BEGIN IMMEDIATE`` for
writes, because pysqlite's own transaction handling begins them late and wrongly.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError

from app.core import jsontext
from app.core.greenlets import cooperative

BUSY_TIMEOUT_MS = 2000  # how long SQLite waits for another program's write lock, per attempt
# Under gevent a wait inside SQLite would stop every greenlet of the worker: SQLite waits this long
# only, and the store waits out the rest (2 x BUSY_TIMEOUT_MS in all) between attempts.
COOPERATIVE_BUSY_MS = 10
STATEMENT_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_S = 2
WRITE_OPTION = "tka_write"  # Connection.info key: the next BEGIN takes the write lock


def kind_of(url: URL) -> str:
    return "postgresql" if url.get_backend_name().startswith("postgres") else "sqlite"


def sqlite_file(url: URL) -> str | None:
    """The path of an SQLite database file; None for PostgreSQL and in-memory SQLite."""
    if kind_of(url) != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return url.database


def busy_timeout_ms() -> int:
    return COOPERATIVE_BUSY_MS if cooperative() else BUSY_TIMEOUT_MS


def make_engine(url: URL) -> Engine:
    if kind_of(url) == "postgresql":
        return sa.create_engine(
            url.set(drivername="postgresql+psycopg"), pool_pre_ping=True, pool_size=8, max_overflow=8,
            json_serializer=jsontext.dumps,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S,
                          "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"},
        )
    path = sqlite_file(url)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_ms() / 1000, "check_same_thread": False},
                              json_serializer=jsontext.dumps)

    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (pysqlite's is broken)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms()}")
        cur.execute("PRAGMA synchronous=NORMAL")
        if path is not None:
            cur.execute("PRAGMA wal_autocheckpoint=0")  # app/store/checkpoint.py does it instead
        cur.close()

    @sa_event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # On the DB-API connection itself: exec_driver_sql's machinery costs ~10x the BEGIN.
        sql = "BEGIN IMMEDIATE" if conn.info.get(WRITE_OPTION) else "BEGIN"
        try:
            conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc

    return engine
