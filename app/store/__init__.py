"""Durable storage: SQLAlchemy Core over SQLite (the embedded default) or PostgreSQL."""

from app.store.sql import Store, StoreUnavailable, UnitOfWork, default_database_url

__all__ = ["Store", "StoreUnavailable", "UnitOfWork", "default_database_url"]
