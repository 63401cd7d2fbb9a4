"""The command history table: what app.core.commands needs to undo and redo (its ``History``).

Two order numbers make the stacks: ``done_order`` (the most recently done or redone command is
the top of the undo stack) and ``undone_order`` (the most recently undone is the top of the redo
stack). Both are indexed with the state, so finding a top costs O(log n). Adding an entry
forgets the oldest beyond ``HISTORY_LIMIT``; cutting off a redo stack deletes its entries.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.core.commands import HISTORY_LIMIT, CommandState, HistoryEntry
from app.store import schema as t
from app.store.fastpath import HotStatement, Runner

_h = t.command_history
_DONE, _UNDONE = CommandState.DONE.value, CommandState.UNDONE.value
_NEXT_DONE_ORDER = sa.select(sa.func.coalesce(sa.func.max(_h.c.done_order), 0) + 1)
_NEXT_UNDONE_ORDER = sa.select(sa.func.coalesce(sa.func.max(_h.c.undone_order), 0) + 1)
_COLUMNS = ["command_id", "kind", "description", "sequence_id", "state", "patch", "existed_before", "exists_after",
            "version_before", "version_after", "version_undone", "created_at"]
# A new entry is the newest thing done: its done_order is computed by the INSERT itself.
_INSERT = HotStatement(_h.insert().values(done_order=_NEXT_DONE_ORDER.scalar_subquery()), _COLUMNS)
_STATE = sa.select(_h.c.state).where(_h.c.command_id == sa.bindparam("cid"))
_UPDATE = _h.update().where(_h.c.command_id == sa.bindparam("cid"))
_DISCARD_REDO = HotStatement(_h.delete().where(_h.c.sequence_id == sa.bindparam("sid"), _h.c.state == _UNDONE))
# Everything older than the newest HISTORY_LIMIT entries (nothing while there are fewer).
FORGET_OLDEST = HotStatement(_h.delete().where(
    _h.c.seq <= sa.select(_h.c.seq).order_by(_h.c.seq.desc()).offset(HISTORY_LIMIT).limit(1).scalar_subquery()))


def _top(columns: Any, state: CommandState, scoped: bool) -> sa.Select:
    """The top of the undo (DONE) or redo (UNDONE) stack, of one sequence or of all."""
    order = _h.c.undone_order if state is CommandState.UNDONE else _h.c.done_order
    scope = [_h.c.sequence_id == sa.bindparam("sid")] if scoped else []
    return sa.select(columns).where(_h.c.state == state.value, *scope).order_by(order.desc()).limit(1)


_STACKS = [(state, scoped) for state in (CommandState.DONE, CommandState.UNDONE) for scoped in (False, True)]
_TOP = {key: _top(_h, *key) for key in _STACKS}
_DESCRIBE_TOP = {key: HotStatement(_top(_h.c.description, *key)) for key in _STACKS}


class HistoryRows:
    """Implements ``app.core.commands.History``."""

    def __init__(self, run: Runner) -> None:
        self._run = run
        self._done_top: str | None = None  # the description of an entry added in this transaction

    def add(self, entry: HistoryEntry) -> None:
        values = _values(entry)
        self._run.rowcount(_INSERT, values)
        self._run.rowcount(FORGET_OLDEST, {})
        self._done_top = values["description"]  # the newest DONE entry: the top of the global undo stack

    def update(self, entry: HistoryEntry) -> None:
        conn = self._run.conn
        values = _values(entry)
        self._done_top = None
        was = conn.execute(_STATE, {"cid": entry.command_id}).scalar_one()
        if entry.state is CommandState.UNDONE and was != _UNDONE:
            # Redo order is undo order reversed: the most recently undone is redone first.
            values.update(undone_order=conn.execute(_NEXT_UNDONE_ORDER).scalar_one(), done_order=None)
        elif entry.state is CommandState.DONE and was != _DONE:
            # A redone command is the most recent thing done: a global undo takes it back first.
            values.update(done_order=conn.execute(_NEXT_DONE_ORDER).scalar_one(), undone_order=None)
        conn.execute(_UPDATE, {**values, "cid": entry.command_id})

    def latest(self, state: CommandState, sequence_id: str | None) -> HistoryEntry | None:
        row = self._run.conn.execute(_TOP[(state, sequence_id is not None)], _scope(sequence_id)).first()
        return _entry(row) if row else None

    def describe_latest(self, state: CommandState, sequence_id: str | None) -> str | None:
        if state is CommandState.DONE and sequence_id is None and self._done_top is not None:
            return self._done_top  # added in this transaction: no need to ask the database
        top = _DESCRIBE_TOP[(state, sequence_id is not None)]
        return self._run.scalar(top, _scope(sequence_id))  # type: ignore[no-any-return]

    def discard_redo(self, sequence_id: str) -> None:
        self._run.rowcount(_DISCARD_REDO, {"sid": sequence_id})

    def recent(self, limit: int, sequence_id: str | None = None) -> list[HistoryEntry]:
        """The newest ``limit`` entries, newest first."""
        query = sa.select(_h)
        if sequence_id is not None:
            query = query.where(_h.c.sequence_id == sequence_id)
        return [_entry(r) for r in self._run.conn.execute(query.order_by(_h.c.seq.desc()).limit(limit))]


def _scope(sequence_id: str | None) -> dict[str, Any]:
    return {"sid": sequence_id} if sequence_id is not None else {}


def _values(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "command_id": entry.command_id, "kind": entry.kind, "description": entry.description[:300],
        "sequence_id": entry.sequence_id, "state": entry.state.value, "patch": entry.patch,
        "existed_before": entry.existed_before, "exists_after": entry.exists_after,
        "version_before": entry.version_before,
        "version_after": entry.version_after, "version_undone": entry.version_undone,
        "created_at": entry.created_at,
    }


def _entry(row: Any) -> HistoryEntry:
    return HistoryEntry(
        command_id=row.command_id, kind=row.kind, description=row.description,
        sequence_id=row.sequence_id, patch=row.patch, existed_before=bool(row.existed_before),
        exists_after=bool(row.exists_after),
        version_before=row.version_before, version_after=row.version_after,
        created_at=row.created_at, state=CommandState(row.state), version_undone=row.version_undone,
    )
