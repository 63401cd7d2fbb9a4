"""tka_sdk.events: resume, dedupe and filters; live against TKA_BASE_URL when it serves /ws."""

from __future__ import annotations

import os
import uuid

import pytest

from tka_sdk import AddBeatRequest, BeatInput, CreateSequenceRequest
from tka_sdk.client import TKAClient
from tka_sdk.events import EventStream

BASE_URL = os.environ.get("TKA_BASE_URL")


def test_the_url_resumes_after_the_last_event_and_replays_are_not_returned_twice():
    stream = EventStream("http://127.0.0.1:8000", since=41)
    assert stream.url() == "ws://127.0.0.1:8000/ws?since=41"
    assert EventStream("https://h/ws/me").url() == "wss://h/ws/me"
    seen = []
    stream.on_message = seen.append
    event = {"type": "event", "event_id": 42, "event_type": "sequence.beat_added", "timestamp": "t",
             "sequence_id": "s", "request_id": "r", "command_id": "c", "data": {"beat_number": 1}}
    assert stream._handle(event).event_id == 42
    assert stream._handle(event) is None            # a replayed id is skipped
    assert stream._handle({"type": "resync_required"}) is None
    assert stream.last_event_id == 42 and seen == [{"type": "resync_required"}]
    assert stream.url().endswith("since=42")


def test_store_status_notices_flip_store_available_and_keep_the_position():
    stream = EventStream("http://127.0.0.1:8000", since=7)
    seen = []
    stream.on_message = seen.append
    down = {"type": "store_status", "status": "unavailable", "retry_after": 5, "last_event_id": 7}
    assert stream.store_available is True
    assert stream._handle(down) is None
    assert stream.store_available is False and seen == [down]
    assert stream._handle({"type": "store_status", "status": "available", "last_event_id": 7}) is None
    assert stream.store_available is True and stream.last_event_id == 7


def _has_event_stream(url: str) -> bool:
    import websocket

    try:
        websocket.create_connection(url.replace("http", "ws", 1) + "/ws", timeout=5).close()
        return True
    except Exception:
        return False


def test_live_events_arrive_and_a_new_stream_resumes_from_the_last_id():
    if not BASE_URL:
        pytest.skip("set TKA_BASE_URL to a running tka server")
    if not _has_event_stream(BASE_URL):
        pytest.skip("the server has no /ws event stream yet (issue 4, WebSocket events)")
    tka = TKAClient(BASE_URL)
    with EventStream(BASE_URL, event_types=["sequence.*"]) as stream:
        seq_id = tka.sequences.create_sequence(
            CreateSequenceRequest(name=f"events {uuid.uuid4()}", start_position="alpha1")).data.id
        event = stream.next_event(timeout=15)
        while event is not None and event.sequence_id != seq_id:
            event = stream.next_event(timeout=15)
        assert event is not None and event.event_type.startswith("sequence.")
        last = stream.last_event_id

    # While no stream is open a beat is added; a stream resuming after `last` replays it.
    tka.beats.add_beat(seq_id, AddBeatRequest(beat=BeatInput(letter="A")))
    with EventStream(BASE_URL, since=last) as resumed:
        replayed = resumed.next_event(timeout=15)
        while replayed is not None and not (replayed.sequence_id == seq_id and replayed.event_type == "sequence.beat_added"):
            replayed = resumed.next_event(timeout=15)
    assert replayed is not None and replayed.event_id > last
    tka.sequences.delete_sequence(seq_id)
