"""Shared fixtures: real SQLite files, the real wiring (app.bootstrap), real servers."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from app.bootstrap import bootstrap, close
from app.core.container import Container
from app.core.events import Event, EventBus
from app.services.sequences import SequenceManagementService
from app.services.views import SequenceViews
from app.settings import Settings
from app.store import Store
from tests.servers import LiveServer


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
def settings(db_url: str) -> Settings:
    """A server's settings on the test's database; responses are checked against openapi.yaml."""
    return Settings(database_url=db_url, validate_responses=True)


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    """The runtime ``bootstrap`` builds, not started (no background threads)."""
    c = bootstrap(settings)
    yield c
    close(c)


@pytest.fixture
def service(container: Container) -> SequenceManagementService:
    return container.resolve(SequenceManagementService)


@pytest.fixture
def views(container: Container) -> SequenceViews:
    return container.resolve(SequenceViews)


@pytest.fixture
def store(container: Container) -> Store:
    return container.resolve(Store)


@pytest.fixture
def events(container: Container) -> list[Event]:
    """Every event published on the bus, in order."""
    received: list[Event] = []
    container.resolve(EventBus).subscribe("*", received.append)
    return received


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(f"sqlite:///{tmp_path_factory.mktemp('live') / 'tka.db'}", workers=2)
    yield server
    server.stop()
