"""Beats and sequences, and the invariants that tie a sequence together (tka-domain.md §6).

The models are frozen: every edit builds new values, and `normalize_beats` is the single place
that re-establishes numbering, continuity (positions and orientations) and reversals afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from app.core.ids import new_id

from .enums import Direction, GridMode, LetterType, MotionType, Orientation, RotationDirection, Timing
from .errors import DomainError, Discontinuity, InvalidMotion, InvalidValue
from .letters import identify, letter_type_of
from .limits import check_duration
from .motions import MotionData, make_motion, parse_enum, rotate_motion, validate_motion
from .positions import grid_mode_of, is_position, locations_of

_NO_ROT = RotationDirection.NO_ROT
_IN = Orientation.IN
_NON_RADIAL = frozenset((Orientation.CLOCK, Orientation.COUNTER))


@dataclass(frozen=True)
class BeatData:
    """One beat: two motions and what they spell. ``beat_number`` 0 is the start position."""

    beat_number: int
    blue_motion: MotionData | None
    red_motion: MotionData | None
    letter: str | None = None
    letter_type: LetterType | None = None
    start_position: str | None = None
    end_position: str | None = None
    timing: Timing = Timing.NONE
    direction: Direction = Direction.NONE
    duration: float = 1.0
    blue_reversal: bool = False
    red_reversal: bool = False
    is_blank: bool = False
    id: str = field(default_factory=new_id)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "beat_number": self.beat_number,
            "letter": self.letter,
            "letter_type": _str_or_none(self.letter_type),
            "start_position": self.start_position,
            "end_position": self.end_position,
            "timing": str(self.timing),
            "direction": str(self.direction),
            "duration": self.duration,
            "blue_motion": None if self.blue_motion is None else self.blue_motion.to_dict(),
            "red_motion": None if self.red_motion is None else self.red_motion.to_dict(),
            "blue_reversal": self.blue_reversal,
            "red_reversal": self.red_reversal,
            "is_blank": self.is_blank,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BeatData:
        """Parse ``to_dict`` output, reporting bad values with their field. Rules are not re-checked."""
        if not isinstance(d, Mapping):
            raise InvalidValue("beat", "beat.not_an_object", f"beat must be an object, not {type(d).__name__}")
        letter = d.get("letter")
        if letter is not None:
            letter_type_of(letter)
        return cls(
            beat_number=_int_field(d.get("beat_number", 0), "beat_number"),
            blue_motion=_motion_field(d.get("blue_motion"), "blue_motion"),
            red_motion=_motion_field(d.get("red_motion"), "red_motion"),
            letter=letter,
            letter_type=None if d.get("letter_type") is None else parse_enum(LetterType, d["letter_type"], "letter_type"),
            start_position=_position_field(d.get("start_position"), "start_position"),
            end_position=_position_field(d.get("end_position"), "end_position"),
            timing=parse_enum(Timing, d.get("timing", "none"), "timing"),
            direction=parse_enum(Direction, d.get("direction", "none"), "direction"),
            duration=check_duration(d.get("duration", 1.0)),
            blue_reversal=_bool_field(d.get("blue_reversal", False), "blue_reversal"),
            red_reversal=_bool_field(d.get("red_reversal", False), "red_reversal"),
            is_blank=_bool_field(d.get("is_blank", False), "is_blank"),
            id=_str_field(d["id"], "id") if d.get("id") is not None else new_id(),
            metadata=_mapping_field(d.get("metadata", {}), "metadata"),
        )


@dataclass(frozen=True)
class SequenceData:
    """A named sequence: an optional start position (beat 0) and beats 1..n."""

    id: str
    name: str
    beats: tuple[BeatData, ...] = ()
    start_position: BeatData | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    version: int = 1
    created_at: str = ""
    updated_at: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.beats, tuple):  # accept any sequence, store a tuple
            object.__setattr__(self, "beats", tuple(self.beats))

    @property
    def length(self) -> int:
        return len(self.beats)

    def _filled(self) -> list[BeatData]:
        return [b for b in self.beats if not b.is_blank]

    @property
    def word(self) -> str:
        """The letters of beats 1..n collapsed to their shortest repeating unit (§6.5)."""
        return collapse_word([b.letter for b in self.beats if not b.is_blank and b.letter])

    @property
    def level(self) -> int:
        """§6.7: 1 no turns and in/out only, 2 turns but in/out only, 3 any clock/counter."""
        turns = False
        for beat in self._filled():
            for m in (beat.blue_motion, beat.red_motion):
                if m is None:
                    continue
                if m.start_ori in _NON_RADIAL or m.end_ori in _NON_RADIAL:
                    return 3
                turns = turns or m.turns != 0
        return 2 if turns else 1

    @property
    def start_position_name(self) -> str | None:
        return None if self.start_position is None else self.start_position.end_position

    @property
    def end_position(self) -> str | None:
        filled = self._filled()
        return filled[-1].end_position if filled else self.start_position_name

    @property
    def is_circular(self) -> bool:
        """§6.8: the last beat ends where the sequence started, so it can loop."""
        filled = self._filled()
        if not filled:
            return False
        start = self.start_position_name or filled[0].start_position
        return start is not None and filled[-1].end_position == start

    @property
    def grid_mode(self) -> GridMode:
        filled = self._filled()
        position = self.start_position_name or (filled[0].start_position if filled else None)
        return grid_mode_of(position) if position is not None and is_position(position) else GridMode.DIAMOND

    @property
    def end_orientations(self) -> tuple[Orientation, Orientation]:
        """(blue, red) orientations the next beat would start from."""
        for beat in reversed(self._filled()):
            if beat.blue_motion is not None and beat.red_motion is not None:
                return beat.blue_motion.end_ori, beat.red_motion.end_ori
        sp = self.start_position
        if sp is not None and sp.blue_motion is not None and sp.red_motion is not None:
            return sp.blue_motion.end_ori, sp.red_motion.end_ori
        return _IN, _IN

    def to_dict(self) -> dict[str, Any]:
        """Stored fields plus derived ones (word, level...) for readers; `from_dict` ignores the latter."""
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "metadata": dict(self.metadata),
            "start_position": None if self.start_position is None else self.start_position.to_dict(),
            "beats": [b.to_dict() for b in self.beats],
            "length": self.length,
            "word": self.word,
            "level": self.level,
            "is_circular": self.is_circular,
            "grid_mode": str(self.grid_mode),
            "start_position_name": self.start_position_name,
            "end_position": self.end_position,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SequenceData:
        if not isinstance(d, Mapping):
            raise InvalidValue("sequence", "sequence.not_an_object", f"sequence must be an object, not {type(d).__name__}")
        raw_beats = d.get("beats", [])
        if not isinstance(raw_beats, (list, tuple)):
            raise InvalidValue("beats", "beats.not_a_list", "beats must be a list")
        beats = []
        for i, raw in enumerate(raw_beats):
            try:
                beats.append(BeatData.from_dict(raw))
            except DomainError as exc:
                raise exc.under(f"beats[{i}]") from None
        start = d.get("start_position")
        if start is not None:
            try:
                start = BeatData.from_dict(start)
            except DomainError as exc:
                raise exc.under("start_position") from None
        if "id" not in d:
            raise InvalidValue("id", "required", "id is required")
        if "name" not in d:
            raise InvalidValue("name", "required", "name is required")
        return cls(
            id=_str_field(d["id"], "id"),
            name=_str_field(d["name"], "name"),
            beats=tuple(beats),
            start_position=start,
            metadata=_mapping_field(d.get("metadata", {}), "metadata"),
            version=_int_field(d.get("version", 1), "version"),
            created_at=_str_field(d.get("created_at", ""), "created_at"),
            updated_at=_str_field(d.get("updated_at", ""), "updated_at"),
        )


# ---------------------------------------------------------------- field parsing helpers

def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _motion_field(value: Any, name: str) -> MotionData | None:
    if value is None:
        return None
    try:
        return MotionData.from_dict(value)
    except DomainError as exc:
        raise exc.under(name) from None


def _position_field(value: Any, name: str) -> str | None:
    if value is None or is_position(value):
        return value
    raise InvalidValue(name, "position.unknown", f"{name} {value!r} is not one of alpha1–8, beta1–8, gamma1–16")


def _int_field(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise InvalidValue(name, f"{name}.not_a_count", f"{name} {value!r} must be a whole number ≥ 0")


def _bool_field(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise InvalidValue(name, f"{name}.not_a_boolean", f"{name} {value!r} must be true or false")


def _str_field(value: Any, name: str) -> str:
    if isinstance(value, str):
        return value
    raise InvalidValue(name, f"{name}.not_a_string", f"{name} {value!r} must be a string")


def _mapping_field(value: Any, name: str) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise InvalidValue(name, f"{name}.not_an_object", f"{name} must be an object")


# ---------------------------------------------------------------- constructors

def beat_from_motions(
    blue: MotionData,
    red: MotionData,
    beat_number: int = 1,
    duration: float = 1.0,
    metadata: Mapping[str, Any] | None = None,
    id: str | None = None,
) -> BeatData:
    """A validated beat whose letter, positions, timing and direction come from its motions."""
    for name, motion in (("blue_motion", blue), ("red_motion", red)):
        if not isinstance(motion, MotionData):
            raise InvalidMotion(name, "required", f"{name} is required")
        try:
            validate_motion(motion)
        except InvalidMotion as exc:
            raise exc.under(name) from None
    _int_field(beat_number, "beat_number")
    duration = check_duration(duration)
    info = identify(blue, red)
    return BeatData(
        beat_number=beat_number, blue_motion=blue, red_motion=red,
        letter=info.letter, letter_type=info.letter_type,
        start_position=info.start_position, end_position=info.end_position,
        timing=info.timing, direction=info.direction, duration=duration,
        id=id or new_id(), metadata=dict(metadata or {}),
    )


def blank_beat(beat_number: int, id: str | None = None) -> BeatData:
    """A placeholder beat: no motions, no letter; continuity skips it."""
    return BeatData(beat_number=beat_number, blue_motion=None, red_motion=None, is_blank=True, id=id or new_id())


def start_position_beat(position: str, blue_ori: Orientation = _IN, red_ori: Orientation = _IN) -> BeatData:
    """Beat 0: both hands static at ``position``, holding the given orientations (§6.3)."""
    blue_loc, red_loc = locations_of(position)
    blue_ori = parse_enum(Orientation, blue_ori, "blue_ori")
    red_ori = parse_enum(Orientation, red_ori, "red_ori")
    blue = make_motion(MotionType.STATIC, blue_loc, blue_loc, 0, blue_ori)
    red = make_motion(MotionType.STATIC, red_loc, red_loc, 0, red_ori)
    return beat_from_motions(blue, red, beat_number=0)


def rotate_beat(beat: BeatData, steps45: int) -> BeatData:
    """The beat with the picture turned clockwise by ``steps45`` × 45°, letter info recomputed."""
    if beat.is_blank or beat.blue_motion is None or beat.red_motion is None:
        return beat
    blue, red = rotate_motion(beat.blue_motion, steps45), rotate_motion(beat.red_motion, steps45)
    return _with_info(replace(beat, blue_motion=blue, red_motion=red))


def _with_info(beat: BeatData) -> BeatData:
    info = identify(beat.blue_motion, beat.red_motion)  # type: ignore[arg-type]
    return replace(
        beat, letter=info.letter, letter_type=info.letter_type, start_position=info.start_position,
        end_position=info.end_position, timing=info.timing, direction=info.direction,
    )


# ---------------------------------------------------------------- sequence rules

def collapse_word(letters: Sequence[str]) -> str:
    """Join the letters and keep the shortest prefix the whole word repeats (§6.5).

    Works on characters as the apps do; since "-" never starts a letter, a repeating unit can
    never cut a dash letter in two, so ``W-W-`` collapses to ``W-``.
    """
    word = "".join(letters)
    if not word:
        return ""
    period = (word + word).find(word, 1)  # smallest rotation equal to the word = its period
    return word[:period] if period < len(word) else word


def _reversal(direction: RotationDirection, last: RotationDirection | None) -> tuple[bool, RotationDirection | None]:
    """§6.6: a hand reverses when its real spin differs from its last real spin; no_rot carries on."""
    if direction == _NO_ROT:
        return False, last
    return last is not None and direction != last, direction


def normalize_beats(start: BeatData | None, beats: Sequence[BeatData]) -> tuple[BeatData, ...]:
    """Re-establish the sequence invariants after any edit.

    Renumbers 1..n; blank beats move no hand and are skipped for continuity; each beat's start
    orientations continue from the previous non-blank beat (or the start position) with end
    orientations recomputed; positions must chain (else Discontinuity on
    ``beats[i].start_position``); reversals are recomputed (§6.6).
    """
    prev_position = None if start is None else start.end_position
    prev_source = "the start position is"
    prev_oris: tuple[Orientation, Orientation] | None = None
    if start is not None and start.blue_motion is not None and start.red_motion is not None:
        prev_oris = (start.blue_motion.end_ori, start.red_motion.end_ori)
    last_blue: RotationDirection | None = None
    last_red: RotationDirection | None = None
    out: list[BeatData] = []
    for i, beat in enumerate(beats):
        number = i + 1
        if beat.is_blank:
            out.append(replace(beat, beat_number=number, blue_reversal=False, red_reversal=False)
                       if (beat.beat_number != number or beat.blue_reversal or beat.red_reversal) else beat)
            continue
        blue, red = beat.blue_motion, beat.red_motion
        for name, motion in (("blue_motion", blue), ("red_motion", red)):
            if motion is None:
                raise InvalidValue(f"beats[{i}].{name}", "required", f"beats[{i}].{name} is required on a beat that is not blank")
        if beat.start_position is None or beat.end_position is None or beat.letter is None:
            beat = _with_info(beat)
        if prev_position is not None and beat.start_position != prev_position:
            raise Discontinuity(
                f"beats[{i}].start_position", "position.discontinuous",
                f"beats[{i}].start_position is {beat.start_position}, but {prev_source} at {prev_position}",
            )
        if prev_oris is not None:
            if blue.start_ori != prev_oris[0]:  # type: ignore[union-attr]
                blue = blue.with_start_ori(prev_oris[0])  # type: ignore[union-attr]
            if red.start_ori != prev_oris[1]:  # type: ignore[union-attr]
                red = red.with_start_ori(prev_oris[1])  # type: ignore[union-attr]
        blue_rev, last_blue = _reversal(blue.prop_rot_dir, last_blue)  # type: ignore[union-attr]
        red_rev, last_red = _reversal(red.prop_rot_dir, last_red)  # type: ignore[union-attr]
        out.append(replace(beat, beat_number=number, blue_motion=blue, red_motion=red,
                           blue_reversal=blue_rev, red_reversal=red_rev))
        prev_position = beat.end_position
        prev_source = f"beats[{i}] ends"
        prev_oris = (blue.end_ori, red.end_ori)  # type: ignore[union-attr]
    return tuple(out)
