"""Sequences: CRUD, current sequence, start position, generation."""

from __future__ import annotations

from typing import Any

import flask

from app.api.http import expected_version, json_response, run_command, sequence_response, service
from app.api.serializers import sequence_out
from app.core.events import utc_now
from app.services.sequences import BeatSpec


def get_current_sequence() -> flask.Response:
    seq = service().get_current_sequence()
    return sequence_response(seq, "current sequence" if seq else "no current sequence")


def set_current_sequence(body: dict[str, Any]) -> flask.Response:
    return sequence_response(service().set_current_sequence(body["sequence_id"]), "current sequence set")


def list_sequences(page: int = 1, page_size: int = 20) -> flask.Response:
    result = service().list_sequences(page, page_size)
    pages = (result.total + page_size - 1) // page_size
    return json_response({
        "success": True, "message": "", "data": [sequence_out(s) for s in result.items],
        "timestamp": utc_now(), "page": page, "page_size": page_size, "total_items": result.total,
        "total_pages": pages, "has_next": page < pages, "has_previous": page > 1,
    })


def create_sequence(body: dict[str, Any]) -> flask.Response:
    beats = [BeatSpec.from_dict(b) for b in body.get("beats") or []]
    return run_command(lambda: service().create_sequence(
        body["name"], length=body.get("length", 0), start_position=body.get("start_position"),
        beats=beats, metadata=body.get("metadata")), status=201)


def generate_sequence(body: dict[str, Any]) -> flask.Response:
    return run_command(lambda: service().generate_sequence(
        length=body["length"], name=body.get("name", "Generated"), level=body.get("level", 1),
        max_turns=body.get("max_turns", 1), seed=body.get("seed"),
        start_position=body.get("start_position")), status=201)


def get_sequence(sequence_id: str) -> flask.Response:
    return sequence_response(service().get_sequence(sequence_id))


def update_sequence(sequence_id: str, body: dict[str, Any]) -> flask.Response:
    fields: dict[str, Any] = {k: body[k] for k in ("name", "metadata", "start_position") if k in body}
    if "beats" in body:
        fields["beats"] = [BeatSpec.from_dict(b) for b in body["beats"] or []]
    version = expected_version()
    return run_command(lambda: service().update_sequence(sequence_id, expected_version=version, **fields))


def delete_sequence(sequence_id: str) -> flask.Response:
    version = expected_version()
    return run_command(lambda: service().delete_sequence(sequence_id, expected_version=version))


def set_start_position(sequence_id: str, body: dict[str, Any]) -> flask.Response:
    version = expected_version()
    return run_command(lambda: service().set_start_position(
        sequence_id, body["position"], blue_ori=body.get("blue_ori", "in"), red_ori=body.get("red_ori", "in"),
        expected_version=version))
