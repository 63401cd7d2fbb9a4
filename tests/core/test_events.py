from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from app.core import events
from app.core.events import Event, EventBus, matches, utc_now, utc_text


def test_subscribers_receive_by_exact_type_and_wildcards():
    bus = EventBus()
    exact, prefix, everything = [], [], []
    bus.subscribe("sequence.beat_added", exact.append)
    bus.subscribe("sequence.*", prefix.append)
    bus.subscribe("*", everything.append)
    added = Event("sequence.beat_added", {"n": 1})
    executed = Event("command.executed")
    bus.publish(added)
    bus.publish(executed)
    assert exact == [added]
    assert prefix == [added]
    assert everything == [added, executed]


def test_a_failing_handler_never_breaks_the_others():
    bus = EventBus()
    received = []

    def broken(_event):
        raise RuntimeError("subscriber bug")

    bus.subscribe("*", broken)
    bus.subscribe("*", received.append)
    bus.publish(Event("sequence.created"))
    assert len(received) == 1
    assert bus.handler_failures == 1


def test_unsubscribe_stops_delivery():
    bus = EventBus()
    received = []
    token = bus.subscribe("*", received.append)
    assert bus.unsubscribe(token)
    bus.publish(Event("sequence.created"))
    assert received == []
    assert not bus.unsubscribe(token)


def test_events_are_frozen_and_get_their_log_id_by_copy():
    event = Event("sequence.created", {"a": 1}, sequence_id="s")
    stored = event.stored_as(7)
    assert event.event_id is None and stored.event_id == 7
    assert stored.uuid == event.uuid
    assert stored.to_dict()["event_type"] == "sequence.created"


def test_pattern_matching():
    assert matches("*", "x.y")
    assert matches("sequence.*", "sequence.created")
    assert not matches("sequence.*", "command.executed")
    assert not matches("sequence.created", "sequence.created_x")


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))  # 1970 .. 2100
def test_utc_text_writes_what_isoformat_writes_to_the_millisecond(now):
    expected = datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert utc_text(now) == expected
    assert utc_text(now + 1) != expected  # the kept second moves on


def test_utc_now_writes_the_clocks_time(monkeypatch):
    monkeypatch.setattr(events.time, "time", lambda: 1_764_158_400.1234)  # a fixed clock
    assert utc_now() == "2025-11-26T12:00:00.123Z"
