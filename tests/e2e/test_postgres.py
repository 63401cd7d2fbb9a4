"""The same API on PostgreSQL: shared by several servers, and surviving a database outage."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests

from tests import pg
from tests.conftest import LiveServer

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
        time.sleep(1.0)
        db.stop("immediate")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # the breaker opens on every worker
            codes = [requests.get(f"{server.url}/health/ready", timeout=5).status_code for _ in range(4)]
            if codes == [503] * 4:
                break
            time.sleep(0.2)
        assert codes == [503] * 4
        refused = requests.post(f"{server.url}/api/sequences", json={"name": "during"}, timeout=5)
        assert refused.status_code == 503
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert 1 <= int(refused.headers["Retry-After"]) <= 10
        health = requests.get(f"{server.url}/health", timeout=5).json()
        assert health["status"] == "fail" and health["legacy_status"] == "unhealthy"
        db.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # recovery without a restart
            if requests.get(f"{server.url}/health/ready", timeout=5).status_code == 200 and \
                    requests.post(f"{server.url}/api/sequences", json={"name": "after"}, timeout=5).status_code == 201:
                break
            time.sleep(0.3)
        else:
            raise AssertionError("the server did not recover after PostgreSQL came back")
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
