"""The SQLite fast path (app/store/fastpath.py): statements run on the DB-API connection must store
exactly what the SQLAlchemy Core path stores, fail the way it fails, and stay on indexes as the
data grows."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from dataclasses import replace

from app.core.commands import CommandState, HistoryEntry
from app.core.events import Event
from app.domain.models import SequenceData
from app.store import Store
from app.store import schema as t
from app.store.errors import is_infrastructure_fault
from app.store.fastpath import HOT_STATEMENTS
from app.store.history import FORGET_OLDEST

SID = "00000000-0000-4000-8000-00000000000a"
SEQ = SequenceData(id=SID, name="Hot", metadata={"é": True, "turns": 0.5, "big": 2**70}, version=1,
                   created_at="2026-11-26T00:00:00.000Z", updated_at="2026-11-26T00:00:00.000Z")
DATA = SEQ.to_dict()


def _entry(command_id: str, sequence_id: str = SID) -> HistoryEntry:
    return HistoryEntry.of_change(before=None, after=DATA, command_id=command_id, kind="create_sequence",
                                  description="Create 'Hot'", sequence_id=sequence_id, version_before=None,
                                  version_after=1, created_at="2026-11-26T00:00:00Z")


def test_rows_written_by_the_hot_path_read_back_through_core(db_url):
    store = Store(db_url)
    store.migrate()
    with store.write() as uow:
        uow.sequences.add(SEQ, DATA)
        uow.history.add(_entry("c1"))
        stored = uow.events.append([Event(event_type="sequence.created", data={"sequence": DATA}, sequence_id=SID)])
        uow.settings.set("current_sequence_id", SID)
    with store.read() as uow:
        row = uow.conn.execute(sa.select(t.sequences).where(t.sequences.c.id == SID)).one()
        assert (row.name, row.data, row.version, bool(row.deleted)) == ("Hot", DATA, 1, False)
        assert uow.sequences.get(SID) == SEQ
        latest = uow.history.latest(CommandState.DONE, SID)
        assert (latest.patch, latest.existed_before, latest.exists_after) == (None, False, True)
        assert uow.history.describe_latest(CommandState.DONE, None) == "Create 'Hot'"
        assert uow.history.describe_latest(CommandState.UNDONE, SID) is None
        assert uow.sequences.version(SID) == (1, True)
        assert uow.settings.get("current_sequence_id") == SID
        [event] = uow.events.since(0)
        assert event.event_id == stored[0].event_id and event.data == {"sequence": DATA}
    with store.write() as uow:  # an update and a tombstone, read back the same way
        hotter = replace(SEQ, name="Hotter", version=2)
        uow.sequences.save(hotter, hotter.to_dict(), deleted=True)
    with store.read() as uow:
        assert uow.sequences.version(SID) == (2, False) and uow.sequences.get(SID) is None
        assert uow.sequences.get(SID, deleted_too=True).name == "Hotter"
    store.dispose()


def test_a_constraint_violation_on_the_hot_path_is_a_data_error_not_an_outage(db_url):
    store = Store(db_url)
    store.migrate()
    with store.write() as uow:
        uow.sequences.add(SEQ, DATA)
    with pytest.raises(IntegrityError) as caught:
        with store.write() as uow:
            uow.sequences.add(replace(SEQ, id="00000000-0000-4000-8000-00000000000b"), DATA)
            uow.sequences.add(SEQ, DATA)
    assert isinstance(caught.value, DBAPIError) and not is_infrastructure_fault(caught.value)
    assert store.breaker.state == "closed"
    with store.read() as uow:  # the whole transaction rolled back
        assert uow.conn.execute(sa.select(sa.func.count()).select_from(t.sequences)).scalar_one() == 1
    store.dispose()


def test_hot_statements_stay_on_indexes(tmp_path):
    """No hot statement scans a table: each costs O(log n) however long the history grows."""
    store = Store(f"sqlite:///{tmp_path / 'plans.db'}")
    store.migrate()
    store.dispose()
    conn = sqlite3.connect(tmp_path / "plans.db")
    assert len(HOT_STATEMENTS) >= 12
    for hot in HOT_STATEMENTS:
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + hot.sql, hot.parameters({}))]
        if hot is FORGET_OLDEST:  # walks the primary key from the newest entry, HISTORY_LIMIT + 1 of them
            plan.remove("SCAN command_history")
        assert not [step for step in plan if step.startswith("SCAN")], (hot.sql, plan)
