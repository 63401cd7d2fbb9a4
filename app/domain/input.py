"""What a client asks for, checked against the alphabet's rules and turned into beats.

A beat comes by letter, by explicit motions, or blank (``BeatSpec``); one hand's motion comes as
a client writes it (``motion_from_input``); an existing beat's turns, prop rotation, duration or
metadata change (``with_beat_changed``). Creating a sequence with beats, adding a beat, changing
one and identifying a pictograph all go through these, so a bad value breaks the same rule, with
the same code and the same field path below its request, whichever way it came in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from .enums import FLOAT_TURNS, Location, MotionType, Orientation, RotationDirection
from .errors import Discontinuity, DomainError, InvalidMotion, InvalidValue, NoLetterFits
from .letters import letter_type_of, motion_pairs_for
from .limits import MAX_BEATS, check_duration
from .models import BeatData, SequenceData, beat_from_motions, blank_beat, normalize_beats
from .motions import MotionData, make_motion, parse_enum

_UNSET: Any = object()
_SHIFTS = (MotionType.PRO, MotionType.ANTI)


@dataclass(frozen=True, slots=True)
class BeatSpec:
    """A beat as a client asks for it: by letter, by explicit motions, or blank."""

    letter: str | None = None
    blue_motion: Mapping[str, Any] | None = None
    red_motion: Mapping[str, Any] | None = None
    blue_turns: Any = 0  # number, or None / "fl" for a float
    red_turns: Any = 0
    is_blank: bool = False
    duration: Any = 1.0
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BeatSpec":
        return cls(
            letter=d.get("letter"), blue_motion=d.get("blue_motion"), red_motion=d.get("red_motion"),
            blue_turns=d.get("blue_turns", 0), red_turns=d.get("red_turns", 0),
            is_blank=bool(d.get("is_blank", False)), duration=d.get("duration", 1.0),
            metadata=d.get("metadata") or {},
        )


def turns_from_input(value: Any) -> float | str:
    """Turns as a client gives them: a number, or None / "fl" meaning a float."""
    return FLOAT_TURNS if value is None or value == FLOAT_TURNS else value  # type: ignore[no-any-return]


def motion_from_input(d: Mapping[str, Any], field_name: str, continuity_ori: Orientation | None = None) -> MotionData:
    """One hand's motion as a client gives it. ``start_ori`` follows continuity when there is a
    previous beat (``continuity_ori``); ``end_ori`` is always computed and, if given, must agree."""
    try:
        motion_type = parse_enum(MotionType, d.get("motion_type"), "motion_type")
        turns = d.get("turns", None if motion_type is MotionType.FLOAT else 0)
        prop_rot_dir = d.get("prop_rot_dir")
        if motion_type is MotionType.FLOAT:
            if turns not in (None, FLOAT_TURNS):
                raise InvalidMotion("turns", "float.turns", "a float has no turns (send turns: null)")
            motion_type = parse_enum(MotionType, d.get("prefloat_motion_type"), "prefloat_motion_type")
            if motion_type not in _SHIFTS:
                raise InvalidMotion("prefloat_motion_type", "float.prefloat",
                                    "a float replaces a pro or anti shift: prefloat_motion_type must be pro or anti")
            prop_rot_dir = d.get("prefloat_prop_rot_dir")
            turns = FLOAT_TURNS
        start_ori = continuity_ori or Orientation.IN
        if d.get("start_ori") is not None:
            given = parse_enum(Orientation, d["start_ori"], "start_ori")
            if continuity_ori is not None and given != continuity_ori:
                raise Discontinuity("start_ori", "continuity.orientation",
                                    f"start_ori must be {continuity_ori.value}, the hand's end orientation "
                                    f"on the previous beat")
            start_ori = given
        motion = make_motion(
            motion_type, parse_enum(Location, d.get("start_loc"), "start_loc"),
            parse_enum(Location, d.get("end_loc"), "end_loc"), turns=turns_from_input(turns), start_ori=start_ori,
            prop_rot_dir=None if prop_rot_dir is None else parse_enum(RotationDirection, prop_rot_dir, "prop_rot_dir"))
        if d.get("end_ori") is not None and parse_enum(Orientation, d["end_ori"], "end_ori") != motion.end_ori:
            raise InvalidMotion("end_ori", "end_ori.mismatch",
                                f"end_ori must be {motion.end_ori.value} for this motion (§4 orientation rules)")
        return motion
    except DomainError as exc:
        raise exc.under(field_name) from None


def with_beat_added(seq: SequenceData, spec: BeatSpec, position: int | None, field_name: str) -> SequenceData:
    """``seq`` with the beat ``spec`` asks for inserted at ``position`` (1-based; None: at the end).
    Its errors are reported below ``field_name`` (``beat``, ``beats[2]``)."""
    if len(seq.beats) >= MAX_BEATS:
        raise InvalidValue(field_name, "beats.max", f"a sequence holds at most {MAX_BEATS} beats")
    if position is None:
        index = len(seq.beats)
    elif not 1 <= position <= len(seq.beats) + 1:
        raise InvalidValue("position", "position.range", f"position must be between 1 and {len(seq.beats) + 1}")
    else:
        index = position - 1
    try:
        beat = _build_beat(spec, replace(seq, beats=seq.beats[:index]), index + 1)
    except DomainError as exc:
        raise exc.under(field_name) from None
    beats = seq.beats[:index] + (beat,) + seq.beats[index:]
    return replace(seq, beats=normalize_beats(seq.start_position, beats))


def _build_beat(spec: BeatSpec, before: SequenceData, number: int) -> BeatData:
    """Beat ``number``, continuing ``before`` (the sequence up to it)."""
    duration = check_duration(spec.duration)
    if spec.is_blank:
        if spec.letter or spec.blue_motion or spec.red_motion:
            raise InvalidValue("is_blank", "blank.exclusive", "a blank beat has no letter and no motions")
        return replace(blank_beat(number), duration=duration, metadata=dict(spec.metadata))
    end_pos = before.end_position
    blue_ori, red_ori = before.end_orientations
    if spec.blue_motion is not None or spec.red_motion is not None:
        if spec.blue_motion is None or spec.red_motion is None:
            missing = "blue_motion" if spec.blue_motion is None else "red_motion"
            raise InvalidValue(missing, "motions.pair", "give both blue_motion and red_motion, or a letter")
        has_start = end_pos is not None
        blue = motion_from_input(spec.blue_motion, "blue_motion", blue_ori if has_start else None)
        red = motion_from_input(spec.red_motion, "red_motion", red_ori if has_start else None)
        beat = beat_from_motions(blue, red, beat_number=number, duration=duration, metadata=spec.metadata)
        if spec.letter is not None and spec.letter != beat.letter:
            raise InvalidValue("letter", "letter.mismatch",
                               f"letter '{spec.letter}' does not match the motions, which spell '{beat.letter}'")
        return beat
    if spec.letter is None:
        raise InvalidValue("letter", "beat.empty", "give a letter, both motions, or is_blank: true")
    letter_type_of(spec.letter)  # UnknownLetter for a letter TKA does not have
    if end_pos is None:
        raise NoLetterFits("letter", "start_position.missing",
                           "the sequence has no start position to continue from; set one "
                           "(PUT .../start-position) or give explicit motions")
    blue, red = motion_pairs_for(spec.letter, end_pos, blue_ori, red_ori,
                                 turns_from_input(spec.blue_turns), turns_from_input(spec.red_turns))[0]
    return beat_from_motions(blue, red, beat_number=number, duration=duration, metadata=spec.metadata)


def beat_index(seq: SequenceData, beat_number: Any) -> int:
    """The index of beat ``beat_number`` (1-based) of ``seq``."""
    if isinstance(beat_number, bool) or not isinstance(beat_number, int) or not 1 <= beat_number <= len(seq.beats):
        raise InvalidValue("beat_number", "beat_number.range",
                           f"beat_number must be between 1 and {len(seq.beats)} (the sequence has "
                           f"{len(seq.beats)} beats)" if seq.beats else "the sequence has no beats")
    return beat_number - 1


def with_beat_changed(seq: SequenceData, beat_number: int,
                      changes: Mapping[str, Any]) -> tuple[SequenceData, dict[str, dict[str, Any]]]:
    """``seq`` with beat ``beat_number``'s turns (``blue_turns``...), prop rotation
    (``blue_prop_rot_dir``...), ``duration`` or ``metadata`` changed, and for each field changed
    its old and new value. Turns change end orientations, so every later beat's are re-derived."""
    index = beat_index(seq, beat_number)
    old = seq.beats[index]
    if not changes:
        raise InvalidValue("body", "body.empty", "give at least one field to change")
    motions: dict[str, MotionData | None] = {"blue": old.blue_motion, "red": old.red_motion}
    for color in ("blue", "red"):
        turns_key, rot_key = f"{color}_turns", f"{color}_prop_rot_dir"
        if turns_key in changes or rot_key in changes:
            motion = motions[color]
            if motion is None:
                raise InvalidValue(turns_key, "beat.blank", f"beat {beat_number} is blank and has no motions")
            motions[color] = _retuned(motion, changes.get(turns_key, _UNSET), changes.get(rot_key, _UNSET), color)
    duration = check_duration(changes.get("duration", old.duration))
    metadata = dict(changes.get("metadata", old.metadata))
    if old.is_blank:
        beat = replace(old, duration=duration, metadata=metadata)
    else:
        beat = beat_from_motions(motions["blue"], motions["red"], beat_number=old.beat_number,  # type: ignore[arg-type]
                                 duration=duration, metadata=metadata, id=old.id)
    new = replace(seq, beats=normalize_beats(seq.start_position, seq.beats[:index] + (beat,) + seq.beats[index + 1:]))
    diff = {key: {"old": _jsonable(_beat_field(old, key)), "new": _jsonable(_beat_field(new.beats[index], key))}
            for key in changes}
    return new, diff


def _retuned(motion: MotionData, turns: Any, rot: Any, color: str) -> MotionData:
    """The motion with new turns and/or prop rotation, re-derived and re-validated."""
    base = motion.effective_motion_type
    new_turns = motion.turns if turns is _UNSET else turns_from_input(turns)
    if rot is _UNSET:
        rot_dir = motion.prefloat_prop_rot_dir if motion.motion_type is MotionType.FLOAT else motion.prop_rot_dir
        if base in (MotionType.STATIC, MotionType.DASH):
            rot_dir = None if new_turns == 0 else (rot_dir if rot_dir is not RotationDirection.NO_ROT else None)
        elif base in _SHIFTS:
            rot_dir = None  # derived from the handpath
    else:
        rot_dir = parse_enum(RotationDirection, rot, f"{color}_prop_rot_dir")
    try:
        return make_motion(base, motion.start_loc, motion.end_loc, turns=new_turns, start_ori=motion.start_ori,
                           prop_rot_dir=rot_dir)
    except DomainError as exc:
        raise exc.under(f"{color}_motion") from None


def _beat_field(beat: BeatData, key: str) -> Any:
    color, _, rest = key.partition("_")
    if color in ("blue", "red") and rest in ("turns", "prop_rot_dir"):
        motion = getattr(beat, f"{color}_motion")
        return None if motion is None else getattr(motion, rest)
    return getattr(beat, key, None)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    return getattr(value, "value", value)
