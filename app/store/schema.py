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
    sa.Column("claim", sa.String(36), nullable=False),  # which request holds it (see api/http.py)
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("headers", sa.JSON, nullable=True),
    sa.Column("body", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)


# Columns that later migrations add; earlier migrations must create their tables without them.
ADDED_LATER = {("command_history", "done_order")}
# Single-column indexes v1 made and v5 drops (see _v5).
V1_INDEXES = {("command_history", "sequence_id"), ("command_history", "state")}


def _create_as_of_v1(conn: Connection, table: sa.Table) -> None:
    columns = [c._copy() for c in table.columns if (table.name, c.name) not in ADDED_LATER]
    for column in columns:
        if (table.name, column.name) in V1_INDEXES:
            column.index = True
    sa.Table(table.name, sa.MetaData(), *columns).create(conn)


def _v1(conn: Connection) -> None:
    for table in (sequences, command_history, events, settings):
        _create_as_of_v1(conn, table)


def _v2(conn: Connection) -> None:
    idempotency.create(conn)
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


MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3, _v4, _v5]
LATEST = len(MIGRATIONS)
