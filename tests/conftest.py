"""Shared fixtures: real SQLite files, the real wiring, real servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

from app.bootstrap import bootstrap
from app.core.container import Container
from app.core.events import Event, EventBus
from app.services.sequences import SequenceManagementService

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tka.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database on each store the product supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tka.db'}"
    from tests import pg

    return pg.server().create_database()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests import pg

    pg.shutdown()


@pytest.fixture
def container(db_url: str) -> Iterator[Container]:
    c = bootstrap(db_url)
    yield c
    from app.store import Store
    c.resolve(Store).dispose()


@pytest.fixture
def service(container: Container) -> SequenceManagementService:
    return container.resolve(SequenceManagementService)


@pytest.fixture
def events(container: Container) -> list[Event]:
    """Every event published on the bus, in order."""
    received: list[Event] = []
    container.resolve(EventBus).subscribe("*", received.append)
    return received


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``tka serve`` in a subprocess on a free loopback port."""

    def __init__(self, db_url: str, *, workers: int = 2, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None, preexec_fn: Callable[[], None] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_url = db_url
        args = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), "--workers", str(workers),
                "--database", db_url, *(extra_args or [])]
        self.log = open(Path(db_url.removeprefix("sqlite:///")).with_suffix(".log"), "w") \
            if db_url.startswith("sqlite:///") else subprocess.DEVNULL
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=self.log, stderr=self.log,
                                     env={**os.environ, **(env or {})}, preexec_fn=preexec_fn)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if requests.get(f"{self.url}/health/live", timeout=1).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or a worker still booting
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start within 30 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(f"sqlite:///{tmp_path_factory.mktemp('live') / 'tka.db'}", workers=2)
    yield server
    server.stop()
