"""One hand's motion: its data, the end-orientation rule and the consistency rules (§3–4).

A motion is only data; `validate_motion` decides whether it is a legal Kinetic Alphabet move and
`make_motion` is the friendly way to build one that is (it derives everything derivable).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any, Mapping

from .enums import FLOAT_TURNS, VALID_TURNS, HandPath, Location, MotionType, Orientation, RotationDirection
from .errors import InvalidMotion, InvalidValue
from .positions import grid_mode_of_location, handpath, opposite, rotate_location

_PRO, _ANTI, _FLOAT, _DASH, _STATIC = (
    MotionType.PRO, MotionType.ANTI, MotionType.FLOAT, MotionType.DASH, MotionType.STATIC,
)
_CW, _CCW, _NO_ROT = RotationDirection.CW, RotationDirection.CCW, RotationDirection.NO_ROT
_IN = Orientation.IN
_SHIFTS = frozenset((_PRO, _ANTI, _FLOAT))
_TURNS_TEXT = ", ".join(f"{t:g}" for t in VALID_TURNS)

#: §4.4: orientations numbered in clockwise quarter steps.
_ORI_NUMBER: dict[Orientation, int] = {
    Orientation.OUT: 0, Orientation.CLOCK: 1, Orientation.IN: 2, Orientation.COUNTER: 3,
}
_ORI_BY_NUMBER: tuple[Orientation, ...] = tuple(_ORI_NUMBER)

#: The rotation direction a shift's prop spins for a given handpath: pro follows, anti opposes.
_SHIFT_ROT: dict[tuple[MotionType, HandPath], RotationDirection] = {
    (_PRO, HandPath.CW): _CW, (_PRO, HandPath.CCW): _CCW,
    (_ANTI, HandPath.CW): _CCW, (_ANTI, HandPath.CCW): _CW,
}


@dataclass(frozen=True, slots=True)
class MotionData:
    """What one hand does during one beat."""

    motion_type: MotionType
    prop_rot_dir: RotationDirection
    start_loc: Location
    end_loc: Location
    turns: float | str = 0
    start_ori: Orientation = _IN
    end_ori: Orientation = _IN
    prefloat_motion_type: MotionType | None = None
    prefloat_prop_rot_dir: RotationDirection | None = None

    @property
    def effective_motion_type(self) -> MotionType:
        """The type letters are judged by: a float keeps the type of the shift it replaced (§3.1)."""
        if self.motion_type == _FLOAT and self.prefloat_motion_type is not None:
            return self.prefloat_motion_type
        return self.motion_type

    @property
    def is_shift(self) -> bool:
        """pro, anti or float: the hand moves a quarter (§3.1)."""
        return self.motion_type in _SHIFTS

    @property
    def is_float(self) -> bool:
        return self.motion_type == _FLOAT

    def with_start_ori(self, ori: Orientation) -> MotionData:
        """This motion starting from ``ori``, its end orientation recomputed (§4.5 continuity)."""
        return replace(self, start_ori=ori, end_ori=_end_ori(self, ori))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form: enum values as strings, turns as a number or "fl"."""
        return {
            "motion_type": str(self.motion_type),
            "prop_rot_dir": str(self.prop_rot_dir),
            "start_loc": str(self.start_loc),
            "end_loc": str(self.end_loc),
            "turns": _turns_out(self.turns),
            "start_ori": str(self.start_ori),
            "end_ori": str(self.end_ori),
            "prefloat_motion_type": None if self.prefloat_motion_type is None else str(self.prefloat_motion_type),
            "prefloat_prop_rot_dir": None if self.prefloat_prop_rot_dir is None else str(self.prefloat_prop_rot_dir),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MotionData:
        """Parse ``to_dict`` output. Checks vocabulary and types only; `validate_motion` checks the rules."""
        if not isinstance(d, Mapping):
            raise InvalidValue("", "motion.not_an_object", f"a motion must be an object, not {type(d).__name__}")
        return cls(
            motion_type=parse_enum(MotionType, _required(d, "motion_type"), "motion_type"),
            prop_rot_dir=parse_enum(RotationDirection, _required(d, "prop_rot_dir"), "prop_rot_dir"),
            start_loc=parse_enum(Location, _required(d, "start_loc"), "start_loc"),
            end_loc=parse_enum(Location, _required(d, "end_loc"), "end_loc"),
            turns=_parse_turns(d.get("turns", 0)),
            start_ori=parse_enum(Orientation, d.get("start_ori", "in"), "start_ori"),
            end_ori=parse_enum(Orientation, d.get("end_ori", "in"), "end_ori"),
            prefloat_motion_type=_optional_enum(MotionType, d.get("prefloat_motion_type"), "prefloat_motion_type"),
            prefloat_prop_rot_dir=_optional_enum(
                RotationDirection, d.get("prefloat_prop_rot_dir"), "prefloat_prop_rot_dir"
            ),
        )


# ---------------------------------------------------------------- parsing helpers (shared by models)

def parse_enum(enum_cls: type, value: Any, field: str) -> Any:
    """``enum_cls(value)``, reporting an unknown value as InvalidValue on ``field``."""
    try:
        return enum_cls(value)
    except (ValueError, TypeError):
        allowed = ", ".join(m.value for m in enum_cls)
        raise InvalidValue(field, f"{field.rsplit('.', 1)[-1]}.unknown",
                           f"{field} {value!r} is not one of: {allowed}") from None


def _optional_enum(enum_cls: type, value: Any, field: str) -> Any:
    return None if value is None else parse_enum(enum_cls, value, field)


def _required(d: Mapping[str, Any], key: str) -> Any:
    if key not in d:
        raise InvalidValue(key, "required", f"{key} is required")
    return d[key]


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_turns(value: Any) -> float | str:
    if value == FLOAT_TURNS or is_number(value):
        return value
    raise InvalidValue("turns", "turns.not_a_number", f'turns {value!r} must be a number or "fl"')


def _turns_out(turns: float | str) -> float | str:
    if is_number(turns) and float(turns).is_integer():
        return int(turns)
    return turns


def valid_turns(turns: Any) -> bool:
    """True for 0, 0.5, ..., 3 (not for "fl", bools or other numbers)."""
    return is_number(turns) and turns in VALID_TURNS


# ---------------------------------------------------------------- the §4 end-orientation rule

def end_orientation(m: MotionData) -> Orientation:
    """The orientation the prop ends in, by the §4.4 compact rule.

    Δ = 2·turns·s for pro/static, 2 + 2·turns·s for anti/dash, −s(handpath) for a float,
    in clockwise quarter steps. A ``no_rot`` direction counts as s = +1: it only occurs legally
    with 0 turns (or on floats, which use the handpath), where s does not matter.
    """
    return _end_ori(m, m.start_ori)


def _end_ori(m: MotionData, start_ori: Orientation) -> Orientation:
    try:
        start = _ORI_NUMBER[start_ori]
    except (KeyError, TypeError):
        raise InvalidMotion("start_ori", "start_ori.unknown", f"start_ori {start_ori!r} is not an orientation") from None
    mt = m.motion_type
    if mt == _FLOAT:
        path = handpath(m.start_loc, m.end_loc)
        if path == HandPath.CW:
            delta = -1
        elif path == HandPath.CCW:
            delta = 1
        else:
            raise InvalidMotion("end_loc", "float.not_quarter", f"end_loc {m.end_loc}: a float must move a quarter")
    else:
        if not valid_turns(m.turns):
            raise _turns_error(m)
        s = -1 if m.prop_rot_dir == _CCW else 1
        delta = round(2 * m.turns) * s
        if mt == _ANTI or mt == _DASH:
            delta += 2
        elif mt != _PRO and mt != _STATIC:
            raise InvalidMotion("motion_type", "motion_type.unknown", f"motion_type {mt!r} is not a motion type")
    return _ORI_BY_NUMBER[(start + delta) % 4]


def _turns_error(m: MotionData) -> InvalidMotion:
    if m.turns == FLOAT_TURNS:
        return InvalidMotion("turns", "turns.float_only",
                             f'turns "fl" is only for floats, not for a {m.motion_type} motion')
    return InvalidMotion("turns", "turns.not_allowed", f"turns {m.turns!r} must be one of {_TURNS_TEXT}")


# ---------------------------------------------------------------- consistency rules (§3)

def validate_motion(m: MotionData) -> None:
    """Raise InvalidMotion (field relative to the motion) unless ``m`` is a legal, consistent motion."""
    _check_structure(m)
    expected = end_orientation(m)
    if m.end_ori != expected:
        raise InvalidMotion(
            "end_ori", "end_ori.mismatch",
            f"end_ori {m.end_ori} should be {expected} for a {m.motion_type} from {m.start_ori} "
            f"with {m.turns} turns ({m.prop_rot_dir})",
        )


def _check_enum(value: Any, enum_cls: type, field: str) -> None:
    if not isinstance(value, str) or value not in enum_cls._value2member_map_:
        raise InvalidMotion(field, f"{field}.unknown", f"{field} {value!r} is not one of: "
                            + ", ".join(m.value for m in enum_cls))


def _check_structure(m: MotionData) -> None:
    """Every rule except the end orientation (which needs these to hold to be computable)."""
    _check_enum(m.motion_type, MotionType, "motion_type")
    _check_enum(m.prop_rot_dir, RotationDirection, "prop_rot_dir")
    _check_enum(m.start_loc, Location, "start_loc")
    _check_enum(m.end_loc, Location, "end_loc")
    _check_enum(m.start_ori, Orientation, "start_ori")
    _check_enum(m.end_ori, Orientation, "end_ori")
    if grid_mode_of_location(m.start_loc) != grid_mode_of_location(m.end_loc):
        raise InvalidMotion("end_loc", "end_loc.grid_mode",
                            f"end_loc {m.end_loc} is in another grid mode than start_loc {m.start_loc}")
    mt, turns = m.motion_type, m.turns
    path = handpath(m.start_loc, m.end_loc)
    if mt == _FLOAT:
        _check_float(m, path)
        return
    if not valid_turns(turns):
        raise _turns_error(m)
    for field in ("prefloat_motion_type", "prefloat_prop_rot_dir"):
        if getattr(m, field) is not None:
            raise InvalidMotion(field, "prefloat.only_float", f"{field} is only set on a float, not on a {mt}")
    if mt == _PRO or mt == _ANTI:
        if path != HandPath.CW and path != HandPath.CCW:
            raise InvalidMotion("end_loc", f"{mt}.not_quarter",
                                f"end_loc {m.end_loc}: a {mt} motion moves a quarter from {m.start_loc}, not {path}")
        expected = _SHIFT_ROT[(mt, path)]
        if m.prop_rot_dir != expected:
            how = "follows" if mt == _PRO else "opposes"
            raise InvalidMotion("prop_rot_dir", f"{mt}.prop_rot_dir",
                                f"prop_rot_dir {m.prop_rot_dir} should be {expected}: a {mt} prop {how} "
                                f"its {path} handpath")
        return
    if mt == _STATIC and path != HandPath.STATIC:
        raise InvalidMotion("end_loc", "static.must_stay",
                            f"end_loc {m.end_loc}: a static hand stays at {m.start_loc}")
    if mt == _DASH and path != HandPath.DASH:
        raise InvalidMotion("end_loc", "dash.must_cross",
                            f"end_loc {m.end_loc}: a dash crosses from {m.start_loc} to {opposite(m.start_loc)}")
    if turns == 0 and m.prop_rot_dir != _NO_ROT:
        raise InvalidMotion("prop_rot_dir", "prop_rot_dir.must_be_no_rot",
                            f"prop_rot_dir {m.prop_rot_dir} should be no_rot for a {mt} with 0 turns")
    if turns != 0 and m.prop_rot_dir == _NO_ROT:
        raise InvalidMotion("prop_rot_dir", "prop_rot_dir.required",
                            f"prop_rot_dir must be cw or ccw for a {mt} with {turns} turns")


def _check_float(m: MotionData, path: HandPath) -> None:
    if m.turns != FLOAT_TURNS:
        raise InvalidMotion("turns", "turns.float_requires_fl", f'turns {m.turns!r} should be "fl" for a float')
    if path != HandPath.CW and path != HandPath.CCW:
        raise InvalidMotion("end_loc", "float.not_quarter",
                            f"end_loc {m.end_loc}: a float moves a quarter from {m.start_loc}, not {path}")
    if m.prop_rot_dir != _NO_ROT:
        raise InvalidMotion("prop_rot_dir", "float.prop_rot_dir",
                            f"prop_rot_dir {m.prop_rot_dir} should be no_rot: a floating prop does not spin")
    pre = m.prefloat_motion_type
    if pre != _PRO and pre != _ANTI:
        raise InvalidMotion("prefloat_motion_type", "prefloat.required",
                            f"prefloat_motion_type {pre!r} should be pro or anti: only shifts float")
    pre_dir = m.prefloat_prop_rot_dir
    if pre_dir is not None and pre_dir != _SHIFT_ROT[(pre, path)]:
        raise InvalidMotion("prefloat_prop_rot_dir", "prefloat.prop_rot_dir",
                            f"prefloat_prop_rot_dir {pre_dir} should be {_SHIFT_ROT[(pre, path)]} "
                            f"for a {pre} on a {path} handpath")


def shift_rotation(motion_type: MotionType, path: HandPath) -> RotationDirection:
    """The prop rotation a pro/anti shift has on a cw/ccw handpath (§3.1)."""
    return _SHIFT_ROT[(motion_type, path)]


# ---------------------------------------------------------------- construction

def make_motion(
    motion_type: MotionType,
    start_loc: Location,
    end_loc: Location,
    turns: float | str = 0,
    start_ori: Orientation = _IN,
    prop_rot_dir: RotationDirection | None = None,
    prefloat_motion_type: MotionType | None = None,
) -> MotionData:
    """Build a valid motion, deriving what the rules fix.

    A pro/anti given turns "fl" becomes a float exactly as §3.1 says (type and direction kept in
    the prefloat fields). pro/anti rotation follows from the handpath; a static/dash with 0 turns
    gets no_rot. The end orientation is computed. Anything inconsistent raises InvalidMotion.
    """
    prefloat_dir: RotationDirection | None = None
    if turns == FLOAT_TURNS and (motion_type == _PRO or motion_type == _ANTI):
        prefloat_motion_type, motion_type = motion_type, _FLOAT
        prefloat_dir, prop_rot_dir = prop_rot_dir, _NO_ROT
    if motion_type == _FLOAT:
        if turns == 0:
            turns = FLOAT_TURNS
        if prop_rot_dir is None:
            prop_rot_dir = _NO_ROT
        if prefloat_dir is None and (prefloat_motion_type == _PRO or prefloat_motion_type == _ANTI):
            path = handpath(start_loc, end_loc)
            prefloat_dir = _SHIFT_ROT.get((prefloat_motion_type, path))
    elif prop_rot_dir is None:
        if motion_type == _PRO or motion_type == _ANTI:
            prop_rot_dir = _SHIFT_ROT.get((motion_type, handpath(start_loc, end_loc)), _NO_ROT)
        else:
            prop_rot_dir = _NO_ROT
    m = MotionData(
        motion_type=motion_type, prop_rot_dir=prop_rot_dir, start_loc=start_loc, end_loc=end_loc,
        turns=turns, start_ori=start_ori, end_ori=start_ori,
        prefloat_motion_type=prefloat_motion_type, prefloat_prop_rot_dir=prefloat_dir,
    )
    _check_structure(m)
    return replace(m, end_ori=end_orientation(m))


def rotate_motion(m: MotionData, steps45: int) -> MotionData:
    """The motion with the picture turned clockwise; orientations and turns are relative, so kept."""
    return replace(m, start_loc=rotate_location(m.start_loc, steps45), end_loc=rotate_location(m.end_loc, steps45))


@functools.lru_cache(maxsize=1024, typed=True)
def candidate_motions(loc: Location, turns: float | str = 0, start_ori: Orientation = _IN) -> tuple[MotionData, ...]:
    """Every motion one hand can make from ``loc`` with ``turns``, in a fixed order.

    static, dash, pro cw, pro ccw, anti cw, anti ccw. A static or dash given "fl" gets 0 turns
    (§3.1); with turns > 0 it is offered spinning cw, then ccw (§10.1). A shift given "fl" floats.
    This is the one enumeration the option lists and the generator share.
    """
    still_turns = 0 if turns == FLOAT_TURNS else turns
    rot_dirs = (_NO_ROT,) if still_turns == 0 else (_CW, _CCW)
    out: list[MotionData] = []
    for mt, end in ((_STATIC, loc), (_DASH, opposite(loc))):
        out.extend(make_motion(mt, loc, end, still_turns, start_ori, rot) for rot in rot_dirs)
    for mt in (_PRO, _ANTI):
        for step in (2, -2):
            out.append(make_motion(mt, loc, rotate_location(loc, step), turns, start_ori))
    return tuple(out)
