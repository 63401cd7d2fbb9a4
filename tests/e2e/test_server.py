"""Against a real ``tka serve`` (gunicorn, 2 workers, SQLite file) over loopback HTTP."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.servers import ROOT, LiveServer, free_port

pytestmark = pytest.mark.e2e

TOKEN = "s3cret-token-for-tests"  # at least 16 characters, as tka serve asks


def test_the_briefs_scenario_with_beats_undo_and_redo(live_server):
    base = live_server.url
    status = requests.get(f"{base}/api/status").json()
    assert status["status"] == "running" and status["api_enabled"]
    created = requests.post(f"{base}/api/sequences", json={"name": "API Test Sequence", "length": 4})
    assert created.status_code == 201 and len(created.json()["data"]["beats"]) == 4
    sid = created.json()["data"]["id"]
    assert requests.get(f"{base}/api/current-sequence").json()["data"]["id"] == sid
    assert requests.put(f"{base}/api/sequences/{sid}/start-position", json={"position": "alpha1"}).ok
    for letter in "ABC":
        assert requests.post(f"{base}/api/sequences/{sid}/beats", json={"beat": {"letter": letter}}).status_code == 201
    assert requests.get(f"{base}/api/sequences/{sid}").json()["data"]["word"] == "ABC"
    undone = requests.post(f"{base}/api/undo").json()
    assert undone["data"]["word"] == "AB" and undone["can_redo"]
    assert requests.post(f"{base}/api/redo").json()["data"]["word"] == "ABC"


def test_racing_writers_with_if_match_exactly_one_wins(live_server):
    base = live_server.url
    sid = requests.post(f"{base}/api/sequences", json={"name": "Race", "start_position": "alpha1"}).json()["data"]["id"]
    etag = requests.get(f"{base}/api/sequences/{sid}").headers["ETag"]
    barrier = threading.Barrier(8)

    def rename(i: int) -> int:
        barrier.wait()
        return requests.put(f"{base}/api/sequences/{sid}", json={"name": f"Writer {i}"},
                            headers={"If-Match": etag}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(rename, range(8)))
    assert sorted(codes) == [200] + [412] * 7
    final = requests.get(f"{base}/api/sequences/{sid}").json()["data"]
    assert final["version"] == 2 and final["name"].startswith("Writer ")


def test_concurrent_appends_lose_nothing(live_server):
    base = live_server.url
    sid = requests.post(f"{base}/api/sequences", json={"name": "Appends", "start_position": "alpha1"}).json()["data"]["id"]

    def add(_i: int) -> int:
        return requests.post(f"{base}/api/sequences/{sid}/beats", json={"beat": {"letter": "A"}}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(add, range(24)))
    assert codes.count(201) == 24
    seq = requests.get(f"{base}/api/sequences/{sid}").json()["data"]
    assert seq["length"] == 24 and seq["version"] == 25
    for prev, beat in zip(seq["beats"], seq["beats"][1:]):
        assert beat["start_position"] == prev["end_position"]


def test_one_idempotency_key_from_many_clients_creates_one_sequence(live_server):
    base = live_server.url
    before = requests.get(f"{base}/api/sequences").json()["total_items"]
    barrier = threading.Barrier(6)

    def create(_i: int) -> requests.Response:
        barrier.wait()
        return requests.post(f"{base}/api/sequences", json={"name": "Keyed"}, headers={"Idempotency-Key": "same-key-1"})

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(create, range(6)))
    assert {r.status_code for r in responses} <= {201, 409}
    ids = {r.json()["data"]["id"] for r in responses if r.status_code == 201}
    assert len(ids) == 1
    retry = requests.post(f"{base}/api/sequences", json={"name": "Keyed"}, headers={"Idempotency-Key": "same-key-1"})
    assert retry.status_code == 201 and retry.json()["data"]["id"] in ids
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert requests.get(f"{base}/api/sequences").json()["total_items"] == before + 1


def test_host_header_and_origin_checks(live_server):
    base = live_server.url
    rebinding = requests.get(f"{base}/api/status", headers={"Host": "attacker.example"})
    assert rebinding.status_code == 403 and rebinding.json()["error_code"] == "host_not_allowed"
    foreign = requests.post(f"{base}/api/sequences", json={"name": "csrf"}, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403 and foreign.json()["error_code"] == "origin_not_allowed"
    same = requests.get(f"{base}/api/status", headers={"Origin": base})
    assert same.status_code == 200 and "Access-Control-Allow-Origin" not in same.headers


def test_token_cors_and_clean_sigterm(tmp_path):
    server = LiveServer(f"sqlite:///{tmp_path / 'tok.db'}", workers=1,
                        extra_args=["--token", TOKEN, "--cors-origin", "http://app.example"])
    try:
        base = server.url
        assert requests.get(f"{base}/health/live").status_code == 200
        denied = requests.get(f"{base}/api/status")
        assert denied.status_code == 401 and denied.headers["WWW-Authenticate"].startswith("Bearer")
        assert requests.get(f"{base}/api/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = requests.get(f"{base}/api/status", headers={"Authorization": f"Bearer {TOKEN}", "Origin": "http://app.example"})
        assert ok.status_code == 200
        assert ok.headers["Access-Control-Allow-Origin"] == "http://app.example"
        assert "ETag" in ok.headers["Access-Control-Expose-Headers"]
        preflight = requests.options(f"{base}/api/sequences", headers={
            "Origin": "http://app.example", "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204 and "POST" in preflight.headers["Access-Control-Allow-Methods"]
        assert preflight.headers["Access-Control-Allow-Origin"] != "*"
    finally:
        server.proc.terminate()
        code = server.proc.wait(15)
        assert code == 0


def test_binding_beyond_loopback_needs_a_token(tmp_path):
    done = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--host", "0.0.0.0", "--port", str(free_port()),
                           "--database", f"sqlite:///{tmp_path / 'x.db'}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode != 0 and "needs a token" in done.stderr


def test_in_process_integration_starts_and_stops(tmp_path):
    from app.api.integration import TKAAPIIntegration
    from app.settings import Settings

    api = TKAAPIIntegration(settings=Settings(database_url=f"sqlite:///{tmp_path / 'embedded.db'}", port=0))
    url = api.start()
    try:
        assert requests.get(f"{url}/api/status").json()["status"] == "running"
        created = requests.post(f"{url}/api/sequences", json={"name": "Embedded"}).json()["data"]
        # the host program sees the same store and history the API clients act on
        from app.services.views import SequenceViews
        host_view = api.container.resolve(SequenceViews).get_sequence(created["id"])
        assert host_view.name == "Embedded"
    finally:
        api.close()
    assert not api.is_running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/api/status", timeout=2)


def test_a_chunked_body_past_the_limit_is_413_and_one_within_it_is_read(live_server):
    base = live_server.url

    def chunks(pad_kb: int) -> Iterator[bytes]:  # no Content-Length: requests sends these chunked
        yield b'{"name": "Chunked", "metadata": {"pad": "'
        yield from (b"a" * 1024 for _ in range(pad_kb))
        yield b'"}}'

    before = requests.get(f"{base}/api/sequences").json()["total_items"]
    big = requests.post(f"{base}/api/sequences", data=chunks(4096), headers={"Content-Type": "application/json"})
    assert big.status_code == 413 and big.headers["Content-Type"] == "application/problem+json", big.text[:200]
    assert requests.get(f"{base}/api/sequences").json()["total_items"] == before
    small = requests.post(f"{base}/api/sequences", data=chunks(1), headers={"Content-Type": "application/json"})
    assert small.status_code == 201, small.text[:200]
