"""Service outcomes that are not domain-rule violations; the API maps each to one HTTP status."""

from __future__ import annotations


class ServiceError(Exception):
    code = "service_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    code = "not_found"


class PreconditionFailed(ServiceError):
    """The client's If-Match version is stale."""

    code = "precondition_failed"

    def __init__(self, message: str, current_version: int) -> None:
        super().__init__(message)
        self.current_version = current_version


class Conflict(ServiceError):
    """The request cannot run in the current state (nothing to undo, a stale undo, a keyed
    request still in flight, ...); ``retry_after`` seconds when waiting may help."""

    def __init__(self, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class Unprocessable(ServiceError):
    """Well-formed, but it cannot be done as asked (an Idempotency-Key reused for another request)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
