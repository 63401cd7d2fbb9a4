"""Idempotency records: a keyed request's claim while it runs, and its command's outcome after.

A record is claimed in a transaction of its own before the command runs, so a concurrent retry
sees it in flight, and completed in the command's own transaction, so a command is remembered
exactly when it is done. A claim carries a token: a retry that took over a claim whose request
died replaces the token, and the first request can then no longer complete it (its command rolls
back), so the command runs once.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from app.store import schema as t
from app.store.fastpath import Runner

_i = t.idempotency


class IdempotencyRecords:
    def __init__(self, run: Runner) -> None:
        self._run = run

    def get(self, key: str) -> Any:
        """The record (a row with ``fingerprint, state, claim, outcome, created_at, expires_at``)."""
        return self._run.conn.execute(sa.select(_i).where(_i.c.key == key)).first()

    def claim(self, key: str, fingerprint: str, ttl: float, claim: str) -> None:
        now = time.time()
        self._run.conn.execute(_i.delete().where(_i.c.key == key))
        self._run.conn.execute(_i.insert().values(key=key, fingerprint=fingerprint, state="in_flight", claim=claim,
                                                  created_at=now, expires_at=now + ttl))

    def complete(self, key: str, claim: str, outcome: dict[str, Any]) -> bool:
        """Store the outcome if ``claim`` still holds the key; False when a retry took it over (the
        caller must then roll back, so the command is not done twice)."""
        done = self._run.conn.execute(_i.update().where(*_held(key, claim)).values(state="complete", outcome=outcome))
        return done.rowcount == 1

    def release(self, key: str, claim: str) -> None:
        """Forget a claim whose command failed: the key may be used again."""
        self._run.conn.execute(_i.delete().where(*_held(key, claim)))

    def purge(self) -> int:
        """Delete expired records; how many."""
        gone = self._run.conn.execute(_i.delete().where(_i.c.expires_at < time.time()))
        return gone.rowcount  # type: ignore[no-any-return]


def _held(key: str, claim: str) -> tuple[Any, ...]:
    """The record of ``key`` while ``claim`` holds it in flight."""
    return _i.c.key == key, _i.c.claim == claim, _i.c.state == "in_flight"
