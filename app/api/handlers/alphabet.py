"""The Kinetic Alphabet itself: letters, positions, and identifying a pictograph."""

from __future__ import annotations

from typing import Any

import flask

from app.api.http import envelope, json_response
from app.api.serializers import letter_info_out
from app.domain.letters import LETTERS, identify
from app.domain.positions import ALL_POSITIONS, family_of, grid_mode_of, locations_of
from app.domain.input import motion_from_input

_LETTERS = [{"letter": s.letter, "letter_type": s.letter_type.value} for s in LETTERS]
_POSITIONS = [{"name": p, "family": family_of(p).value, "grid_mode": grid_mode_of(p).value,
               "blue_loc": locations_of(p)[0].value, "red_loc": locations_of(p)[1].value} for p in ALL_POSITIONS]


def list_letters() -> flask.Response:
    return json_response(envelope(_LETTERS, f"{len(_LETTERS)} letters"))


def list_positions() -> flask.Response:
    return json_response(envelope(_POSITIONS, f"{len(_POSITIONS)} positions"))


def identify_pictograph(body: dict[str, Any]) -> flask.Response:
    blue = motion_from_input(body["blue_motion"], "blue_motion")
    red = motion_from_input(body["red_motion"], "red_motion")
    return json_response(envelope(letter_info_out(identify(blue, red))))
