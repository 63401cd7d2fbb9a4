"""A bounded soak: REST clients doing mixed work while WebSocket subscribers count every event.

``make soak`` runs 50 clients for 60 s with 20 subscribers; ``make test`` a short version
(tests/e2e/test_soak.py). Counts: requests, 5xx, per-subscriber lost and duplicated event ids
(against the durable log), throughput and p99.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
import websocket

from tests.servers import LiveServer
from tests.waiting import wait_until


class Subscriber(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.ws = websocket.create_connection(url, timeout=30)
        hello = json.loads(self.ws.recv())
        assert hello["type"] == "connection_established", hello
        self.ids: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        self.ws.settimeout(0.5)
        while not self.stop.is_set():
            try:
                message = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError):
                return
            if message.get("type") == "event":
                self.ids.append(message["event_id"])

    def close(self) -> None:
        self.stop.set()
        self.join(5)
        try:
            self.ws.close()
        except Exception:  # already closed by the server
            pass


def _client(base: str, deadline: float, rng: random.Random, out: dict[str, list]) -> None:
    session = requests.Session()
    mine: list[str] = []
    while time.monotonic() < deadline:
        action = rng.random()
        started = time.perf_counter()
        try:
            if action < 0.25 or not mine:
                r = session.post(f"{base}/api/sequences", json={"name": "soak", "start_position": "alpha1"}, timeout=30)
                if r.status_code == 201:
                    mine.append(r.json()["data"]["id"])
            elif action < 0.55:
                r = session.post(f"{base}/api/sequences/{rng.choice(mine)}/beats",
                                 json={"beat": {"letter": rng.choice("ABCGHI")}}, timeout=30)
            elif action < 0.85:
                r = session.get(f"{base}/api/sequences/{rng.choice(mine)}", timeout=30)
            elif action < 0.95:
                r = session.get(f"{base}/api/sequences?page_size=10", timeout=30)
            else:
                r = session.post(f"{base}/api/commands/undo", json={"sequence_id": rng.choice(mine)}, timeout=30)
            out["latency"].append(time.perf_counter() - started)
            out["status"].append(r.status_code)
        except requests.RequestException as exc:
            out["errors"].append(repr(exc))


def run_soak(*, clients: int, seconds: float, subscribers: int, workers: int = 2,
             db_path: Path | None = None) -> dict[str, Any]:
    db_path = db_path or Path(tempfile.mkdtemp(prefix="tka-soak-")) / "soak.db"
    server = LiveServer(f"sqlite:///{db_path}", workers=workers)
    subs: list[Subscriber] = []
    try:
        ws_url = server.url.replace("http://", "ws://") + "/ws"
        subs = [Subscriber(ws_url) for _ in range(subscribers)]
        for s in subs:
            s.start()
        out: dict[str, list] = {"latency": [], "status": [], "errors": []}
        deadline = time.monotonic() + seconds
        threads = [threading.Thread(target=_client, args=(server.url, deadline, random.Random(i), out))
                   for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 60)
        db = sqlite3.connect(db_path)
        log_ids = [row[0] for row in db.execute("SELECT event_id FROM events ORDER BY event_id")]
        db.close()
        try:
            wait_until(lambda: all((s.ids[-1] if s.ids else 0) >= log_ids[-1] for s in subs),
                       "every subscriber catching up with the log", give_up_after=20, every=0.2)
        except AssertionError:  # the report below counts what they missed
            pass
    finally:
        for s in subs:
            s.close()
        server.stop()
    first = min((s.ids[0] for s in subs if s.ids), default=0)
    expected = [i for i in log_ids if i >= first]
    per_subscriber = []
    for s in subs:
        got = s.ids
        per_subscriber.append({"received": len(got), "duplicates": len(got) - len(set(got)),
                               "lost": len(set(expected) - set(got)), "in_order": got == sorted(got)})
    latencies = sorted(out["latency"])
    return {
        "clients": clients, "seconds": seconds, "subscribers": subscribers, "workers": workers,
        "requests": len(out["status"]), "rps": round(len(out["status"]) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2) if latencies else None,
        "status_counts": {str(k): out["status"].count(k) for k in sorted(set(out["status"]))},
        "server_errors": sum(1 for code in out["status"] if code >= 500),
        "client_errors": len(out["errors"]),
        "events_in_log": len(expected),
        "lost_events": sum(p["lost"] for p in per_subscriber),
        "duplicated_events": sum(p["duplicates"] for p in per_subscriber),
        "out_of_order_subscribers": sum(1 for p in per_subscriber if not p["in_order"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--subscribers", type=int, default=20)
    args = parser.parse_args()
    result = run_soak(clients=args.clients, seconds=args.seconds, subscribers=args.subscribers)
    print(json.dumps(result, indent=2))
    bad = result["server_errors"] or result["lost_events"] or result["duplicated_events"] \
        or result["out_of_order_subscribers"] or result["client_errors"]
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
