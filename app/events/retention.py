"""Retention of the event log: keep the newest N events and the last T hours, prune the rest.

Every worker's tailer calls ``prune_if_due``; the check of the last run happens inside the
serialized write transaction, so one worker prunes per interval and the others skip. The id up to
which events are gone is recorded (``events.pruned_through``) in the same transaction, so a resume
from an older id is answered with ``resync_required`` instead of a silent gap. The newest event is
never deleted, so SQLite never reuses an event id. Expired idempotency records go in the same pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from app.core.events import utc_text
from app.store import Store, UnitOfWork

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
    oldest, last = uow.events.extent()
    return LogBounds(pruned_through(uow), last, oldest)


def pruned_through(uow: UnitOfWork) -> int:
    return int(uow.settings.get(PRUNED_THROUGH) or 0)


def prune_if_due(store: Store, *, keep_events: int, keep_hours: float, interval: float,
                 now: float | None = None) -> int | None:
    """Prune if no process did within ``interval`` s. Returns the new watermark, or None if skipped."""
    if not keep_events and not keep_hours:
        return None
    now = time.time() if now is None else now
    with store.write() as uow:
        if now - float(uow.settings.get(PRUNED_AT) or 0) < interval:
            return None
        uow.settings.set(PRUNED_AT, repr(now))
        uow.idempotency.purge()
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
    cut = 0
    if keep_events:
        cut = max(cut, uow.events.id_below_newest(keep_events) or 0)
    if keep_hours:
        cut = max(cut, uow.events.newest_id_before(utc_text(now - keep_hours * 3600)) or 0)
    return min(cut, uow.events.last_id() - 1)


def _delete_through(uow: UnitOfWork, after: int, through: int) -> None:
    uow.events.delete(after, through)
    uow.settings.set(PRUNED_THROUGH, str(through))
