"""Connexion's Flask binding, without the work each request did only for debug log lines.

Kept, measured, guarded (issue 13): Connexion 2's ``FlaskApi.get_request`` and ``get_response``
build every request's absolute URL (werkzeug quotes it and turns it into an IRI) for two debug log
lines and a field only those lines and a response-validation message read; they also parse every
body as a form and read the cookies (and its JSON reader is Python's lenient one: the strict one,
``json_body``, reads it here instead). tka's operations take JSON bodies, path and query parameters
and headers only. Here a request is built through ``ConnexionRequest``'s own constructor, with a
URL that is made only when something renders it (Connexion's validators pass it to debug log
lines), a body parsed as a form only when it is one (werkzeug parses nothing else as a form, so
the value is the same), and no cookies (openapi.yaml declares no cookie parameter); a handler's
``flask.Response`` passes straight through, as Connexion would pass it after its log lines.

Measured on connexion 2.15.1 (callgrind, in process, 1000 requests): Connexion's own binding costs
1.39 M instructions per ``GET /api/sequences/{id}`` and 2.53 M per ``POST /api/sequences``; this
one saves 326 k (23 %) and 310 k (12 %) of them. ``make bench`` reports the two side by side
(``http.get.in_process.tka_ms`` and ``stock_binding_ms``, the same for post). connexion is pinned
in pyproject.toml; tests/api/test_binding.py compares every field with Connexion's own binding and
fails on another version, so an upgrade re-checks this instead of breaking it silently.
"""

from __future__ import annotations

import logging
from typing import Any

import flask
from connexion.apis.flask_api import FlaskApi
from connexion.http_facts import FORM_CONTENT_TYPES  # the two types werkzeug parses as forms
from connexion.lifecycle import ConnexionRequest
from gunicorn.http.errors import ParseException  # what its parser raises on a malformed chunked body
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from app.api.validation import bad_request
from app.core import jsontext

MEASURED_ON = "2.15.1"  # the connexion version these figures and the test hold for
_NO_FORM: ImmutableMultiDict[str, Any] = ImmutableMultiDict()
log = logging.getLogger("connexion.apis.flask_api")  # Connexion's own logger for these lines


class _Url:
    """A request's absolute URL, made when something renders it: the log lines and messages that
    read a ConnexionRequest's ``url`` format it, and a debug line that is not logged never does."""

    __slots__ = ("_request",)

    def __init__(self, request: flask.Request) -> None:
        self._request = request

    def __str__(self) -> str:
        return self._request.url

    def __repr__(self) -> str:
        return repr(str(self))

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


def body_of(request: flask.Request) -> bytes:
    """The request's body. A body sent in chunks (no Content-Length) is cut by werkzeug at the
    size limit: one that reaches it is refused (413), not read as a truncated document. One whose
    chunked coding is malformed (gunicorn's parser raises) is 400, the client's bytes and not a
    server fault; gunicorn then closes the connection, where the next request starts being unknown.
    (A body cut short is an OSError, which werkzeug turns into a 400 itself.)"""
    try:
        data = request.get_data()
    except ParseException:
        raise bad_request([{"field": "body", "message": "the body could not be read: its chunked transfer coding "
                                                        "is malformed", "rule": "syntax"}]) from None
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(data) >= limit:
        raise RequestEntityTooLarge(f"request bodies are limited to {limit} bytes")
    return data


def json_body(request: flask.Request) -> Any:
    """The request's JSON body, read strictly (app/core/jsontext.py): None when it is not JSON, as
    Connexion's own binding answers; a 400 naming the rule for one the strict reader refuses, and
    for ``null``, which no operation takes."""
    if not request.is_json or not (data := body_of(request)):
        return None
    try:
        value = jsontext.loads(data)
    except jsontext.JSONRefused as exc:
        raise bad_request([{"field": "body", "message": exc.message, "rule": exc.rule}]) from None
    if value is None:
        raise bad_request([{"field": "body", "message": "the body is JSON null; send a JSON object", "rule": "type"}])
    return value


class TkaFlaskApi(FlaskApi):
    @classmethod
    def get_request(cls, *args: Any, **params: Any) -> ConnexionRequest:
        context: dict[str, Any] = {}
        flask.globals.request_ctx.connexion_context = context  # type: ignore[attr-defined]  # as Connexion does
        request: flask.Request = flask.request._get_current_object()  # type: ignore[attr-defined]
        form_body = request.mimetype in FORM_CONTENT_TYPES
        connexion_request = ConnexionRequest(
            _Url(request), request.method, headers=request.headers, query=request.args,
            form=request.form if form_body else _NO_FORM, files=request.files if form_body else _NO_FORM,
            body=body_of(request), json_getter=lambda: json_body(request), path_params=params, context=context)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("Getting data and status code", extra={"data": connexion_request.body, "url": request.url})
        return connexion_request

    @classmethod
    def get_response(cls, response: Any, mimetype: str | None = None, request: Any = None) -> Any:
        if isinstance(response, flask.Response):  # what tka's handlers return
            return response
        return super().get_response(response, mimetype=mimetype, request=request)
