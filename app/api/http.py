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

_ENTITY_TAG = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')  # RFC 9110 8.8.3
_ENTITY_TAGS = re.compile(rf"[ \t]*{_ENTITY_TAG.pattern}[ \t]*(?:,[ \t]*{_ENTITY_TAG.pattern}[ \t]*)*")


def runtime(kind: type[T]) -> T:
    """This app's ``kind`` (SequenceViews, Health, ...), as ``bootstrap`` built it."""
    return flask.current_app.extensions["tka"].resolve(kind)  # type: ignore[no-any-return]


def commands() -> SequenceManagementService:
    return runtime(SequenceManagementService)


def views() -> SequenceViews:
    return runtime(SequenceViews)


def call() -> Call:
    """This request as a command sees it: its request id, and its Idempotency-Key with a
    fingerprint of the request (method, path and body): the key names this one request, so sent
    again with another body or to another operation it is refused, never run again."""
    request = flask.request
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return Call(request_id=flask.g.get("request_id"))
    return Call(request_id=flask.g.get("request_id"),
                idempotency=IdempotencyKey(key, fingerprint(request.method, request.path, request.get_data())))


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What tells one request from another: its method, path and body (JSON compared as data)."""
    try:
        canonical = json.dumps(jsontext.loads(body), sort_keys=True).encode() if body.strip() else b""
    except jsontext.JSONRefused:
        canonical = body
    return hashlib.sha256(f"{method} {path}\n".encode() + canonical).hexdigest()


def envelope(data: Any, message: str = "", **extra: Any) -> dict[str, Any]:
    return {"success": True, "message": message, "data": data, "timestamp": utc_now(), **extra}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    return flask.Response(jsontext.dumps(body), status=status, mimetype="application/json", headers=headers)


def etag(seq: SequenceData) -> str:
    return f'"{seq.version}"'


def expected_versions() -> frozenset[int] | None:
    """The versions an ``If-Match`` header names, compared as RFC 9110 says (strongly): None when
    it is absent or ``*``; a weak tag (``W/"3"``) or a tag that is none of ours names none.
    400 for a value that is not a list of entity tags."""
    raw = flask.request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    if not _ENTITY_TAGS.fullmatch(raw):
        message = 'not a list of entity tags such as "3" (quoted)'
        raise ApiProblem(400, "validation_error", f"If-Match {raw[:80]!r}: {message}",
                         errors=[{"field": "If-Match", "message": message, "rule": "format"}])
    return frozenset(int(text) for weak, text in _ENTITY_TAG.findall(raw)
                     if not weak and text.isascii() and text.isdigit() and len(text) <= 18)


def none_match(tag: str) -> bool:
    """``If-None-Match`` names ``tag`` (compared weakly, as RFC 9110 says for it) or is ``*``: the
    client's copy is current. The spec's pattern has already refused a malformed value."""
    raw = flask.request.headers.get("If-None-Match")
    if raw is None:
        return False
    if raw.strip() == "*":
        return True
    return any(f'"{text}"' == tag for _weak, text in _ENTITY_TAG.findall(raw))


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
                       undo_description=outcome.undo_description, redo_description=outcome.redo_description,
                       **({} if outcome.warnings is None else {"warnings": list(outcome.warnings)})),
        status=201 if outcome.created else 200, mimetype="application/json")
    if seq is not None:
        response.headers["ETag"] = etag(seq)
        if outcome.created:
            response.headers["Location"] = f"/api/sequences/{seq.id}"
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
