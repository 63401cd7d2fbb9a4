"""The event protocol's rules, without a server: what clients may send and what they get."""

from __future__ import annotations

import json

import pytest

from app.core.events import Event
from app.events import protocol as p


def test_client_messages_of_the_brief_parse_with_their_id():
    assert p.parse('{"type": "ping", "id": 3}') == p.ClientMessage("ping", 3)
    assert p.parse('{"type": "get_stats"}') == p.ClientMessage("get_stats")
    message = p.parse(json.dumps({"type": "set_filters", "id": "f1", "event_types": ["sequence.*", "command.undone"]}))
    assert isinstance(message, p.SetFilters) and message.id == "f1"
    assert message.filter == p.EventFilter(("sequence.*", "command.undone"), ())
    assert p.parse('{"type": "resume", "since": 41}') == p.Resume("resume", None, 41)
    assert p.parse('{"type": "auth", "token": "s3cret"}') == p.Auth("auth", None, "s3cret")


@pytest.mark.parametrize("raw, code", [
    (b"\x00\x01", "unsupported_data"),
    ("{not json", "invalid_json"),
    ("[1, 2]", "invalid_message"),
    ('{"id": 1}', "invalid_message"),
    ('{"type": 7}', "invalid_message"),
    ('{"type": "ping", "id": [1]}', "invalid_message"),
    ('{"type": "ping", "id": true}', "invalid_message"),
    ('{"type": "subscribe_everything"}', "unknown_type"),
    ('{"type": "set_filters", "event_types": "sequence.*"}', "invalid_message"),
    ('{"type": "set_filters", "event_types": [1]}', "invalid_message"),
    ('{"type": "set_filters", "event_types": ["Sequence Created"]}', "invalid_message"),
    ('{"type": "set_filters", "sequence_ids": ["a b"]}', "invalid_message"),
    ('{"type": "resume", "since": "12"}', "invalid_message"),
    ('{"type": "resume", "since": -1}', "invalid_message"),
    ('{"type": "resume", "since": true}', "invalid_message"),
    ('{"type": "resume", "since": 9007199254740992}', "invalid_message"),  # beyond MAX_EVENT_ID
    ('{"type": "resume", "since": 9223372036854775808}', "invalid_json"),  # beyond 64 bits: the reader refuses
    ('{"type": "auth", "token": 5}', "invalid_message"),
    ('{"type": "ping", "id": NaN}', "invalid_json"),
    ('{"type": "ping", "id": "\\ud800"}', "invalid_json"),
    ("[" * 5000 + "]" * 5000, "invalid_json"),
])
def test_malformed_messages_are_named_errors(raw, code):
    with pytest.raises(p.ProtocolError) as info:
        p.parse(raw)
    assert info.value.code == code


def test_an_error_keeps_the_id_it_could_read():
    with pytest.raises(p.ProtocolError) as info:
        p.parse('{"type": "resume", "id": 9, "since": "x"}')
    assert info.value.msg_id == 9
    assert p.error(info.value.code, info.value.message, info.value.msg_id)["id"] == 9


def test_filters_by_exact_type_prefix_and_sequence():
    created = Event("sequence.created", sequence_id="s1", event_id=1)
    undone = Event("command.undone", sequence_id="s2", event_id=2)
    assert p.EventFilter().accepts(created) and p.EventFilter().accepts(undone)
    assert p.EventFilter(("sequence.*",)).accepts(created)
    assert not p.EventFilter(("sequence.*",)).accepts(undone)
    assert p.EventFilter(("command.undone",)).accepts(undone)
    assert p.EventFilter((), ("s2",)).accepts(undone) and not p.EventFilter((), ("s2",)).accepts(created)
    assert not p.EventFilter(("sequence.*",), ("s2",)).accepts(undone)


def test_event_message_has_the_documented_fields_and_an_integer_id():
    event = Event("sequence.created", {"n": 1}, sequence_id="s1", command_id="c1", request_id="r1", event_id=12)
    message = json.loads(p.encode(p.event_message(event)))
    assert message == {"type": "event", "event_id": 12, "event_type": "sequence.created",
                       "timestamp": event.timestamp, "sequence_id": "s1", "request_id": "r1",
                       "command_id": "c1", "data": {"n": 1}}


def test_since_parameter():
    assert p.parse_since(None) is None
    assert p.parse_since("0") == 0 and p.parse_since("42") == 42
    assert p.parse_since(str(p.MAX_EVENT_ID)) == p.MAX_EVENT_ID
    for bad in ("-1", "x", "1.5", "9" * 19, str(p.MAX_EVENT_ID + 1), "\u00b2", "\u0661"):
        with pytest.raises(ValueError):
            p.parse_since(bad)


def test_close_codes_are_the_documented_ones():
    assert {c.name: int(c) for c in p.CloseCode} == {
        "NORMAL": 1000, "GOING_AWAY": 1001, "POLICY_VIOLATION": 1008, "MESSAGE_TOO_BIG": 1009,
        "INTERNAL_ERROR": 1011, "TRY_AGAIN_LATER": 1013, "SLOW_CONSUMER": 4008}
    assert len(p.slow_consumer_reason(10 ** 15).encode()) <= 123  # fits a close frame


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_text_frames_carry_any_length(size):
    import wsproto
    from wsproto.events import AcceptConnection, Request, TextMessage

    client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    next(server.events())
    client.receive_data(server.send(AcceptConnection()))
    next(client.events())
    client.receive_data(p.text_frame("é" * (size // 2) + "a" * (size % 2)))
    text = "".join(e.data for e in client.events() if isinstance(e, TextMessage))
    assert text == "é" * (size // 2) + "a" * (size % 2)
