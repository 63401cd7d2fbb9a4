"""``tka events`` as a subprocess against real servers: JSON lines on stdout, resume across restarts."""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from typing import Any

import pytest
import requests

from tests.servers import ROOT, LiveServer, free_port
from tests.waiting import wait_until
from tests.ws import FAST, add_beat, create_sequence, last_event_id, start

pytestmark = pytest.mark.e2e

TOKEN = "s3cret-token-for-cli-tests"


class Events:
    """``python -m app.cli events ARGS``: stdout lines in a queue, stderr kept."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "TKA_TOKEN"}
        # SIG_DFL: a shell without job control starts background jobs (`make test &`) with SIGINT
        # ignored, and Python keeps it so; the tests send SIGINT as a terminal's Ctrl-C would.
        self.proc = subprocess.Popen([sys.executable, "-m", "app.cli", "events", *args], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err.append), daemon=True).start()

    @staticmethod
    def _pump(stream: Any, put: Any) -> None:
        for line in stream:
            put(line)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def connections(self) -> int:
        return self.stderr.count("connected to ")

    def wait_connected(self, n: int = 1, timeout: float = 30) -> None:
        wait_until(lambda: self.connections() >= n, f"connection {n}: {self.stderr}", give_up_after=timeout)

    def events(self, n: int, timeout: float = 30) -> list[dict[str, Any]]:
        got = []
        for _ in range(n):
            line = self.lines.get(timeout=timeout)
            assert line.endswith("\n") and "\n" not in line[:-1]
            got.append(json.loads(line))
            assert got[-1]["type"] == "event", line
        return got

    def nothing_more(self, seconds: float = 1.0) -> None:
        try:
            line = self.lines.get(timeout=seconds)
        except queue.Empty:
            return
        pytest.fail(f"unexpected line {line}")

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def ids_after(server: LiveServer, after: int, event_type: str | None = None) -> list[int]:
    with sqlite3.connect(server.db_url.removeprefix("sqlite:///")) as conn:
        sql = "SELECT event_id FROM events WHERE event_id > ?" + (" AND event_type = ?" if event_type else "")
        rows = conn.execute(sql + " ORDER BY event_id", (after, event_type) if event_type else (after,))
        return [row[0] for row in rows]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start(tmp_path_factory, "cli-events", workers=1)
    yield s
    s.stop()


def test_prints_events_then_resumes_across_restarts_without_gap_or_duplicate(tmp_path_factory):
    first = start(tmp_path_factory, "cli-resume", workers=1)
    port, db_url = first.port, first.db_url
    follower = Events("--url", first.url)
    servers = [first]
    try:
        follower.wait_connected()
        floor = last_event_id(first)
        seq = create_sequence(first, "Follow")
        add_beat(first, seq["id"], "A")
        add_beat(first, seq["id"], "B")
        expected = ids_after(first, floor)
        got = follower.events(len(expected))
        assert [e["event_id"] for e in got] == expected == sorted(set(expected))
        assert got[0]["event_type"] == "sequence.created" and got[0]["sequence_id"] == seq["id"]
        seen = expected[-1]

        first.stop()
        wait_until(lambda: "disconnected" in follower.stderr, "the disconnect notice", give_up_after=20)
        other = LiveServer(db_url, workers=1, env=FAST)  # same database, another port: the follower misses this
        servers.append(other)
        create_sequence(other, "Missed 1")
        create_sequence(other, "Missed 2")
        other.stop()
        missed = ids_after(other, seen)
        assert len(missed) >= 2

        again = LiveServer(db_url, workers=1, env=FAST, port=port)
        servers.append(again)
        assert [e["event_id"] for e in follower.events(len(missed))] == missed
        follower.wait_connected(2)
        create_sequence(again, "Live")
        live = ids_after(again, missed[-1])
        assert [e["event_id"] for e in follower.events(len(live))] == live
        follower.nothing_more(0.5)
        assert "resuming after event" in follower.stderr
    finally:
        assert follower.stop() == 130
        for s in servers:
            s.stop()
    assert "Traceback" not in follower.stderr


def test_since_starts_after_that_event_and_filter_limits_the_types(server):
    floor = last_event_id(server)
    seq = create_sequence(server, "Since")
    add_beat(server, seq["id"], "A")
    create_sequence(server, "Since 2")
    ids = ids_after(server, floor)
    follower = Events("--url", server.url, "--since", str(ids[0]))
    filtered = Events("--url", server.url, "--since", str(floor), "--filter", "sequence.created",
                      "--filter", "sequence.beat_added")
    try:
        assert [e["event_id"] for e in follower.events(len(ids) - 1)] == ids[1:]
        wanted = sorted(ids_after(server, floor, "sequence.created") + ids_after(server, floor, "sequence.beat_added"))
        got = filtered.events(len(wanted))
        assert [e["event_id"] for e in got] == wanted
        assert {e["event_type"] for e in got} == {"sequence.created", "sequence.beat_added"}
        filtered.nothing_more(0.5)
    finally:
        assert follower.stop() == 130 and filtered.stop() == 130


def test_bad_filter_is_a_usage_error():
    bad = Events("--filter", "Not A Type")
    assert bad.proc.wait(30) == 2
    assert "--filter" in bad.stderr and "Traceback" not in bad.stderr


def test_sigint_and_sigterm_exit_cleanly_even_while_retrying(server):
    connected = Events("--url", server.url)
    retrying = Events("--url", f"http://127.0.0.1:{free_port()}")
    try:
        connected.wait_connected()
        wait_until(lambda: "cannot connect" in retrying.stderr, "a retry notice", give_up_after=30)
    finally:
        assert connected.stop(signal.SIGINT) == 130
        assert retrying.stop(signal.SIGTERM) == 143
    for follower in (connected, retrying):
        assert "Traceback" not in follower.stderr and follower.lines.empty()


def test_token_server(tmp_path_factory):
    guarded = start(tmp_path_factory, "cli-guarded", workers=1, extra_args=["--token", TOKEN],
                    env={"TKA_WS_AUTH_TIMEOUT": "1"})
    try:
        without, wrong = Events("--url", guarded.url), Events("--url", guarded.url, "--token", "wrong-token")
        assert without.proc.wait(30) == 1 and wrong.proc.wait(30) == 1
        assert "1008" in without.stderr and "--token" in without.stderr
        assert "401" in wrong.stderr
        follower = Events("--url", guarded.url, "--token", TOKEN)
        try:
            follower.wait_connected()
            r = requests.post(f"{guarded.url}/api/sequences", json={"name": "Authed", "start_position": "alpha1"},
                              headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
            assert r.status_code == 201
            assert follower.events(1)[0]["event_type"] == "sequence.created"
        finally:
            assert follower.stop() == 130
        for f in (without, wrong, follower):
            assert "Traceback" not in f.stderr
    finally:
        guarded.stop()


def test_token_from_the_environment(monkeypatch):
    # TKA_TOKEN is read when the option is absent (argparse default): checked without a server.
    from app import cli

    seen: dict[str, Any] = {}
    monkeypatch.setenv("TKA_TOKEN", "from-env")
    monkeypatch.setattr("app.events.cli_client.main", lambda url, **kw: seen.update(kw) or 0)
    assert cli.main(["events"]) == 0 and seen["token"] == "from-env"
