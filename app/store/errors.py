"""What can go wrong with the database, sorted into the two kinds callers treat differently.

An infrastructure fault (a refused connection, a timeout, a lock, a full disk) says nothing about
the request: it counts against the store's breaker and is answered 503, safe to retry. Anything
else (a constraint, our own SQL) is a bug or bad data and is raised as it is.
"""

from __future__ import annotations

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError, ProgrammingError


class StoreUnavailable(Exception):
    """The database cannot be reached or written (an infrastructure fault, not bad input)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def is_infrastructure_fault(exc: BaseException) -> bool:
    """Connection loss, timeouts, locks, disk errors: yes. Our own SQL or data bugs: no."""
    return isinstance(exc, DBAPIError) and not isinstance(exc, (IntegrityError, ProgrammingError, DataError))


def is_transient(exc: BaseException) -> bool:
    """Another program holds SQLite's lock: trying again shortly will do."""
    text = str(exc).lower()
    return isinstance(exc, OperationalError) and ("database is locked" in text or "busy" in text)


def describe(exc: DBAPIError) -> str:
    """One line naming the driver's error, for logs and StoreUnavailable (never a client's body)."""
    orig = getattr(exc, "orig", None)
    return f"{type(orig).__name__ if orig else type(exc).__name__}: {str(orig or exc).splitlines()[0]}"
