"""Durable storage: SQLAlchemy Core over SQLite (the embedded default) or PostgreSQL.

``store`` (transactions, breaker, retries), ``unit_of_work`` (one transaction's repositories:
``sequences``, ``history``, ``event_log``, ``settings``, ``idempotency``), ``engine`` (engines and
connection settings), ``locks`` (how SQLite writers queue), ``group`` (group commit),
``checkpoint`` (WAL checkpoints), ``fastpath`` (the SQLite fast path), ``schema`` (tables and
migrations), ``monitor`` (the store watchdog).
"""

from app.store.errors import StoreUnavailable
from app.store.store import Store
from app.store.unit_of_work import UnitOfWork

__all__ = ["Store", "StoreUnavailable", "UnitOfWork"]
