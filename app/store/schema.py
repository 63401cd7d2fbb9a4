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
    sa.Column("sequence_id", sa.String(36), nullable=False, index=True),
    sa.Column("state", sa.String(10), nullable=False, index=True),
    sa.Column("before", sa.JSON, nullable=True),
    sa.Column("after", sa.JSON, nullable=True),
    sa.Column("version_before", sa.Integer, nullable=True),
    sa.Column("version_after", sa.Integer, nullable=False),
    sa.Column("version_undone", sa.Integer, nullable=True),
    sa.Column("undone_order", sa.Integer, nullable=True),
    sa.Column("created_at", sa.String(32), nullable=False),
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
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("headers", sa.JSON, nullable=True),
    sa.Column("body", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)


def _v1(conn: Connection) -> None:
    for table in (sequences, command_history, events, settings):
        table.create(conn)


def _v2(conn: Connection) -> None:
    idempotency.create(conn)
    # Raw DDL: an sa.Index object would attach itself to ``events`` and leak into _v1.
    conn.execute(sa.text("CREATE INDEX ix_events_sequence_id ON events (sequence_id)"))


MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2]
LATEST = len(MIGRATIONS)
