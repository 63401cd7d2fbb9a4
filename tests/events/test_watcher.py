"""Noticing new events: this process's commits at once, other processes' by doorbell or poll."""

from __future__ import annotations


from app.bootstrap import bootstrap
from app.events.watcher import Doorbell, SqliteWatcher
from app.services.sequences import SequenceManagementService
from app.store import Store


def test_a_ring_wakes_every_worker_including_the_ringer(tmp_path):
    a, b, c = (Doorbell(str(tmp_path), name) for name in "abc")
    try:
        assert not b.wait(0.01)
        a.ring()
        assert a.wait(1) and b.wait(1) and c.wait(1)
        assert not b.wait(0.01)  # one ring, one wake-up
        c.close()
        a._peers_at = 0  # the next ring looks for workers again
        a.ring()  # a departed worker is skipped, not an error
        assert b.wait(1)
    finally:
        a.close()
        b.close()


def test_no_run_dir_means_no_doorbell(tmp_path):
    assert Doorbell.open(None) is None
    assert Doorbell.open(str(tmp_path / "missing")) is None


def test_sqlite_watcher_sees_another_process_commit_by_poll_and_its_own_by_poke(service, db_url, tmp_path):
    watcher = SqliteWatcher(service.store, str(tmp_path))
    try:
        assert not watcher.wait(0.01)
        other = bootstrap(db_url, migrate=False)  # another worker: no doorbell, found by the poll
        other.resolve(SequenceManagementService).create_sequence("theirs", start_position="alpha1")
        other.resolve(Store).dispose()
        assert watcher.wait(0.01)
        assert not watcher.wait(0.01)
        watcher.poke()
        assert watcher.wait(5)
    finally:
        watcher.close()
