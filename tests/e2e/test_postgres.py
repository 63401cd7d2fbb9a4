"""The same API on PostgreSQL: shared by several servers, and surviving a database outage."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests

from tests import pg
from tests.servers import LiveServer
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def pg_url() -> str:
    return pg.server().create_database()


def test_two_servers_share_sequences_history_and_idempotency(pg_url):
    a, b = LiveServer(pg_url, workers=2), LiveServer(pg_url, workers=1)
    try:
        created = requests.post(f"{a.url}/api/sequences", json={"name": "Shared", "start_position": "alpha1"},
                                headers={"Idempotency-Key": "pg-shared-1"})
        sid = created.json()["data"]["id"]
        replay = requests.post(f"{b.url}/api/sequences", json={"name": "Shared", "start_position": "alpha1"},
                               headers={"Idempotency-Key": "pg-shared-1"})
        assert replay.headers["Idempotent-Replayed"] == "true" and replay.json()["data"]["id"] == sid
        assert requests.post(f"{b.url}/api/sequences/{sid}/beats", json={"beat": {"letter": "A"}}).status_code == 201
        undone = requests.post(f"{a.url}/api/undo").json()  # undoes what server B did
        assert undone["data"]["word"] == "" and undone["message"] == "Undo: Add beat 'A' at position 1"
        assert requests.get(f"{b.url}/api/status").json()["store"] == "postgresql"
    finally:
        a.stop()
        b.stop()


def test_postgres_outage_fails_fast_loses_nothing_and_recovers_without_restart(pg_url):
    server = LiveServer(pg_url, workers=2)
    db = pg.server()
    acknowledged: list[str] = []
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                r = requests.post(f"{server.url}/api/sequences", json={"name": uuid.uuid4().hex[:8]}, timeout=10)
                statuses.append(r.status_code)
                if r.status_code == 201:
                    acknowledged.append(r.json()["data"]["id"])
                requests.get(f"{server.url}/api/sequences?page_size=5", timeout=10)
            except requests.RequestException:
                statuses.append(-1)
            time.sleep(0.02)

    workers = [threading.Thread(target=load) for _ in range(4)]
    try:
        for w in workers:
            w.start()
        wait_until(lambda: len(acknowledged) >= 20, "the load running before the outage")
        db.stop("immediate")
        wait_until(lambda: [requests.get(f"{server.url}/health/ready", timeout=5).status_code for _ in range(4)]
                   == [503] * 4, "the breaker opening on every worker", every=0.2)
        refused = requests.post(f"{server.url}/api/sequences", json={"name": "during"}, timeout=5)
        assert refused.status_code == 503
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert 1 <= int(refused.headers["Retry-After"]) <= 10
        health = requests.get(f"{server.url}/health", timeout=5).json()
        assert health["status"] == "fail" and health["legacy_status"] == "unhealthy"
        db.start()
        wait_until(lambda: requests.get(f"{server.url}/health/ready", timeout=5).status_code == 200 and
                   requests.post(f"{server.url}/api/sequences", json={"name": "after"}, timeout=5).status_code == 201,
                   "recovery without a restart once PostgreSQL is back", every=0.3)
        stop.set()
        for w in workers:
            w.join(30)
        assert not any(code >= 500 and code != 503 for code in statuses), set(statuses)
        for sid in acknowledged:  # nothing acknowledged was lost
            assert requests.get(f"{server.url}/api/sequences/{sid}", timeout=5).status_code == 200
    finally:
        stop.set()
        server.stop()
        if db.proc_running() is False:
            db.start()


def _events_from(ws, count: int, timeout: float = 20) -> list[dict]:
    import json as _json

    got, deadline = [], time.monotonic() + timeout
    ws.settimeout(1)
    while len(got) < count and time.monotonic() < deadline:
        try:
            message = _json.loads(ws.recv())
        except Exception:  # timeout: keep waiting until the deadline
            continue
        if message.get("type") == "event":
            got.append(message)
    return got


def _log_ids(url: str, after: int = 0) -> list[int]:
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.text("SELECT event_id FROM events WHERE event_id > :a ORDER BY event_id"),
                                          {"a": after})]
    engine.dispose()
    return ids


def test_events_committed_on_one_server_reach_subscribers_of_another_via_listen_notify(pg_url):
    import websocket

    a, b = LiveServer(pg_url, workers=2), LiveServer(pg_url, workers=1)
    try:
        ws = websocket.create_connection(a.url.replace("http", "ws") + "/ws", timeout=10)
        assert json_type(ws.recv()) == "connection_established"
        sid = requests.post(f"{b.url}/api/sequences", json={"name": "Across", "start_position": "alpha1"}).json()["data"]["id"]
        for letter in "ABC":
            requests.post(f"{b.url}/api/sequences/{sid}/beats", json={"beat": {"letter": letter}})
        expected = _log_ids(pg_url)
        got = _events_from(ws, len(expected))
        assert [e["event_id"] for e in got] == expected
        assert got[0]["event_type"] == "sequence.created"
        ws.close()
    finally:
        a.stop()
        b.stop()


def test_subscribers_resume_after_a_postgres_outage_with_no_gap_and_no_duplicate(pg_url):
    import websocket

    server = LiveServer(pg_url, workers=2)
    db = pg.server()
    try:
        ws_url = server.url.replace("http", "ws") + "/ws"
        ws = websocket.create_connection(ws_url, timeout=10)
        assert json_type(ws.recv()) == "connection_established"
        sid = requests.post(f"{server.url}/api/sequences", json={"name": "Out", "start_position": "alpha1"}).json()["data"]["id"]
        before = _events_from(ws, len(_log_ids(pg_url)))
        last = before[-1]["event_id"]
        ws.close()
        db.stop("immediate")
        assert requests.post(f"{server.url}/api/sequences/{sid}/beats", json={"beat": {"letter": "A"}},
                             timeout=10).status_code == 503
        db.start()
        add_two_beats(server, sid)  # once every worker's breaker closed again
        expected = _log_ids(pg_url, after=last)
        got: list[dict] = []

        def replayed() -> bool:  # a worker still probing may refuse the replay: reconnect
            nonlocal got
            resumed = websocket.create_connection(f"{ws_url}?since={last}", timeout=10)
            try:
                got = _events_from(resumed, len(expected), timeout=10) \
                    if json_type(resumed.recv()) == "connection_established" else []
            except Exception:  # closed by the server (store not ready on that worker yet)
                got = []
            finally:
                resumed.close()
            return len(got) == len(expected)

        wait_until(replayed, "a resume replaying what was committed after the outage", give_up_after=45, every=0.5)
        assert [e["event_id"] for e in got] == expected  # no gap, no duplicate
    finally:
        server.stop()
        if not db.proc_running():
            db.start()


def add_two_beats(server: LiveServer, sid: str) -> None:
    """Add A then B, retrying each while a worker whose breaker has not closed yet refuses it."""
    added = []

    def next_added() -> bool:
        r = requests.post(f"{server.url}/api/sequences/{sid}/beats", json={"beat": {"letter": "AB"[len(added)]}},
                          timeout=10)
        if r.status_code == 201:
            added.append(r)
        return len(added) == 2

    wait_until(next_added, "two beats added once the store is back", give_up_after=45, every=0.3)


def _next(ws, timeout: float = 30) -> dict:
    """The next message other than a heartbeat (a timeout fails the test)."""
    import json as _json

    deadline = time.monotonic() + timeout
    while True:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        message = _json.loads(ws.recv())
        if message["type"] != "heartbeat":
            return message


def _served_by(ws) -> int:
    import json as _json

    ws.send(_json.dumps({"type": "get_stats"}))
    return _next(ws, 10)["data"]["served_by"]


def test_subscribers_are_told_of_a_postgres_outage_stay_connected_and_miss_nothing(pg_url):
    import websocket

    from tests.api.test_asyncapi import check

    server = LiveServer(pg_url, workers=2)
    db = pg.server()
    opened: list = []
    try:
        ws_url = server.url.replace("http", "ws") + "/ws"

        def connect(query: str = "") -> object:
            ws = websocket.create_connection(ws_url + query, timeout=10)
            opened.append(ws)
            assert json_type(ws.recv()) == "connection_established"
            return ws

        subscribers, workers = [], set()
        for _ in range(100):  # the kernel picks the worker: keep one subscriber on each
            ws = connect()
            pid = _served_by(ws)
            if pid in workers:
                ws.close()
                continue
            subscribers.append(ws)
            workers.add(pid)
            if len(workers) == 2:
                break
        assert len(workers) == 2
        sid = requests.post(f"{server.url}/api/sequences", json={"name": "Told", "start_position": "alpha1"},
                            timeout=10).json()["data"]["id"]
        before = _log_ids(pg_url)
        for ws in subscribers:
            assert [_next(ws)["event_id"] for _ in before] == before
        last = before[-1]

        db.stop("fast")
        for ws in subscribers:  # every worker's breaker opens: each client is told, and stays
            notice = _next(ws)
            check(notice)
            assert (notice["type"], notice["status"], notice["last_event_id"]) == ("store_status", "unavailable", last)
            assert notice["retry_after"] >= 1
        assert requests.post(f"{server.url}/api/sequences/{sid}/beats", json={"beat": {"letter": "A"}},
                             timeout=10).status_code == 503
        newcomer = connect()  # connects during the outage: hello, then the notice
        assert _next(newcomer)["status"] == "unavailable"
        resumer = connect(f"?since={before[0]}")  # its replay cannot read the log: it waits, told so
        notice = _next(resumer)
        assert (notice["type"], notice["status"], notice["last_event_id"]) == ("store_status", "unavailable",
                                                                               before[0])

        db.start()
        for ws in [*subscribers, newcomer, resumer]:
            notice = _next(ws, 60)  # the breaker's next probe finds the store back
            check(notice)
            assert (notice["type"], notice["status"]) == ("store_status", "available")
        assert [_next(resumer)["event_id"] for _ in before[1:]] == before[1:]  # the replay went on
        add_two_beats(server, sid)
        after = _log_ids(pg_url, after=last)
        for ws in [*subscribers, newcomer, resumer]:  # no gap, no duplicate, nothing else in between
            got = [_next(ws) for _ in after]
            assert [(m["type"], m.get("event_id")) for m in got] == [("event", i) for i in after]
    finally:
        for ws in opened:
            ws.close()
        server.stop()
        if not db.proc_running():
            db.start()


def json_type(raw: str) -> str:
    import json as _json

    return _json.loads(raw)["type"]
