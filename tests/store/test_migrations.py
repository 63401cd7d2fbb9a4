"""Migrations: a database made by an older release is brought forward, step by step, and keeps
its promises on the way."""

from __future__ import annotations

import sqlite3
import time

import pytest
import sqlalchemy as sa

from app.bootstrap import bootstrap, close
from app.domain.models import SequenceData
from app.services.calls import IdempotencyKey
from app.services.errors import NotFound, Unprocessable
from app.services.idempotency import Idempotency
from app.services.sequences import SequenceManagementService
from app.services.views import SequenceViews
from app.settings import Settings
from app.store import Store
from app.store import schema as t


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


def test_v6_keeps_keys_answered_before_it_and_refuses_to_run_their_requests_again(db_url):
    """v6 stores a keyed command's outcome instead of its HTTP answer. A key answered before the
    upgrade cannot be replayed, but it still guards its request: a retry is refused, not run twice."""
    store = Store(db_url)
    store.migrate(target=5)
    now = time.time()
    with store.write() as uow:
        for key, state in (("POST /api/undo done", "complete"), ("POST /api/undo running", "in_flight")):
            uow.conn.execute(sa.text(
                "INSERT INTO idempotency_keys (key, fingerprint, state, claim, status_code, headers, body, created_at, "
                "expires_at) VALUES (:key, 'f', :state, 'c', 200, NULL, '{}', :at, :until)"),
                {"key": key, "state": state, "at": now - 60, "until": now + 3600})
    assert store.migrate() == t.LATEST
    with store.read() as uow:
        rows = {r.key: r for r in uow.conn.execute(sa.select(t.idempotency))}
        assert sorted(rows) == ["POST /api/undo done", "POST /api/undo running"]
        assert rows["POST /api/undo done"].state == "complete" and rows["POST /api/undo done"].outcome is None
        assert not {"status_code", "headers", "body"} & set(rows["POST /api/undo done"]._fields)
    with pytest.raises(Unprocessable) as refused:
        Idempotency(store).begin(IdempotencyKey("POST /api/undo done", "f"))
    assert refused.value.code == "idempotency_key_reused" and "upgraded" in refused.value.message
    store.dispose()


def test_v7_keeps_the_history_as_patches_and_still_undoes_what_v6_recorded(any_db_url):
    """v6 kept two whole copies per command; v7 keeps a patch (and the newest HISTORY_LIMIT
    entries, none discarded). Undo and redo of commands recorded before the upgrade still work,
    and events logged before it still read."""
    store = Store(any_db_url)
    store.migrate(target=6)
    sid = "00000000-0000-4000-8000-0000000000b7"
    first = SequenceData(id=sid, name="Before", version=1, created_at="2026-01-01T00:00:00.000Z",
                         updated_at="2026-01-01T00:00:00.000Z").to_dict()
    second = {**first, "name": "Renamed", "version": 2}
    tombstone = {**second, "version": 3}
    history = [("c1", "create_sequence", None, first, None, 1, "done", 1), ("c2", "update_sequence", first, second,
               1, 2, "done", 2), ("c3", "delete_sequence", second, None, 2, 3, "done", 3),
               ("c0", "update_sequence", first, second, 1, 2, "discarded", None)]
    with store.write() as uow:
        conn, old = uow.conn, sa.MetaData()
        old.reflect(conn, only=["sequences", "command_history", "events"])
        conn.execute(old.tables["sequences"].insert(), {
            "id": sid, "name": "Renamed", "data": tombstone, "version": 3, "deleted": True,
            "created_at": first["created_at"], "updated_at": first["updated_at"], "created_order": 1})
        conn.execute(old.tables["command_history"].insert(), [
            {"command_id": cid, "kind": kind, "description": kind, "sequence_id": sid, "state": state,
             "before": before, "after": after, "version_before": vb, "version_after": va, "done_order": order,
             "created_at": "2026-01-01T00:00:00Z"} for cid, kind, before, after, vb, va, state, order in history])
        conn.execute(old.tables["events"].insert(), {
            "event_type": "sequence.deleted", "sequence_id": sid, "command_id": "c3", "uuid": "u",
            "timestamp": "2026-01-01T00:00:00.000Z", "data": {"sequence_name": "Renamed", "n": 2**40}})
    store.dispose()

    container = bootstrap(Settings(database_url=any_db_url))  # migrates to the latest
    try:
        service, views = container.resolve(SequenceManagementService), container.resolve(SequenceViews)
        with service.store.read() as uow:
            [event] = uow.events.since(0)
            assert event.data == {"sequence_name": "Renamed", "n": 2**40}
            assert [e.command_id for e in views.history()] == ["c3", "c2", "c1"]  # c0 was discarded
        assert service.undo().sequence.name == "Renamed"  # the deletion undone
        assert service.undo().sequence.name == "Before"
        assert service.redo().sequence.name == "Renamed"
        assert service.redo().sequence is None  # deleted again
        with pytest.raises(NotFound):
            views.get_sequence(sid)
        assert service.undo().sequence.to_dict() == {**second, "version": 8,
                                                     "updated_at": views.get_sequence(sid).updated_at}
        service.update_sequence(sid, name="After the upgrade")
        with service.store.read() as uow:
            [event] = [e for e in uow.events.since(0) if e.event_type == "sequence.updated"][-1:]
            assert event.data["sequence"]["name"] == "After the upgrade"  # packed, read back
    finally:
        close(container)
