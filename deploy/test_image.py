"""`make image-test`: the images `make image` makes, built from this checkout and run as a deployer
runs them (README "Deploy"). Not part of `make test` (pytest's testpaths is tests/).

Both images are built under names of this run's own; every container uses the host's network and
binds loopback on a free port, so no test traffic goes to a bridge's private addresses. Everything
the run made (containers, volumes, images, the compose pod) is removed at the end, and checked to
be gone; the debootstrap base image stays, cached. Needs root (rootful podman with runc):
deploy/host.sh installs what is missing, as tests/pg.py installs PostgreSQL.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
RUN = f"tka-image-test-{uuid.uuid4().hex[:8]}"
IMAGE = f"localhost/{RUN}:latest"
PG_IMAGE = f"localhost/{RUN}-postgres:15"
BASE_IMAGE = "localhost/tka-base:bookworm"
LABEL = f"tka.image-test={RUN}"
TOKEN = secrets.token_urlsafe(24)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PODMAN_COMPOSE = Path(os.environ.get("TKA_PODMAN_COMPOSE") or "/opt/podman-compose") / "bin" / "podman-compose"
START_TIMEOUT_S = 90.0
# podman's private settings for hosts of this kind (runc, ulimits): deploy/containers.conf.
os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "deploy" / "containers.conf"))


# -- helpers --------------------------------------------------------------------------------------
def _quiet(text: str) -> str:
    """podman's output without its complaints that there is no systemd to time health checks."""
    return "\n".join(line for line in text.splitlines() if "systemd" not in line)


def podman(*args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"`podman {' '.join(args)}` exited with {done.returncode}:\n"
                             f"{_quiet(done.stderr)[-3000:]}")
    return done


def logs(container: str) -> str:
    done = podman("logs", container, check=False)
    return _quiet(done.stdout + done.stderr)[-4000:]


def wait_for_status(port: int, *containers: str, timeout: float = START_TIMEOUT_S) -> None:
    """Until ``GET /api/status`` answers 200 (with the token); fails with the logs of ``containers``
    as soon as one of them is no longer running, or at ``timeout``."""
    deadline = time.monotonic() + timeout
    next_look = time.monotonic() + 1
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/status", headers=AUTH, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass  # not listening yet
        now = time.monotonic()
        if now >= next_look:
            next_look = now + 1
            for container in containers:
                state = podman("inspect", "--format", "{{.State.Status}}", container, check=False).stdout.strip()
                if state != "running":
                    pytest.fail(f"{container} is {state or 'gone'} instead of serving on port {port}:\n"
                                f"{logs(container)}")
        if now >= deadline:
            pytest.fail(f"no 200 from /api/status on port {port} within {timeout:.0f} s:\n"
                        + "\n".join(logs(c) for c in containers))
        time.sleep(0.05)


def run_tka(name: str, port: int, *options: str) -> float:
    """Start the tka image as ``name`` on loopback ``port``; seconds from `podman run` to the first 200."""
    started = time.monotonic()
    podman("run", "-d", "--name", name, "--label", LABEL, "--network", "host", "-e", "TKA_HOST=127.0.0.1",
           "-e", f"TKA_PORT={port}", "-e", f"TKA_API_TOKEN={TOKEN}", *options, IMAGE)
    wait_for_status(port, name)
    return time.monotonic() - started


def stop(container: str) -> tuple[float, int]:
    """`podman stop` (the engines' usual 10 s before SIGKILL): seconds it took, and the exit code."""
    started = time.monotonic()
    podman("stop", "-t", "10", container, timeout=60)
    took = time.monotonic() - started
    return took, int(podman("inspect", "--format", "{{.State.ExitCode}}", container).stdout)


def _clean_up() -> None:
    for label in (LABEL, f"io.podman.compose.project={RUN}"):
        ids = podman("ps", "-aq", "--filter", f"label={label}", check=False).stdout.split()
        if ids:
            podman("rm", "-f", "-v", "-t", "2", *ids, check=False)
    podman("pod", "rm", "-f", f"pod_{RUN}", check=False)
    for label in (LABEL, f"io.podman.compose.project={RUN}"):
        volumes = podman("volume", "ls", "-q", "--filter", f"label={label}", check=False).stdout.split()
        if volumes:
            podman("volume", "rm", "-f", *volumes, check=False)
    podman("rmi", "-f", IMAGE, PG_IMAGE, check=False)


def _leftovers() -> list[str]:
    found = podman("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split()
    found += podman("pod", "ls", "--format", "{{.Name}}", check=False).stdout.split()
    found += podman("volume", "ls", "--format", "{{.Name}}", check=False).stdout.split()
    found += podman("images", "--format", "{{.Repository}}", check=False).stdout.split()
    found += podman("network", "ls", "--format", "{{.Name}}", check=False).stdout.split()
    return [name for name in found if RUN in name]


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def images(measured: dict[str, Any]) -> Iterator[None]:
    """Both images built from this checkout by deploy/image.sh (as `make image` does), under this
    run's names; everything of the run removed afterwards."""
    assert os.geteuid() == 0, "make image-test runs rootful podman: run it as root"
    host = subprocess.run([str(ROOT / "deploy" / "host.sh")], env={**os.environ, "PY": sys.executable}, check=False)
    assert host.returncode == 0, "deploy/host.sh could not install podman, runc, debootstrap, podman-compose (above)"
    base_cached = podman("image", "exists", BASE_IMAGE, check=False).returncode == 0
    started = time.monotonic()
    built = subprocess.run([str(ROOT / "deploy" / "image.sh")],
                           env={**os.environ, "TKA_IMAGE": IMAGE, "TKA_POSTGRES_IMAGE": PG_IMAGE, "PY": sys.executable},
                           check=False)
    try:
        assert built.returncode == 0, "deploy/image.sh failed (its output above)"
        measured["images built (s)"] = (f"{time.monotonic() - started:.0f} "
                                        f"({'cached' if base_cached else 'new'} debootstrap base)")
        for image in (IMAGE, PG_IMAGE):
            size = int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout)
            measured[f"{image.split('/')[1].replace(RUN, 'tka')} size"] = f"{size} bytes ({size / 1e6:.0f} MB)"
        yield
    finally:
        _clean_up()
    left = _leftovers()
    assert not left, f"the run left these behind: {left}"


@pytest.fixture(scope="module")
def sqlite_server(measured: dict[str, Any]) -> Iterator[tuple[str, int, str]]:
    """The image as it comes: SQLite on a (named) volume at /data. (container, port, volume)"""
    volume = f"{RUN}-data"
    podman("volume", "create", "--label", LABEL, volume)
    name, port = f"{RUN}-sqlite", free_port()
    measured["podman run to first 200 (s)"] = f"{run_tka(name, port, '-v', f'{volume}:/data'):.2f}"
    yield name, port, volume


# -- the image ------------------------------------------------------------------------------------
def test_the_image_is_the_wheel_in_a_venv_run_by_a_non_root_user():
    (image,) = json.loads(podman("image", "inspect", IMAGE).stdout)
    config = image["Config"]
    assert config["User"] == "10001:10001"
    assert "8000/tcp" in config["ExposedPorts"]
    assert "/data" in config["Volumes"]
    assert config["Cmd"] == ["tka", "serve"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["TKA_HOST"] == "0.0.0.0" and env["TKA_PORT"] == "8000"
    assert env["TKA_DATABASE_URL"] == "sqlite:////data/tka.db"
    health = image.get("Healthcheck") or config.get("Healthcheck")
    assert health and "/opt/tka/healthcheck.py" in health["Test"], \
        f"no HEALTHCHECK in the image (built without --format docker?): {health}"
    where = podman("run", "--rm", "--label", LABEL, "--network", "none", "--entrypoint", "/opt/tka/bin/python", IMAGE,
                   "-c", "import app, importlib.metadata as m; print(app.__file__); "
                         "print(m.distribution('tka').read_text('direct_url.json'))").stdout.splitlines()
    assert where[0] == "/opt/tka/lib/python3.11/site-packages/app/__init__.py", where
    origin = json.loads(where[1])
    assert origin["url"].endswith(".whl") and not origin.get("dir_info", {}).get("editable"), origin


def test_refuses_to_serve_without_a_token():
    port = free_port()
    base = ["run", "--rm", "--label", LABEL, "--network", "host", "-e", "TKA_HOST=127.0.0.1", "-e", f"TKA_PORT={port}"]
    missing = podman(*base, IMAGE, check=False, timeout=60)
    assert missing.returncode != 0, f"served without a token:\n{missing.stdout}"
    assert "refusing to serve without a token" in missing.stderr and "TKA_API_TOKEN" in missing.stderr, missing.stderr
    short = podman(*base, "-e", "TKA_API_TOKEN=short", IMAGE, check=False, timeout=60)
    assert short.returncode != 0 and "refusing a token of 5 characters" in short.stderr, short.stderr


# -- one container, SQLite on a volume ------------------------------------------------------------
def test_status_answers_200_with_the_token_and_401_without(sqlite_server):
    _, port, _ = sqlite_server
    status = requests.get(f"http://127.0.0.1:{port}/api/status", headers=AUTH, timeout=10)
    assert status.status_code == 200 and status.json()["store"] == "sqlite", status.text
    refused = requests.get(f"http://127.0.0.1:{port}/api/status", timeout=10)
    assert refused.status_code == 401, refused.text
    wrong = requests.get(f"http://127.0.0.1:{port}/api/status", headers={"Authorization": "Bearer " + "x" * 32},
                         timeout=10)
    assert wrong.status_code == 401, wrong.text


def test_the_health_check_reports_healthy(sqlite_server):
    # No systemd here to run the image's HEALTHCHECK on its interval: run it as the timer would.
    name, _, _ = sqlite_server
    check = podman("healthcheck", "run", name, check=False, timeout=60)
    assert check.returncode == 0, f"health check failed: {check.stdout}{_quiet(check.stderr)}"
    state = json.loads(podman("inspect", "--format", "{{json .State.Health}}", name).stdout)
    assert state["Status"] == "healthy", state


def test_every_process_runs_as_the_image_user(sqlite_server):
    name, _, _ = sqlite_server
    rows = podman("top", name, "user", "args").stdout.splitlines()[1:]
    assert len(rows) >= 3, rows  # gunicorn's master and its two workers
    assert all(row.split()[0] == "tka" for row in rows), rows


def test_a_sequence_survives_a_restart_and_a_new_container_on_the_volume(sqlite_server, measured):
    name, port, volume = sqlite_server
    created = requests.post(f"http://127.0.0.1:{port}/api/sequences", headers=AUTH, timeout=10,
                            json={"name": "Kept", "start_position": "alpha1"})
    assert created.status_code == 201, created.text
    sid = created.json()["data"]["id"]
    assert requests.post(f"http://127.0.0.1:{port}/api/sequences/{sid}/beats", headers=AUTH, timeout=10,
                         json={"beat": {"letter": "A"}}).status_code == 201

    took, code = stop(name)
    measured["podman stop (s), exit code"] = f"{took:.2f}, {code}"
    # Exit 0 within `-t 10`: a server still running after 10 s would have been SIGKILLed (137).
    assert code == 0, f"podman stop took {took:.1f} s, exit code {code}:\n{logs(name)}"
    assert "Shutting down: Master" in logs(name)

    podman("start", name)
    wait_for_status(port, name)
    kept = requests.get(f"http://127.0.0.1:{port}/api/sequences/{sid}", headers=AUTH, timeout=10)
    assert kept.status_code == 200 and kept.json()["data"]["word"] == "A", kept.text

    # The volume, not the container, holds it: a new container (as after an upgrade) serves it too.
    assert stop(name)[1] == 0
    podman("rm", "-v", name)
    successor = f"{name}-2"
    run_tka(successor, port, "-v", f"{volume}:/data")
    kept = requests.get(f"http://127.0.0.1:{port}/api/sequences/{sid}", headers=AUTH, timeout=10)
    assert kept.status_code == 200 and kept.json()["data"]["name"] == "Kept", kept.text
    assert stop(successor)[1] == 0


# -- compose.yaml: two servers, one PostgreSQL ----------------------------------------------------
def _next_event_of(ws: websocket.WebSocket, sequence_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            message = json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            pytest.fail(f"no event of sequence {sequence_id} reached the other server's subscriber in {timeout:.0f} s")
        if message.get("type") == "event" and message.get("sequence_id") == sequence_id:
            return message  # type: ignore[no-any-return]


def test_compose_serves_one_sequence_through_both_servers_with_events_crossing(measured):
    ports = {"TKA_PORT_A": free_port(), "TKA_PORT_B": free_port(), "TKA_POSTGRES_PORT": free_port()}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "TKA_IMAGE": IMAGE, "TKA_POSTGRES_IMAGE": PG_IMAGE,
           "TKA_API_TOKEN": TOKEN, "TKA_POSTGRES_PASSWORD": secrets.token_urlsafe(16), "TKA_HOST": "127.0.0.1"}
    compose = [str(PODMAN_COMPOSE), "-p", RUN, "-f", str(ROOT / "compose.yaml")]
    containers = [f"{RUN}_{service}_1" for service in ("postgres", "tka-a", "tka-b")]
    a, b = (f"http://127.0.0.1:{ports[k]}" for k in ("TKA_PORT_A", "TKA_PORT_B"))

    started = time.monotonic()
    up = subprocess.run([*compose, "up", "-d"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert up.returncode == 0, f"podman-compose up failed:\n{_quiet(up.stdout + up.stderr)[-3000:]}"
    try:
        wait_for_status(ports["TKA_PORT_A"], *containers)
        wait_for_status(ports["TKA_PORT_B"], *containers)
        measured["compose up to both servers' first 200 (s)"] = f"{time.monotonic() - started:.1f}"
        for url in (a, b):
            assert requests.get(f"{url}/api/status", headers=AUTH, timeout=10).json()["store"] == "postgresql"

        ws = websocket.create_connection(f"{a.replace('http', 'ws', 1)}/ws", header=[f"Authorization: Bearer {TOKEN}"],
                                         timeout=20)
        try:
            hello = json.loads(ws.recv())
            assert hello["type"] == "connection_established", hello
            created = requests.post(f"{b}/api/sequences", headers=AUTH, timeout=10,
                                    json={"name": "Across", "start_position": "alpha1"})
            assert created.status_code == 201, created.text
            sid = created.json()["data"]["id"]
            assert _next_event_of(ws, sid)["event_type"] == "sequence.created"

            # One sequence: changed through A, read through B.
            assert requests.post(f"{a}/api/sequences/{sid}/beats", headers=AUTH, timeout=10,
                                 json={"beat": {"letter": "B"}}).status_code == 201
            read = requests.get(f"{b}/api/sequences/{sid}", headers=AUTH, timeout=10)
            assert read.status_code == 200 and read.json()["data"]["word"] == "B", read.text
        finally:
            ws.close()
    finally:
        started = time.monotonic()
        down = subprocess.run([*compose, "down", "-v"], env=env, capture_output=True, text=True, timeout=120,
                              check=False)
        measured["compose down (s)"] = f"{time.monotonic() - started:.1f}"
    assert down.returncode == 0, f"podman-compose down failed:\n{_quiet(down.stdout + down.stderr)[-3000:]}"
    assert not podman("ps", "-aq", "--filter", f"label=io.podman.compose.project={RUN}").stdout.split()
