"""Per-request context that flows from the HTTP edge into services without widening signatures.

The API sets it for each request; services read it to stamp events with the request id and to
store an idempotent response in the same transaction as the command it answers.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True, slots=True)
class IdempotentCall:
    """A keyed POST being executed: how to render and where to store its answer."""

    key: str
    claim: str  # this request's claim on the key; a retry after the lease replaces it
    render: Callable[[Any], tuple[int, dict[str, str], str]]  # outcome -> (status, headers, body)


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str | None = None
    idempotent: IdempotentCall | None = None


_current: ContextVar[RequestContext] = ContextVar("tka_request_context", default=RequestContext())


def current() -> RequestContext:
    return _current.get()


def set_current(ctx: RequestContext) -> object:
    return _current.set(ctx)


def reset(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
