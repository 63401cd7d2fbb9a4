"""The plain-Flask peer that tka's HTTP numbers are compared with (DESIGN.md §2's ceiling).

A Flask 3 app with the same two routes and the same envelope, minus everything tka adds on top
(OpenAPI validation, the security edge, SQLite, commands, events): ``GET /api/sequences/<id>``
serialises a fixed 16-beat sequence held in memory; ``POST /api/sequences`` checks the name and
creates an empty sequence in memory. Served by
``gunicorn -w 2 -k gthread --threads 16 bench.peer:app``.

The sequence comes from the JSON file named by ``TKA_BENCH_PEER_SEQUENCE`` (the bench writes the
``data`` of tka's own answer there, so both servers send the same document); without it one is
generated with the domain (seed 1).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import datetime, timezone
from typing import Any

import flask


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _default_sequence() -> dict[str, Any]:
    import random

    from app.api.serializers import sequence_out
    from app.domain.generator import generate_beats
    from app.domain.models import SequenceData, start_position_beat

    start = start_position_beat("alpha1")
    beats = generate_beats("alpha1", 16, rng=random.Random(1))
    now = _now()
    seq = SequenceData(id=str(uuid.UUID(int=1)), name="bench", start_position=start, beats=beats,
                       version=1, created_at=now, updated_at=now)
    return sequence_out(seq)  # type: ignore[return-value]


def _load_sequence() -> dict[str, Any]:
    path = os.environ.get("TKA_BENCH_PEER_SEQUENCE")
    if path:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    return _default_sequence()


def create_app(sequence: dict[str, Any] | None = None) -> flask.Flask:
    app = flask.Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    fixed = sequence or _load_sequence()
    sequences: dict[str, dict[str, Any]] = {fixed["id"]: fixed}
    lock = threading.Lock()

    def envelope(data: Any, message: str = "") -> dict[str, Any]:
        return {"success": True, "message": message, "data": data, "timestamp": _now()}

    @app.get("/health/live")
    def live() -> Any:
        return {"status": "ok"}

    @app.get("/api/sequences/<sequence_id>")
    def get_sequence(sequence_id: str) -> Any:
        seq = sequences.get(sequence_id)
        if seq is None:
            return {"title": "Not Found", "status": 404}, 404
        response = flask.jsonify(envelope(seq))
        response.headers["ETag"] = f'"{seq["version"]}"'
        return response

    @app.post("/api/sequences")
    def create_sequence() -> Any:
        body = flask.request.get_json(silent=True)
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            return {"title": "Bad Request", "status": 400, "detail": "name is required"}, 400
        now = _now()
        seq = {"id": str(uuid.uuid4()), "name": name, "word": "", "beats": [], "start_position": None,
               "start_position_beat": None, "end_position": None, "grid_mode": None, "length": 0,
               "level": 0, "is_circular": False, "version": 1, "created_at": now, "updated_at": now,
               "metadata": {}}
        with lock:
            sequences[seq["id"]] = seq
        response = flask.jsonify(envelope(seq, f"Create sequence '{name}'"))
        response.status_code = 201
        response.headers["Location"] = f"/api/sequences/{seq['id']}"
        response.headers["ETag"] = '"1"'
        return response

    return app


def __getattr__(name: str) -> Any:  # gunicorn's ``bench.peer:app``; importing builds nothing
    if name == "app":
        return create_app()
    raise AttributeError(name)
