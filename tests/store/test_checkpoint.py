"""WAL checkpoints run on a background thread (app/store/checkpoint.py), not in a command's COMMIT,
and still keep the WAL bounded."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from app.store import Store
from tests.waiting import wait_until


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tka-wal-checkpoint"]


def test_commits_leave_checkpoints_to_the_background_and_the_wal_stays_bounded(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'wal.db'}")
    store.migrate()
    assert store._checkpointer is not None
    store._checkpointer.restart_frames = 1  # every round ends with the pass under the write locks
    with store.read() as uow:  # no connection of ours checkpoints inside a COMMIT
        assert uow.conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    checkpointer = store._checkpointer
    commits = 600

    for chunk in range(4):  # 150 commits, then wait for a checkpoint that came after some of them
        before = checkpointer.restarts
        for i in range(chunk * 150, (chunk + 1) * 150):
            with store.write() as uow:
                uow.settings.set("counter", str(i))
        wait_until(lambda: checkpointer.restarts > before, "a checkpoint pass under the write locks")
    checkpointer.stop()  # only one checkpoint runs at a time: ours below must not meet its
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


def test_a_store_nobody_writes_to_keeps_no_checkpoint_thread(tmp_path, monkeypatch):
    import app.store.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "IDLE_EXIT_S", 0.2)
    store = Store(f"sqlite:///{tmp_path / 'idle.db'}")
    store.migrate()
    checkpointer = store._checkpointer
    assert checkpointer is not None
    checkpointer.interval = 0.05

    wait_until(lambda: checkpointer.checkpoints >= 1, "a checkpoint of the migration's commits")
    wait_until(lambda: not _checkpoint_threads(), "the idle checkpointer's thread ending")
    with store.write() as uow:
        uow.settings.set("again", "1")
    assert len(_checkpoint_threads()) == 1  # the next commit started one
    wait_until(lambda: checkpointer.checkpoints >= 2, "a checkpoint by the new thread")
    store.dispose()
    assert not _checkpoint_threads()
