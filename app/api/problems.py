"""Every error as application/problem+json (RFC 9457), one shape for all of them.

Bodies carry ``type, title, status, detail, instance, error_code, request_id`` and, for validation,
``errors: [{field, message}]``. A 5xx body never carries internals: the cause is logged with the
request id instead.
"""

from __future__ import annotations

import json
import logging
import math
import re
from http import HTTPStatus
from typing import Any

import flask
import werkzeug.exceptions
from connexion.exceptions import ProblemException

from app.domain.errors import DomainError
from app.services.errors import Conflict, NotFound, PreconditionFailed, ServiceError, Unprocessable
from app.store import StoreUnavailable

log = logging.getLogger(__name__)

QUOTED_CHARS = 64  # of a value a message quotes
FIELD_CHARS = 64  # of a field path (it may hold a client's made-up key)
MESSAGE_CHARS = 300  # of a message, at most
_LONG_QUOTE = re.compile(r"""(['"])((?:(?!\1).){%d})(?:(?!\1).)+\1""" % QUOTED_CHARS, re.DOTALL)
# A value a message shows unquoted: a number (jsonschema's "999… is greater than the maximum"), a path.
_LONG_WORD = re.compile(r"""([^\s'"]{%d})[^\s'"]+""" % QUOTED_CHARS)

PROBLEM_JSON = "application/problem+json"
STORE_RETRY_AFTER = "2"


class ApiProblem(Exception):
    """Raised by the HTTP edge for a problem it detects itself (bad header, auth, idempotency)."""

    def __init__(self, status: int, error_code: str, detail: str, *, errors: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.error_code, self.detail = status, error_code, detail
        self.errors, self.headers = errors, headers or {}


def bounded(text: str, limit: int = MESSAGE_CHARS) -> str:
    """``text`` quoting at most QUOTED_CHARS of any value, quoted or not, and at most ``limit``
    long: an answer never echoes a client's megabyte back."""
    text = _LONG_QUOTE.sub(lambda m: f"{m.group(1)}{m.group(2)}…{m.group(1)}", text)
    text = _LONG_WORD.sub(lambda m: f"{m.group(1)}…", text)
    return text if len(text) <= limit else text[:limit] + "…"


MAX_ERRORS = 20  # errors[] entries in one answer (as the schema validator reports them)


def problem_response(status: int, error_code: str, detail: str, *, errors: list[dict[str, str]] | None = None,
                     headers: dict[str, str] | None = None, title: str | None = None) -> flask.Response:
    body: dict[str, Any] = {
        "type": f"urn:tka:problem:{error_code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": bounded(detail),
        "instance": flask.request.path if flask.has_request_context() else None,
        "error_code": error_code,
        "request_id": flask.g.get("request_id") if flask.has_request_context() else None,
    }
    if errors is not None:
        body["errors"] = [{**e, "field": bounded(e["field"], FIELD_CHARS), "message": bounded(e["message"])}
                          for e in errors]
    response = flask.Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _connexion_problem(exc: ProblemException) -> flask.Response:
    ext = dict(exc.ext or {})
    code = ext.pop("error_code", None) or _code_for(exc.status)
    errors = ext.pop("errors", None)
    detail = exc.detail if isinstance(exc.detail, str) else "; ".join(map(str, exc.detail or []))
    if exc.status == 400 and errors is None:
        errors = [{"field": "request", "message": detail}]
    return problem_response(exc.status, code, detail, errors=errors, headers=dict(exc.headers or {}))


def _code_for(status: int) -> str:
    return {400: "validation_error", 401: "unauthorized", 403: "forbidden", 404: "not_found",
            405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 412: "precondition_failed",
            413: "payload_too_large", 415: "unsupported_media_type", 422: "unprocessable",
            429: "too_many_requests", 500: "internal_error", 503: "unavailable"}.get(status, "error")


def handle_exception(exc: Exception) -> flask.Response:
    if isinstance(exc, ApiProblem):
        return problem_response(exc.status, exc.error_code, exc.detail, errors=exc.errors, headers=exc.headers)
    if isinstance(exc, ProblemException):
        return _connexion_problem(exc)
    if isinstance(exc, DomainError):
        # A file's importer reports every field it refused at once (app/formats); a rule, one field.
        errors = getattr(exc, "errors", None) or [{"field": exc.field, "message": exc.message, "rule": exc.rule}]
        return problem_response(422, exc.code, exc.message, title="Unprocessable Content",
                                errors=list(errors)[:MAX_ERRORS])
    if isinstance(exc, NotFound):
        return problem_response(404, exc.code, exc.message)
    if isinstance(exc, PreconditionFailed):
        return problem_response(412, exc.code, exc.message, headers={"ETag": f'"{exc.current_version}"'})
    if isinstance(exc, Conflict):
        retry = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return problem_response(409, exc.code, exc.message, headers=retry)
    if isinstance(exc, (Unprocessable, ServiceError)):
        return problem_response(422, exc.code, exc.message)
    if isinstance(exc, StoreUnavailable):
        log.error("store unavailable: %s (request %s)", exc, flask.g.get("request_id"))
        retry_after = str(max(1, math.ceil(exc.retry_after))) if exc.retry_after else STORE_RETRY_AFTER
        return problem_response(503, "store_unavailable", "the sequence store is unavailable; retry shortly",
                                headers={"Retry-After": retry_after})
    if isinstance(exc, werkzeug.exceptions.HTTPException):
        status = exc.code or 500
        detail = exc.description or HTTPStatus(status).phrase
        if status == 404:
            detail = f"no such resource: {flask.request.path}"
        headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
        return problem_response(status, _code_for(status), detail, headers=headers)
    log.exception("unhandled error (request %s)", flask.g.get("request_id"))
    return problem_response(500, "internal_error", "an internal error occurred; it has been logged")
