"""WAL checkpoints run on a background thread (app/store/checkpoint.py), not in a command's COMMIT,
and still keep the WAL bounded."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from app.store import Store


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tka-wal-checkpoint"]


def test_commits_leave_checkpoints_to_the_background_and_the_wal_stays_bounded(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'wal.db'}")
    store.migrate()
    assert store._checkpointer is not None
    store._checkpointer.restart_frames = 100  # pages: a WAL of 600 commits must start over
    with store.read() as uow:  # no connection of ours checkpoints inside a COMMIT
        assert uow.conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    commits = 600
    for i in range(commits):
        with store.write() as uow:
            uow.set_setting("counter", str(i))
    checkpointer = store._checkpointer
    deadline = time.monotonic() + 30
    while checkpointer.restarts < 2:
        assert time.monotonic() < deadline, "the background checkpointer never ran"
        time.sleep(0.01)
    with store.read() as uow:
        busy, frames, _ = uow.conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    # every commit appends a frame at least: without restarts the WAL would hold more than 600
    assert busy == 0 and frames < commits
    store.dispose()
    assert not _checkpoint_threads()
    # and all of it is in the database file
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT value FROM settings WHERE key = 'counter'").scalar() == str(commits - 1)
    engine.dispose()
