"""Migrations: a database made by an older release is brought forward, step by step, and keeps
its promises on the way."""

from __future__ import annotations

import sqlite3
import time

import pytest
import sqlalchemy as sa

from app.services.calls import IdempotencyKey
from app.services.errors import Unprocessable
from app.services.idempotency import Idempotency
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
