"""The plain-Flask peer that tka's HTTP numbers are compared with (DESIGN.md §2's ceiling).

A Flask 3 app with the same two routes and the same envelope, minus everything tka adds on top
(OpenAPI validation, the security edge, SQLite, commands, events): ``GET /api/sequences/<id>``
serialises a fixed 16-beat sequence held in memory; ``POST /api/sequences`` checks the name and
creates an empty sequence in memory. Served by
``gunicorn -w 2 -k gthread --threads 16 bench.peer:app``.

``POST /api/durable/sequences`` is the least a *durable* create with undo history costs in plain
Flask: one SQLite transaction (WAL, ``synchronous=NORMAL``, like tka's) that inserts the sequence,
its history entry and two events, on a per-thread ``sqlite3`` connection to the file named by
``TKA_BENCH_PEER_DB``. It is a second baseline for tka's POST, beside the in-memory one.

The sequence comes from the JSON file named by ``TKA_BENCH_PEER_SEQUENCE`` (the bench writes the
``data`` of tka's own answer there, so both servers send the same document); without it one is
generated with the domain (seed 1).
"""

from __future__ import annotations

import json
import os
import sqlite3
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
        name = _name()
        if name is None:
            return BAD_NAME
        now = _now()
        seq = {"id": str(uuid.uuid4()), "name": name, "word": "", "beats": [], "start_position": None,
               "start_position_beat": None, "end_position": None, "grid_mode": None, "length": 0,
               "level": 0, "is_circular": False, "version": 1, "created_at": now, "updated_at": now,
               "metadata": {}}
        with lock:
            sequences[seq["id"]] = seq
        return _created(envelope(seq, f"Create sequence '{name}'"), seq["id"])

    durable = _Durable(os.environ.get("TKA_BENCH_PEER_DB"))

    @app.post("/api/durable/sequences")
    def create_durable_sequence() -> Any:
        name = _name()
        if name is None:
            return BAD_NAME
        seq = durable.create(name)
        return _created(envelope(seq, f"Create sequence '{name}'"), seq["id"])

    return app


BAD_NAME = ({"title": "Bad Request", "status": 400, "detail": "name is required"}, 400)


def _name() -> str | None:
    """The request body's ``name``, or None when it is missing or not 1..100 characters."""
    body = flask.request.get_json(silent=True)
    name = body.get("name") if isinstance(body, dict) else None
    return name if isinstance(name, str) and name.strip() and len(name) <= 100 else None


def _created(body: dict[str, Any], sequence_id: str) -> flask.Response:
    response = flask.jsonify(body)
    response.status_code = 201
    response.headers["Location"] = f"/api/sequences/{sequence_id}"
    response.headers["ETag"] = '"1"'
    return response


class _Durable:
    """Sequence + history entry + two events in one SQLite transaction, nothing else."""

    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS sequences (id TEXT PRIMARY KEY, name TEXT, data TEXT, version INTEGER)",
        "CREATE TABLE IF NOT EXISTS history (seq INTEGER PRIMARY KEY, command_id TEXT UNIQUE, "
        "sequence_id TEXT, after TEXT)",
        "CREATE TABLE IF NOT EXISTS events (event_id INTEGER PRIMARY KEY, event_type TEXT, sequence_id TEXT, "
        "data TEXT)",
    )

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._local = threading.local()
        self._prepared = False
        self._prepare_lock = threading.Lock()

    @classmethod
    def prepare(cls, path: str) -> None:
        """WAL mode and the tables, once. The bench does it before gunicorn starts: switching to
        WAL needs the file to itself, and 32 threads' first requests would race for it."""
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            for ddl in cls.SCHEMA:
                conn.execute(ddl)
        finally:
            conn.close()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if not self.path:
                raise RuntimeError("TKA_BENCH_PEER_DB is not set")
            with self._prepare_lock:  # a no-op read once the bench has prepared the file
                if not self._prepared:
                    self.prepare(self.path)
                    self._prepared = True
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=10, check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def create(self, name: str) -> dict[str, Any]:
        now = _now()
        seq = {"id": str(uuid.uuid4()), "name": name, "beats": [], "version": 1, "created_at": now,
               "updated_at": now, "metadata": {}}
        data, command_id = json.dumps(seq), str(uuid.uuid4())
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT INTO sequences VALUES (?, ?, ?, 1)", (seq["id"], name, data))
            conn.execute("INSERT INTO history (command_id, sequence_id, after) VALUES (?, ?, ?)",
                         (command_id, seq["id"], data))
            conn.executemany("INSERT INTO events (event_type, sequence_id, data) VALUES (?, ?, ?)",
                             [("sequence.created", seq["id"], data), ("command.executed", seq["id"], "{}")])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return seq


def __getattr__(name: str) -> Any:  # gunicorn's ``bench.peer:app``; importing builds nothing
    if name == "app":
        return create_app()
    raise AttributeError(name)
