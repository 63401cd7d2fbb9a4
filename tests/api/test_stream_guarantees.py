"""The stream's guarantees on real gunicorn servers: every event to every client on every worker,
in order, exactly once; slow clients cut off alone; idle sockets never starve REST; a prompt
shutdown. (Correctness only: the numbers are in bench/events.py.)"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.servers import one_per_worker
from tests.waiting import wait_until
from tests.ws import Client, add_beat, create_sequence, last_event_id, start, \
    tiny_receive_buffer_client

pytestmark = pytest.mark.e2e


def stats(server) -> dict:
    return requests.get(f"{server.url}/api/websocket/stats", timeout=5).json()["data"]


def workers_of(server, client_ids: set[str]) -> dict[str, int]:
    """client_id -> worker pid, once every one of them shows in the stats."""
    where: dict[str, int] = {}

    def all_shown() -> bool:
        where.update((c["client_id"], c["worker_pid"]) for c in stats(server)["connections"])
        return client_ids <= where.keys()

    wait_until(all_shown, f"the stats showing {len(client_ids)} clients", every=0.05)
    return {k: v for k, v in where.items() if k in client_ids}


def events_until(client: Client, last_id: int, timeout: float = 30) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while not got or got[-1]["event_id"] < last_id:
        got += client.events(1, timeout=max(0.01, deadline - time.monotonic()))
    return got


def test_three_workers_every_client_gets_every_event_in_order_exactly_once(tmp_path_factory):
    server = start(tmp_path_factory, "three", workers=3)
    try:
        # A server answers once one worker is up; on a busy machine the others may still be booting,
        # and every connection would go to the first.
        wait_until(lambda: requests.get(f"{server.url}/api/websocket/stats", timeout=5).json()["data"]["workers"] == 3,
                   "all three workers serving")
        # Clients spread over the workers: connect until each worker holds at least two.
        clients: list[Client] = []
        where: dict[str, int] = {}
        for i in range(90):
            clients.append(Client(server, f"/ws/spread-{i}"))
            if i % 6 == 5:
                where = workers_of(server, {f"spread-{j}" for j in range(i + 1)})
                per_worker = {pid: sum(1 for p in where.values() if p == pid) for pid in set(where.values())}
                if len(per_worker) == 3 and min(per_worker.values()) >= 2:
                    break
        assert len(set(where.values())) == 3, f"connections did not spread: {where}"
        start_id = max(c.hello["last_event_id"] for c in clients)

        # Writers spread over the workers: one kept-alive session per worker (opened in parallel).
        sessions = one_per_worker(requests.Session, lambda session: session.get(
            f"{server.url}/api/websocket/stats", timeout=5).json()["data"]["served_by"], requests.Session.close, 3)

        def write(session: requests.Session) -> None:
            seq = create_sequence(server, "Spread", session=session)
            for _ in range(8):
                add_beat(server, seq["id"], session=session)

        with ThreadPoolExecutor(3) as pool:
            list(pool.map(write, sessions))
        end_id = last_event_id(server)
        assert end_id - start_id == 3 * 9 * 2

        received = {c.hello["client_id"]: events_until(c, end_id) for c in clients}
        expected = list(range(start_id + 1, end_id + 1))
        for client_id, events in received.items():
            ids = [e["event_id"] for e in events if e["event_id"] > start_id]
            assert ids == expected, f"{client_id} on worker {where.get(client_id)}"
        reference = next(iter(received.values()))
        assert all(events[-len(expected):] == reference[-len(expected):] for events in received.values())
        assert clients[0].quiet(0.3)  # and nothing after the last one, to any of them
        for client in clients:
            assert client.quiet(0.01)
            client.close()
    finally:
        server.stop()


def read_frames(sock: socket.socket, timeout: float = 20) -> list[tuple[int, bytes]]:
    """Every frame until the server's close frame (server frames are never masked)."""
    deadline = time.monotonic() + timeout
    buf = b""
    frames: list[tuple[int, bytes]] = []

    def need(n: int) -> None:
        nonlocal buf
        while len(buf) < n:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise EOFError(f"connection ended after {len(frames)} frames")
            buf += chunk

    while True:
        need(2)
        opcode, length = buf[0] & 0x0F, buf[1] & 0x7F
        offset = 2
        if length == 126:
            need(4)
            length, offset = int.from_bytes(buf[2:4], "big"), 4
        elif length == 127:
            need(10)
            length, offset = int.from_bytes(buf[2:10], "big"), 10
        need(offset + length)
        frames.append((opcode, buf[offset:offset + length]))
        buf = buf[offset + length:]
        if opcode == 0x8:
            return frames


def test_a_client_that_stops_reading_is_cut_off_alone_and_can_resume(tmp_path_factory):
    server = start(tmp_path_factory, "slow", workers=2, env={"TKA_WS_QUEUE_SIZE": "16", "TKA_WS_SEND_TIMEOUT": "60",
                                                       "TKA_WS_SEND_BUFFER": "32768"})
    try:
        seq = create_sequence(server, "Big")  # events 1 and 2
        fast = Client(server)
        everything: list[dict] = []
        reader = threading.Thread(target=lambda: everything.extend(fast.events(120, timeout=60)))
        reader.start()
        slow = tiny_receive_buffer_client(server)
        for _ in range(60):  # events carry the whole, growing sequence: megabytes in all
            add_beat(server, seq["id"])
            assert requests.get(f"{server.url}/api/sequences/{seq['id']}", timeout=5).status_code == 200
        end_id = last_event_id(server)
        reader.join()
        assert [e["event_id"] for e in everything] == list(range(3, end_id + 1))  # the other client missed nothing

        frames = read_frames(slow)  # now it reads: what was in flight, then the goodbye
        texts = [json.loads(data) for opcode, data in frames if opcode == 0x1]
        close_code = int.from_bytes(frames[-1][1][:2], "big")
        reason = frames[-1][1][2:].decode()
        assert close_code == 4008, reason
        got = [m for m in texts if m["type"] == "event"]
        error = texts[-1]
        assert error["type"] == "error" and error["code"] == "slow_consumer"
        resume = error["resume_since"]
        assert reason == f"slow consumer; resume with since={resume}"
        assert len(got) < 120 and (not got or got[-1]["event_id"] == resume)

        again = Client(server, f"/ws?since={resume}")
        rest = events_until(again, end_id)
        by_id = [e["event_id"] for e in got + rest]
        assert by_id == [e["event_id"] for e in everything if e["event_id"] > by_id[0] - 1][:len(by_id)]
        assert by_id[-1] == end_id and len(by_id) == len(set(by_id))
        assert got + rest == [e for e in everything if e["event_id"] >= by_id[0]]
        slow.close()
    finally:
        server.stop()


def test_two_hundred_idle_sockets_never_starve_rest(tmp_path_factory):
    server = start(tmp_path_factory, "idle", workers=2)
    try:
        idle = [Client(server) for _ in range(200)]
        # Either worker may answer: each counts its own sockets live and the other's as last
        # published (a fraction of a second behind), so wait until several answers in a row agree.
        agreed = [0]

        def five_agree() -> bool:
            agreed[0] = agreed[0] + 1 if stats(server)["total_connections"] == 200 else 0
            return agreed[0] == 5

        wait_until(five_agree, "five answers in a row counting the 200 sockets", every=0.05)
        statuses: list[int] = []

        def hit(_: int) -> None:
            statuses.append(requests.get(f"{server.url}/api/status", timeout=5).status_code)

        with ThreadPoolExecutor(16) as pool:  # more concurrent requests than a worker's REST threads
            list(pool.map(hit, range(100)))
        assert statuses == [200] * 100
        create_sequence(server)
        for client in idle[::40]:
            assert [e["event_type"] for e in client.events(2)] == ["sequence.created", "command.executed"]
        for client in idle:
            client.close()
    finally:
        server.stop()


@pytest.mark.parametrize("worker_class", ["gevent", "gthread"])
def test_sigterm_closes_every_socket_with_going_away_at_once(tmp_path_factory, worker_class):
    # An open socket never ends by itself: without the shutdown hook gunicorn would wait its whole
    # graceful timeout (made 10 minutes here) for them, and the bounded waits below would fail.
    server = start(tmp_path_factory, "term", workers=2, extra_args=["--worker-class", worker_class],
                   env={"TKA_GRACEFUL_TIMEOUT": "600"})
    try:
        clients = [Client(server) for _ in range(20)]
        seq = create_sequence(server, "Before the end")  # both kinds of worker serve REST and events
        created = clients[-1].events(2)[0]
        assert created["event_type"] == "sequence.created" and created["sequence_id"] == seq["id"]
        codes: list[int | None] = []
        server.proc.terminate()
        threads = [threading.Thread(target=lambda c=c: codes.append(c.closed(timeout=60).code)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.proc.wait(timeout=60) == 0
        assert codes == [1001] * 20
        log = Path(server.db_url.removeprefix("sqlite:///")).with_suffix(".log").read_text()
        assert f"Using worker: app.workers.{worker_class.title()}" in log  # gunicorn's, with problem+json refusals
        assert "Traceback" not in log and "exited with code" not in log, log  # the hook ran cleanly
    finally:
        server.stop()
