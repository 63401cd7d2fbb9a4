"""The WebSocket session as a state machine (app/events/session.py): every phase and transition,
with no socket, no thread and no clock but the one passed in."""

from __future__ import annotations

from app.core.events import Event
from app.events import protocol as p
from app.events import session as s
from app.events.config import LOG_PAGE
from app.events.retention import LogBounds

HEARTBEAT = 25.0


def machine(since: int | None = None, token: str | None = None, now: float = 0.0) -> s.Session:
    return s.Session("c1", since, HEARTBEAT, auth_deadline=None if token is None else now + 10,
                     token_matches=None if token is None else (lambda given: given == token))


def events(*ids: int) -> list[Event]:
    return [Event("sequence.updated", event_id=i) for i in ids]


def kinds(actions: list[s.Action]) -> list[str]:
    """Each action's class, and for Send the message type."""
    return [f"Send:{a.message['type']}" if isinstance(a, s.Send) else type(a).__name__ for a in actions]


def test_a_new_client_goes_live_at_once_and_hears_hello_first():
    m = machine()
    assert m.open(0.0, position=7) == [s.GoLive(None)] and m.phase is s.Phase.LIVE
    hello, flush = m.went_live(7)
    assert hello.message["type"] == "connection_established" and hello.message["last_event_id"] == 7
    assert hello.message["heartbeat_interval"] == HEARTBEAT and flush == s.Flush()


def test_a_client_with_since_replays_the_log_until_level_with_the_tailer():
    m = machine(since=3)
    hello, rewind, read = m.open(0.0, position=9)
    assert hello.message["last_event_id"] == 9 and rewind == s.Rewind(3) and read == s.ReadLog(3)
    assert m.phase is s.Phase.REPLAYING
    page = events(4, 5)
    actions = m.page(page, LogBounds(pruned_through=0, last_event_id=9, oldest_event_id=1))
    assert actions == [s.TellStoreStatus(p.STORE_AVAILABLE, 3), s.Replay(page, 5), s.GoLive(5)]
    assert m.behind() == [s.ReadLog(5)]  # the tailer is further on: read more
    assert kinds(m.page(events(6, 7, 8, 9), LogBounds(0, 9, 1)))[-1] == "GoLive"
    assert m.went_live(9) == [s.Flush()] and m.phase is s.Phase.LIVE  # no second hello


def test_a_full_page_is_followed_by_another_read():
    m = machine(since=0)
    m.open(0.0, 0)
    page = events(*range(1, LOG_PAGE + 1))
    assert m.page(page, LogBounds(0, LOG_PAGE + 5, 1))[-1] == s.ReadLog(LOG_PAGE)


def test_a_since_the_log_cannot_serve_is_a_resync_never_a_gap():
    expired = machine(since=2)
    expired.open(0.0, 50)
    tell, resync, replay, live = expired.page(events(41, 42), LogBounds(pruned_through=40, last_event_id=50,
                                                                      oldest_event_id=41))
    assert resync.message["type"] == "resync_required" and resync.message["reason"] == "expired"
    assert (resync.message["since"], resync.message["last_event_id"]) == (2, 50)
    assert replay == s.Replay([], 50) and live == s.GoLive(50)  # the stream goes on after the newest
    ahead = machine(since=99)
    ahead.open(0.0, 50)
    assert ahead.page([], LogBounds(0, 50, 1))[1].message["reason"] == "ahead"


def test_a_token_in_the_first_message_or_the_connection_closes():
    m = machine(token="secret")
    assert m.open(0.0, 5) == [] and m.phase is s.Phase.AUTHENTICATING
    assert m.tick(9.9, 0.0, 0, True) == [] and m.wake_at(0.0) == 10  # waits for its deadline
    assert m.received(p.Auth("auth", None, "secret"), 5, 0, 1.0) == [s.Admit()]  # counted only now
    assert m.admitted(5) == [s.GoLive(None)]

    full = machine(token="secret")
    full.open(0.0, 5)
    full.received(p.Auth("auth", None, "secret"), 5, 0, 1.0)
    assert full.refused("full") == [s.Close(p.CloseCode.TRY_AGAIN_LATER, "full")] and full.phase is s.Phase.CLOSED

    wrong = machine(token="secret")
    wrong.open(0.0, 5)
    assert wrong.received(p.Auth("auth", None, "guess"), 5, 0, 1.0) == [
        s.Close(p.CloseCode.POLICY_VIOLATION, "authentication failed")]
    assert wrong.phase is s.Phase.CLOSED and wrong.received(p.ClientMessage("ping"), 5, 0, 2.0) == []

    other = machine(token="secret")
    other.open(0.0, 5)
    assert kinds(other.received(p.ClientMessage("ping", 1), 5, 0, 1.0)) == ["Close"]  # anything else first

    silent = machine(token="secret")
    silent.open(0.0, 5)
    [close] = silent.tick(10.0, 0.0, 0, True)
    assert close.code == p.CloseCode.POLICY_VIOLATION and "send {type: auth, token} first" in close.reason


def test_client_messages_get_their_replies_with_their_ids():
    m = machine()
    m.open(0.0, 0)
    m.went_live(0)
    record, pong = m.received(p.ClientMessage("ping", 7), 10, 4, 1.0)
    assert record == s.RecordPing() and (pong.message["type"], pong.message["id"], pong.message["last_event_id"]) \
        == ("pong", 7, 4)
    assert m.received(p.ClientMessage("get_stats", "s"), 10, 4, 1.0) == [s.SendStats("s")]
    chosen = p.EventFilter(("command.*",))
    set_filter, updated = m.received(p.SetFilters("set_filters", 2, chosen), 10, 4, 1.0)
    assert set_filter == s.SetFilter(chosen) and updated.message["event_types"] == ["command.*"]
    [again] = m.received(p.Auth("auth", 3, "x"), 10, 4, 1.0)
    assert again.message["code"] == "already_authenticated"
    [error] = m.received(p.ProtocolError("invalid_json", "not JSON", None), 10, 4, 1.0)
    assert error.message["code"] == "invalid_json" and m.phase is s.Phase.LIVE  # the connection lives on


def test_resume_replays_again_from_where_the_client_says():
    m = machine()
    m.open(0.0, 0)
    m.went_live(0)
    resumed, rewind, read = m.received(p.Resume("resume", 9, 2), 10, 10, 1.0)
    assert (resumed.message["type"], resumed.message["since"]) == ("resumed", 2)
    assert (rewind, read, m.phase) == (s.Rewind(2), s.ReadLog(2), s.Phase.REPLAYING)


def test_a_replay_that_cannot_read_the_log_waits_for_the_store_connected():
    m = machine(since=3)
    m.open(0.0, 9)
    assert m.log_unreadable(4.2, now=100.0) == [s.TellStoreStatus(p.STORE_UNAVAILABLE, 3, 4.2)]
    assert m.phase is s.Phase.WAITING_FOR_STORE and m.wake_at(90.0) == 100.0 + s.STORE_RETRY
    assert m.tick(100.1, 100.0, 0, False) == []  # not yet
    assert m.tick(100.0 + s.STORE_RETRY, 100.0, 0, False) == [s.ReadLog(3)]  # look again
    m.log_unreadable(4.2, now=101.0)
    assert m.tick(101.1, 101.0, 0, True) == [s.ReadLog(3)]  # the hub says the store is back: look at once
    [heartbeat] = m.tick(101.2, 101.2 - HEARTBEAT, 3, False)  # heartbeats go on meanwhile
    assert heartbeat.message["type"] == "heartbeat" and heartbeat.message["last_event_id"] == 3
    resumed, rewind, read = m.received(p.Resume("resume", None, 1), 9, 3, 101.3)  # a resume restarts it
    assert (rewind, read) == (s.Rewind(1), s.ReadLog(1))
    assert m.page(events(2), LogBounds(0, 2, 1))[0] == s.TellStoreStatus(p.STORE_AVAILABLE, 1)  # and says so


def test_a_live_client_is_flushed_on_every_tick_and_hears_a_heartbeat_when_quiet():
    m = machine()
    m.open(0.0, 0)
    m.went_live(0)
    assert m.tick(10.0, 5.0, 0, True) == [s.Flush()] and m.wake_at(5.0) == 5.0 + HEARTBEAT
    flush, heartbeat = m.tick(30.0, 5.0, 6, True)
    assert flush == s.Flush() and heartbeat.message["last_event_id"] == 6


def test_a_close_the_hub_asks_for_ends_the_session():
    slow = machine()
    slow.open(0.0, 0)
    error, close = slow.close_asked(p.CloseCode.SLOW_CONSUMER, "slow consumer", 41)
    assert error.message["code"] == "slow_consumer" and error.message["resume_since"] == 41
    assert close == s.Close(p.CloseCode.SLOW_CONSUMER, "slow consumer; resume with since=41")
    assert slow.phase is s.Phase.CLOSED and slow.close_asked(p.CloseCode.GOING_AWAY, "bye", 41) == []
    shutdown = machine(token="secret")  # even before it authenticated
    shutdown.open(0.0, 0)
    assert shutdown.close_asked(p.CloseCode.GOING_AWAY, "server shutting down", 0) == [
        s.Close(p.CloseCode.GOING_AWAY, "server shutting down")]
