"""The hub without sockets: order, exactly once, bounded queues, going live after a replay, store
outages. Its connections are fakes that record what they were given."""

from __future__ import annotations

import json
import threading
import time

import pytest

from app.core.events import Event
from app.events import protocol as p
from app.events.config import StreamConfig
from app.events.hub import Hub
from app.events.registry import PeerRegistry
from app.events.subscriber import Subscriber, Written
from app.store import Store


class Connection:
    """A socket that takes whole frames, part of one, or nothing, as told."""

    def __init__(self, answer: Written = Written.ALL) -> None:
        self.answer = answer
        self.frames: list[bytes] = []
        self.aborts = 0
        self.woken = threading.Event()

    def try_send(self, frame: bytes) -> Written:
        if self.answer is not Written.NOTHING:
            self.frames.append(frame)
        return self.answer

    def abort(self) -> None:
        self.aborts += 1

    def wake(self) -> None:
        self.woken.set()


def payload(frame: bytes) -> dict:
    """The JSON of a server text frame."""
    assert frame[0] == 0x81
    length = frame[1] & 0x7F
    return json.loads(frame[{126: 4, 127: 10}.get(length, 2):])


def join(hub: Hub, name: str = "c", queue_size: int = 100, *, live: bool = True,
         direct: bool = False) -> tuple[Subscriber, Connection]:
    """A client: registered, live from the hub's position unless not ``live``, and (``direct``) with
    its hello out and nothing queued, so that the tailer writes to it directly."""
    sub, conn = Subscriber(name, queue_size), Connection()
    assert hub.register(sub, conn)
    if live:
        hub.go_live(sub)
    if direct:
        with sub.lock:
            assert sub.take() == []
    return sub, conn


def sent(sub: Subscriber) -> list[int]:
    """The ids of the events queued for ``sub`` (its session takes them)."""
    with sub.lock:
        items = sub.take()
    assert all(payload(frame)["event_id"] == event_id for event_id, frame in items)
    return [event_id for event_id, _ in items]


@pytest.fixture(autouse=True)
def quick_shutdown(monkeypatch):
    monkeypatch.setattr("app.events.hub.SHUTDOWN_GRACE", 0.05)


def make_hub(store: Store, **config: object) -> Hub:
    return Hub(store, StreamConfig(**config), registry=PeerRegistry(None))  # type: ignore[arg-type]


@pytest.fixture
def hub(store):
    h = make_hub(store, queue_size=5)
    yield h
    h.shutdown(wait=True)


def ev(event_id: int, event_type: str = "sequence.updated", sequence_id: str = "s1") -> Event:
    return Event(event_type, {"i": event_id}, sequence_id=sequence_id, event_id=event_id)


def test_live_subscribers_get_each_new_event_once_in_order(hub):
    (a, conn), (b, _) = join(hub, "a"), join(hub, "b")
    hub.dispatch([ev(1), ev(2)])
    hub.dispatch([ev(2), ev(3), ev(1)])  # already dispatched ids are never offered again
    assert sent(a) == sent(b) == [1, 2, 3]
    assert conn.woken.is_set()


def test_filters_apply_but_the_cursor_still_moves(hub):
    sub, _ = join(hub)
    hub.set_filter(sub, p.EventFilter(("command.*",)))
    hub.dispatch([ev(1), ev(2, "command.undone"), ev(3)])
    assert sent(sub) == [2]
    assert sent(sub) == [] and sub.resume_point == 3  # 3 was filtered out: nothing to resend


def test_a_subscriber_behind_the_tailer_cannot_go_live_until_it_caught_up(hub):
    hub.dispatch([ev(1), ev(2), ev(3)])
    sub, _ = join(hub, live=False)
    assert hub.go_live(sub, 1) is None  # it must read 2 and 3 from the log first
    assert hub.go_live(sub, 3) == 3
    hub.dispatch([ev(4)])
    assert sent(sub) == [4]


def test_a_subscriber_that_read_ahead_of_the_tailer_gets_no_duplicate(hub):
    hub.dispatch([ev(1)])
    sub, _ = join(hub, live=False)
    assert hub.go_live(sub, 3) == 3  # replayed 2 and 3 straight from the log
    hub.dispatch([ev(2), ev(3), ev(4)])
    assert sent(sub) == [4]


def test_an_idle_client_is_written_to_directly_and_a_busy_one_queued(hub):
    sub, conn = join(hub, direct=True)
    hub.dispatch([ev(1)])
    assert [payload(f)["event_id"] for f in conn.frames] == [1] and not conn.woken.is_set()
    conn.answer = Written.NOTHING
    hub.dispatch([ev(2), ev(3)])
    assert conn.woken.is_set() and sent(sub) == [2, 3] and (sub.last_written, sub.events_sent) == (1, 1)


def test_an_overflowing_queue_cuts_that_client_off_and_nobody_else(hub):
    (slow, slow_conn), (fast, _) = join(hub, "slow", queue_size=3), join(hub, "fast", queue_size=100)
    hub.dispatch([ev(i) for i in range(1, 11)])
    assert slow.closing == (p.CloseCode.SLOW_CONSUMER, "slow consumer") and slow_conn.woken.is_set()
    assert not slow.live and sent(slow) == [] and slow.resume_point == 0  # dropped, not delivered
    assert sent(fast) == list(range(1, 11))
    assert hub.slow_consumers_cut == 1
    hub.dispatch([ev(11)])
    assert sent(fast) == [11] and sent(slow) == []


def test_a_session_stuck_writing_is_cut_after_the_send_timeout(store):
    h = make_hub(store, send_timeout=0.05)
    (stuck, stuck_conn), (_, fine_conn) = join(h, "stuck"), join(h, "fine")
    stuck.send_started = time.monotonic()
    h.reap(time.monotonic() + 1)
    assert (stuck_conn.aborts, fine_conn.aborts) == (1, 0)
    h.reap(time.monotonic() + 2)
    assert stuck_conn.aborts == 1  # once
    h.shutdown(wait=True)


def test_shutdown_asks_every_socket_to_go_away_and_refuses_new_ones(hub):
    clients = [join(hub, str(i)) for i in range(3)]
    hub.shutdown(wait=False)
    assert all(s.closing and s.closing[0] == p.CloseCode.GOING_AWAY and c.woken.is_set() for s, c in clients)
    assert not hub.register(Subscriber("late", 10), Connection())


def test_the_connection_limit_is_per_worker(store):
    h = make_hub(store, max_connections=2)
    subs = [Subscriber(str(i), 10) for i in range(3)]
    assert [h.register(s, Connection()) for s in subs] == [True, True, False]
    h.unregister(subs[0])
    assert h.register(subs[2], Connection()) and h.connection_count() == 2
    h.shutdown(wait=True)


def test_sockets_waiting_to_authenticate_have_a_pool_of_their_own(store):
    h = make_hub(store, max_connections=1, max_pending=3, max_pending_per_peer=2)
    waiting = [Subscriber(str(i), 10) for i in range(5)]
    assert [h.hold(sub, Connection(), peer) for sub, peer in zip(waiting, ["a", "a", "a", "b", "c"], strict=True)] == \
        [True, True, False, True, False]  # two per peer, three in all
    assert h.connection_count() == 0 and h.pending_count() == 3
    holder = Subscriber("with the token", 10)
    assert h.register(holder, Connection())  # the held ones took no place
    h.unregister(waiting[0])
    assert h.pending_count() == 2 and h.hold(waiting[2], Connection(), "a")

    h.unregister(holder)
    assert h.admit(waiting[1]) and h.connection_count() == 1 and h.pending_count() == 2
    assert not h.admit(waiting[3]) and h.pending_count() == 1  # full: refused, and no longer held
    h.shutdown(wait=False)
    assert waiting[1].closing and waiting[2].closing  # held ones are told to go away too
    assert not h.hold(Subscriber("late", 10), Connection(), "d")
    h.shutdown(wait=True)


def test_an_event_is_framed_once_for_every_client_whatever_its_size(hub):
    subs = [join(hub, str(i))[0] for i in range(3)]
    small, big = ev(1), Event("sequence.updated", {"pad": "x" * 70_000}, event_id=2)
    hub.dispatch([small, big])
    frames = []
    for sub in subs:
        with sub.lock:
            frames.append(sub.take())
    assert all(f[0][1] is frames[0][0][1] and f[1][1] is frames[0][1][1] for f in frames)  # shared
    assert payload(frames[0][1][1])["data"]["pad"] == "x" * 70_000


def test_stats_merge_the_other_workers_lists(hub, tmp_path):
    hub.registry = PeerRegistry(str(tmp_path))
    (tmp_path / "1.json").write_text(json.dumps({"pid": 1, "last_event_id": 9, "connections": [
        {"client_id": "gone"}]}))  # pid 1 is init here: alive, so counted
    (tmp_path / "999999999.json").write_text("{}")  # no such process: ignored and removed
    join(hub, "me")
    stats = hub.stats()
    assert stats["scope"] == "server" and stats["workers"] == 2 and stats["total_connections"] == 2
    assert {c["client_id"] for c in stats["connections"]} == {"gone", "me"}
    assert stats["last_event_id"] == 9
    assert not (tmp_path / "999999999.json").exists()


# -- store outages ----------------------------------------------------------------------------
def messages(sub: Subscriber) -> list[tuple]:
    """(type, status, event_id) of what the client would be sent next."""
    with sub.lock:
        items = sub.take()
    return [(m["type"], m.get("status"), m.get("event_id")) for m in (payload(f) for _, f in items)]


def open_breaker(store: Store) -> None:
    for _ in range(3):  # three infrastructure faults in a row, as the watchdog's failed pings record them
        store.breaker.failure(RuntimeError("connection refused"))
    assert store.breaker.state == "open"


def test_clients_hear_when_the_store_breaker_opens_and_when_the_log_reads_again(hub, store):
    (early, _), (direct, conn) = join(hub, "early"), join(hub, "direct", direct=True)
    hub.dispatch([ev(1)])
    open_breaker(store)
    assert hub.check_store() is False and not hub.log_readable()  # told; nothing to read meanwhile
    late, _ = join(hub, "late")  # connects during the outage
    assert hub.check_store() is False  # once per change
    assert messages(early) == [("event", None, 1), ("store_status", "unavailable", None)]
    assert messages(late) == [("store_status", "unavailable", None)]
    told = payload(conn.frames[-1])  # an idle client is told directly, like an event
    assert told["status"] == "unavailable" and told["last_event_id"] == 1 and told["retry_after"] >= 1

    store.breaker.reset()  # the watchdog's probe succeeded
    assert hub.check_store() is True  # read the log again
    hub.dispatch([ev(2)])  # what the tailer read: the store_status goes first
    for sub in (early, late):
        assert messages(sub) == [("store_status", "available", None), ("event", None, 2)]
    assert [payload(f)["type"] for f in conn.frames[-2:]] == ["store_status", "event"]
    assert (direct.last_written, direct.events_sent) == (2, 2)  # notices are not events
    assert hub.check_store() is False and hub.store_status == "available"


def test_a_session_that_is_not_live_is_woken_to_tell_its_client_itself(hub, store):
    sub, conn = join(hub, live=False)  # replaying: its session owns the writes
    open_breaker(store)
    hub.check_store()
    assert conn.woken.is_set() and messages(sub) == []
