"""The event stream on a real server (2 gunicorn workers): the protocol of asyncapi.yaml."""

from __future__ import annotations

import collections
import json
import sqlite3

import pytest
import requests
import websocket

from tests.ws import Client, add_beat, create_sequence, last_event_id, start, ws_url
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

TOKEN = "s3cret-token-for-tests"  # at least 16 characters, as tka serve asks


def test_hello_then_every_event_with_the_request_that_caused_it(server):
    client = Client(server, "/ws/brief-client")
    hello = client.hello
    assert hello["type"] == "connection_established" and hello["client_id"] == "brief-client"
    assert hello["protocol_version"] == 1 and isinstance(hello["last_event_id"], int)
    assert hello["heartbeat_interval"] == 1 and hello["timestamp"].endswith("Z")

    seq = create_sequence(server, "Hello", request_id="req-hello-1")
    created, executed = client.events(2)
    assert [created["event_type"], executed["event_type"]] == ["sequence.created", "command.executed"]
    assert hello["last_event_id"] < created["event_id"] < executed["event_id"]
    for event in (created, executed):
        assert set(event) == {"type", "event_id", "event_type", "timestamp", "sequence_id", "request_id",
                              "command_id", "data"}
        assert event["request_id"] == "req-hello-1" and event["sequence_id"] == seq["id"]
        assert event["command_id"] == created["command_id"]
    # The sequence travels in its REST shape (openapi.yaml's Sequence), not the stored one.
    assert created["data"]["sequence"]["start_position"] == "alpha1"
    assert created["data"]["sequence"]["id"] == seq["id"]
    add_beat(server, seq["id"])
    beat_added, _ = client.events(2)
    assert beat_added["event_type"] == "sequence.beat_added"
    assert beat_added["data"]["beat"]["letter"] == "A" and beat_added["data"]["sequence"]["length"] == 1
    client.close()


def test_filters_by_type_wildcard_and_sequence(server):
    client = Client(server)
    client.send({"type": "set_filters", "id": 1, "event_types": ["command.executed"]})
    reply = client.recv()
    assert reply["type"] == "filters_updated" and reply["id"] == 1
    assert reply["event_types"] == ["command.executed"] and reply["sequence_ids"] == []
    seq = create_sequence(server)
    [only] = client.events(1)
    assert only["event_type"] == "command.executed"

    client.send({"type": "set_filters", "event_types": ["sequence.*"], "sequence_ids": [seq["id"]]})
    assert client.recv()["type"] == "filters_updated"
    create_sequence(server, "Another")  # other sequence: filtered out
    add_beat(server, seq["id"])
    [mine] = client.events(1)
    assert mine["event_type"] == "sequence.beat_added" and mine["sequence_id"] == seq["id"]
    assert client.quiet()

    by_query = Client(server, f"/ws?sequence_id={seq['id']}&event_type=command.*")
    add_beat(server, seq["id"])
    [executed] = by_query.events(1)
    assert executed["event_type"] == "command.executed" and executed["sequence_id"] == seq["id"]
    client.close()
    by_query.close()


def test_ping_stats_and_heartbeat(server):
    client = Client(server, "/ws/stats-client")
    client.send({"type": "ping", "id": "p1"})
    pong = client.recv()
    assert pong["type"] == "pong" and pong["id"] == "p1"
    client.send({"type": "get_stats", "id": 2})
    stats = client.recv()
    assert stats["type"] == "stats" and stats["id"] == 2
    mine = [c for c in stats["data"]["connections"] if c["client_id"] == "stats-client"]
    assert len(mine) == 1 and mine[0]["last_ping"] is not None
    heartbeat = client.recv(5, heartbeats=True)
    assert heartbeat["type"] == "heartbeat" and isinstance(heartbeat["last_event_id"], int)
    client.close()


def test_rest_stats_count_connections_on_every_worker(server):
    clients = [Client(server, f"/ws/counted-{i}") for i in range(8)]
    # Each worker merges the others' lists as they last published them (within a tenth of a
    # second), so an answer is eventually complete: wait for complete answers, then check them.
    seen: dict = {}

    def stats_complete() -> bool:
        r = requests.get(f"{server.url}/api/websocket/stats", timeout=5)
        assert r.status_code == 200 and r.json()["success"] is True
        seen["data"] = data = r.json()["data"]
        counted = {c["client_id"] for c in data["connections"] if c["client_id"].startswith("counted-")}
        return len(counted) == 8 and data["workers"] == 2  # both workers booted and published

    wait_until(stats_complete, "/api/websocket/stats counts the 8 clients on both workers")
    data = seen["data"]
    assert data["scope"] == "server"
    assert data["total_connections"] == len(data["connections"]) >= 8
    # /health says the same, per worker, with the server's total
    per_worker = collections.Counter(c["worker_pid"] for c in data["connections"])

    def health_complete() -> bool:
        check = requests.get(f"{server.url}/health", timeout=5).json()["checks"]["websocket:connections"][0]
        seen["check"] = check
        return int(check["output"].split("; ")[1].split(" on the server")[0]) >= 8  # the server's total

    wait_until(health_complete, "/health counts the 8 clients on the server")
    check = seen["check"]
    assert check["status"] == "pass" and check["component_id"] == "websocket"
    assert check["observed_value"] in {*per_worker.values(), 0}
    for client in clients:
        client.close()


@pytest.mark.parametrize("frame, code", [
    ("{not json", "invalid_json"),
    (json.dumps({"type": "teleport"}), "unknown_type"),
    (json.dumps({"type": "set_filters", "event_types": "sequence.*"}), "invalid_message"),
    (json.dumps({"type": "resume", "since": "yesterday"}), "invalid_message"),
    (json.dumps(["ping"]), "invalid_message"),
])
def test_malformed_messages_get_an_error_and_the_connection_lives_on(server, frame, code):
    client = Client(server)
    client.send(frame)
    error = client.recv()
    assert error["type"] == "error" and error["code"] == code and error["message"]
    client.send({"type": "ping"})
    assert client.recv()["type"] == "pong"
    client.close()


def test_binary_frames_get_an_error(server):
    client = Client(server)
    client.ws.send_binary(b"\x00\xff")
    assert client.recv()["code"] == "unsupported_data"
    client.close()


def test_a_frame_over_the_size_limit_closes_with_1009_and_others_are_fine(server):
    bystander = Client(server)
    big = Client(server)
    big.send({"type": "ping", "padding": "x" * 70_000})
    assert big.closed().code == 1009
    create_sequence(server)
    assert len(bystander.events(2)) == 2
    bystander.close()


def test_since_replays_what_was_missed_then_continues_live_without_gap_or_duplicate(server):
    watcher = Client(server)
    seq = create_sequence(server)
    first = watcher.events(2)
    mark = first[0]["event_id"]
    add_beat(server, seq["id"])
    missed = watcher.events(2)

    late = Client(server, f"/ws?since={mark}")
    replayed = late.events(3)
    assert [e["event_id"] for e in replayed] == [first[1]["event_id"]] + [e["event_id"] for e in missed]
    assert replayed == [first[1], *missed]  # the very same messages
    add_beat(server, seq["id"])
    assert [e["event_id"] for e in late.events(2)] == [e["event_id"] for e in watcher.events(2)]
    assert late.quiet()
    late.close()
    watcher.close()


def test_resume_message_replays_on_an_open_connection(server):
    client = Client(server)
    seq = create_sequence(server)
    created, executed = client.events(2)
    client.send({"type": "resume", "id": 5, "since": created["event_id"] - 1})
    resumed = client.recv()
    assert resumed["type"] == "resumed" and resumed["id"] == 5
    assert client.events(2) == [created, executed]
    add_beat(server, seq["id"])
    assert len(client.events(2)) == 2 and client.quiet()
    client.close()


def test_since_after_the_newest_event_is_a_resync(server):
    newest = last_event_id(server)
    client = Client(server, f"/ws?since={newest + 1000}")
    resync = client.recv()
    assert resync["type"] == "resync_required" and resync["reason"] == "ahead"
    assert resync["last_event_id"] >= newest
    create_sequence(server)
    assert client.events(2)[0]["event_id"] > resync["last_event_id"]
    client.close()


@pytest.mark.parametrize("path, status", [
    ("/ws/" + "x" * 65, 400),
    ("/ws/bad%20id", 400),
    ("/ws?since=-3", 400),
    ("/ws?since=soon", 400),
    ("/ws?event_type=Not%20A%20Type", 400),
])
def test_bad_upgrade_requests_are_refused_before_the_upgrade(server, path, status):
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(ws_url(server) + path, timeout=5)
    assert info.value.status_code == status


def test_plain_http_on_the_socket_path_is_a_problem(server):
    r = requests.get(f"{server.url}/ws", timeout=5)
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("application/problem+json")


def test_origin_rules(server):
    own = Client(server, origin=server.url)  # the server's own pages
    own.close()
    no_origin = Client(server, suppress_origin=True)  # programs send none
    no_origin.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(ws_url(server) + "/ws", origin="https://evil.example", timeout=5)
    assert info.value.status_code == 403


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    s = start(tmp_path_factory, "guarded", workers=1,
              extra_args=["--token", TOKEN, "--cors-origin", "https://app.example"],
              env={"TKA_WS_AUTH_TIMEOUT": "1"})
    yield s
    s.stop()


def test_token_in_the_header(guarded):
    client = Client(guarded, header=[f"Authorization: Bearer {TOKEN}"])
    assert client.hello["type"] == "connection_established"
    client.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(ws_url(guarded) + "/ws", header=["Authorization: Bearer wrong"], timeout=5)
    assert info.value.status_code == 401


def test_token_in_the_first_message_for_browsers(guarded):
    client = Client(guarded, hello=False, origin="https://app.example")
    client.send({"type": "auth", "token": TOKEN})
    assert client.recv()["type"] == "connection_established"
    r = requests.post(f"{guarded.url}/api/sequences", json={"name": "Authed", "start_position": "alpha1"},
                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert r.status_code == 201
    assert client.events(2)[0]["event_type"] == "sequence.created"
    client.close()


def test_wrong_or_missing_token_closes_with_policy_violation(guarded):
    wrong = Client(guarded, hello=False)
    wrong.send({"type": "auth", "token": "guess"})
    assert wrong.closed().code == 1008
    silent = Client(guarded, hello=False)
    closed = silent.closed(timeout=5)  # auth timeout is 1 s here
    assert closed.code == 1008 and "auth" in closed.reason
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(ws_url(guarded) + "/ws", origin="https://other.example", timeout=5)
    assert info.value.status_code == 403


def test_a_worker_full_of_sockets_refuses_more_with_1013_and_rest_still_answers(tmp_path_factory):
    s = start(tmp_path_factory, "full", workers=1, extra_args=["--threads", "2"],
              env={"TKA_WS_MAX_CONNECTIONS": "3"})
    try:
        held = [Client(s) for _ in range(3)]
        refused = Client(s, hello=False)
        assert refused.closed().code == 1013
        for _ in range(5):  # REST keeps its own two threads
            assert requests.get(f"{s.url}/api/status", timeout=5).status_code == 200
        create_sequence(s)
        assert all(len(c.events(2)) == 2 for c in held)
        held[0].close()
        wait_until(lambda: requests.get(f"{s.url}/api/websocket/stats", timeout=5).json()["data"]["total_connections"]
                   == 2, "the worker letting the closed socket go")
        assert Client(s).hello["type"] == "connection_established"
    finally:
        s.stop()


def test_sockets_without_the_token_cannot_take_the_places_of_those_with_it(tmp_path_factory):
    s = start(tmp_path_factory, "admission", workers=1, extra_args=["--token", TOKEN],
              env={"TKA_WS_MAX_CONNECTIONS": "5", "TKA_WS_MAX_PENDING_PER_PEER": "5", "TKA_WS_AUTH_TIMEOUT": "60"})
    bearer = [f"Authorization: Bearer {TOKEN}"]
    silent = [Client(s, hello=False) for _ in range(5)]  # never send their token
    try:
        one_too_many = Client(s, hello=False)
        closed = one_too_many.closed()
        assert closed.code == 1013 and "waiting to authenticate" in closed.reason  # this address's share
        holders = [Client(s, header=bearer) for _ in range(5)]  # every place is still theirs
        assert all(c.hello["type"] == "connection_established" for c in holders)
        assert Client(s, header=bearer, hello=False).closed().code == 1013  # now the worker is full
        silent[0].send({"type": "auth", "token": TOKEN})
        assert silent[0].closed().code == 1013  # counted only once authenticated: no place left
        holders[0].close()
        wait_until(lambda: requests.get(f"{s.url}/api/websocket/stats", headers={"Authorization": f"Bearer {TOKEN}"},
                                        timeout=5).json()["data"]["total_connections"] == 4, "a place freed")
        silent[1].send({"type": "auth", "token": TOKEN})
        assert silent[1].recv()["type"] == "connection_established"
    finally:
        s.stop()


def test_resuming_from_before_the_retention_window_is_a_resync_never_a_gap(tmp_path_factory):
    s = start(tmp_path_factory, "retention", workers=2,
              env={"TKA_EVENT_RETENTION_EVENTS": "4", "TKA_EVENT_PRUNE_INTERVAL": "0.2"})
    try:
        for i in range(5):
            create_sequence(s, f"Old {i}")
        newest = last_event_id(s)
        with sqlite3.connect(s.db_url.removeprefix("sqlite:///")) as conn:
            wait_until(lambda: conn.execute("SELECT count(*) FROM events").fetchone()[0] <= 4,
                       "the server pruning the log to its newest 4 events")
            assert conn.execute("SELECT min(event_id) FROM events").fetchone()[0] == newest - 3

        stale = Client(s, "/ws?since=2")
        resync = stale.recv()
        assert resync["type"] == "resync_required" and resync["reason"] == "expired"
        assert resync["since"] == 2 and resync["oldest_event_id"] == newest - 3
        assert resync["last_event_id"] == newest
        create_sequence(s, "New")
        assert [e["event_id"] for e in stale.events(2)] == [newest + 1, newest + 2]

        recent = Client(s, f"/ws?since={newest - 2}")  # still inside the window: a plain replay
        assert [e["event_id"] for e in recent.events(4)] == [newest - 1, newest, newest + 1, newest + 2]
        stale.close()
        recent.close()
    finally:
        s.stop()
