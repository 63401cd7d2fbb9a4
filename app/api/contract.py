"""What openapi.yaml promises at the edge beyond Connexion's own checks.

- The spec as served: ``/api/openapi.json`` (and ``.yaml``) name the server they came from in
  ``servers``, so Swagger UI's "Try it out", schemathesis, Postman's import and any generator
  pointed at the served document alone reach the right URLs. (Connexion 2's copy says
  ``servers: [{url: /api}]`` while the paths already start with ``/api``.)
- Media types: a body of a type the operation does not take is 415, and an ``Accept`` header that
  allows none of the types its successful answers have is 406 (errors are problem+json whatever
  the client accepts, as RFC 9457 expects).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

import flask
import werkzeug.exceptions
import yaml

from app.api.problems import ApiProblem

SPEC_PATHS = ("/api/openapi.json", "/api/openapi.yaml")
_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")  # a werkzeug rule's ``<int:beat_number>`` is the spec's ``{beat_number}``
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class MediaTypes:
    takes: tuple[str, ...]  # a body's types; empty when the operation takes no body
    answers: tuple[str, ...]  # the types of its successful answers


def media_types(paths: dict[str, Any]) -> dict[tuple[str, str], MediaTypes]:
    """(spec path, METHOD) -> MediaTypes, for every operation of a spec whose references are resolved."""
    table = {}
    for path, item in paths.items():
        for method in item.keys() & _METHODS:
            operation = item[method]
            takes = tuple((operation.get("requestBody") or {}).get("content", {}))
            answers = {kind: None for code, response in operation["responses"].items() if str(code).startswith("2")
                       for kind in response.get("content", {})}
            table[(path, method.upper())] = MediaTypes(takes, tuple(answers))
    return table


def check_media_types(request: flask.Request, types: MediaTypes) -> None:
    """415 for a body of a type ``types`` does not take, 406 for an Accept that allows none it answers with."""
    if types.takes:
        declared = request.headers.get("Content-Type", "").strip()
        has_body = bool(request.content_length) or "Transfer-Encoding" in request.headers
        if (declared or has_body) and request.mimetype not in types.takes:
            allowed = ", ".join(types.takes)
            accepts = {f"Accept-{request.method.title()}": allowed} if request.method in ("POST", "PATCH") else None
            raise ApiProblem(415, "unsupported_media_type",
                             f"this operation takes a body of type {allowed}, not {declared or 'an undeclared type'!r}",
                             headers=accepts)
    if types.answers and request.headers.get("Accept", "").strip() and \
            request.accept_mimetypes.best_match(types.answers) is None:
        raise ApiProblem(406, "not_acceptable", f"this operation answers with {', '.join(types.answers)}; "
                                                "the Accept header allows none of them")


@functools.lru_cache(maxsize=8)
def _served(raw_json: str, server: str, kind: str) -> str:
    here = {"url": server, "description": "the server this document came from"}
    document = {**json.loads(raw_json), "servers": [here]}
    if kind == "json":
        return json.dumps(document, ensure_ascii=False)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def install(app: flask.Flask, raw_spec: dict[str, Any], resolved_paths: dict[str, Any]) -> None:
    """Serve the spec at SPEC_PATHS and check every operation's media types before its handler runs."""
    by_spec_path = media_types(resolved_paths)
    by_rule = {(rule.rule, method): by_spec_path[(_PARAM.sub(r"{\1}", rule.rule), method)]
               for rule in app.url_map.iter_rules() for method in rule.methods or ()
               if (_PARAM.sub(r"{\1}", rule.rule), method) in by_spec_path}
    raw_json = json.dumps(raw_spec)

    # OpenAPI matches a concrete path before a templated one: /api/sequences/generate is never
    # /api/sequences/{sequence_id}, whatever the method (405, or OPTIONS, with its own Allow).
    concrete: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.arguments:
            concrete.setdefault(rule.rule, set()).update(rule.methods or ())

    @app.before_request
    def _concrete_paths_first() -> flask.Response | None:
        request = flask.request
        methods = concrete.get(request.path)
        if methods is None:
            return None
        if request.method == "OPTIONS":
            return flask.Response(status=200, headers={"Allow": ", ".join(sorted(methods))})
        if request.url_rule is not None and request.url_rule.arguments:
            raise werkzeug.exceptions.MethodNotAllowed(valid_methods=methods)
        return None

    @app.before_request
    def _check_media_types() -> None:
        request = flask.request
        rule = request.url_rule
        types = by_rule.get((rule.rule, request.method)) if rule is not None else None
        if types is not None:
            check_media_types(request, types)

    @app.get(SPEC_PATHS[0])
    def openapi_json() -> flask.Response:
        served = _served(raw_json, flask.request.host_url.rstrip("/"), "json")
        return flask.Response(served, mimetype="application/json")

    @app.get(SPEC_PATHS[1])
    def openapi_yaml() -> flask.Response:
        served = _served(raw_json, flask.request.host_url.rstrip("/"), "yaml")
        return flask.Response(served, mimetype="application/yaml")
