"""Random freeform sequences, the way the legacy generate tab builds them (tka-domain.md §10.1–10.2).

Each beat is drawn from the same option list the picker offers (`motion_pairs_from`), so every
generated beat is legal by construction; all randomness comes from the caller's ``rng`` so a
seed reproduces a sequence exactly, ids included.
"""

from __future__ import annotations

import random
import uuid

from .enums import FLOAT_TURNS, VALID_TURNS, Orientation
from .errors import InvalidPosition, InvalidValue
from .letters import motion_pairs_from
from .limits import check_length
from .models import BeatData, beat_from_motions, normalize_beats, start_position_beat
from .motions import parse_enum, valid_turns
from .positions import is_position

RECENT_LETTERS = 3  # avoid repeating the letters of this many previous beats (§10.2)


def turn_choices(level: int, max_turns: float) -> tuple[float | str, ...]:
    """The per-hand turn values a level allows (§10.1 TurnIntensityManager)."""
    if level == 1:
        return (0,)
    if level == 2:
        return tuple(t for t in (0, 1, 2, 3) if t <= max_turns)
    return tuple(t for t in VALID_TURNS if t <= max_turns) + (FLOAT_TURNS,)


def check_generation_args(
    start_position: str, length: int, level: int, max_turns: float, rng: random.Random,
    blue_start_ori: Orientation, red_start_ori: Orientation,
) -> tuple[Orientation, Orientation]:
    """Validate what every generator takes; the parsed (blue, red) start orientations."""
    if not is_position(start_position):
        raise InvalidPosition("start_position", "position.unknown",
                              f"start_position {start_position!r} is not one of alpha1–8, beta1–8, gamma1–16")
    check_length(length, least=1)
    if isinstance(level, bool) or level not in (1, 2, 3):
        raise InvalidValue("level", "level.out_of_range", f"level {level!r} must be 1, 2 or 3")
    if not valid_turns(max_turns):
        raise InvalidValue("max_turns", "max_turns.not_allowed",
                           f"max_turns {max_turns!r} must be one of 0, 0.5, 1, 1.5, 2, 2.5, 3")
    if not isinstance(rng, random.Random):
        raise InvalidValue("rng", "rng.required", "rng must be a random.Random (a seed makes the sequence reproducible)")
    return (parse_enum(Orientation, blue_start_ori, "blue_start_ori"),
            parse_enum(Orientation, red_start_ori, "red_start_ori"))


def rng_id(rng: random.Random) -> str:
    """A beat id drawn from ``rng``, so a seed reproduces ids too."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def random_beat(
    position: str,
    oris: tuple[Orientation, Orientation],
    choices: tuple[float | str, ...],
    earlier: list[BeatData],
    rng: random.Random,
    number: int,
    *,
    end_position: str | None = None,
) -> BeatData:
    """One random legal beat from ``position``, as the generate tab picks it (§10.1–10.2).

    Turns per hand from ``choices``, then a pick among the picker's options that avoids the
    letters of the last RECENT_LETTERS ``earlier`` beats when it can. ``end_position`` keeps
    only the options that end there (the circular generator's last beat of a slice).
    """
    blue_turns, red_turns = rng.choice(choices), rng.choice(choices)
    options = motion_pairs_from(position, oris[0], oris[1], blue_turns, red_turns)
    if end_position is not None:
        # Each hand can stay, dash or shift either way whatever its turns, so every position of
        # the grid mode is one beat away and this list is never empty for a same-mode target.
        options = [option for option in options if option[2].end_position == end_position]
        if not options:
            raise InvalidValue("end_position", "end_position.unreachable",
                               f"no beat goes from {position} to {end_position}")
    recent = {b.letter for b in earlier[-RECENT_LETTERS:]}
    fresh = [option for option in options if option[2].letter not in recent] or options
    blue, red, _info = rng.choice(fresh)
    return beat_from_motions(blue, red, beat_number=number, id=rng_id(rng))


def generate_beats(
    start_position: str,
    length: int,
    *,
    level: int = 1,
    max_turns: float = 1,
    rng: random.Random,
    blue_start_ori: Orientation = Orientation.IN,
    red_start_ori: Orientation = Orientation.IN,
) -> tuple[BeatData, ...]:
    """``length`` continuous, valid beats starting at ``start_position`` (beats only, numbered 1..n)."""
    oris = check_generation_args(start_position, length, level, max_turns, rng, blue_start_ori, red_start_ori)
    choices = turn_choices(level, max_turns)
    start = start_position_beat(start_position, *oris)
    position = start_position
    beats: list[BeatData] = []
    for number in range(1, length + 1):
        beat = random_beat(position, oris, choices, beats, rng, number)
        beats.append(beat)
        position = beat.end_position  # type: ignore[assignment]
        oris = (beat.blue_motion.end_ori, beat.red_motion.end_ori)  # type: ignore[union-attr]
    return normalize_beats(start, beats)
