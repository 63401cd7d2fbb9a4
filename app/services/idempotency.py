"""Safe retries: a command called again with the same Idempotency-Key runs once.

The key's record is claimed before the command runs, in a transaction of its own, and completed
with the command's outcome in the command's own transaction: a command is done and remembered
together or not at all. A repeat with the same request gets the stored outcome; with another
request, ``idempotency_key_reused``; while the first is still running, ``idempotency_key_in_flight``.
A claim whose request died (with its worker, say) may be taken over after ``LEASE`` seconds; the
first request can then no longer complete it, so even a slow one never runs the command twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from app.core import metrics
from app.core.ids import random_uuid
from app.services.calls import CommandOutcome, IdempotencyKey
from app.services.errors import Conflict, Unprocessable
from app.store import Store, UnitOfWork

TTL = 24 * 3600.0  # how long a key is remembered
LEASE = 5.0  # how long a claim is held against retries before one may take it over


@dataclass(frozen=True, slots=True)
class Claim:
    key: IdempotencyKey
    token: str  # this request's hold on the key


class Idempotency:
    def __init__(self, store: Store, *, ttl: float = TTL, lease: float = LEASE) -> None:
        self.store = store
        self.ttl = ttl
        self.lease = lease

    def begin(self, key: IdempotencyKey) -> Claim | CommandOutcome:
        """Claim ``key`` for a new call, or the outcome of the call that already completed it."""
        now = time.time()
        with self.store.write() as uow:
            record = uow.idempotency.get(key.scope)
            if record is not None and record.expires_at > now:
                if record.fingerprint != key.fingerprint:
                    raise Unprocessable("idempotency_key_reused",
                                        "this Idempotency-Key was used with a different request body")
                if record.state == "complete":
                    if record.outcome is None:  # answered by a release before v6 of the schema
                        raise Unprocessable("idempotency_key_reused",
                                            "this Idempotency-Key was answered before the server was upgraded and "
                                            "its answer is gone; the request was done: do not repeat it")
                    metrics.IDEMPOTENT_REPLAYS.inc()
                    return CommandOutcome.from_record(record.outcome)
                if now - record.created_at < self.lease:
                    raise Conflict("idempotency_key_in_flight",
                                   "a request with this Idempotency-Key is still being processed; retry later",
                                   retry_after=1)
            claim = Claim(key, random_uuid())
            uow.idempotency.claim(key.scope, key.fingerprint, self.ttl, claim.token)
        return claim

    @staticmethod
    def complete(uow: UnitOfWork, claim: Claim, outcome: CommandOutcome) -> None:
        """Remember ``outcome`` in the command's transaction (``uow``); if a retry took the claim
        over meanwhile, refuse, so that the command rolls back instead of running twice."""
        if not uow.idempotency.complete(claim.key.scope, claim.token, outcome.to_record()):
            raise Conflict("idempotency_key_in_flight",
                           "a retry with this Idempotency-Key took over this request; nothing was changed",
                           retry_after=1)

    def release(self, claim: Claim) -> None:
        """The command failed: forget the claim, so the key may be used again. If that fails too,
        the claim expires by its lease; the command's own error is the one that matters."""
        try:
            with self.store.write() as uow:
                uow.idempotency.release(claim.key.scope, claim.token)
        except Exception:
            pass
