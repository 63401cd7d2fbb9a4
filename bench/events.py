"""Event stream numbers (issue 4): delivery latency, fan-out, memory per socket, REST beside idle sockets.

``python -m bench.events [--quick]`` or ``bench.events.main(quick=...)`` (``make bench`` calls it).
Measurements, not tests: nothing here passes or fails.

Starts ``tka serve --workers 2`` on a fresh SQLite file (the default worker class, gevent: a
greenlet per request and per socket; ``TKA_WORKER_CLASS=gthread`` measures an OS thread each). Clients live in two receiver processes, each one selector
thread over raw sockets with a minimal frame reader, so that a thousand clients cost the benchmark
little CPU; on a 2-core machine they still share the CPUs with the server, so the numbers at 1000
clients include that contention.

- latency: ``POST /api/sequences`` with an ``X-Request-ID``, one every 50 ms; for every client,
  the time from the REST response (fully read) to receipt of the ``sequence.created`` event it
  caused. An event can arrive before the response (it is published right after the commit):
  those count as 0. Also reported from the request's start.
- fan-out: a burst of writes from 4 threads; deliveries/s = clients x events / (first request to
  last receipt), and the workers' CPU time per delivery (which other load on the machine moves
  much less than rates).
- memory: the workers' resident memory with N idle sockets minus with none, per socket.
- rest_with_idle_sockets: ``GET /api/status`` latency with 0 and with 200 idle sockets.
- rest_while_sockets_drop: the same while 200 or 1000 clients disconnect at the same moment.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import selectors
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests

from app.core.greenlets import worker_class
from bench.stats import latency_summary_ms
from tests.servers import LiveServer, one_per_worker, status_of
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
RECEIVERS = 2


# -- the server -------------------------------------------------------------------------------
def start_server(tmp: Path) -> LiveServer:
    """``tka serve --workers 2`` on a fresh SQLite file, every worker booted."""
    server = LiveServer(f"sqlite:///{tmp / 'tka.db'}", workers=2)
    wait_until(lambda: len(server.worker_pids()) == 2, "both workers booting")
    return server


def rss_kib(server: LiveServer) -> int:
    return sum(status_of(pid, "VmRSS") for pid in server.worker_pids())


def threads(server: LiveServer) -> int:
    return sum(status_of(pid, "Threads") for pid in server.worker_pids())


# -- receivers: many clients, one thread, raw frames -------------------------------------------
class _Conn:
    __slots__ = ("sock", "buf", "hello")

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf, self.hello = sock, b"", False


def _open(port: int) -> _Conn:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the upgrade")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head[:80].decode(errors="replace"))
    conn = _Conn(sock)
    conn.buf = head.split(b"\r\n\r\n", 1)[1]
    conn.hello = bool(_frames(conn))  # the hello often comes with the 101
    sock.setblocking(False)
    return conn


def _frames(conn: _Conn) -> list[bytes]:
    """Complete text frames in the buffer (the server never masks, fragments or compresses)."""
    out = []
    buf = conn.buf
    while len(buf) >= 2:
        length, offset = buf[1] & 0x7F, 2
        if length == 126:
            if len(buf) < 4:
                break
            length, offset = int.from_bytes(buf[2:4], "big"), 4
        elif length == 127:
            if len(buf) < 10:
                break
            length, offset = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < offset + length:
            break
        if buf[0] & 0x0F == 0x1:
            out.append(buf[offset:offset + length])
        buf = buf[offset + length:]
    conn.buf = buf
    return out


_MARK = b'"event_type":"sequence.created"'


def _receiver(port: int, pipe: Connection) -> None:
    """Holds clients; records when each sequence.created arrived (by request id) and every event."""
    sel = selectors.DefaultSelector()
    conns: list[_Conn] = []
    created: dict[str, list[float]] = {}
    events = 0
    first = last = 0.0
    while True:
        for key, _ in sel.select(0.005):
            conn: _Conn = key.data
            try:
                chunk = conn.sock.recv(1 << 18)
            except BlockingIOError:
                continue
            now = time.perf_counter()
            if not chunk:
                sel.unregister(conn.sock)
                continue
            conn.buf += chunk
            for frame in _frames(conn):
                if not conn.hello:
                    conn.hello = True
                    continue
                if frame.startswith(b'{"type":"event"'):
                    events += 1
                    first = first or now
                    last = now
                    if _MARK in frame[:200]:
                        start = frame.find(b'"request_id":"') + 14
                        rid = frame[start:frame.find(b'"', start)].decode()
                        created.setdefault(rid, []).append(now)
        if pipe.poll():
            command, arg = pipe.recv()
            if command == "connect":
                for _ in range(arg):
                    conn = _open(port)
                    conns.append(conn)
                    sel.register(conn.sock, selectors.EVENT_READ, conn)
                while not all(c.hello for c in conns):  # wait for every hello
                    for key, _ in sel.select(0.05):
                        c = key.data
                        try:
                            c.buf += c.sock.recv(1 << 16)
                        except BlockingIOError:
                            continue
                        if _frames(c):
                            c.hello = True
                pipe.send(len(conns))
            elif command == "close":
                for conn in conns[arg:]:
                    sel.unregister(conn.sock)
                    conn.sock.close()
                del conns[arg:]
                pipe.send(len(conns))
            elif command == "size":
                pipe.send(len(conns))
            elif command == "reset":
                created, events, first, last = {}, 0, 0.0, 0.0
                pipe.send(True)
            elif command == "report":
                pipe.send({"created": created, "events": events, "first": first, "last": last})
            elif command == "stop":
                for conn in conns:
                    conn.sock.close()
                pipe.send(True)
                return


class Clients:
    def __init__(self, port: int) -> None:
        ctx = mp.get_context("fork")
        self.pipes: list[Connection] = []
        self.procs = []
        for _ in range(RECEIVERS):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_receiver, args=(port, theirs), daemon=True)
            proc.start()
            self.pipes.append(mine)
            self.procs.append(proc)
        self.count = 0

    def _all(self, command: str, args: list[Any]) -> list[Any]:
        for pipe, arg in zip(self.pipes, args):
            pipe.send((command, arg))
        return [pipe.recv() for pipe in self.pipes]

    def resize(self, n: int) -> None:
        """Hold exactly ``n`` connected clients (each has had its hello), split over the receivers."""
        share = [n // RECEIVERS + (1 if i < n % RECEIVERS else 0) for i in range(RECEIVERS)]
        sizes = self._all("size", [None] * RECEIVERS)
        if any(want > size for want, size in zip(share, sizes)):
            self._all("connect", [max(0, want - size) for want, size in zip(share, sizes)])
        if any(want < size for want, size in zip(share, sizes)):
            self._all("close", share)
        self.count = n

    def reset(self) -> None:
        self._all("reset", [None] * RECEIVERS)

    def report(self) -> dict[str, Any]:
        parts = self._all("report", [None] * RECEIVERS)
        created: dict[str, list[float]] = {}
        for part in parts:
            for rid, times in part["created"].items():
                created.setdefault(rid, []).extend(times)
        firsts = [p["first"] for p in parts if p["first"]]
        return {"created": created, "events": sum(p["events"] for p in parts),
                "first": min(firsts) if firsts else 0.0, "last": max(p["last"] for p in parts)}

    def stop(self) -> None:
        try:
            self._all("stop", [None] * RECEIVERS)
        finally:
            for proc in self.procs:
                proc.join(5)


# -- measurements -----------------------------------------------------------------------------
def _create(session: requests.Session, url: str, rid: str) -> None:
    r = session.post(f"{url}/api/sequences", json={"name": "Bench", "start_position": "alpha1"},
                     headers={"X-Request-ID": rid}, timeout=30)
    r.raise_for_status()


def _sessions_on_each_worker(server: LiveServer, n: int = 2) -> list[requests.Session]:
    return one_per_worker(requests.Session, lambda session: session.get(
        f"{server.url}/api/websocket/stats", timeout=10).json()["data"]["served_by"], requests.Session.close, n)


def _wait_for(clients: Clients, *, created: int = 0, events: int = 0, timeout: float = 60) -> dict[str, Any]:
    """Wait until the clients together received ``created`` sequence.created and ``events`` events."""
    deadline = time.monotonic() + timeout
    while True:
        report = clients.report()
        done = sum(len(t) for t in report["created"].values()) >= created and report["events"] >= events
        if done or time.monotonic() > deadline:
            return report
        time.sleep(0.05)


def latency(server: LiveServer, clients: Clients, n: int, rounds: int) -> dict[str, Any]:
    clients.resize(n)
    writers = _sessions_on_each_worker(server)
    clients.reset()
    sent: dict[str, tuple[float, float]] = {}
    for i in range(rounds):
        rid = f"lat-{n}-{i}"
        begun = time.perf_counter()
        _create(writers[i % len(writers)], server.url, rid)
        sent[rid] = (begun, time.perf_counter())
        time.sleep(0.05)
    report = _wait_for(clients, created=n * rounds)
    from_response, from_request, early = [], [], 0
    for rid, (begun, answered) in sent.items():
        for t in report["created"].get(rid, []):
            from_request.append(t - begun)
            from_response.append(max(0.0, t - answered))
            early += t < answered
    received = sum(len(report["created"].get(rid, [])) for rid in sent)
    return {"clients": n, "events": rounds, "received": received, "expected": n * rounds,
            "from_response": latency_summary_ms(from_response), "from_request": latency_summary_ms(from_request),
            "arrived_before_response": early}


def fanout(server: LiveServer, clients: Clients, n: int, events: int) -> dict[str, Any]:
    clients.resize(n)
    writers = _sessions_on_each_worker(server)
    clients.reset()
    cpu_before = server.cpu_seconds(workers_only=True)
    began = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: _create(writers[i % len(writers)], server.url, f"fan-{n}-{i}"), range(events)))
    written = time.perf_counter()
    report = _wait_for(clients, events=n * 2 * events, timeout=120)
    cpu = server.cpu_seconds(workers_only=True) - cpu_before
    delivered = report["events"]  # created + command.executed per write
    elapsed = report["last"] - began
    return {"clients": n, "writes": events, "events": 2 * events, "deliveries": delivered,
            "expected_deliveries": n * 2 * events, "writes_per_s": round(events / (written - began), 1),
            "seconds": round(elapsed, 3), "deliveries_per_s": round(delivered / elapsed),
            "events_per_s_to_every_client": round(delivered / n / elapsed, 1),
            # the server's own cost, steadier than rates when other work shares the machine
            "server_cpu_s": round(cpu, 2), "server_cpu_us_per_delivery": round(cpu / max(delivered, 1) * 1e6, 1)}


def memory(server: LiveServer, clients: Clients, n: int) -> dict[str, Any]:
    clients.resize(0)
    time.sleep(1.0)
    before, threads_before = rss_kib(server), threads(server)
    clients.resize(n)
    time.sleep(1.0)
    after, threads_after = rss_kib(server), threads(server)
    return {"clients": n, "workers_rss_mib_idle": round(before / 1024, 1),
            "workers_rss_mib_with_clients": round(after / 1024, 1),
            "kib_per_connection": round((after - before) / n, 1),
            "threads_idle": threads_before, "threads_with_clients": threads_after}


def _settle(server: LiveServer, connections: int) -> None:
    """Until the server holds exactly ``connections`` sockets (closing ones are gone), and a moment."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        data = requests.get(f"{server.url}/api/websocket/stats", timeout=30).json()["data"]
        if data["total_connections"] == connections:
            break
        time.sleep(0.05)
    time.sleep(0.3)


def rest_beside_idle_sockets(server: LiveServer, clients: Clients, requests_n: int) -> dict[str, Any]:
    """GET /api/status from 8 threads with 0 and with 200 idle sockets, in alternating batches so
    that changing load on the machine falls on both alike."""
    sessions = [requests.Session() for _ in range(8)]

    def timed(i: int) -> float:
        begun = time.perf_counter()
        sessions[i % 8].get(f"{server.url}/api/status", timeout=30).raise_for_status()
        return time.perf_counter() - begun

    samples: dict[int, list[float]] = {0: [], 200: []}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(timed, range(50)))  # warm-up
        for batch in range(6):
            idle = 200 if batch % 2 else 0
            clients.resize(idle)
            _settle(server, idle)
            samples[idle] += pool.map(timed, range(requests_n // 6))
    return {f"{n}_idle_sockets": latency_summary_ms(v) for n, v in samples.items()}


def rest_while_sockets_drop(server: LiveServer, clients: Clients, n: int) -> dict[str, Any]:
    """REST latency while ``n`` clients disconnect at the same moment (a network blip, a proxy
    restart): every socket's gunicorn thread finishes its request at once and competes with REST."""
    clients.resize(n)
    time.sleep(1.0)
    samples: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        session = requests.Session()
        while not stop.is_set():
            begun = time.perf_counter()
            session.get(f"{server.url}/api/status", timeout=30).raise_for_status()
            samples.append(time.perf_counter() - begun)

    probes = [threading.Thread(target=probe) for _ in range(2)]
    for t in probes:
        t.start()
    time.sleep(0.3)
    began = time.perf_counter()
    clients.resize(0)
    while requests.get(f"{server.url}/api/websocket/stats", timeout=30).json()["data"]["total_connections"]:
        time.sleep(0.02)
    gone = time.perf_counter() - began
    time.sleep(0.5)
    stop.set()
    for t in probes:
        t.join()
    return {"clients": n, "all_closed_after_s": round(gone, 2), "rest": latency_summary_ms(samples)}


def main(quick: bool = False) -> dict[str, Any]:
    rounds = 15 if quick else 40
    levels = (1, 100, 1000)
    with tempfile.TemporaryDirectory(prefix="tka-bench-events-") as tmp:
        server = start_server(Path(tmp))
        clients = Clients(server.port)
        try:
            result: dict[str, Any] = {
                "setup": {"workers": 2, "store": "sqlite", "worker_class": worker_class(),
                          "receivers": f"{RECEIVERS} processes, one selector thread each",
                          "cpus": os.cpu_count(), "load_average_before": os.getloadavg()},
                "memory": memory(server, clients, 1000),
                "latency": [latency(server, clients, n, rounds) for n in levels],
                "fanout": [fanout(server, clients, n, 50 if quick else 100) for n in (100, 1000)],
                "rest_with_idle_sockets": rest_beside_idle_sockets(server, clients, 300 if quick else 600),
                "rest_while_sockets_drop": [rest_while_sockets_drop(server, clients, n) for n in (200, 1000)],
            }
            result["setup"]["load_average_after"] = os.getloadavg()  # other work on the machine skews it all
            at100 = next(r for r in result["latency"] if r["clients"] == 100)
            result["target_p99_at_100_clients_ms"] = 50
            result["p99_at_100_clients_ms"] = at100["from_response"]["p99_ms"]
            return result
        finally:
            clients.stop()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (noisier numbers)")
    print(json.dumps(main(quick=parser.parse_args().quick), indent=2))
