"""Connexion's Flask binding without the per-request work tka's operations never use.

Connexion 2's ``FlaskApi.get_request`` builds every request's absolute URL, parses the body as a
form and reads the cookies, on every call; ``get_response`` builds the URL again for a log line.
tka's operations take JSON bodies, path and query parameters and headers only. Here the URL and
the cookies are computed when something reads them, and a body is parsed as a form only when it
is one (werkzeug itself parses nothing else as a form), so a handler sees exactly what it saw
before. In process this took about 30 µs off each POST (tka's canned-handler floor, bench/floor.py).
"""

from __future__ import annotations

from typing import Any

import flask
from connexion.apis.flask_api import FlaskApi
from connexion.http_facts import FORM_CONTENT_TYPES  # the two types werkzeug parses as forms
from connexion.lifecycle import ConnexionRequest
from werkzeug.datastructures import ImmutableMultiDict

_NO_FORM: ImmutableMultiDict[str, Any] = ImmutableMultiDict()


class _Request(ConnexionRequest):
    """A ConnexionRequest whose URL and cookies are read from the Flask request on first use."""

    def __init__(self, flask_request: flask.Request, *, form: Any, files: Any, path_params: dict[str, Any],
                 context: dict[str, Any]) -> None:  # what ConnexionRequest.__init__ sets, but url and cookies
        self._flask_request = flask_request
        self.method = flask_request.method
        self.path_params = path_params
        self.query = flask_request.args or {}
        self.headers = flask_request.headers or {}
        self.form = form or {}
        self.body = flask_request.get_data()
        self.json_getter = lambda: flask_request.get_json(silent=True)
        self.files = files
        self.context = context

    @property
    def url(self) -> str:
        return self._flask_request.url

    @property
    def cookies(self) -> Any:
        return self._flask_request.cookies


class TkaFlaskApi(FlaskApi):
    @classmethod
    def get_request(cls, *args: Any, **params: Any) -> ConnexionRequest:
        context: dict[str, Any] = {}
        flask.globals.request_ctx.connexion_context = context  # type: ignore[attr-defined]
        request: flask.Request = flask.request._get_current_object()  # type: ignore[attr-defined]
        form_body = request.mimetype in FORM_CONTENT_TYPES
        return _Request(request, form=request.form if form_body else _NO_FORM,
                        files=request.files if form_body else _NO_FORM, path_params=params, context=context)

    @classmethod
    def get_response(cls, response: Any, mimetype: str | None = None, request: Any = None) -> Any:
        if isinstance(response, flask.Response):  # what tka's handlers return
            return response
        return cls._get_response(response, mimetype=mimetype)
