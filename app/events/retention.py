"""Retention of the event log: keep the newest N events and the last T hours, prune the rest.

Every worker's tailer calls ``prune_if_due``; the check of the last run happens inside the
serialized write transaction, so one worker prunes per interval and the others skip. The id up to
which events are gone is recorded (``events.pruned_through``) in the same transaction, so a resume
from an older id is answered with ``resync_required`` instead of a silent gap. The newest event is
never deleted, so SQLite never reuses an event id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from app.store import Store, UnitOfWork
from app.store import schema as t

PRUNED_THROUGH = "events.pruned_through"
PRUNED_AT = "events.pruned_at"
BATCH = 5000  # rows per delete, so a first prune of a big log never holds the write lock long


@dataclass(frozen=True)
class LogBounds:
    """What a reader can still get: events after ``pruned_through`` up to ``last_event_id``."""

    pruned_through: int
    last_event_id: int
    oldest_event_id: int | None


def bounds(uow: UnitOfWork) -> LogBounds:
    e = t.events.c
    oldest, last = uow.conn.execute(sa.select(sa.func.min(e.event_id), sa.func.max(e.event_id))).one()
    return LogBounds(pruned_through(uow), int(last or 0), oldest)


def pruned_through(uow: UnitOfWork) -> int:
    return int(uow.get_setting(PRUNED_THROUGH) or 0)


def prune_if_due(store: Store, *, keep_events: int, keep_hours: float, interval: float,
                 now: float | None = None) -> int | None:
    """Prune if no process did within ``interval`` s. Returns the new watermark, or None if skipped."""
    if not keep_events and not keep_hours:
        return None
    now = time.time() if now is None else now
    with store.write() as uow:
        if now - float(uow.get_setting(PRUNED_AT) or 0) < interval:
            return None
        uow.set_setting(PRUNED_AT, repr(now))
        cut = _cut(uow, keep_events, keep_hours, now)
        done = pruned_through(uow)
        if cut <= done:
            return done
        _delete_through(uow, done, min(cut, done + BATCH))
        done = min(cut, done + BATCH)
    while done < cut:  # the rest in further short transactions
        with store.write() as uow:
            step = min(cut, done + BATCH)
            _delete_through(uow, done, step)
            done = step
    return done


def _cut(uow: UnitOfWork, keep_events: int, keep_hours: float, now: float) -> int:
    """The highest event id that may go."""
    e = t.events.c
    newest = uow.conn.execute(sa.select(sa.func.coalesce(sa.func.max(e.event_id), 0))).scalar_one()
    cut = 0
    if keep_events:
        # the id just below the newest ``keep_events`` (works with the gaps PostgreSQL ids may have)
        below = uow.conn.execute(sa.select(e.event_id).order_by(e.event_id.desc())
                                 .offset(keep_events).limit(1)).scalar_one_or_none()
        cut = max(cut, below or 0)
    if keep_hours:
        cutoff = (datetime.fromtimestamp(now, timezone.utc) - timedelta(hours=keep_hours))
        stamp = cutoff.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # utc_now's format
        older = uow.conn.execute(sa.select(sa.func.max(e.event_id)).where(e.timestamp < stamp)).scalar_one()
        cut = max(cut, older or 0)
    return min(cut, newest - 1)


def _delete_through(uow: UnitOfWork, after: int, through: int) -> None:
    e = t.events.c
    uow.conn.execute(t.events.delete().where(e.event_id > after, e.event_id <= through))
    uow.set_setting(PRUNED_THROUGH, str(through))
