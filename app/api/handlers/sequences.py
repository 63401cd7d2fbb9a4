"""Sequences: CRUD, current sequence, start position, generation, TKA's own files in and out."""

from __future__ import annotations

from typing import Any

from urllib.parse import quote

import flask
from werkzeug.utils import secure_filename

from app.api.binding import json_body
from app.api.problems import ApiProblem
from app.api.http import call, commands, envelope, etag, expected_versions, json_response, outcome_response, \
    sequence_response, views
from app.api.serializers import sequence_out
from app.domain.input import BeatSpec
from app.formats import dump_sequence, load_sequence_file


def get_current_sequence() -> flask.Response:
    seq = views().get_current_sequence()
    return sequence_response(seq, "current sequence" if seq else "no current sequence")


def set_current_sequence(body: dict[str, Any]) -> flask.Response:
    return sequence_response(commands().set_current_sequence(body["sequence_id"], call=call()), "current sequence set")


def list_sequences(page: int = 1, page_size: int = 20) -> flask.Response:
    result = views().list_sequences(page, page_size)
    return json_response({
        **envelope([sequence_out(s) for s in result.items]), "page": page, "page_size": page_size,
        "total_items": result.total, "total_pages": result.pages, "has_next": page < result.pages,
        "has_previous": page > 1,
    })


def create_sequence(body: dict[str, Any]) -> flask.Response:
    return outcome_response(commands().create_sequence(
        body["name"], length=body.get("length", 0), start_position=body.get("start_position"),
        beats=[BeatSpec.from_dict(b) for b in body.get("beats") or []], metadata=body.get("metadata"), call=call()))


def generate_sequence(body: dict[str, Any]) -> flask.Response:
    return outcome_response(commands().generate_sequence(
        length=body["length"], name=body.get("name", "Generated"), level=body.get("level", 1),
        max_turns=body.get("max_turns", 1), seed=body.get("seed"), start_position=body.get("start_position"),
        mode=body.get("mode", "freeform"), cap_type=body.get("cap_type"), slice_size=body.get("slice_size"),
        call=call()))


def get_sequence(sequence_id: str) -> flask.Response:
    return sequence_response(views().get_sequence(sequence_id))


def update_sequence(sequence_id: str, body: dict[str, Any]) -> flask.Response:
    fields: dict[str, Any] = {k: body[k] for k in ("name", "metadata", "start_position") if k in body}
    if "beats" in body:
        fields["beats"] = [BeatSpec.from_dict(b) for b in body["beats"] or []]
    return outcome_response(commands().update_sequence(sequence_id, expected_versions=expected_versions(),
                                                       call=call(), **fields))


def delete_sequence(sequence_id: str) -> flask.Response:
    return outcome_response(commands().delete_sequence(sequence_id, expected_versions=expected_versions(), call=call()))


def set_start_position(sequence_id: str, body: dict[str, Any]) -> flask.Response:
    return outcome_response(commands().set_start_position(
        sequence_id, body["position"], blue_ori=body.get("blue_ori", "in"), red_ori=body.get("red_ori", "in"),
        expected_versions=expected_versions(), call=call()))


def import_sequence(body: bytes, name: str | None = None) -> flask.Response:
    """``body``: the file as JSON, or a dictionary PNG (its ``metadata`` chunk is the file). An
    operation that takes two media types gets its body as bytes from Connexion: JSON is read here
    by the same strict reader as every other body."""
    request = flask.request
    if not body:
        raise ApiProblem(400, "validation_error", "the body is empty: send the file as JSON or as a PNG",
                         errors=[{"field": "body", "message": "a file is required", "rule": "required"}])
    data = json_body(request) if request.is_json else body
    return outcome_response(commands().import_sequence(load_sequence_file(data), name=name, call=call()))


def export_sequence(sequence_id: str) -> flask.Response:
    seq = views().get_sequence(sequence_id)
    stem = seq.word or seq.name
    ascii_name = secure_filename(stem) or "sequence"
    disposition = f'attachment; filename="{ascii_name}.json"; filename*=UTF-8\'\'{quote(stem + ".json")}'
    return json_response(dump_sequence(seq), headers={"ETag": etag(seq), "Content-Disposition": disposition})
