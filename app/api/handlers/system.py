"""The brief's status endpoint (no envelope: its own shape)."""

from __future__ import annotations

import time

import flask

from app import __version__
from app.api.http import json_response, service
from app.core.events import utc_now


def get_status() -> flask.Response:
    return json_response({
        "status": "running", "version": __version__, "api_enabled": True,
        "uptime_seconds": round(time.time() - flask.current_app.extensions["tka.started"], 3),
        "store": service().store.kind, "timestamp": utc_now(),
    })
