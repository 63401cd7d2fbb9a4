"""Beats of a sequence: add (by letter or explicit motions), update, remove."""

from __future__ import annotations

from typing import Any

import flask

from app.api.http import call, commands, expected_versions, outcome_response
from app.domain.input import BeatSpec


def add_beat(sequence_id: str, body: dict[str, Any]) -> flask.Response:
    return outcome_response(commands().add_beat(sequence_id, BeatSpec.from_dict(body["beat"]),
                                                position=body.get("position"),
                                                expected_versions=expected_versions(), call=call()))


def update_beat(sequence_id: str, beat_number: int, body: dict[str, Any]) -> flask.Response:
    return outcome_response(commands().update_beat(sequence_id, beat_number, body,
                                                   expected_versions=expected_versions(), call=call()))


def remove_beat(sequence_id: str, beat_number: int) -> flask.Response:
    return outcome_response(commands().remove_beat(sequence_id, beat_number, expected_versions=expected_versions(),
                                                   call=call()))
