"""The limits a sequence keeps, each checked in one place for every way a value comes in: a
name's length, how many beats a sequence holds, how long a beat lasts."""

from __future__ import annotations

from typing import Any

from .errors import InvalidValue
from .motions import is_number

MAX_NAME_LENGTH = 100
MAX_BEATS = 64  # beats a sequence may hold
MAX_DURATION = 64  # counts a beat may last


def validate_name(name: Any) -> str:
    """The stripped name, 1..100 characters."""
    if not isinstance(name, str):
        raise InvalidValue("name", "name.not_a_string", "name must be a string")
    stripped = name.strip()
    if not stripped:
        raise InvalidValue("name", "name.empty", "name must not be empty")
    if len(stripped) > MAX_NAME_LENGTH:
        raise InvalidValue("name", "name.too_long", f"name must be at most {MAX_NAME_LENGTH} characters")
    return stripped


def check_length(value: Any, *, least: int = 0) -> int:
    """A number of beats: a whole number from ``least`` to MAX_BEATS."""
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= MAX_BEATS:
        raise InvalidValue("length", "length.out_of_range",
                           f"length {value!r} must be a whole number from {least} to {MAX_BEATS}")
    return value


def check_duration(value: Any) -> float:
    """A beat's duration: a number of counts, more than 0 and at most MAX_DURATION."""
    if is_number(value) and 0 < value <= MAX_DURATION:
        return value  # type: ignore[no-any-return]
    raise InvalidValue("duration", "duration.out_of_range", f"duration {value!r} must be > 0 and ≤ {MAX_DURATION}")
