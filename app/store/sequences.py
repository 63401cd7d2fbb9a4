"""The sequences table: each sequence's current state and version, and its tombstone once deleted.

A deleted sequence keeps its row (``deleted``) so that its version only ever grows: an undo of
the delete brings it back at a newer version, never at one a client has already seen.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from app.core.commands import Snapshot
from app.core.events import utc_now
from app.domain.models import SequenceData
from app.store import schema as t
from app.store.fastpath import HotStatement, Runner

_s = t.sequences
_BY_ID = sa.select(_s).where(_s.c.id == sa.bindparam("sid"))
VERSION = HotStatement(sa.select(_s.c.version, _s.c.deleted).where(_s.c.id == sa.bindparam("sid")))
# The order number is computed by the INSERT itself (writers are serialized, so max + 1 is unique).
_INSERT = HotStatement(
    _s.insert().values(created_order=sa.select(sa.func.coalesce(sa.func.max(_s.c.created_order), 0) + 1)
                       .scalar_subquery()),
    ["id", "name", "data", "version", "deleted", "created_at", "updated_at"])
_UPDATE = HotStatement(_s.update().where(_s.c.id == sa.bindparam("sid")),
                       ["name", "data", "version", "deleted", "updated_at"])
_LIVE = _s.c.deleted == sa.false()


def sequence_from_row(row: Any) -> SequenceData:
    return replace(SequenceData.from_dict(row.data), id=row.id, name=row.name, version=row.version,
                   created_at=row.created_at, updated_at=row.updated_at)


class SequenceRows:
    def __init__(self, run: Runner) -> None:
        self._run = run

    def get(self, sequence_id: str, *, deleted_too: bool = False) -> SequenceData | None:
        """The sequence as stored; None when there is none (or it is deleted, unless ``deleted_too``)."""
        row = self._run.conn.execute(_BY_ID, {"sid": sequence_id}).first()
        if row is None or (row.deleted and not deleted_too):
            return None
        return sequence_from_row(row)

    def version(self, sequence_id: str) -> tuple[int | None, bool]:
        """(current version or None if never stored, whether it is present i.e. not deleted)."""
        row = self._run.first(VERSION, {"sid": sequence_id})
        return (None, False) if row is None else (row[0], not row[1])

    def page(self, offset: int, limit: int) -> tuple[list[SequenceData], int]:
        """Live sequences in the order they were created, and how many there are in all."""
        conn = self._run.conn
        total = conn.execute(sa.select(sa.func.count()).select_from(_s).where(_LIVE)).scalar_one()
        rows = conn.execute(sa.select(_s).where(_LIVE).order_by(_s.c.created_order).offset(offset).limit(limit))
        return [sequence_from_row(r) for r in rows], total

    def add(self, seq: SequenceData, data: dict[str, Any]) -> None:
        """Store a new sequence; ``data`` is ``seq.to_dict()`` (made by the caller, outside the lock)."""
        self._run.rowcount(_INSERT, {"id": seq.id, "name": seq.name, "data": data, "version": seq.version,
                                     "deleted": False, "created_at": seq.created_at, "updated_at": seq.updated_at})

    def save(self, seq: SequenceData, data: dict[str, Any], *, deleted: bool = False) -> None:
        """Store ``seq`` as its sequence's new state (a tombstone when ``deleted``); ``data`` is
        ``seq.to_dict()``."""
        self._update(seq.id, seq.name, data, seq.version, deleted, seq.updated_at)

    def snapshot(self, sequence_id: str) -> Snapshot:
        """The stored state, a tombstone's too (undo and redo patch it)."""
        return dict(self._run.conn.execute(_BY_ID, {"sid": sequence_id}).one().data)

    def write_snapshot(self, sequence_id: str, snapshot: Snapshot, present: bool, version: int) -> None:
        """Undo and redo: make a state a command recorded current, at ``version`` (a tombstone
        when not ``present``; undoing a creation leaves one)."""
        self._update(sequence_id, snapshot["name"], snapshot, version, not present, utc_now())

    def _update(self, sequence_id: str, name: str, data: dict[str, Any], version: int, deleted: bool,
                updated_at: str) -> None:
        self._run.rowcount(_UPDATE, {"sid": sequence_id, "name": name, "data": data, "version": version,
                                     "deleted": deleted, "updated_at": updated_at})
