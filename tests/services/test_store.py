"""The store's hot path: statements run on the DB-API connection (SQLite) must store exactly what
the SQLAlchemy Core path stores, fail the way it fails, and stay on indexes as the data grows."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.core.commands import CommandState, HistoryEntry
from app.core.events import Event
from app.store import Store
from app.store import schema as t
from app.store.sql import _HOT, is_infrastructure_fault

SID = "00000000-0000-4000-8000-00000000000a"
DATA = {"id": SID, "name": "Hot", "beats": [{"letter": "A", "turns": 0.5}], "metadata": {"é": True}}


def _entry(command_id: str, sequence_id: str = SID) -> HistoryEntry:
    return HistoryEntry(command_id=command_id, kind="create_sequence", description="Create 'Hot'",
                        sequence_id=sequence_id, before=None, after=DATA, version_before=None,
                        version_after=1, created_at="2026-11-26T00:00:00Z")


def test_rows_written_by_the_hot_path_read_back_through_core(db_url):
    store = Store(db_url)
    store.migrate()
    with store.write() as uow:
        uow.insert_sequence(SID, "Hot", DATA, 1, "2026-11-26T00:00:00Z")
        uow.add_entry(_entry("c1"))
        stored = uow.append_events([Event(event_type="sequence.created", data={"sequence": DATA}, sequence_id=SID)])
        uow.set_setting("current_sequence_id", SID)
    with store.read() as uow:
        row = uow.load_sequence_row(SID)
        assert (row.name, row.data, row.version, bool(row.deleted)) == ("Hot", DATA, 1, False)
        assert uow.latest(CommandState.DONE, SID).after == DATA
        assert uow.describe_latest(CommandState.DONE, None) == "Create 'Hot'"
        assert uow.describe_latest(CommandState.UNDONE, SID) is None
        assert uow.sequence_version(SID) == (1, True)
        assert uow.get_setting("current_sequence_id") == SID
        [event] = uow.events_since(0)
        assert event.event_id == stored[0].event_id and event.data == {"sequence": DATA}
    store.dispose()


def test_a_constraint_violation_on_the_hot_path_is_a_data_error_not_an_outage(db_url):
    store = Store(db_url)
    store.migrate()
    with store.write() as uow:
        uow.insert_sequence(SID, "Hot", DATA, 1, "t")
    with pytest.raises(IntegrityError) as caught:
        with store.write() as uow:
            uow.insert_sequence("00000000-0000-4000-8000-00000000000b", "Other", DATA, 1, "t")
            uow.insert_sequence(SID, "Again", DATA, 1, "t")
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
    for name, hot in _HOT.items():
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + hot.sql, hot.parameters({}))]
        assert not [step for step in plan if step.startswith("SCAN")], (name, plan)


def test_v5_drops_the_single_column_indexes_the_composites_cover(tmp_path):
    names = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'command_history'"
    old = Store(f"sqlite:///{tmp_path / 'old.db'}")
    old.migrate(target=4)
    old.dispose()
    before = {r[0] for r in sqlite3.connect(tmp_path / "old.db").execute(names)}
    assert {"ix_command_history_sequence_id", "ix_command_history_state"} <= before
    for path in ("old.db", "new.db"):
        store = Store(f"sqlite:///{tmp_path / path}")
        store.migrate()
        store.dispose()
    old_names = {r[0] for r in sqlite3.connect(tmp_path / "old.db").execute(names)}
    new_names = {r[0] for r in sqlite3.connect(tmp_path / "new.db").execute(names)}
    assert old_names == new_names == before - {"ix_command_history_sequence_id", "ix_command_history_state"}
