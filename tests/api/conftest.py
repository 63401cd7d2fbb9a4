from __future__ import annotations

import pytest

from app.api import create_app
from app.api.security import EdgeConfig


@pytest.fixture
def app(container):
    """The real app over a real SQLite file, validating every response against openapi.yaml."""
    return create_app(container, edge=EdgeConfig(cors_origins=("http://allowed.example",)),
                      validate_responses=True)


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
