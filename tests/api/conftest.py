from __future__ import annotations

from typing import Iterator

import pytest

from app.api import create_app
from app.bootstrap import start
from app.settings import Settings
from tests.servers import LiveServer
from tests.ws import start as start_server


@pytest.fixture
def settings(db_url: str) -> Settings:
    """The real app's settings over a real SQLite file, validating every response against
    openapi.yaml, with one browser origin allowed."""
    return Settings(database_url=db_url, validate_responses=True, cors_origins=("http://allowed.example",))


@pytest.fixture
def app(container):
    """The real app, its runtime started as a worker's is (the store watchdog, the event tailer)."""
    start(container)
    return create_app(container)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_sequence(client):
    def make(name: str = "Test", **fields):
        r = client.post("/api/sequences", json={"name": name, "start_position": "alpha1", **fields})
        assert r.status_code == 201, r.json
        return r.json["data"]
    return make


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``tka serve`` with 2 workers, for the event stream's tests."""
    s = start_server(tmp_path_factory, "events", workers=2)
    yield s
    s.stop()
