"""The brief's status endpoint (no envelope: its own shape)."""

from __future__ import annotations

import flask

from app import __version__
from app.api.http import json_response, runtime
from app.core.events import utc_now
from app.health import Health


def get_status() -> flask.Response:
    health = runtime(Health)
    return json_response({
        "status": "running", "version": __version__, "api_enabled": True,
        "uptime_seconds": health.uptime(), "store": health.store_kind, "timestamp": utc_now(),
    })
