"""The events conformance scenario (tests/sdk/conformance.py) fails a follow program that loses or
repeats events across a reconnect: the SDK tests that pass it prove something. The follower here
is written on the raw protocol, with the bug named by ``mode``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.sdk.conformance import ScenarioFailed, run_scenario

pytestmark = pytest.mark.e2e

FOLLOWER = '''
import json, os, sys, time
import websocket

mode, url = sys.argv[1], sys.argv[-1].replace("http", "ws", 1) + "/ws"
first_hello = None
while True:
    since = f"?since={first_hello}" if mode == "replays" and first_hello is not None else ""
    try:
        ws = websocket.create_connection(url + since, timeout=5,
                                         header=[f"Authorization: Bearer {os.environ['TKA_TOKEN']}"])
        while True:
            message = json.loads(ws.recv())
            if message["type"] == "connection_established":
                first_hello = message["last_event_id"] if first_hello is None else first_hello
                print(json.dumps({"type": message["type"], "last_event_id": message["last_event_id"]}), flush=True)
            elif message["type"] == "event":
                print(json.dumps({k: message[k] for k in ("type", "event_id", "event_type", "sequence_id")}),
                      flush=True)
    except Exception:
        time.sleep(0.1)
'''


@pytest.mark.parametrize("mode, complaint", [
    ("forgets", "expected event 9"),                 # reconnects without since: never sees 9 (a gap)
    ("replays", "expected {'type': 'event', 'event_id': 9,"),  # resumes too early: event 3 again
])
def test_the_scenario_fails_a_follower_that_loses_or_repeats_events(tmp_path: Path, mode: str, complaint: str):
    script = tmp_path / "follower.py"
    script.write_text(FOLLOWER)
    with pytest.raises(ScenarioFailed) as failed:
        run_scenario([sys.executable, str(script), mode], cwd=tmp_path, workdir=tmp_path, wait_s=6)
    assert complaint in str(failed.value), str(failed.value)
    if mode == "replays":   # what came instead of event 9: event 3 again
        assert "got {'type': 'event', 'event_id': 3," in str(failed.value), str(failed.value)
