"""Real faults against a real server: a held SQLite lock, a full disk, a killed worker, a stopped
PostgreSQL. Loopback only; every loop is bounded in count and time."""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.servers import LiveServer
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def created(base: str, name: str) -> requests.Response | None:
    """POST a sequence: the answer when it was created."""
    r = requests.post(f"{base}/api/sequences", json={"name": name}, timeout=10)
    return r if r.status_code == 201 else None


def test_sqlite_write_lock_held_elsewhere_gives_bounded_503_then_recovers(tmp_path):
    db = tmp_path / "locked.db"
    server = LiveServer(f"sqlite:///{db}", workers=2)
    try:
        base = server.url
        sid = requests.post(f"{base}/api/sequences", json={"name": "Before"}).json()["data"]["id"]
        holder = sqlite3.connect(db, isolation_level=None, timeout=1)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            blocked = requests.post(f"{base}/api/sequences", json={"name": "Blocked"}, timeout=30)
            assert blocked.status_code == 503, blocked.text
            assert blocked.headers["Content-Type"] == "application/problem+json"
            assert int(blocked.headers["Retry-After"]) >= 1
            # reads keep working (WAL): the lock blocks writers only
            assert requests.get(f"{base}/api/sequences/{sid}").status_code in (200, 503)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        ok = wait_until(lambda: created(base, "After"), "a write once the lock is released", every=0.1)
        assert ok.json()["data"]["name"] == "After"
        names = {s["name"] for s in requests.get(f"{base}/api/sequences").json()["data"]}
        assert names == {"Before", "After"}  # the refused write left nothing behind
    finally:
        server.stop()


def test_disk_full_gives_503_corrupts_nothing_and_clears(tmp_path):
    """The disk fills up: simulated with RLIMIT_FSIZE on the server (files cannot grow past
    the limit, writes fail with EFBIG as on a full disk); 'clearing' lifts the limit."""
    db = tmp_path / "full.db"
    limit = 600_000

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))  # soft limit: liftable

    server = LiveServer(f"sqlite:///{db}", workers=1, preexec_fn=limited)
    try:
        base = server.url
        acknowledged: list[str] = []
        refused = None
        for i in range(400):
            r = requests.post(f"{base}/api/sequences/generate", json={"length": 32, "seed": i, "name": f"S{i}"})
            if r.status_code == 201:
                acknowledged.append(r.json()["data"]["id"])
                continue
            refused = r
            break
        assert refused is not None, "the size limit was never reached"
        assert refused.status_code == 503, refused.text
        assert refused.headers["Content-Type"] == "application/problem+json" and "Retry-After" in refused.headers
        assert "Traceback" not in refused.text
        # lift the limit on the master and its workers: the disk has room again
        for pid in [server.proc.pid, *_children(server.proc.pid)]:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        ok = wait_until(lambda: created(base, "After"), "a write once the disk has room", every=0.5)
        assert ok.json()["data"]["name"] == "After"
        for sid in acknowledged:  # nothing acknowledged was lost
            assert requests.get(f"{base}/api/sequences/{sid}").status_code == 200
    finally:
        server.stop()
    check = sqlite3.connect(db)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    count = check.execute("SELECT count(*) FROM sequences WHERE deleted = 0").fetchone()[0]
    check.close()
    assert count == len(acknowledged) + 1


def test_kill_9_a_worker_under_load_loses_and_duplicates_nothing(tmp_path):
    server = LiveServer(f"sqlite:///{tmp_path / 'kill.db'}", workers=2)
    try:
        base = server.url
        keys = [f"key-{i}-{uuid.uuid4().hex[:6]}" for i in range(120)]
        acknowledged: dict[str, str] = {}
        lock = threading.Lock()

        def create(key: str) -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # a client retrying with its idempotency key
                try:
                    r = requests.post(f"{base}/api/sequences", json={"name": key},
                                      headers={"Idempotency-Key": key}, timeout=10)
                except requests.RequestException:
                    time.sleep(0.2)
                    continue
                if r.status_code == 201:
                    with lock:
                        acknowledged[key] = r.json()["data"]["id"]
                    return
                # 409 in flight (its first try died with the worker) / 503: honour Retry-After
                time.sleep(float(r.headers.get("Retry-After", "0.2")))

        victims = _children(server.proc.pid)
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(create, k) for k in keys]
            wait_until(lambda: len(acknowledged) >= 20, "20 sequences acknowledged before the kill")
            os.kill(victims[0], signal.SIGKILL)
            for f in futures:
                f.result(timeout=120)
        assert len(acknowledged) == len(keys)
        wait_until(lambda: len(_children(server.proc.pid)) == 2, "the master replacing the killed worker")
        listed = requests.get(f"{base}/api/sequences?page_size=100").json()
        pages = [listed] + [requests.get(f"{base}/api/sequences?page_size=100&page={p}").json()
                            for p in range(2, listed["total_pages"] + 1)]
        stored = [s for page in pages for s in page["data"]]
        assert len(stored) == len(keys)  # no duplicates
        assert {s["id"] for s in stored} == set(acknowledged.values())  # nothing acknowledged lost
    finally:
        server.stop()
