import pytest


@pytest.fixture
def db_url(any_db_url: str) -> str:
    """Service tests run on SQLite and on a real PostgreSQL server."""
    return any_db_url
