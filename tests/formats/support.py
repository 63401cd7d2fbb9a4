"""Fixture files and comparisons shared by the file-format tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from app.domain import BeatData

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> Any:
    """A fresh copy of a fixture file's JSON (tests edit it freely)."""
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8")))


def beat_key(beat: BeatData) -> tuple[Any, ...]:
    """What a file must reproduce of a beat: its motions and what they spell."""
    return (beat.blue_motion, beat.red_motion, beat.letter, beat.letter_type, beat.start_position,
            beat.end_position, beat.timing, beat.direction)
