import pytest


@pytest.fixture
def db_url(any_db_url: str) -> str:
    """Store tests run on SQLite and on a real PostgreSQL server (those of SQLite only skip it)."""
    return any_db_url
