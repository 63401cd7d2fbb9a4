"""The live-events conformance scenario, written once and run by every SDK's test.

Each SDK has a *follow* program, its README's events example (``examples/follow.*``)::

    <program> <base_url>        # TKA_TOKEN in the environment: the bearer token

It follows the server's event stream with that SDK's events client, reconnecting and resuming by
itself, and prints one JSON object per line on stdout, flushed as it goes:

    {"type": "connection_established", "last_event_id": N}      on every hello (each (re)connect)
    {"type": "event", "event_id": N, "event_type": "...", "sequence_id": "..."}

and nothing else there (diagnostics go to stderr). It runs until it is terminated.

The scenario starts its own server (``tka serve`` with a token, two workers, SQLite) and lets the
program reach it only through a TCP proxy it can cut, as a network would:

1. subscribe: the program says hello;
2. another client makes three changes over REST: the program prints their events (a
   ``sequence.*`` and a ``command.executed`` each) in order, with increasing ``event_id``: the very
   events of the server's log, no more, no less;
3. the connection is cut, and new connections fail;
4. two more changes are made meanwhile;
5. the network comes back: the program reconnects (a new hello) and prints exactly the events of
   those two, then those of one more change (so nothing else, no duplicate, came between);
6. the server restarts on the same port and database; a change made right after it is printed
   next (no gap across a restart).

By hand: ``python -m tests.sdk.conformance -- <program> [args]``; it prints what it checked.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import requests

from tests.servers import LiveServer
from tests.ws import FAST

TOKEN = "conformance-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT_S = 45.0   # for one line: covers a server restart and the client's backoff


class ScenarioFailed(AssertionError):
    pass


class CuttableProxy:
    """A TCP proxy on a loopback port. ``cut()`` closes every connection through it, and until
    ``restore()`` it closes each new one at once (the client's handshake fails, as when the network
    or the server is away)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._down = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self._down = True
            sockets, self._sockets = self._sockets, set()
        for s in sockets:
            _close(s)

    def restore(self) -> None:
        with self._lock:
            self._down = False

    def close(self) -> None:
        self.cut()
        _close(self._listener)   # shutdown wakes the thread blocked in accept()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:          # closed
                return
            try:
                if self._down:
                    raise ConnectionRefusedError()
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:          # cut, or the server is down: the client's connection ends
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._down:       # cut meanwhile
                    _close(client)
                    _close(upstream)
                    continue
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):     # one side ended: end the other too
            _close(s)
            with self._lock:
                self._sockets.discard(s)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


class Follower:
    """The program under test: its stdout lines, parsed, in a queue; its stderr kept."""

    def __init__(self, command: list[str], url: str, cwd: Path, env: dict[str, str] | None,
                 wait_s: float = WAIT_S) -> None:
        self.command = command
        self.wait_s = wait_s
        self.proc = subprocess.Popen([*command, url], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env={**os.environ, **(env or {}), "TKA_TOKEN": TOKEN})
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.err: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err.append), daemon=True).start()

    @staticmethod
    def _pump(stream: Any, put: Callable[[str], None]) -> None:
        for line in stream:
            put(line)

    def next(self, what: str) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=self.wait_s)
        except queue.Empty:
            exited = self.proc.poll()
            raise ScenarioFailed(f"no line within {self.wait_s:.0f} s; expected {what}"
                                 + (f" (the program exited with {exited})" if exited is not None else "")
                                 + self.transcript()) from None
        self.seen.append(line.rstrip("\n"))
        try:
            message = json.loads(line)
        except ValueError:
            raise ScenarioFailed(f"not a JSON line: {line!r}; expected {what}{self.transcript()}") from None
        if not isinstance(message, dict):
            raise ScenarioFailed(f"not a JSON object: {line!r}{self.transcript()}")
        return message

    def hello(self) -> dict[str, Any]:
        message = self.next("a hello")
        check(message.get("type") == "connection_established", f"expected a hello, got {message}", self)
        check(isinstance(message.get("last_event_id"), int), f"hello without last_event_id: {message}", self)
        return message

    def events(self, expected: list[dict[str, Any]], *, hello_first: bool = False) -> None:
        """The next lines are exactly ``expected`` (after one or more hellos, if ``hello_first``)."""
        message = self.next(f"event {expected[0]['event_id']}")
        if hello_first:
            check(message.get("type") == "connection_established", f"expected the hello of a reconnect, got "
                  f"{message}", self)
            while message.get("type") == "connection_established":
                message = self.next(f"event {expected[0]['event_id']}")
        for n, want in enumerate(expected):
            if n:
                message = self.next(f"event {want['event_id']}")
            got = {k: message.get(k) for k in want}
            check(message.get("type") == "event" and got == want, f"expected {want}, got {message}", self)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def transcript(self) -> str:
        stderr = "".join(self.err)[-3000:]
        return (f"\n--- {' '.join(self.command)}: stdout so far ---\n" + "\n".join(self.seen[-20:])
                + f"\n--- stderr (tail) ---\n{stderr}")


def ids(events: list[dict[str, Any]]) -> list[int]:
    return [e["event_id"] for e in events]


def check(condition: bool, message: str, follower: Follower) -> None:
    if not condition:
        raise ScenarioFailed(message + follower.transcript())


class Scenario:
    def __init__(self, workdir: Path) -> None:
        self.db_url = f"sqlite:///{workdir / 'conformance.db'}"
        self.server = self._serve()
        self.proxy = CuttableProxy(self.server.port)
        self.session = requests.Session()
        self.session.headers.update(AUTH)
        self.sequence_id = ""
        self.steps: list[str] = []

    def _serve(self, port: int | None = None) -> LiveServer:
        return LiveServer(self.db_url, workers=2, extra_args=["--token", TOKEN], env=FAST, port=port)

    def restart_server(self) -> None:
        self.server.stop()
        self.server = self._serve(port=self.server.port)

    def log(self, after: int) -> list[dict[str, Any]]:
        """The server's event log after ``after``, as the program should print it."""
        with sqlite3.connect(self.db_url.removeprefix("sqlite:///")) as conn:
            rows = conn.execute("SELECT event_id, event_type, sequence_id FROM events WHERE event_id > ? "
                                "ORDER BY event_id", (after,)).fetchall()
        return [{"type": "event", "event_id": i, "event_type": t, "sequence_id": s} for i, t, s in rows]

    def last_id(self) -> int:
        return max([e["event_id"] for e in self.log(0)], default=0)

    def change(self, n: int) -> None:
        """One REST change to the scenario's sequence: a beat, or a new name."""
        base = f"{self.server.url}/api/sequences/{self.sequence_id}"
        if n % 2:
            r = self.session.put(base, json={"name": f"Conformance {n}"}, timeout=10)
        else:
            r = self.session.post(f"{base}/beats", json={"beat": {"letter": "AB"[n // 2 % 2]}}, timeout=10)
        if r.status_code not in (200, 201):
            raise ScenarioFailed(f"REST change {n}: {r.status_code} {r.text}")

    def changes(self, numbers: range) -> list[dict[str, Any]]:
        """Make the changes; their events from the server's log: a ``sequence.*`` event each, and
        the ``command.executed`` that follows it."""
        before = self.last_id()
        for n in numbers:
            self.change(n)
        events = self.log(before)
        kinds = [e["event_type"].split(".")[0] for e in events]
        if kinds != ["sequence", "command"] * len(numbers) or any(e["sequence_id"] != self.sequence_id
                                                                   for e in events):
            raise ScenarioFailed(f"expected {len(numbers)} changes to {self.sequence_id} in the log, found {events}")
        return events

    def run(self, command: list[str], cwd: Path, env: dict[str, str] | None, wait_s: float) -> list[str]:
        r = self.session.post(f"{self.server.url}/api/sequences", json={"name": "Conformance",
                                                                         "start_position": "alpha1"}, timeout=10)
        if r.status_code != 201:
            raise ScenarioFailed(f"creating the sequence: {r.status_code} {r.text}")
        self.sequence_id = r.json()["data"]["id"]
        follower = Follower(command, f"http://127.0.0.1:{self.proxy.port}", cwd, env, wait_s)
        try:
            hello = follower.hello()
            check(hello["last_event_id"] == self.last_id(), f"hello {hello} is not at the log's end "
                  f"{self.last_id()}", follower)
            self.steps.append(f"subscribed (hello at event {hello['last_event_id']})")

            first = self.changes(range(3))
            follower.events(first)
            self.steps.append(f"3 changes over REST -> events {ids(first)} in order")

            self.proxy.cut()
            second = self.changes(range(3, 5))
            self.steps.append(f"connection cut; 2 changes meanwhile (events {ids(second)})")
            self.proxy.restore()
            marker = self.changes(range(5, 6))
            follower.events(second + marker, hello_first=True)
            self.steps.append(f"reconnected: exactly events {ids(second)}, then the next change's {ids(marker)}")

            self.restart_server()
            after_restart = self.changes(range(6, 7))
            follower.events(after_restart, hello_first=True)
            self.steps.append(f"server restarted: the next change's events {ids(after_restart)} arrived")
            return self.steps
        finally:
            follower.stop()

    def close(self) -> None:
        self.proxy.close()
        self.server.stop()
        self.session.close()


def run_scenario(command: list[str], *, cwd: Path, workdir: Path, env: dict[str, str] | None = None,
                 wait_s: float = WAIT_S) -> list[str]:
    """Run the scenario against ``command`` (its base URL is appended); the steps it checked.
    Raises ScenarioFailed with the program's output when a step fails (``wait_s``: how long to
    wait for each line)."""
    scenario = Scenario(workdir)
    try:
        return scenario.run(command, cwd, env, wait_s)
    finally:
        scenario.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     usage="python -m tests.sdk.conformance -- PROGRAM [ARG...]")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("name the follow program to run")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tka-conformance-") as workdir:
        try:
            steps = run_scenario(command, cwd=Path.cwd(), workdir=Path(workdir))
        except ScenarioFailed as e:
            print(f"FAILED: {e}", file=sys.stderr)
            return 1
    for step in steps:
        print(f"ok  {step}")
    print(f"passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
