"""The durable event log: every committed change's events, in commit order, with monotonic ids.

Events are appended in the transaction of the change they describe, so a reader never sees an
event of a change that did not commit, and writers are serialized, so ids follow commit order.
On PostgreSQL the appending transaction also NOTIFYs ``tka_events``, which every listening
process hears when, and only if, it commits (app/events/watcher.py).
"""

from __future__ import annotations

import sqlalchemy as sa

from app.core.events import Event
from app.store import schema as t
from app.store.fastpath import HotStatement, Runner

EVENTS_CHANNEL = "tka_events"

_e = t.events.c
_INSERT = HotStatement(t.events.insert(),
                       ["event_type", "sequence_id", "command_id", "request_id", "uuid", "timestamp", "data"])
_INSERT_RETURNING = t.events.insert().returning(_e.event_id, sort_by_parameter_order=True)
_NOTIFY = sa.text(f"SELECT pg_notify('{EVENTS_CHANNEL}', :payload)")
LAST_ID = HotStatement(sa.select(sa.func.coalesce(sa.func.max(_e.event_id), 0)))


class EventLog:
    def __init__(self, run: Runner, postgresql: bool) -> None:
        self._run = run
        self._postgresql = postgresql
        self.appended = False  # did this transaction add events (its commit then wakes the tailers)

    def append(self, events: list[Event]) -> list[Event]:
        """Store ``events``; the same events with their ``event_id``."""
        if not events:
            return []
        self.appended = True
        rows = [{"event_type": ev.event_type, "sequence_id": ev.sequence_id, "command_id": ev.command_id,
                 "request_id": ev.request_id, "uuid": ev.uuid, "timestamp": ev.timestamp, "data": dict(ev.data)}
                for ev in events]
        if self._run.db is not None:
            ids = self._run.insert_rows(_INSERT, rows)
        else:
            ids = list(self._run.conn.execute(_INSERT_RETURNING, rows).scalars())
        if self._postgresql:
            self._run.conn.execute(_NOTIFY, {"payload": str(ids[-1])})
        return [ev.stored_as(event_id) for ev, event_id in zip(events, ids)]

    def since(self, after_id: int, limit: int = 1000) -> list[Event]:
        """Up to ``limit`` events after ``after_id``, oldest first."""
        rows = self._run.conn.execute(sa.select(t.events).where(_e.event_id > after_id)
                                      .order_by(_e.event_id).limit(limit))
        return [Event(event_type=r.event_type, data=r.data, sequence_id=r.sequence_id, command_id=r.command_id,
                      request_id=r.request_id, event_id=r.event_id, uuid=r.uuid, timestamp=r.timestamp)
                for r in rows]

    def last_id(self) -> int:
        """The newest event id (0 for an empty log)."""
        return int(self._run.scalar(LAST_ID, {}))

    def extent(self) -> tuple[int | None, int]:
        """(the oldest id the log still holds or None, the newest id or 0)."""
        oldest, last = self._run.conn.execute(sa.select(sa.func.min(_e.event_id), sa.func.max(_e.event_id))).one()
        return oldest, int(last or 0)

    # -- retention (app/events/retention.py decides what goes) ---------------------------------
    def id_below_newest(self, count: int) -> int | None:
        """The id just below the newest ``count`` events (works with the gaps PostgreSQL ids may have)."""
        return self._run.conn.execute(sa.select(_e.event_id).order_by(_e.event_id.desc())  # type: ignore[no-any-return]
                                      .offset(count).limit(1)).scalar_one_or_none()

    def newest_id_before(self, timestamp: str) -> int | None:
        """The newest id of the events stamped before ``timestamp`` (utc_now's format)."""
        return self._run.conn.execute(  # type: ignore[no-any-return]
            sa.select(sa.func.max(_e.event_id)).where(_e.timestamp < timestamp)).scalar_one()

    def delete(self, after: int, through: int) -> None:
        """Delete the events with ids in (``after``, ``through``]."""
        self._run.conn.execute(t.events.delete().where(_e.event_id > after, _e.event_id <= through))
