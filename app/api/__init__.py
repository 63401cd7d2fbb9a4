"""The HTTP edge: Connexion routes each openapi.yaml operation to a thin handler."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import connexion
import flask
import werkzeug.exceptions
from connexion.apps.flask_app import IntegerConverter
from connexion.exceptions import ProblemException
from connexion.resolver import Resolver
from swagger_ui_bundle import swagger_ui_path

from app import resources
from app.api import contract, monitoring, security, stream
from app.api.binding import TkaFlaskApi
from app.api.problems import handle_exception
from app.api.validation import VALIDATOR_MAP
from app.core.container import Container
from app.events.hub import Hub
from app.settings import Settings

SPEC = resources.OPENAPI  # package data, found through the package (app/resources.py)
STATIC = resources.STATIC
VIEWER = STATIC / "viewer"


def _not_multiple_types(record: logging.LogRecord) -> bool:
    return "accepts multiple content types" not in record.getMessage()


class BoundedInteger(IntegerConverter):
    """An integer path segment of at most 19 digits (a longer one matches no route: 404): Python
    refuses to convert a string of more than 4300 digits, which would be a 500."""

    regex = r"[+-]?[0-9]{1,19}"


class SnakeCaseResolver(Resolver):
    """operationId ``getSequence`` -> ``<x-openapi-router-controller>.get_sequence``."""

    def resolve_operation_id(self, operation: object) -> str:
        controller = operation.router_controller  # type: ignore[attr-defined]
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", operation.operation_id).lower()  # type: ignore[attr-defined]
        return f"{controller}.{name}"


def create_app(container: Container) -> flask.Flask:
    """The WSGI app over a runtime ``bootstrap`` built. Its handlers reach the runtime through
    ``app.extensions["tka"]`` (app/api/http.py)."""
    settings = container.resolve(Settings)
    edge = security.EdgeConfig.from_settings(settings)
    # Bearer auth is enforced by app.api.security, because it depends on whether the server was
    # started with a token; Connexion's per-operation check cannot express that and warns about it.
    logging.getLogger("connexion.operations.secure").setLevel(logging.ERROR)
    # The import takes JSON or a PNG; Connexion 2 then says, on every request, that it validates
    # the body as its first type. It does not (the body is free-form): app/formats checks it.
    multiple = logging.getLogger("connexion.operations.openapi3")
    if _not_multiple_types not in multiple.filters:
        multiple.addFilter(_not_multiple_types)
    # Swagger UI and the spec are served below rather than by Connexion: with an empty base path
    # Connexion 2's UI page fails to build its own spec URL, and its copy of the spec names a
    # server its paths do not fit (app/api/contract.py).
    cx = connexion.FlaskApp(__name__, specification_dir=str(SPEC.parent), options={
        "swagger_ui": False, "serve_spec": False})
    cx.api_cls = TkaFlaskApi  # app/api/binding.py: measured, guarded by a test
    cx.app.url_map.converters["int"] = BoundedInteger  # before add_api makes the routes
    # Response validation checks every answer against the spec: for tests (TKA_VALIDATE_RESPONSES).
    api = cx.add_api(SPEC.name, strict_validation=True, validate_responses=settings.validate_responses,
                     validator_map=VALIDATOR_MAP, resolver=SnakeCaseResolver(), pythonic_params=False)
    app = cx.app
    app.extensions["tka"] = container
    app.json.sort_keys = False  # type: ignore[attr-defined]
    security.install(app, edge)
    contract.install(app, api.specification.raw, api.specification["paths"])  # after the edge's checks
    stream.install(app, container.resolve(Hub), edge)  # /ws: the event stream
    monitoring.install(app)
    # Replace Connexion's handlers so every error, its own included, has our problem shape.
    for code in werkzeug.exceptions.default_exceptions:
        app.register_error_handler(code, handle_exception)
    app.register_error_handler(ProblemException, handle_exception)
    app.register_error_handler(Exception, handle_exception)

    @app.get("/api/docs")
    @app.get("/api/docs/")
    def swagger_ui() -> flask.Response:
        if not flask.request.path.endswith("/"):
            return flask.redirect("/api/docs/")
        page = (Path(swagger_ui_path) / "index.j2").read_text()
        return flask.Response(flask.render_template_string(page, openapi_spec_url="/api/openapi.json"),
                              mimetype="text/html")

    @app.get("/api/docs/<path:name>")
    def swagger_ui_asset(name: str) -> flask.Response:
        return flask.send_from_directory(swagger_ui_path, name, max_age=86400)

    @app.get("/api/redoc")
    def redoc() -> flask.Response:
        return flask.Response(_REDOC_PAGE, mimetype="text/html")

    @app.get("/api/static/<path:name>")
    def static_asset(name: str) -> flask.Response:
        return flask.send_from_directory(STATIC, name, max_age=86400)

    @app.get("/viewer")
    @app.get("/viewer/")
    def viewer() -> flask.Response:
        if not flask.request.path.endswith("/"):  # the page's assets are relative to /viewer/
            query = flask.request.query_string.decode("latin-1")
            return flask.redirect("/viewer/" + (f"?{query}" if query else ""))
        return flask.send_from_directory(VIEWER, "index.html", max_age=0)

    @app.get("/viewer/<path:name>")
    def viewer_asset(name: str) -> flask.Response:
        # max_age=0: "no-cache", revalidated by ETag, so a new release reaches open pages' reloads.
        return flask.send_from_directory(VIEWER, name, max_age=0)

    @app.get("/")
    def index() -> flask.Response:
        return flask.Response(_INDEX_PAGE, mimetype="text/html")

    return app


_INDEX_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tka</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" type="image/png" href="/api/docs/favicon-32x32.png">
<style>body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem }</style>
</head><body><h1>tka</h1><p>The control API of TKA, The Kinetic Alphabet.</p><ul>
<li><a href="/viewer/">Viewer</a>: the current sequence, live</li>
<li><a href="/api/docs/">API docs</a> (Swagger UI, try requests)</li>
<li><a href="/api/redoc">API reference</a> (ReDoc)</li>
<li><a href="/api/openapi.json">openapi.json</a></li>
</ul></body></html>"""


_REDOC_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>TKA API - ReDoc</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" type="image/png" href="/api/docs/favicon-32x32.png"><style>body { margin: 0 }</style></head>
<body><redoc spec-url="/api/openapi.json"></redoc>
<script src="/api/static/redoc/redoc.standalone.js"></script></body></html>"""
