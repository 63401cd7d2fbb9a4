"""Noticing new events: this process's commits at once, other processes' by doorbell or poll."""

from __future__ import annotations

import pytest

from app.bootstrap import bootstrap, close
from app.core.breaker import Breaker
from app.events.watcher import Doorbell, PostgresWatcher, SqliteWatcher
from app.services.sequences import SequenceManagementService
from app.settings import Settings
from app.store import Store
from tests.waiting import wait_until


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


def test_sqlite_watcher_sees_another_process_commit_by_poll_and_its_own_by_poke(store, settings, tmp_path):
    watcher = SqliteWatcher(store, str(tmp_path))
    try:
        assert not watcher.wait(0.01)
        other = bootstrap(settings, migrate=False)  # another worker: no doorbell, found by the poll
        other.resolve(SequenceManagementService).create_sequence("theirs", start_position="alpha1")
        close(other)
        assert watcher.wait(0.01)
        assert not watcher.wait(0.01)
        watcher.poke()
        assert watcher.wait(5)
    finally:
        watcher.close()


@pytest.fixture
def pg_url() -> str:
    from tests import pg

    return pg.server().create_database()


def test_postgres_listen_goes_through_the_events_breaker_and_recovers(pg_url):
    """A refused LISTEN connection counts against the event-notification breaker; while it is open
    nothing is attempted and every wait says "read the log" (the tailer polls); once PostgreSQL is
    back the probe reconnects, the breaker closes and NOTIFY wakes the watcher again."""
    from tests import pg

    db = pg.server()
    container = bootstrap(Settings(database_url=pg_url))
    store = container.resolve(Store)
    breaker = Breaker("events", fail_max=2, reset_timeout=0.5)
    watcher = PostgresWatcher(store, breaker)
    try:
        assert watcher.listening and breaker.state == "closed"
        db.stop()

        def refused_until_open() -> bool:
            assert watcher.wait(0.05)  # no connection: always "look at the log"
            watcher._reconnect_at = 0  # let every wait try, to reach fail_max quickly
            return breaker.state == "open"

        wait_until(refused_until_open, "the events breaker opening")
        assert not watcher.listening
        assert watcher.wait(0.01) and not watcher.listening  # open: no attempt before the probe
        db.start()
        wait_until(lambda: watcher.wait(0.1) is not None and watcher.listening and breaker.state == "closed",
                   "the probe reconnecting LISTEN")
        while watcher.wait(0.01):  # drain what the reconnect reported
            pass
        store.breaker.reset()
        container.resolve(SequenceManagementService).create_sequence("after the outage")
        assert watcher.wait(5)  # woken by NOTIFY, not by a poke or a poll
    finally:
        watcher.close()
        if not db.proc_running():
            db.start()
        close(container)

