"""tka's own app with ``POST /api/sequences`` answered by a canned handler: everything tka does for
a request (gunicorn, Flask, Connexion's validation, the security edge, metrics) except the service
and the store. ``bench/http.py`` measures it beside tka and the peer, so a report shows how much of
a POST is the HTTP stack and how much the durable command. Served by
``gunicorn -c gunicorn.conf.py bench.floor:application`` (settings from ``TKA_*``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import flask

import app.api.handlers.sequences as handlers
from app.core.events import utc_now


def _canned_create(body: dict[str, Any]) -> flask.Response:
    sequence_id = str(uuid.uuid4())
    now = utc_now()
    data = {"id": sequence_id, "name": body["name"], "word": "", "beats": [], "version": 1,
            "created_at": now, "updated_at": now, "metadata": {}}
    response = flask.Response(json.dumps({"success": True, "message": f"Create sequence '{body['name']}'",
                                          "data": data, "timestamp": now}),
                              status=201, mimetype="application/json")
    response.headers["Location"] = f"/api/sequences/{sequence_id}"
    response.headers["ETag"] = '"1"'
    return response


def __getattr__(name: str) -> Any:  # gunicorn's ``bench.floor:application``; importing builds nothing
    if name == "application":
        handlers.create_sequence = _canned_create  # before Connexion resolves the operation
        import app.wsgi

        return app.wsgi.application
    raise AttributeError(name)
