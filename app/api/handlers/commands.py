"""Undo, redo and the shared command history (plus the brief's /api/undo and /api/redo)."""

from __future__ import annotations

from typing import Any

import flask

from app.api.http import envelope, json_response, run_command, service
from app.api.serializers import history_entry_out


def undo(body: dict[str, Any] | None = None) -> flask.Response:
    scope = (body or {}).get("sequence_id")
    return run_command(lambda: service().undo(scope))


def redo(body: dict[str, Any] | None = None) -> flask.Response:
    scope = (body or {}).get("sequence_id")
    return run_command(lambda: service().redo(scope))


undo_alias = undo
redo_alias = redo


def get_command_history(sequence_id: str | None = None, limit: int = 50) -> flask.Response:
    entries = service().history(limit, sequence_id)
    state = service().undo_state(sequence_id)
    return json_response(envelope([history_entry_out(e) for e in entries], f"{len(entries)} commands", **state))
