"""Undo, redo and the shared command history (plus the brief's /api/undo and /api/redo)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import flask

from app.api.http import call, commands, envelope, json_response, outcome_response, views
from app.api.serializers import history_entry_out


def undo(body: dict[str, Any] | None = None) -> flask.Response:
    return outcome_response(commands().undo((body or {}).get("sequence_id"), call=call()))


def redo(body: dict[str, Any] | None = None) -> flask.Response:
    return outcome_response(commands().redo((body or {}).get("sequence_id"), call=call()))


undo_alias = undo
redo_alias = redo


def get_command_history(sequence_id: str | None = None, limit: int = 50) -> flask.Response:
    entries = views().history(limit, sequence_id)
    state = views().undo_state(sequence_id)
    return json_response(envelope([history_entry_out(e) for e in entries], f"{len(entries)} commands", **asdict(state)))
