"""What the handlers share: the runtime they call, the brief's envelope, ETags, and rendering a
command's outcome. Nothing here opens a transaction: the services do."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from typing import Any, TypeVar

import flask

from app.api.problems import ApiProblem
from app.api.serializers import sequence_out
from app.core import jsontext
from app.core.events import utc_now
from app.domain.models import SequenceData
from app.services.calls import Call, CommandOutcome, IdempotencyKey
from app.services.sequences import SequenceManagementService
from app.services.views import SequenceViews

T = TypeVar("T")

_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


def runtime(kind: type[T]) -> T:
    """This app's ``kind`` (SequenceViews, Health, ...), as ``bootstrap`` built it."""
    return flask.current_app.extensions["tka"].resolve(kind)  # type: ignore[no-any-return]


def commands() -> SequenceManagementService:
    return runtime(SequenceManagementService)


def views() -> SequenceViews:
    return runtime(SequenceViews)


def call() -> Call:
    """This request as a command sees it: its request id, and its Idempotency-Key (scoped to the
    operation: method and path) with a fingerprint of its body."""
    request = flask.request
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return Call(request_id=flask.g.get("request_id"))
    body = request.get_data() or b""
    try:
        canonical = json.dumps(jsontext.loads(body), sort_keys=True).encode() if body.strip() else b""
    except jsontext.JSONRefused:
        canonical = body
    fingerprint = hashlib.sha256(canonical).hexdigest()
    return Call(request_id=flask.g.get("request_id"),
                idempotency=IdempotencyKey(f"{request.method} {request.path} {key}", fingerprint))


def envelope(data: Any, message: str = "", **extra: Any) -> dict[str, Any]:
    return {"success": True, "message": message, "data": data, "timestamp": utc_now(), **extra}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    return flask.Response(jsontext.dumps(body), status=status, mimetype="application/json", headers=headers)


def etag(seq: SequenceData) -> str:
    return f'"{seq.version}"'


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


def _envelope_json(seq: SequenceData | None, message: str, timestamp: str, **extra: Any) -> str:
    """The brief's envelope with the sequence spliced in from the serialisation cache."""
    rest = jsontext.dumps({"success": True, "message": message, "timestamp": timestamp, **extra})
    return f'{{"data":{sequence_json(seq) if seq is not None else "null"},{rest[1:]}'


def sequence_response(seq: SequenceData | None, message: str = "") -> flask.Response:
    response = flask.Response(_envelope_json(seq, message, utc_now()), mimetype="application/json")
    if seq is not None:
        response.headers["ETag"] = etag(seq)
    return response


def outcome_response(outcome: CommandOutcome) -> flask.Response:
    """A command's answer: 201 with ``Location`` when it created something, else 200; the same
    bytes each time the same outcome is rendered (an idempotent replay says it is one)."""
    seq = outcome.sequence
    response = flask.Response(
        _envelope_json(seq, outcome.description, outcome.timestamp, command_id=outcome.command_id,
                       can_undo=outcome.can_undo, can_redo=outcome.can_redo,
                       undo_description=outcome.undo_description, redo_description=outcome.redo_description),
        status=201 if outcome.created else 200, mimetype="application/json")
    if seq is not None:
        response.headers["ETag"] = etag(seq)
        if outcome.created:
            response.headers["Location"] = f"/api/sequences/{seq.id}"
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
