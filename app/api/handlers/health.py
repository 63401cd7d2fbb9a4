"""Liveness, readiness and component health (application/health+json)."""

from __future__ import annotations

import json
import time
from typing import Any

import flask

from app import __version__
from app.api.http import service
from app.core.events import utc_now

HEALTH_JSON = "application/health+json"
_LEGACY = {"pass": "healthy", "warn": "degraded", "fail": "unhealthy"}


def _store_check() -> dict[str, Any]:
    try:
        latency = service().store.ping()
        return {"component_id": service().store.kind, "status": "pass", "observed_value": round(latency, 3),
                "observed_unit": "ms", "time": utc_now(), "output": None, "latency_ms": round(latency, 3)}
    except Exception as exc:  # any failure to reach the store is a failed check, not a 500
        return {"component_id": service().store.kind, "status": "fail", "observed_value": None,
                "observed_unit": None, "time": utc_now(), "output": type(exc).__name__, "latency_ms": 0.0}


def _report() -> tuple[dict[str, Any], str]:
    started = flask.current_app.extensions["tka.started"]
    checks = {"store:ping": [_store_check()]}
    statuses = {c["status"] for group in checks.values() for c in group}
    status = "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
    return {"status": status, "legacy_status": _LEGACY[status], "version": __version__,
            "uptime_seconds": round(time.time() - started, 3), "checks": checks}, status


def _respond(body: dict[str, Any], status: int) -> flask.Response:
    return flask.Response(json.dumps(body), status=status, mimetype=HEALTH_JSON)


def get_health() -> flask.Response:
    body, status = _report()
    return _respond(body, 503 if status == "fail" else 200)


def get_liveness() -> flask.Response:
    return flask.Response(json.dumps({"status": "alive"}), mimetype="application/json")


def get_readiness() -> flask.Response:
    body, status = _report()
    return _respond(body, 503 if status == "fail" else 200)
