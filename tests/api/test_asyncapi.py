"""asyncapi.yaml documents what the server really sends: real messages, from a live server, are
validated against its schemas (which reuse openapi.yaml's), and every event type and close code
is in it."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from app.events import protocol as p
from app.events.protocol import CloseCode
from tests.api.test_spec import ExampleValidator  # OAS 3.0 plus openapi.yaml's nullable-allOf convention
from tests.ws import Client, create_sequence, last_event_id

ROOT = Path(__file__).resolve().parents[2]
ASYNCAPI = yaml.safe_load((ROOT / "asyncapi.yaml").read_text())
OPENAPI = yaml.safe_load((ROOT / "openapi.yaml").read_text())


def pointer(doc: dict[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.lstrip("/").split("/"):
        node = node[part]
    return node


def inline(node: Any, doc: dict[str, Any]) -> Any:
    """``node`` with every $ref (inside asyncapi.yaml or into openapi.yaml) replaced by its target."""
    if isinstance(node, list):
        return [inline(item, doc) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target, _, path = node["$ref"].partition("#")
        other = OPENAPI if target == "openapi.yaml" else doc
        assert target in ("", "openapi.yaml"), node["$ref"]
        return inline(copy.deepcopy(pointer(other, path)), other)
    return {key: inline(value, doc) for key, value in node.items()}


def payload_schemas() -> dict[str, dict[str, Any]]:
    """message name (its ``type``) -> OpenAPI 3.0 payload schema."""
    found = {}
    for message in ASYNCAPI["components"]["messages"].values():
        payload = inline(message["payload"], ASYNCAPI)
        assert payload["schemaFormat"] == "application/vnd.oai.openapi;version=3.0.0"
        found[message["name"]] = payload["schema"]
    return found


SCHEMAS = payload_schemas()
SERVER_MESSAGES = {"connection_established", "event", "filters_updated", "pong", "stats", "heartbeat",
                   "resumed", "resync_required", "store_status", "error"}
CLIENT_MESSAGES = {"set_filters", "ping", "get_stats", "resume", "auth"}


def check(message: dict[str, Any]) -> None:
    ExampleValidator(SCHEMAS[message["type"]]).validate(message)


def test_every_message_is_documented_once():
    assert set(SCHEMAS) == SERVER_MESSAGES | CLIENT_MESSAGES
    ops = ASYNCAPI["operations"]
    sent = {ref["$ref"].rsplit("/", 1)[1] for ref in ops["sendEvents"]["messages"]}
    received = {ref["$ref"].rsplit("/", 1)[1] for ref in ops["receiveControl"]["messages"]}
    assert len(sent) == len(SERVER_MESSAGES) and len(received) == len(CLIENT_MESSAGES)


def test_every_event_type_the_services_emit_is_documented():
    source = (ROOT / "app" / "services" / "sequences.py").read_text()
    emitted = set(re.findall(r'"((?:sequence|command|motion)\.[a-z_]+)"', source))
    assert emitted and emitted <= set(ASYNCAPI["components"]["schemas"]["EventType"]["enum"])


def test_store_status_notices_match_their_schema():
    # Sent only during a store outage: tests/e2e/test_postgres.py checks real ones too.
    unavailable = p.store_status(p.STORE_UNAVAILABLE, 41, retry_after=4.2)
    assert unavailable["retry_after"] == 5 and unavailable["last_event_id"] == 41
    check(unavailable)
    check(p.store_status(p.STORE_UNAVAILABLE, 0, retry_after=0))  # a probe already due: still >= 1
    available = p.store_status(p.STORE_AVAILABLE, 41)
    assert "retry_after" not in available
    check(available)


def test_every_close_code_is_in_the_table():
    table = ASYNCAPI["info"]["description"]
    for code in CloseCode:
        assert f"| {int(code)} |" in table, code


@pytest.mark.e2e
def test_real_messages_match_their_schemas(server):
    url = server.url
    client = Client(server, "/ws/contract")
    check(client.hello)
    seq = create_sequence(server, "Contract", request_id="req-contract")
    sid = seq["id"]
    calls = [
        ("post", f"/api/sequences/{sid}/beats", {"beat": {"letter": "A"}}),
        ("post", f"/api/sequences/{sid}/beats", {"beat": {"letter": "B"}}),
        ("patch", f"/api/sequences/{sid}/beats/1", {"blue_turns": 1}),
        ("delete", f"/api/sequences/{sid}/beats/2", None),
        ("put", f"/api/sequences/{sid}", {"name": "Renamed"}),
        ("put", f"/api/sequences/{sid}/start-position", {"position": "alpha1"}),
        ("post", "/api/commands/undo", {"sequence_id": sid}),
        ("post", "/api/commands/redo", {"sequence_id": sid}),
        ("post", "/api/sequences/generate", {"length": 4, "name": "Made"}),
        ("put", "/api/current-sequence", {"sequence_id": sid}),
        ("delete", f"/api/sequences/{sid}", None),
        ("post", "/api/commands/undo", {"sequence_id": sid}),
    ]
    for method, path, body in calls:
        r = requests.request(method, url + path, json=body, timeout=10)
        assert r.status_code < 300, (path, r.text)
    end = last_event_id(server)
    seen_types = set()
    while True:
        message = client.recv()
        check(message)
        seen_types.add(message["event_type"])
        if message["event_id"] >= end:
            break
    assert {"sequence.beat_added", "sequence.beat_removed", "sequence.beat_updated", "sequence.updated",
            "sequence.start_position_set", "command.undone", "command.redone", "motion.generated",
            "sequence.current_changed", "sequence.deleted", "sequence.restored"} <= seen_types

    for request in ({"type": "ping", "id": 1}, {"type": "get_stats", "id": "s"},
                    {"type": "set_filters", "event_types": ["sequence.*"], "sequence_ids": [sid]},
                    {"type": "teleport", "id": 3}, {"type": "resume", "since": end}):
        if request["type"] in SCHEMAS:  # what clients send is documented too
            check(request)
        client.send(request)
        check(client.recv())
    check(client.recv(5, heartbeats=True))  # a heartbeat
    ahead = Client(server, f"/ws?since={end + 50}")
    check(ahead.recv())  # resync_required
    client.close()
    ahead.close()
