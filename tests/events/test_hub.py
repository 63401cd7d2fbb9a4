"""The broadcaster without sockets: order, exactly once, bounded queues, going live after a replay."""

from __future__ import annotations

import json
import threading
import time

import pytest

from app.bootstrap import bootstrap
from app.core.events import Event, EventBus
from app.events import protocol as p
from app.events.config import StreamConfig
from app.events.hub import BUSY, DONE, FULL, OWES, WAKE, WROTE, Hub, Subscriber
from app.events.registry import PeerRegistry
from app.services.sequences import SequenceManagementService
from app.store import Store


class Cut:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def subscriber(name: str = "c", queue_size: int = 100) -> Subscriber:
    return Subscriber(name, threading.Event(), Cut(), queue_size)


def payload(frame: bytes) -> dict:
    """The JSON of a server text frame."""
    assert frame[0] == 0x81
    length = frame[1] & 0x7F
    return json.loads(frame[{126: 4, 127: 10}.get(length, 2):])


def sent(sub: Subscriber) -> list[int]:
    items = sub.take()
    assert all(payload(frame)["event_id"] == event_id for event_id, frame in items)
    return [event_id for event_id, _ in items]


@pytest.fixture(autouse=True)
def quick_shutdown(monkeypatch):
    monkeypatch.setattr("app.events.hub.SHUTDOWN_GRACE", 0.05)


@pytest.fixture
def hub(container):
    h = Hub(container.resolve(Store), container.resolve(EventBus), StreamConfig(queue_size=5),
            registry=PeerRegistry(None))
    yield h
    h.shutdown(wait=True)


def ev(event_id: int, event_type: str = "sequence.updated", sequence_id: str = "s1") -> Event:
    return Event(event_type, {"i": event_id}, sequence_id=sequence_id, event_id=event_id)


def test_live_subscribers_get_each_new_event_once_in_order(hub):
    a, b = subscriber("a"), subscriber("b")
    for sub in (a, b):
        assert hub.register(sub)
        assert hub.go_live(sub) == 0
    hub.dispatch([ev(1), ev(2)])
    hub.dispatch([ev(2), ev(3), ev(1)])  # already dispatched ids are never offered again
    assert sent(a) == sent(b) == [1, 2, 3]
    assert a.wake.is_set()


def test_filters_apply_but_the_cursor_still_moves(hub):
    sub = subscriber()
    hub.register(sub)
    hub.go_live(sub)
    hub.set_filter(sub, p.EventFilter(("command.*",)))
    hub.dispatch([ev(1), ev(2, "command.undone"), ev(3)])
    assert [i for i, _ in sub.take()] == [2]
    assert sub.take() == [] and sub.resume_point == 3  # 3 was filtered out: nothing to resend


def test_a_subscriber_behind_the_tailer_cannot_go_live_until_it_caught_up(hub):
    hub.dispatch([ev(1), ev(2), ev(3)])
    sub = subscriber()
    hub.register(sub)
    assert hub.go_live(sub, 1) is None  # it must read 2 and 3 from the log first
    assert hub.go_live(sub, 3) == 3
    hub.dispatch([ev(4)])
    assert sent(sub) == [4]


def test_a_subscriber_that_read_ahead_of_the_tailer_gets_no_duplicate(hub):
    hub.dispatch([ev(1)])
    sub = subscriber()
    hub.register(sub)
    assert hub.go_live(sub, 3) == 3  # replayed 2 and 3 straight from the log
    hub.dispatch([ev(2), ev(3), ev(4)])
    assert sent(sub) == [4]


def test_an_overflowing_queue_cuts_that_client_off_and_nobody_else(hub):
    slow, fast = subscriber("slow", queue_size=3), subscriber("fast", queue_size=100)
    for sub in (slow, fast):
        hub.register(sub)
        hub.go_live(sub)
    hub.dispatch([ev(i) for i in range(1, 11)])
    assert slow.closing == (p.CloseCode.SLOW_CONSUMER, "slow consumer")
    assert not slow.live and slow.take() == [] and slow.resume_point == 0  # dropped, not delivered
    assert sent(fast) == list(range(1, 11))
    assert hub.slow_consumers_cut == 1
    hub.dispatch([ev(11)])
    assert sent(fast) == [11] and slow.take() == []


def test_a_sender_stuck_on_a_client_is_cut_after_the_send_timeout(container):
    h = Hub(container.resolve(Store), container.resolve(EventBus), StreamConfig(send_timeout=0.05),
            registry=PeerRegistry(None))
    stuck, fine = subscriber("stuck"), subscriber("fine")
    for sub in (stuck, fine):
        h.register(sub)
    stuck.send_started = time.monotonic()
    h._reap(time.monotonic() + 1)
    assert stuck.abort.count == 1 and fine.abort.count == 0
    h._reap(time.monotonic() + 2)
    assert stuck.abort.count == 1  # once


def test_the_tailer_delivers_this_process_commits_and_another_process_commits(hub, service, db_url):
    sub = subscriber(queue_size=1000)
    hub.register(sub)  # starts the tailer
    hub.go_live(sub)
    service.create_sequence("mine", start_position="alpha1")  # published on this bus: wakes at once
    other = bootstrap(db_url, migrate=False)  # a second store and bus, as another worker has
    try:
        other.resolve(SequenceManagementService).create_sequence("theirs", start_position="alpha1")
    finally:
        other.resolve(Store).dispose()
    received: list[int] = []
    deadline = time.monotonic() + 5
    while len(received) < 4 and time.monotonic() < deadline:
        sub.wake.wait(0.1)
        sub.wake.clear()
        received += sent(sub)
    with service.store.read() as uow:
        assert received == [e.event_id for e in uow.events_since(0)]


def test_shutdown_asks_every_socket_to_go_away_and_refuses_new_ones(hub):
    subs = [subscriber(str(i)) for i in range(3)]
    for sub in subs:
        hub.register(sub)
    hub.shutdown(wait=False)
    assert all(s.closing and s.closing[0] == p.CloseCode.GOING_AWAY and s.wake.is_set() for s in subs)
    assert not hub.register(subscriber("late"))


def test_the_connection_limit_is_per_worker(container):
    h = Hub(container.resolve(Store), container.resolve(EventBus), StreamConfig(max_connections=2),
            registry=PeerRegistry(None))
    subs = [subscriber(str(i)) for i in range(3)]
    assert [h.register(s) for s in subs] == [True, True, False]
    h.unregister(subs[0])
    assert h.register(subs[2])
    h.shutdown(wait=True)


def test_an_event_is_framed_once_for_every_client_whatever_its_size(hub):
    subs = [subscriber(str(i)) for i in range(3)]
    for sub in subs:
        hub.register(sub)
        hub.go_live(sub)
    small, big = ev(1), Event("sequence.updated", {"pad": "x" * 70_000}, event_id=2)
    hub.dispatch([small, big])
    frames = [sub.take() for sub in subs]
    assert all(f[0][1] is frames[0][0][1] and f[1][1] is frames[0][1][1] for f in frames)  # shared
    assert payload(frames[0][1][1])["data"]["pad"] == "x" * 70_000


def test_stats_merge_the_other_workers_lists(hub, tmp_path):
    hub.registry = PeerRegistry(str(tmp_path))
    (tmp_path / "1.json").write_text(json.dumps({"pid": 1, "last_event_id": 9, "connections": [
        {"client_id": "gone"}]}))  # pid 1 is init here: alive, so counted
    (tmp_path / "999999999.json").write_text("{}")  # no such process: ignored and removed
    sub = subscriber("me")
    hub.register(sub)
    stats = hub.stats()
    assert stats["scope"] == "server" and stats["workers"] == 2 and stats["total_connections"] == 2
    assert {c["client_id"] for c in stats["connections"]} == {"gone", "me"}
    assert stats["last_event_id"] == 9
    assert not (tmp_path / "999999999.json").exists()


class Socket:
    """A socket that takes whole frames, part of one, or nothing, as told."""

    def __init__(self, answer: str = WROTE) -> None:
        self.answer = answer
        self.frames: list[bytes] = []

    def __call__(self, frame: bytes) -> str:
        if self.answer is not BUSY:
            self.frames.append(frame)
        return self.answer


def direct_subscriber(answer: str = WROTE, queue_size: int = 10) -> tuple[Subscriber, Socket]:
    sock = Socket(answer)
    sub = Subscriber("d", threading.Event(), Cut(), queue_size, direct=sock)
    assert sub.take() == []  # the session has sent its hello: the tailer may write now
    return sub, sock


def test_an_idle_client_is_written_to_directly_without_waking_its_thread():
    sub, sock = direct_subscriber()
    assert sub.offer(1, b"one") is DONE and sub.offer(2, b"two") is DONE
    assert sock.frames == [b"one", b"two"] and not sub.queue and not sub.wake.is_set()
    assert (sub.last_sent_id, sub.events_sent, sub.resume_point) == (2, 2, 2)


def test_a_busy_socket_queues_and_everything_after_waits_its_turn():
    sub, sock = direct_subscriber(BUSY)
    assert sub.offer(1, b"one") is WAKE
    sock.answer = WROTE
    assert sub.offer(2, b"two") is WAKE  # never overtakes a queued event
    assert sock.frames == [] and [i for i, _ in sub.take()] == [1, 2]
    assert sub.offer(3, b"three") is WAKE  # the sender still owns the socket until it comes back empty
    assert [i for i, _ in sub.take()] == [3] and sub.take() == []
    assert sub.offer(4, b"four") is DONE and sock.frames == [b"four"]


def test_a_partly_written_frame_wakes_the_sender_to_finish_it():
    sub, sock = direct_subscriber(OWES)
    assert sub.offer(1, b"long frame") is WAKE
    assert sub.last_sent_id == 1 and not sub.queue  # committed: the socket owes only the rest


def test_no_direct_writes_while_the_session_replays_or_closes():
    sub, sock = direct_subscriber()
    sub.hold()
    assert sub.offer(1, b"one") is WAKE and sock.frames == []
    assert [i for i, _ in sub.take()] == [1] and sub.take() == []
    sub.request_close(p.CloseCode.GOING_AWAY, "bye", 1)
    assert sub.offer(2, b"two") is WAKE and sock.frames == []


def test_a_full_queue_is_reported():
    sub, _ = direct_subscriber(BUSY, queue_size=2)
    assert [sub.offer(i, b"x") for i in (1, 2, 3)] == [WAKE, WAKE, FULL]


# -- store outages ----------------------------------------------------------------------------
def messages(sub: Subscriber) -> list[tuple]:
    """(type, status, event_id) of what the client would be sent next."""
    return [(m["type"], m.get("status"), m.get("event_id")) for m in (payload(f) for _, f in sub.take())]


def open_breaker(store: Store) -> None:
    for _ in range(3):  # three infrastructure faults in a row, as the watchdog's failed pings record them
        store.breaker.failure(RuntimeError("connection refused"))
    assert store.breaker.state == "open"


def test_clients_hear_when_the_store_breaker_opens_and_when_the_log_reads_again(hub, container):
    store = container.resolve(Store)
    early, direct, sock = subscriber("early"), *direct_subscriber()
    for sub in (early, direct):
        hub.register(sub)
        hub.go_live(sub)
    hub.dispatch([ev(1)])
    open_breaker(store)
    assert hub.check_store() is False and not hub.log_readable()  # told; nothing to read meanwhile
    late = subscriber("late")  # connects during the outage
    hub.register(late)
    hub.go_live(late)
    assert hub.check_store() is False  # once per change
    assert messages(early) == [("event", None, 1), ("store_status", "unavailable", None)]
    assert messages(late) == [("store_status", "unavailable", None)]
    told = payload(sock.frames[-1])  # an idle client is told directly, like an event
    assert told["status"] == "unavailable" and told["last_event_id"] == 1 and told["retry_after"] >= 1

    store.breaker.reset()  # the watchdog's probe succeeded
    assert hub.check_store() is True  # read the log again
    hub.dispatch([ev(2)])  # what the tailer read: the notice goes first
    for sub in (early, late):
        assert messages(sub) == [("store_status", "available", None), ("event", None, 2)]
    assert [payload(f)["type"] for f in sock.frames[-2:]] == ["store_status", "event"]
    assert (direct.last_sent_id, direct.events_sent) == (2, 2)  # notices are not events
    assert hub.check_store() is False and hub.store_status == "available"


def test_a_notice_dropped_by_a_resume_is_told_again_by_the_session(hub, container):
    sub = subscriber()
    hub.register(sub)
    hub.go_live(sub)
    open_breaker(container.resolve(Store))
    hub.check_store()  # queued, not yet sent
    hub.pause(sub)  # the client asked to resume: its queue is dropped, the notice with it
    assert sub.note_status("unavailable") is True  # so the replay tells it itself
    assert sub.note_status("unavailable") is False


def test_lag_counts_the_events_the_tailer_has_not_dispatched(hub, service):
    sub = subscriber()
    hub.register(sub)
    hub.go_live(sub)
    service.create_sequence("behind", start_position="alpha1")  # the tailer is not running
    behind, age_ms = hub.lag()
    assert behind == 2 and age_ms >= 0  # sequence.created and command.executed
    hub.pump()
    assert hub.lag() == (0, 0.0)


def test_a_tailer_with_no_live_subscriber_is_behind_nobody(hub, service):
    hub.ensure_started()
    for name in ("one", "two"):
        service.create_sequence(name, start_position="alpha1")  # nobody to send these to
    assert hub.lag() == (0, 0.0)
    service.create_sequence("three", start_position="alpha1")
    sub = subscriber()
    hub.register(sub)
    with hub.store.read() as uow:
        end = uow.last_event_id()
    assert hub.go_live(sub) == end  # live from the end of the log, not from before it
