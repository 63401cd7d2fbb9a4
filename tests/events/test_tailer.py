"""The tailer (app/events/tailer.py): it delivers this process's commits and other processes',
and knows how far behind the log it is."""

from __future__ import annotations

import pytest

from app.bootstrap import bootstrap, close
from app.events.hub import Hub
from app.events.subscriber import Subscriber
from app.services.sequences import SequenceManagementService
from tests.events.test_hub import Connection, join, make_hub, sent
from tests.waiting import wait_until


@pytest.fixture
def hub(store):
    h = make_hub(store)
    yield h
    h.shutdown(wait=True)


def test_the_tailer_delivers_this_process_commits_and_another_process_commits(hub, service, settings, store):
    hub.start()
    sub, conn = join(hub)
    service.create_sequence("mine", start_position="alpha1")  # this process's commit wakes it at once
    other = bootstrap(settings, migrate=False)  # a second runtime, as another worker has
    try:
        other.resolve(SequenceManagementService).create_sequence("theirs", start_position="alpha1")
    finally:
        close(other)
    received: list[int] = []

    def four_received() -> bool:
        conn.woken.wait(0.1)
        conn.woken.clear()
        received.extend(sent(sub))
        return len(received) >= 4

    wait_until(four_received, "the tailer delivering both processes' commits")
    with store.read() as uow:
        assert received == [e.event_id for e in uow.events.since(0)]


def test_lag_counts_the_events_the_tailer_has_not_dispatched(hub: Hub, service):
    join(hub)
    service.create_sequence("behind", start_position="alpha1")  # the tailer is not running
    behind, age_ms = hub.tailer.lag()
    assert behind == 2 and age_ms >= 0  # sequence.created and command.executed
    hub.tailer.pump()
    assert hub.tailer.lag() == (0, 0.0)


def test_a_tailer_with_no_live_subscriber_is_behind_nobody(hub: Hub, service, store):
    hub.start()
    for name in ("one", "two"):
        service.create_sequence(name, start_position="alpha1")  # nobody to send these to
    assert hub.tailer.lag() == (0, 0.0)
    service.create_sequence("three", start_position="alpha1")
    sub = Subscriber("c", 10)
    hub.register(sub, Connection())
    with store.read() as uow:
        end = uow.events.last_id()
    assert hub.go_live(sub) == end  # live from the end of the log, not from before it
