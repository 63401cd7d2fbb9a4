"""Tables and versioned migrations.

Migrations are append-only: a database made by an older release carries a lower
``schema_version`` and is brought forward step by step when a newer release opens it.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from app.core import jsontext, patch
from app.core.commands import HISTORY_LIMIT

metadata = sa.MetaData()
# zlib level of PackedJSON: on a 64-beat sequence (42 KB of JSON) level 3 gives 4.4 KB in ~0.1 ms,
# level 1 5.3 KB in 0.08 ms, level 6 3.7 KB in 0.36 ms (measured with timeit on this machine).
PACK_LEVEL = 3
# Smaller documents are stored as plain JSON: packing each small event cost tka serve 17 % more
# server CPU per POST /api/sequences (paired runs against the same server storing plain JSON).
PACK_FROM = 1024


class PackedJSON(sa.TypeDecorator):  # type: ignore[type-arg]
    """JSON kept zlib-compressed from PACK_FROM bytes: event data and history patches repeat the
    same keys over and over (a 64-beat sequence: 42 KB of JSON, 4.4 KB packed). Smaller documents,
    and rows written before schema v7, hold plain JSON (text on SQLite, UTF-8 bytes on PostgreSQL)
    and are read as such: zlib's stream never starts with ``{`` or ``[``."""

    impl = sa.LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        text = jsontext.dump_bytes(value)
        return zlib.compress(text, PACK_LEVEL) if len(text) >= PACK_FROM else text

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return json.loads(raw if raw[:1] in (b"{", b"[") else zlib.decompress(raw))  # exact, as sa.JSON


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
    # v7: what undo and redo need, not two copies of the sequence: the two-way patch between its
    # states (app/core/patch.py) and whether it existed before and after the command.
    sa.Column("patch", PackedJSON, nullable=True),
    sa.Column("existed_before", sa.Boolean, nullable=False),
    sa.Column("exists_after", sa.Boolean, nullable=False),
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
    sa.Column("data", PackedJSON, nullable=False),  # v7: packed (JSON before)
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
    sa.Column("outcome", PackedJSON, nullable=True),  # v6: the command's outcome, once complete (v7: packed)
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)


# Single-column indexes v1 made and v5 drops (see _v5).
V1_INDEXES = {("command_history", "sequence_id"), ("command_history", "state")}


def _table_as_of(table: sa.Table, *, name: str | None = None, without: tuple[str, ...] = (),
                 extra: tuple[sa.Column, ...] = (), indexed: tuple[str, ...] = ()) -> sa.Table:
    """``table`` as an earlier version made it: some columns not there yet, others added, JSON
    not yet packed, and other single-column indexes (a Table of its own, so nothing leaks into
    the current one)."""
    columns = [sa.Column(c.name, sa.JSON if isinstance(c.type, PackedJSON) else c.type, primary_key=c.primary_key,
                         nullable=c.nullable, unique=c.unique, autoincrement=c.autoincrement, index=c.name in indexed)
               for c in table.columns if c.name not in without]
    return sa.Table(name or table.name, sa.MetaData(), *columns, *extra)


def _v1_history() -> tuple[sa.Column, ...]:  # type: ignore[type-arg]
    """The whole states v1 to v6 kept of each command (new Column objects for each table made)."""
    return sa.Column("before", sa.JSON, nullable=True), sa.Column("after", sa.JSON, nullable=True)


def _v1(conn: Connection) -> None:
    for table in (sequences, command_history, events, settings):
        _table_as_of(table, without=("done_order", "patch", "existed_before", "exists_after"),
                     extra=_v1_history() if table is command_history else (),
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


_HISTORY_INDEXES = (
    "CREATE INDEX ix_history_state_done ON command_history (state, done_order)",
    "CREATE INDEX ix_history_state_undone ON command_history (state, undone_order)",
    "CREATE INDEX ix_history_sequence_state ON command_history (sequence_id, state, done_order)",
    "CREATE INDEX ix_history_done_order ON command_history (done_order)",
    "CREATE INDEX ix_history_undone_order ON command_history (undone_order)",
)


def _v4(conn: Connection) -> None:
    # Every command reads the tops of the undo/redo stacks and the next order numbers: keep those
    # lookups O(log n) instead of scanning a history that only grows.
    for ddl in (
        *_HISTORY_INDEXES,
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


def _v7(conn: Connection) -> None:
    # The history keeps patches instead of whole copies, and only its newest HISTORY_LIMIT
    # commands; discarded redo entries (never shown, never used) go. The table is rebuilt (SQLite).
    old = _table_as_of(command_history, without=("patch", "existed_before", "exists_after"), extra=_v1_history())
    rows = conn.execute(sa.select(old).where(old.c.state != "discarded")
                        .order_by(old.c.seq.desc()).limit(HISTORY_LIMIT)).all()
    conn.execute(sa.text("DROP TABLE command_history"))
    command_history.create(conn)
    if rows:
        conn.execute(command_history.insert(), [_v7_entry(row) for row in rows])
    if conn.dialect.name == "postgresql":  # the new table's counter must start after the copied entries
        conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('command_history', 'seq'), "
                             "coalesce(max(seq), 0) + 1, false) FROM command_history"))
    for ddl in _HISTORY_INDEXES:
        conn.execute(sa.text(ddl))
    # Event data and idempotency outcomes are packed from now on. SQLite keeps any type in any
    # column; PostgreSQL's json columns become bytea, their rows plain JSON bytes (PackedJSON reads both).
    if conn.dialect.name == "postgresql":
        for table, column in ((events.name, "data"), (idempotency.name, "outcome")):
            conn.execute(sa.text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE bytea "
                                 f"USING convert_to({column}::text, 'UTF8')"))


def _v7_entry(row: Any) -> dict[str, Any]:
    """A v6 history row as v7 keeps it. Undo and redo write the state the patch leads to; a
    deleting command did not keep the tombstone it left, so its patch leads to the state before
    either way (a tombstone's state is only ever read by undoing that deletion)."""
    entry = {c: getattr(row, c) for c in row._fields if c not in ("before", "after")}
    before, after = row.before, row.after
    if before is None:
        changed = None  # a creation: its undo leaves the sequence's state as a tombstone, redo revives it
    elif after is None:
        changed = {"v": [before, before]}
    else:
        changed = patch.diff(before, after)
    return {**entry, "patch": changed, "existed_before": before is not None, "exists_after": after is not None}


MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7]
LATEST = len(MIGRATIONS)
