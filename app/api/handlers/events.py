"""The event stream's REST side: connection statistics across every worker."""

from __future__ import annotations

import flask

from app.api.http import envelope, json_response, runtime
from app.events.hub import Hub


def get_websocket_stats() -> flask.Response:
    stats = runtime(Hub).stats()
    return json_response(envelope(stats, f"{stats['total_connections']} WebSocket connection(s)"))
