"""The HTTP edge's guards: request ids, timing, auth, Host/Origin checks, CORS, body size, headers.

A desktop API on localhost is reachable from any web page the user opens, so: the Host header
must name this machine (DNS-rebinding defence), a browser Origin must be the server's own or on
the allowlist, CORS answers only allowlisted origins (never ``*``), and bodies are capped. A
server with a token asks for it on every ``/api`` request but the documentation's pages and files
(public, like the spec they show), and on ``/metrics`` too when it is bound beyond loopback.
Every answer says ``nosniff``; HTML pages refuse to be framed.
"""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass

import flask

from app.api.problems import ApiProblem
from app.core.ids import random_uuid
from app.settings import LOOPBACK_HOSTS, Settings

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
EXPOSED = "ETag, Location, X-Request-ID, X-Process-Time, Idempotent-Replayed, Retry-After"
ALLOWED_HEADERS = "Authorization, Content-Type, If-Match, Idempotency-Key, X-Request-ID"
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
PUBLIC = ("/api/docs", "/api/redoc", "/api/openapi.", "/api/static/")
IMPORT_PATH = "/api/sequences/import"  # the documentation, token or not


@dataclass(frozen=True)
class EdgeConfig:
    token: str | None = None
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS
    max_body_bytes: int = 1 << 20
    max_import_bytes: int = 16 << 20  # a dictionary image the desktop apps saved, for POST IMPORT_PATH
    metrics_need_token: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> "EdgeConfig":
        # The Host check defends loopback servers against DNS rebinding; a server bound beyond
        # loopback is reached by names we cannot know, and its token is the defence there.
        return cls(token=settings.token, cors_origins=settings.cors_origins,
                   allowed_hosts=LOOPBACK_HOSTS if settings.is_loopback else frozenset({"*"}),
                   max_body_bytes=settings.max_body_bytes, max_import_bytes=settings.max_import_bytes,
                   metrics_need_token=not settings.is_loopback)


def _host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def token_matches(presented: str, token: str) -> bool:
    """``presented`` is exactly ``token`` (compared in constant time)."""
    return hmac.compare_digest(presented.encode(), token.encode())


def require_bearer(header: str | None, token: str) -> None:
    """401 problem unless ``header`` is ``Bearer <token>`` (REST routes and WebSocket upgrades)."""
    scheme, _, presented = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token_matches(presented, token):
        raise ApiProblem(401, "unauthorized", "a valid 'Authorization: Bearer <token>' header is required",
                         headers={"WWW-Authenticate": 'Bearer realm="tka"'})


def install(app: flask.Flask, config: EdgeConfig) -> None:
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes

    @app.before_request
    def _begin() -> flask.Response | None:
        g, request = flask.g._get_current_object(), flask.request._get_current_object()  # type: ignore[attr-defined]
        headers = request.headers
        g.started = time.perf_counter()
        given = headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else random_uuid()

        host = _host_name(request.host or "")
        if config.allowed_hosts and "*" not in config.allowed_hosts and host not in config.allowed_hosts:
            raise ApiProblem(403, "host_not_allowed", f"Host {host!r} is not served here")
        origin = headers.get("Origin")
        if origin and origin != request.host_url.rstrip("/") and origin not in config.cors_origins:
            raise ApiProblem(403, "origin_not_allowed",
                             f"Origin {origin!r} is not allowed; start the server with --cors-origin {origin}")
        if request.method == "OPTIONS" and origin and headers.get("Access-Control-Request-Method"):
            return flask.Response(status=204)  # CORS preflight; headers added in _finish
        # An imported file may be a full-size dictionary image; every other body is small.
        limit = config.max_import_bytes if request.path == IMPORT_PATH else config.max_body_bytes
        request.max_content_length = limit  # Flask 3.1: also stops a chunked body at the limit
        length = request.content_length
        if length is not None and length > limit:
            raise ApiProblem(413, "payload_too_large", f"request bodies are limited to {limit} bytes")
        path = request.path
        if config.token and ((path.startswith("/api") and not path.startswith(PUBLIC))
                             or (config.metrics_need_token and path == "/metrics")):
            require_bearer(headers.get("Authorization"), config.token)
        return None

    @app.after_request
    def _finish(response: flask.Response) -> flask.Response:
        g, request = flask.g._get_current_object(), flask.request._get_current_object()  # type: ignore[attr-defined]
        headers = response.headers
        headers["X-Request-ID"] = g.get("request_id", "")
        headers["X-Content-Type-Options"] = "nosniff"
        if response.mimetype == "text/html":
            headers["Content-Security-Policy"] = "frame-ancestors 'none'"
            headers["X-Frame-Options"] = "DENY"  # for browsers without frame-ancestors
        started = g.get("started")
        if started is not None:
            headers["X-Process-Time"] = f"{time.perf_counter() - started:.6f}"
        origin = request.headers.get("Origin")
        if origin and origin in config.cors_origins:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Allow-Credentials"] = "true"
            headers["Access-Control-Expose-Headers"] = EXPOSED
            headers.add("Vary", "Origin")
            if request.method == "OPTIONS":
                headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
                headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
                headers["Access-Control-Max-Age"] = "600"
        return response
