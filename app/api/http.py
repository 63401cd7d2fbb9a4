"""Response helpers shared by the handlers: the brief's envelope, ETags, commands, idempotency."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from typing import Any, Callable

import flask

from app.api.problems import ApiProblem
from app.api.serializers import sequence_out
from app.core import context, jsontext, metrics
from app.core.events import utc_now
from app.core.ids import random_uuid
from app.domain.models import SequenceData
from app.services.sequences import CommandOutcome, SequenceManagementService

IDEMPOTENCY_TTL = 24 * 3600.0
# An in-flight claim older than this may be taken over by a retry (its request died, e.g. with
# its worker). Taking over is safe even if the first request is merely slow: it can only commit
# while it still holds the claim (UnitOfWork.complete_idempotency), so the command runs once.
IDEMPOTENCY_LEASE = 5.0
_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


def service() -> SequenceManagementService:
    return flask.current_app.extensions["tka.sequences"]


def envelope(data: Any, message: str = "", **extra: Any) -> dict[str, Any]:
    return {"success": True, "message": message, "data": data, "timestamp": utc_now(), **extra}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    response = flask.Response(jsontext.dumps(body), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def etag(seq: SequenceData) -> str:
    return f'"{seq.version}"'


_SERIALIZED: dict[tuple[str, int], str] = {}  # (id, version) -> the sequence's JSON; versions never change
_SERIALIZED_LOCK = threading.Lock()
SERIALIZED_CACHE_SIZE = 256


def sequence_json(seq: SequenceData) -> str:
    key = (seq.id, seq.version)
    text = _SERIALIZED.get(key)
    if text is None:
        text = jsontext.dumps(sequence_out(seq))
        with _SERIALIZED_LOCK:
            _SERIALIZED[key] = text
            while len(_SERIALIZED) > SERIALIZED_CACHE_SIZE:
                _SERIALIZED.pop(next(iter(_SERIALIZED)))
    return text


def _envelope_json(seq: SequenceData | None, message: str, **extra: Any) -> str:
    """The brief's envelope with the sequence spliced in from the serialisation cache."""
    rest = jsontext.dumps({"success": True, "message": message, "timestamp": utc_now(), **extra})
    return f'{{"data":{sequence_json(seq) if seq is not None else "null"},{rest[1:]}'


def sequence_response(seq: SequenceData | None, message: str = "") -> flask.Response:
    response = flask.Response(_envelope_json(seq, message), mimetype="application/json")
    if seq is not None:
        response.headers["ETag"] = etag(seq)
    return response


def expected_version() -> int | None:
    """The version an ``If-Match`` header asks for; None when absent or ``*``."""
    raw = flask.request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    match = _ETAG.match(raw)
    if not match:
        # An entity tag that cannot be one of ours can never match: RFC 9110 says 412.
        raise ApiProblem(412, "precondition_failed", f"If-Match {raw!r} matches no version of this sequence")
    return int(match.group(1))


def _render(outcome: CommandOutcome, status: int) -> tuple[int, dict[str, str], str]:
    body = _envelope_json(outcome.sequence, outcome.description, command_id=outcome.command_id,
                          can_undo=outcome.can_undo, can_redo=outcome.can_redo,
                          undo_description=outcome.undo_description, redo_description=outcome.redo_description)
    headers: dict[str, str] = {}
    if outcome.sequence is not None:
        headers["ETag"] = etag(outcome.sequence)
        if status == 201:
            headers["Location"] = f"/api/sequences/{outcome.sequence.id}"
    return status, headers, body


def _to_response(status: int, headers: dict[str, str], body: str) -> flask.Response:
    response = flask.Response(body, status=status, mimetype="application/json")
    for name, value in headers.items():
        response.headers[name] = value
    return response


def run_command(call: Callable[[], CommandOutcome], *, status: int = 200) -> flask.Response:
    """Run a service command; with an ``Idempotency-Key`` make it safe to repeat.

    The key's record is claimed before the command runs and completed in the command's own
    transaction, so a command is acknowledged and remembered together or not at all.
    """
    key = flask.request.headers.get("Idempotency-Key")
    if key is None:
        return _to_response(*_render(call(), status))
    scope = f"{flask.request.method} {flask.request.path} {key}"
    body = flask.request.get_data() or b""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True).encode() if body.strip() else b""
    except ValueError:
        canonical = body
    fingerprint = hashlib.sha256(canonical).hexdigest()
    store = service().store
    now = time.time()
    with store.write() as uow:
        record = uow.get_idempotency(scope)
        if record is not None and record.expires_at > now:
            if record.fingerprint != fingerprint:
                raise ApiProblem(422, "idempotency_key_reused",
                                 "this Idempotency-Key was used with a different request body")
            if record.state == "complete":
                response = _to_response(record.status_code, dict(record.headers or {}), record.body)
                response.headers["Idempotent-Replayed"] = "true"
                metrics.IDEMPOTENT_REPLAYS.inc()
                return response
            if now - record.created_at < IDEMPOTENCY_LEASE:
                raise ApiProblem(409, "idempotency_key_in_flight",
                                 "a request with this Idempotency-Key is still being processed; retry later",
                                 headers={"Retry-After": "1"})
        claim = random_uuid()
        uow.claim_idempotency(scope, fingerprint, IDEMPOTENCY_TTL, claim)
    rendered: list[tuple[int, dict[str, str], str]] = []

    def render(outcome: CommandOutcome) -> tuple[int, dict[str, str], str]:
        rendered.append(_render(outcome, status))
        return rendered[-1]

    token = context.set_current(context.RequestContext(
        request_id=context.current().request_id, idempotent=context.IdempotentCall(scope, claim, render)))
    try:
        outcome = call()
    except BaseException:
        try:
            with store.write() as uow:
                uow.release_idempotency(scope, claim)
        except Exception:  # the claim expires by its lease; the original error matters more
            pass
        raise
    finally:
        context.reset(token)
    # The very bytes stored for replays, so a retry sees exactly what the first call saw.
    return _to_response(*(rendered[-1] if rendered else _render(outcome, status)))
