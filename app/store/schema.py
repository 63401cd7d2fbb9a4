"""Tables and versioned migrations.

Migrations are append-only: a database made by an older release carries a lower
``schema_version`` and is brought forward step by step when a newer release opens it.
"""

from __future__ import annotations

from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

sequences = sa.Table(
    "sequences", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),  # SequenceData.to_dict() (beats, start, metadata)
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),  # a tombstone keeps versions monotonic
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Column("created_order", sa.BigInteger, nullable=False),
)

command_history = sa.Table(
    "command_history", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("command_id", sa.String(36), nullable=False, unique=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("description", sa.String(300), nullable=False),
    sa.Column("sequence_id", sa.String(36), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("before", sa.JSON, nullable=True),
    sa.Column("after", sa.JSON, nullable=True),
    sa.Column("version_before", sa.Integer, nullable=True),
    sa.Column("version_after", sa.Integer, nullable=False),
    sa.Column("version_undone", sa.Integer, nullable=True),
    sa.Column("undone_order", sa.Integer, nullable=True),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("done_order", sa.Integer, nullable=True),  # v3: global undo = most recently done/redone
)

events = sa.Table(
    "events", metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("sequence_id", sa.String(36), nullable=True),
    sa.Column("command_id", sa.String(36), nullable=True),
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("timestamp", sa.String(32), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
)

settings = sa.Table(
    "settings", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=True),
)

idempotency = sa.Table(
    "idempotency_keys", metadata,
    sa.Column("key", sa.String(300), primary_key=True),  # scope (method + route) + client key
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # in_flight | complete
    sa.Column("claim", sa.String(36), nullable=False),  # which request holds it (app/store/idempotency.py)
    sa.Column("outcome", sa.JSON, nullable=True),  # v6: the command's outcome, once complete
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)


# Single-column indexes v1 made and v5 drops (see _v5).
V1_INDEXES = {("command_history", "sequence_id"), ("command_history", "state")}


def _table_as_of(table: sa.Table, *, name: str | None = None, without: tuple[str, ...] = (),
                 extra: tuple[sa.Column, ...] = (), indexed: tuple[str, ...] = ()) -> sa.Table:
    """``table`` as an earlier version made it: some columns not there yet, others added, and
    other single-column indexes (a Table of its own, so nothing leaks into the current one)."""
    columns = [sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable, unique=c.unique,
                         autoincrement=c.autoincrement, index=c.name in indexed)
               for c in table.columns if c.name not in without]
    return sa.Table(name or table.name, sa.MetaData(), *columns, *extra)


def _v1(conn: Connection) -> None:
    for table in (sequences, command_history, events, settings):
        _table_as_of(table, without=("done_order",),
                     indexed=tuple(column for name, column in V1_INDEXES if name == table.name)).create(conn)


def _v2(conn: Connection) -> None:
    # It stored a keyed request's HTTP answer; v6 stores the command's outcome instead.
    _table_as_of(idempotency, without=("outcome",), indexed=("expires_at",), extra=(
        sa.Column("status_code", sa.Integer), sa.Column("headers", sa.JSON), sa.Column("body", sa.Text))).create(conn)
    # Raw DDL: an sa.Index object would attach itself to ``events`` and leak into _v1.
    conn.execute(sa.text("CREATE INDEX ix_events_sequence_id ON events (sequence_id)"))


def _v3(conn: Connection) -> None:
    # Global undo acts on the most recently done or redone command, not the oldest-numbered one.
    conn.execute(sa.text("ALTER TABLE command_history ADD COLUMN done_order INTEGER"))
    conn.execute(sa.text("UPDATE command_history SET done_order = seq WHERE state = 'done'"))


def _v4(conn: Connection) -> None:
    # Every command reads the tops of the undo/redo stacks and the next order numbers: keep those
    # lookups O(log n) instead of scanning a history that only grows.
    for ddl in (
        "CREATE INDEX ix_history_state_done ON command_history (state, done_order)",
        "CREATE INDEX ix_history_state_undone ON command_history (state, undone_order)",
        "CREATE INDEX ix_history_sequence_state ON command_history (sequence_id, state, done_order)",
        "CREATE INDEX ix_history_done_order ON command_history (done_order)",
        "CREATE INDEX ix_history_undone_order ON command_history (undone_order)",
        "CREATE INDEX ix_sequences_live_order ON sequences (deleted, created_order)",
        "CREATE INDEX ix_sequences_created_order ON sequences (created_order)",
    ):
        conn.execute(sa.text(ddl))


def _v5(conn: Connection) -> None:
    # v1's single-column indexes are prefixes of v4's composite ones, so no query needs them, but
    # every command still wrote them: two index pages fewer per commit.
    for table, column in sorted(V1_INDEXES):
        conn.execute(sa.text(f"DROP INDEX IF EXISTS ix_{table}_{column}"))


def _v6(conn: Connection) -> None:
    # Records hold the command's outcome instead of a rendered HTTP answer: the table is rebuilt
    # (SQLite before 3.35 cannot drop a column). A completed record of before keeps its key, so a
    # retry of its request is refused rather than run twice (app/services/idempotency.py).
    keep = "key, fingerprint, state, claim, created_at, expires_at"
    _table_as_of(idempotency, name="idempotency_keys_v6").create(conn)
    conn.execute(sa.text(f"INSERT INTO idempotency_keys_v6 ({keep}) SELECT {keep} FROM {idempotency.name}"))
    conn.execute(sa.text(f"DROP TABLE {idempotency.name}"))
    conn.execute(sa.text(f"ALTER TABLE idempotency_keys_v6 RENAME TO {idempotency.name}"))
    conn.execute(sa.text(f"CREATE INDEX ix_{idempotency.name}_expires_at ON {idempotency.name} (expires_at)"))


MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3, _v4, _v5, _v6]
LATEST = len(MIGRATIONS)
