"""``tka events``: follow a server's event stream (``/ws``, asyncapi.yaml), one JSON line per event.

stdout carries only the ``event`` frames, each exactly as the server sent it (compact JSON), so
``jq`` and ``grep`` work; connection notices go to stderr. After a disconnect it reconnects with
backoff and resumes with ``?since=<last event_id printed>``: the server replays what was missed,
so nothing is skipped or printed twice. Uses ``simple_websocket.Client`` (a runtime dependency).

Exit codes: 130 on SIGINT (Ctrl-C), 143 on SIGTERM, 1 when the server refuses us for good (token
missing or wrong, not a tka server), 2 for bad arguments, 3 on ``resync_required`` with
``--exit-on-resync`` (without it the gap is reported on stderr and the stream goes on live).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sys
import threading
import time
from functools import partial
from typing import Any, TextIO
from urllib.parse import urlencode, urlsplit, urlunsplit

import simple_websocket

from app.events import protocol

EXIT_FATAL, EXIT_USAGE, EXIT_RESYNC = 1, 2, 3
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 5.0
HELLO_TIMEOUT = 30.0  # a token server without our token closes after TKA_WS_AUTH_TIMEOUT (5 s) instead
FATAL_CLOSES = {1002: "protocol error", 1007: "invalid data", 1008: "authentication failed",
                1009: "message too big"}


class Fatal(Exception):
    """Reconnecting cannot help."""


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt."""


def stream_url(base: str, since: int | None, event_types: list[str], sequence_ids: list[str]) -> str:
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"--url must be http(s)://host[:port] or ws(s)://..., not {base!r}")
    path = parts.path.rstrip("/")
    if not (path.endswith("/ws") or "/ws/" in path):
        path += "/ws"
    query = [("since", since)] if since is not None else []
    query += [("event_type", t) for t in event_types] + [("sequence_id", s) for s in sequence_ids]
    return urlunsplit((scheme, parts.netloc, path, urlencode(query), ""))


def check_filters(event_types: list[str], sequence_ids: list[str]) -> None:
    """The server's own rules (ProtocolError), so a typo fails here rather than as a 400."""
    protocol.parse(json.dumps({"type": "set_filters", "event_types": event_types, "sequence_ids": sequence_ids}))


class Follower:
    def __init__(self, base_url: str, *, token: str | None = None, since: int | None = None,
                 event_types: list[str] | None = None, sequence_ids: list[str] | None = None,
                 exit_on_resync: bool = False, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self.base_url, self.token, self.last = base_url, token, since
        self.event_types, self.sequence_ids = list(event_types or ()), list(sequence_ids or ())
        self.exit_on_resync, self.out, self.err = exit_on_resync, out, err
        self.ws: simple_websocket.Client | None = None

    def note(self, text: str) -> None:
        print(f"tka events: {text}", file=self.err, flush=True)

    def run(self) -> int:
        """Follow until a fatal answer (Fatal) or a resync with exit_on_resync (EXIT_RESYNC)."""
        failures = 0
        while True:
            if failures:
                delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (failures - 1)) * random.uniform(0.75, 1)
                time.sleep(delay)
            try:
                hello = self._open()
            except (OSError, simple_websocket.ConnectionError, simple_websocket.ConnectionClosed) as exc:
                failures += 1
                self._drop()
                self.note(f"cannot connect ({_why(exc)}); retrying")
                continue
            failures = 0
            self.note(f"connected to {self.base_url} as {hello.get('client_id')}, "
                      f"streaming after event {self.last}")
            code = self._read(2 * float(hello.get("heartbeat_interval") or 30) + 10)
            if code is not None:
                return code
            failures = 1  # reconnect after a short pause (a server going away is not back at once)

    def close(self) -> None:
        self._drop()

    # -- internals -------------------------------------------------------------------------------
    def _open(self) -> dict[str, Any]:
        url = stream_url(self.base_url, self.last, self.event_types, self.sequence_ids)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        try:  # daemon reader thread: never keeps the process alive on exit
            self.ws = simple_websocket.Client.connect(url, headers=headers,
                                                      thread_class=partial(threading.Thread, daemon=True))
        except simple_websocket.ConnectionError as exc:
            status = exc.status_code
            if status == 401:
                raise Fatal("the server refused the token (401): check --token / TKA_TOKEN") from None
            if status in (400, 403, 404):
                raise Fatal(f"the server refused the stream ({status}): is {self.base_url} a tka server?") from None
            raise
        message = self._receive(HELLO_TIMEOUT)
        if message is None:
            raise simple_websocket.ConnectionError("no hello within %d s" % HELLO_TIMEOUT)
        hello = json.loads(message)
        if hello.get("type") != "connection_established":
            raise simple_websocket.ConnectionError(f"unexpected first message {hello.get('type')!r}")
        if self.last is None:  # the stream starts after the hello's last_event_id: resume from there
            self.last = int(hello["last_event_id"])
        return hello

    def _receive(self, timeout: float) -> str | None:
        assert self.ws is not None
        try:
            data = self.ws.receive(timeout)
        except simple_websocket.ConnectionClosed as closed:
            code = int(closed.reason)
            if code in FATAL_CLOSES:
                hint = ": give the server's token with --token or TKA_TOKEN" if code == 1008 and not self.token else ""
                raise Fatal(f"the server closed the stream ({code} {closed.message or FATAL_CLOSES[code]}){hint}") \
                    from None
            raise
        return data if data is None or isinstance(data, str) else data.decode()

    def _read(self, silence_limit: float) -> int | None:
        """Print events until the connection ends (None: reconnect) or the run must stop (exit code)."""
        while True:
            try:
                text = self._receive(silence_limit)
            except simple_websocket.ConnectionClosed as closed:
                self._drop()
                self.note(f"disconnected ({int(closed.reason)} {closed.message or ''}".rstrip()
                          + f"); resuming after event {self.last}")
                return None
            if text is None:
                self._drop()
                self.note(f"nothing from the server for {silence_limit:.0f} s; reconnecting")
                return None
            message = json.loads(text)
            kind = message.get("type")
            if kind == "event":
                if message["event_id"] <= self.last:
                    continue  # already printed (the server replays after `since`, exclusive)
                self.out.write((text if "\n" not in text else json.dumps(message, separators=(",", ":"))) + "\n")
                self.out.flush()
                self.last = message["event_id"]
            elif kind == "resync_required":
                self.note(f"resync required ({message.get('reason')}): {message.get('message')} "
                          f"- events {self.last + 1} to {message['last_event_id']} are not available")
                if self.exit_on_resync:
                    return EXIT_RESYNC
                self.last = int(message["last_event_id"])
            elif kind == "store_status":
                self.note(f"server store {message.get('status')} (events resume after {message.get('last_event_id')})")
            elif kind == "error":
                self.note(f"server error {message.get('code')}: {message.get('message')}")

    def _drop(self) -> None:
        ws, self.ws = self.ws, None
        if ws is None:
            return
        try:
            ws.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader thread
        except OSError:
            pass
        try:
            ws.close()
        except (OSError, simple_websocket.ConnectionClosed):
            pass


def _why(exc: BaseException) -> str:
    if isinstance(exc, simple_websocket.ConnectionError) and exc.status_code is not None:
        return f"HTTP {exc.status_code}"
    return str(exc) or type(exc).__name__


def main(url: str, *, token: str | None, since: int | None, event_types: list[str], sequence_ids: list[str],
         exit_on_resync: bool) -> int:
    try:
        check_filters(event_types, sequence_ids)
        protocol.parse_since(None if since is None else str(since))
        stream_url(url, since, event_types, sequence_ids)
    except (protocol.ProtocolError, ValueError) as exc:
        text = str(getattr(exc, "message", exc)).replace("event_types:", "--filter:")
        print(f"tka events: {text.replace('sequence_ids:', '--sequence:')}", file=sys.stderr)
        return EXIT_USAGE

    def terminate(signum: int, frame: Any) -> None:
        raise _Terminated()

    signal.signal(signal.SIGTERM, terminate)
    follower = Follower(url, token=token, since=since, event_types=event_types, sequence_ids=sequence_ids,
                        exit_on_resync=exit_on_resync)
    try:
        return follower.run()
    except Fatal as exc:
        follower.note(str(exc))
        return EXIT_FATAL
    except KeyboardInterrupt:
        return EXIT_SIGINT
    except _Terminated:
        return EXIT_SIGTERM
    except BrokenPipeError:  # `tka events | head -3`: the reader is gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while closing: no traceback
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        follower.close()
