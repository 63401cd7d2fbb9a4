"""Beats of a sequence: add (by letter or explicit motions), update, remove."""

from __future__ import annotations

from typing import Any

import flask

from app.api.http import expected_version, run_command, service
from app.services.sequences import BeatSpec


def add_beat(sequence_id: str, body: dict[str, Any]) -> flask.Response:
    version = expected_version()
    spec = BeatSpec.from_dict(body["beat"])
    return run_command(lambda: service().add_beat(sequence_id, spec, position=body.get("position"),
                                                  expected_version=version), status=201)


def update_beat(sequence_id: str, beat_number: int, body: dict[str, Any]) -> flask.Response:
    version = expected_version()
    return run_command(lambda: service().update_beat(sequence_id, beat_number, body, expected_version=version))


def remove_beat(sequence_id: str, beat_number: int) -> flask.Response:
    version = expected_version()
    return run_command(lambda: service().remove_beat(sequence_id, beat_number, expected_version=version))
