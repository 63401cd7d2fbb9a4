"""Event-stream helpers for tests against a live server: a small WebSocket client and REST writers."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from tests.servers import LiveServer

# A short heartbeat so the heartbeat test is quick; the helpers skip heartbeats otherwise.
FAST = {"TKA_WS_HEARTBEAT_INTERVAL": "1"}


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed with {code}: {reason}")
        self.code, self.reason = code, reason


class Client:
    """A WebSocket client that reads JSON messages and reports close frames as ``Closed``."""

    def __init__(self, server: LiveServer, path: str = "/ws", *, hello: bool = True, timeout: float = 10,
                 **options: Any) -> None:
        self.ws = websocket.create_connection(server.url.replace("http", "ws", 1) + path, timeout=timeout,
                                              **options)
        self.floor = 0
        self.hello = self.recv() if hello else None
        if hello and "since=" not in path:
            # The stream starts after the hello's last_event_id, which may be a moment behind the log
            # (another worker's commit not yet dispatched): skip what an earlier test wrote.
            self.floor = last_event_id(server)

    def send(self, message: Any) -> None:
        self.ws.send(message if isinstance(message, str) else json.dumps(message))

    def recv(self, timeout: float = 10, *, heartbeats: bool = False) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            self.ws.settimeout(max(0.01, deadline - time.monotonic()))
            opcode, data = self.ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                raise Closed(code, data[2:].decode(errors="replace"))
            if opcode != websocket.ABNF.OPCODE_TEXT:
                continue
            message = json.loads(data)
            if message["type"] == "heartbeat" and not heartbeats:
                continue
            if message["type"] == "event" and message["event_id"] <= self.floor:
                continue
            return message

    def events(self, n: int, timeout: float = 15) -> list[dict[str, Any]]:
        """The next ``n`` event messages (anything else in between fails the test)."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            message = self.recv(max(0.01, deadline - time.monotonic()))
            assert message["type"] == "event", message
            got.append(message)
        return got

    def quiet(self, seconds: float = 0.3) -> bool:
        """True if nothing but heartbeats arrives for ``seconds``."""
        try:
            message = self.recv(seconds)
        except websocket.WebSocketTimeoutException:
            return True
        raise AssertionError(f"unexpected message {message}")

    def closed(self, timeout: float = 10) -> Closed:
        """Read until the server's close frame; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.recv(max(0.01, deadline - time.monotonic()), heartbeats=True)
            except Closed as closed:
                return closed

    def close(self) -> None:
        try:
            self.ws.close(timeout=1)
        except (OSError, websocket.WebSocketException):
            pass


def ws_url(server: LiveServer) -> str:
    return server.url.replace("http", "ws", 1)


def create_sequence(server: LiveServer, name: str = "Flow", *, request_id: str | None = None,
                    session: requests.Session | None = None) -> dict[str, Any]:
    headers = {"X-Request-ID": request_id} if request_id else {}
    r = (session or requests).post(f"{server.url}/api/sequences", json={"name": name, "start_position": "alpha1"},
                                   headers=headers, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["data"]


def add_beat(server: LiveServer, sequence_id: str, letter: str = "A", *,
             session: requests.Session | None = None) -> None:
    r = (session or requests).post(f"{server.url}/api/sequences/{sequence_id}/beats",
                                   json={"beat": {"letter": letter}}, timeout=10)
    assert r.status_code in (200, 201), r.text


def last_event_id(server: LiveServer) -> int:
    """The newest id in the server's event log, read from the database itself."""
    with sqlite3.connect(server.db_url.removeprefix("sqlite:///")) as conn:
        return conn.execute("SELECT coalesce(max(event_id), 0) FROM events").fetchone()[0]


def tiny_receive_buffer_client(server: LiveServer, path: str = "/ws") -> socket.socket:
    """A raw client that completes the upgrade, then never reads: the slowest consumer there is."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def start(tmp_path_factory: pytest.TempPathFactory, name: str, *, workers: int = 2,
          extra_args: list[str] | None = None, env: dict[str, str] | None = None) -> LiveServer:
    db = Path(tmp_path_factory.mktemp(name)) / "tka.db"
    return LiveServer(f"sqlite:///{db}", workers=workers, extra_args=extra_args, env={**FAST, **(env or {})})
