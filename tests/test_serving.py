"""app/serving.py: ``tka serve`` and ``gunicorn -c gunicorn.conf.py`` serve the same server, built
by the one composition root, with hooks that are chained and never overwritten."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import requests

from app.serving import gunicorn_config, server_settings
from app.settings import RUN_DIR_ENV, Settings
from app.store import Store
from app.store.schema import LATEST
from tests.servers import Server, one_per_worker
from tests.waiting import wait_until
from tests.ws import Client, create_sequence


def test_hooks_given_by_a_deployer_are_chained_after_tkas(tmp_path, monkeypatch):
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    settings = server_settings(Settings(database_url=url))
    assert settings.run_dir and Path(settings.run_dir).is_dir()
    calls: list[str] = []
    config = gunicorn_config(settings, on_starting=lambda server: calls.append("mine"),
                             worker_int=lambda worker: calls.append("mine too"))
    config["on_starting"](None)  # tka's migration, then the deployer's hook
    store = Store(url)
    assert store.schema_version() == LATEST and calls == ["mine"]
    store.dispose()
    config["worker_int"](object())  # tka's (no app on this fake worker: nothing to close), then theirs
    assert calls == ["mine", "mine too"]
    assert {"post_worker_init", "worker_exit", "child_exit"} <= config.keys()


def served_by(client: Client) -> int:
    client.send({"type": "get_stats", "id": "who"})
    return client.recv()["data"]["served_by"]


@pytest.mark.e2e
def test_gunicorn_conf_serves_what_tka_serve_serves(tmp_path):
    """The README's second way to serve: sockets on both workers are counted server-wide (the
    workers share their lists through the run dir the master's hooks set up) and every socket gets
    every event, whichever worker it is on."""
    url = f"sqlite:///{tmp_path / 'conf.db'}"
    server = Server(lambda port: [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app.wsgi:application"],
                    log=tmp_path / "gunicorn.log", name="gunicorn -c gunicorn.conf.py", port_env="TKA_PORT",
                    env={"TKA_DATABASE_URL": url, "TKA_WORKERS": "2", "TKA_WS_HEARTBEAT_INTERVAL": "1"}, db_url=url)
    try:
        clients = one_per_worker(lambda: Client(server), served_by, Client.close, n=2)
        pids = {served_by(client) for client in clients}
        assert len(pids) == 2

        def counted_everywhere() -> bool:
            stats = requests.get(f"{server.url}/api/websocket/stats", timeout=5).json()["data"]
            health = requests.get(f"{server.url}/health", timeout=5).json()["checks"]["websocket:connections"][0]
            return stats["scope"] == "server" and stats["workers"] == 2 and \
                pids <= {c["worker_pid"] for c in stats["connections"]} and "2 on the server" in health["output"]

        wait_until(counted_everywhere, "both workers' sockets counted by /api/websocket/stats and /health")
        seq = create_sequence(server, "Everywhere")  # committed by whichever worker takes the request
        created = [client.events(2)[0] for client in clients]
        assert {(e["event_type"], e["sequence_id"], e["event_id"]) for e in created} == \
            {("sequence.created", seq["id"], created[0]["event_id"])}
        for client in clients:
            client.close()
    finally:
        server.stop()
