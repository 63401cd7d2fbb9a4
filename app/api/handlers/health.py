"""Liveness, readiness and component health (application/health+json), as app/health.py reports it.

``/health/live`` depends on nothing. ``/health/ready`` fails while the store is unreachable or
its breaker is open. ``/health`` reports every component; 503 when one fails.
"""

from __future__ import annotations

from typing import Any

import flask

from app.api.http import runtime
from app.core import jsontext
from app.health import Health

HEALTH_JSON = "application/health+json"


def _answer_type(*offered: str) -> str:
    """The first of ``offered`` the client's Accept allows best (app/api/contract.py has refused
    an Accept that allows none)."""
    return flask.request.accept_mimetypes.best_match(offered) or offered[0]


def _respond(body: dict[str, Any], status: int) -> flask.Response:
    return flask.Response(jsontext.dumps(body), status=status, mimetype=_answer_type(HEALTH_JSON, "application/json"),
                          headers={"Cache-Control": "no-store"})


def get_health() -> flask.Response:
    report = runtime(Health).report()
    return _respond(report, 503 if report["status"] == "fail" else 200)


def get_liveness() -> flask.Response:
    return flask.Response('{"status":"alive"}', mimetype=_answer_type("application/json", HEALTH_JSON))


def get_readiness() -> flask.Response:
    report = runtime(Health).report()
    return _respond(report, 200 if Health.ready(report) else 503)
