"""The 47 letters and how a beat's two motions determine one (tka-domain.md §5).

Letters are decided by rules, not by a copy of the 576-row table: the family pair of the start
and end positions picks the letter group (§5.2, §5.6), pro/anti picks the member (§5.3), and the
swap and leading-hand tests split M–V. Because `identify` is hot (option lists, validation,
benchmarks), the rules are run once at import over every legal hand move in both grid modes and
the answers kept in a dict keyed by the raw motion fields; a lookup is then one tuple hash.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from .enums import (
    FLOAT_TURNS, Direction, Family, GridMode, HandPath, Location, LetterType, MotionType, Orientation,
    Timing,
)
from .errors import InvalidPosition, InvalidValue, NoLetterFits, UnknownLetter
from .motions import MotionData, candidate_motions, parse_enum, valid_turns
from .positions import (
    family_of, grid_mode_of, grid_mode_of_location, handpath, locations_of, opposite, position_of,
    rotate_location,
)


@dataclass(frozen=True)
class LetterSpec:
    letter: str
    letter_type: LetterType


@dataclass(frozen=True)
class LetterInfo:
    """Everything a beat's motions say about it: letter, positions and VTG labels."""

    letter: str
    letter_type: LetterType
    start_position: str
    end_position: str
    timing: Timing
    direction: Direction


# Exact characters matter (§5.6): Σ U+03A3, Δ U+0394, θ U+03B8 (small), Ω U+03A9, Φ U+03A6,
# Ψ U+03A8, Λ U+039B, α U+03B1, β U+03B2, Γ U+0393; dash letters end in ASCII "-".
_SIGMA, _DELTA, _THETA, _OMEGA = "\u03a3", "\u0394", "\u03b8", "\u03a9"
_PHI, _PSI, _LAMBDA = "\u03a6", "\u03a8", "\u039b"
_ALPHA, _BETA, _GAMMA = "\u03b1", "\u03b2", "\u0393"

_TYPE2 = ("W", "X", "Y", "Z", _SIGMA, _DELTA, _THETA, _OMEGA)
_BY_TYPE: dict[LetterType, tuple[str, ...]] = {
    LetterType.TYPE1: tuple("ABCDEFGHIJKLMNOPQRSTUV"),
    LetterType.TYPE2: _TYPE2,
    LetterType.TYPE3: tuple(f"{letter}-" for letter in _TYPE2),
    LetterType.TYPE4: (_PHI, _PSI, _LAMBDA),
    LetterType.TYPE5: (f"{_PHI}-", f"{_PSI}-", f"{_LAMBDA}-"),
    LetterType.TYPE6: (_ALPHA, _BETA, _GAMMA),
}

#: All 47 letters in canonical order.
LETTERS: tuple[LetterSpec, ...] = tuple(
    LetterSpec(letter, letter_type) for letter_type, letters in _BY_TYPE.items() for letter in letters
)
_TYPE_OF: dict[str, LetterType] = {spec.letter: spec.letter_type for spec in LETTERS}


def letter_type_of(letter: str) -> LetterType:
    try:
        return _TYPE_OF[letter]
    except (KeyError, TypeError):
        raise UnknownLetter("letter", "letter.unknown", f"letter {letter!r} is not one of the 47 letters") from None


def is_letter(letter: Any) -> bool:
    return isinstance(letter, str) and letter in _TYPE_OF


# ---------------------------------------------------------------- the rules (§5.2–5.6)

_FA, _FB, _FG = Family.ALPHA, Family.BETA, Family.GAMMA
_PRO, _ANTI, _FLOAT, _DASH, _STATIC = (
    MotionType.PRO, MotionType.ANTI, MotionType.FLOAT, MotionType.DASH, MotionType.STATIC,
)

#: Type1 outside gamma: (start family, end family) -> (pro+pro, anti+anti, hybrid).
_DUAL_SHIFT = {(_FA, _FA): "ABC", (_FB, _FA): "DEF", (_FB, _FB): "GHI", (_FA, _FB): "JKL"}
#: Types 2 and 3: (start family, end family) -> (pro letter, anti letter). The dash versions of
#: Σ/Δ and θ/Ω swap start families because the dash hand lands on the opposite side (§5.2).
_SHIFT_STATIC = {(_FG, _FA): "WX", (_FG, _FB): "YZ", (_FA, _FG): (_SIGMA, _DELTA), (_FB, _FG): (_THETA, _OMEGA)}
_SHIFT_DASH = {
    (_FG, _FA): ("W-", "X-"), (_FG, _FB): ("Y-", "Z-"),
    (_FB, _FG): (f"{_SIGMA}-", f"{_DELTA}-"), (_FA, _FG): (f"{_THETA}-", f"{_OMEGA}-"),
}
_DASH_STATIC = {(_FB, _FA): _PHI, (_FA, _FB): _PSI, (_FG, _FG): _LAMBDA}
_DUAL_DASH = {(_FA, _FA): f"{_PHI}-", (_FB, _FB): f"{_PSI}-", (_FG, _FG): f"{_LAMBDA}-"}
_DUAL_STATIC = {(_FA, _FA): _ALPHA, (_FB, _FB): _BETA, (_FG, _FG): _GAMMA}

_SPLIT_BETAS = frozenset(("beta3", "beta7"))  # hands meet or part at e/w (§5.6)
_BOX_SPLIT_GAMMAS = frozenset(("gamma4", "gamma8", "gamma10", "gamma14"))  # §5.5 box rule


def _dual_shift_letter(
    bt: MotionType, bs: Location, be: Location, rt: MotionType, rs: Location, re: Location, sf: Family, ef: Family,
) -> str | None:
    """§5.3: pick the group by families (and swap / leading tests in gamma), the member by pro/anti."""
    same_way = handpath(bs, be) == handpath(rs, re)
    member = 0 if bt == rt == _PRO else 1 if bt == rt == _ANTI else 2
    if sf is _FG and ef is _FG:
        if not same_way:
            swapped = be == rs and re == bs
            return ("PQR" if swapped else "MNO")[member]
        if member < 2:
            return "ST"[member]
        # The trailing hand ends where the leading hand started (§5.6).
        leader_type = rt if be == rs else bt
        return "U" if leader_type == _PRO else "V"
    group = _DUAL_SHIFT.get((sf, ef))
    return None if group is None else group[member]


def _vtg(letter: str, start: str, end: str, mode: GridMode, same_way: bool) -> tuple[Timing, Direction]:
    """Timing and direction labels, §5.5 including the box-mode differences."""
    direction = Direction.SAME if same_way else Direction.OPP
    if letter in "ABC":
        return Timing.SPLIT, direction
    if letter in "GHI":
        return Timing.TOG, direction
    if letter in "DEFJKL":
        if mode is GridMode.BOX:
            return Timing.QUARTER, direction
        beta = start if letter in "DEF" else end  # the beat's beta position (§5.6 one-rule form)
        return (Timing.SPLIT if beta in _SPLIT_BETAS else Timing.TOG), direction
    if letter in "MNOPQR" and mode is GridMode.BOX:
        return (Timing.SPLIT if start in _BOX_SPLIT_GAMMAS else Timing.TOG), direction
    return Timing.QUARTER, direction  # M–R in diamond, S–V in both modes


def _determine(bt: MotionType, bs: Location, be: Location, rt: MotionType, rs: Location, re: Location) -> LetterInfo | None:
    """Apply the §5 rules to two hands given by effective type (pro/anti/dash/static) and locations."""
    try:
        start, end = position_of(bs, rs), position_of(be, re)
    except InvalidPosition:
        return None
    mode = grid_mode_of(start)
    if grid_mode_of(end) is not mode:
        return None
    sf, ef = family_of(start), family_of(end)
    b_shift, r_shift = bt in (_PRO, _ANTI), rt in (_PRO, _ANTI)
    families = (sf, ef)
    if b_shift and r_shift:
        letter = _dual_shift_letter(bt, bs, be, rt, rs, re, sf, ef)
        if letter is None:
            return None
        timing, direction = _vtg(letter, start, end, mode, handpath(bs, be) == handpath(rs, re))
        return LetterInfo(letter, LetterType.TYPE1, start, end, timing, direction)
    if b_shift or r_shift:
        shift, other = (bt, rt) if b_shift else (rt, bt)
        table = _SHIFT_STATIC if other == _STATIC else _SHIFT_DASH
        pair = table.get(families)
        letter = None if pair is None else pair[0 if shift == _PRO else 1]
    else:
        kinds = {bt, rt}
        table = _DUAL_STATIC if kinds == {_STATIC} else _DUAL_DASH if kinds == {_DASH} else _DASH_STATIC
        letter = table.get(families)
    if letter is None:
        return None
    return LetterInfo(letter, _TYPE_OF[letter], start, end, Timing.NONE, Direction.NONE)


def _hand_moves(loc: Location) -> list[tuple[MotionType, MotionType | None, MotionType, Location, Location]]:
    """(motion_type, prefloat_motion_type, effective type, start, end) for every legal move from ``loc``."""
    moves = [(_STATIC, None, _STATIC, loc, loc), (_DASH, None, _DASH, loc, opposite(loc))]
    for shift in (_PRO, _ANTI):
        for step in (2, -2):
            end = rotate_location(loc, step)
            moves.append((shift, None, shift, loc, end))
            moves.append((_FLOAT, shift, shift, loc, end))
    return moves


def _build_table() -> tuple[dict[tuple, LetterInfo], dict[tuple, LetterInfo]]:
    by_fields: dict[tuple, LetterInfo] = {}
    by_effective: dict[tuple, LetterInfo] = {}
    for b_loc in Location:
        for r_loc in Location:
            if grid_mode_of_location(b_loc) is not grid_mode_of_location(r_loc):
                continue
            for bt, bpre, beff, bs, be in _hand_moves(b_loc):
                for rt, rpre, reff, rs, re in _hand_moves(r_loc):
                    eff_key = (beff, bs, be, reff, rs, re)
                    info = by_effective.get(eff_key)
                    if info is None:
                        info = _determine(*eff_key)
                        if info is None:  # every legal same-mode pair has a letter
                            raise AssertionError(f"no letter for {eff_key}")
                        by_effective[eff_key] = info
                    by_fields[(bt, bpre, bs, be, rt, rpre, rs, re)] = info
    return by_fields, by_effective


_BY_FIELDS, _BY_EFFECTIVE = _build_table()


def identify(blue: MotionData, red: MotionData) -> LetterInfo:
    """The letter (with positions, timing, direction) of a beat made of these two motions.

    Floats count as their prefloat type. Does not validate the motions; a pair no letter
    describes (hands in different grid modes, impossible moves) raises NoLetterFits on "beat".
    """
    try:
        info = _BY_FIELDS.get((
            blue.motion_type, blue.prefloat_motion_type, blue.start_loc, blue.end_loc,
            red.motion_type, red.prefloat_motion_type, red.start_loc, red.end_loc,
        ))
    except (AttributeError, TypeError):
        info = None
    return info if info is not None else _identify_slow(blue, red)


def _effective_type(m: MotionData) -> Any:
    if m.motion_type != _FLOAT:
        return m.motion_type
    if m.prefloat_motion_type is not None:
        return m.prefloat_motion_type
    # A float without its prefloat type: recover it from the prefloat direction if we can.
    try:
        path = handpath(m.start_loc, m.end_loc)
    except Exception:
        return None
    if m.prefloat_prop_rot_dir is None or path not in (HandPath.CW, HandPath.CCW):
        return None
    return _PRO if str(m.prefloat_prop_rot_dir) == str(path) else _ANTI


def _identify_slow(blue: MotionData, red: MotionData) -> LetterInfo:
    """Fallback for motions whose raw fields are not canonical, with a reason when nothing fits."""
    try:
        key = (_effective_type(blue), blue.start_loc, blue.end_loc, _effective_type(red), red.start_loc, red.end_loc)
        info = _BY_EFFECTIVE.get(key)
    except (AttributeError, TypeError):
        raise NoLetterFits("beat", "beat.motions_missing", "beat needs a blue and a red motion to have a letter") from None
    if info is not None:
        return info
    reason = "its motions are not legal moves"
    try:
        if grid_mode_of_location(blue.start_loc) is not grid_mode_of_location(red.start_loc):
            reason = f"blue at {blue.start_loc} and red at {red.start_loc} are in different grid modes"
    except InvalidPosition:
        reason = "a location is unknown"
    raise NoLetterFits("beat", "beat.no_letter", f"beat has no letter: {reason}")


# ---------------------------------------------------------------- option lists

def _check_turns(turns: Any, field: str) -> None:
    if turns != FLOAT_TURNS and not valid_turns(turns):
        raise InvalidValue(field, "turns.not_allowed", f'{field} {turns!r} must be one of 0, 0.5, 1, 1.5, 2, 2.5, 3 or "fl"')


def _start_locations(start_position: str) -> tuple[Location, Location]:
    try:
        return locations_of(start_position)
    except InvalidPosition as exc:
        raise InvalidPosition("start_position", exc.rule,
                              f"start_position {start_position!r} is not one of alpha1–8, beta1–8, gamma1–16") from None


@functools.lru_cache(maxsize=4096, typed=True)
def _pairs(
    start_position: str, blue_ori: Orientation, red_ori: Orientation, blue_turns: float | str, red_turns: float | str,
) -> tuple[tuple[MotionData, MotionData, LetterInfo], ...]:
    b_loc, r_loc = _start_locations(start_position)
    blues = candidate_motions(b_loc, blue_turns, blue_ori)
    reds = candidate_motions(r_loc, red_turns, red_ori)
    return tuple((b, r, identify(b, r)) for b in blues for r in reds)


def motion_pairs_from(
    start_position: str,
    blue_start_ori: Orientation = Orientation.IN,
    red_start_ori: Orientation = Orientation.IN,
    blue_turns: float | str = 0,
    red_turns: float | str = 0,
) -> list[tuple[MotionData, MotionData, LetterInfo]]:
    """Every legal (blue, red) pair from ``start_position`` with its letter, in a fixed order.

    Each hand's moves come from `candidate_motions` (static, dash, pro cw/ccw, anti cw/ccw, with
    static/dash spinning cw then ccw when given turns); start orientations are applied and end
    orientations computed.
    """
    _start_locations(start_position)
    _check_turns(blue_turns, "blue_turns")
    _check_turns(red_turns, "red_turns")
    blue_ori = parse_enum(Orientation, blue_start_ori, "blue_start_ori")
    red_ori = parse_enum(Orientation, red_start_ori, "red_start_ori")
    return list(_pairs(start_position, blue_ori, red_ori, blue_turns, red_turns))


def motion_pairs_for(
    letter: str,
    start_position: str,
    blue_start_ori: Orientation = Orientation.IN,
    red_start_ori: Orientation = Orientation.IN,
    blue_turns: float | str = 0,
    red_turns: float | str = 0,
) -> list[tuple[MotionData, MotionData]]:
    """Every legal (blue, red) pair starting at ``start_position`` that spells ``letter``."""
    letter_type_of(letter)
    pairs = [
        (b, r) for b, r, info in motion_pairs_from(start_position, blue_start_ori, red_start_ori, blue_turns, red_turns)
        if info.letter == letter
    ]
    if not pairs:
        raise NoLetterFits("letter", "letter.cannot_start_here", f"letter {letter} cannot start at {start_position}")
    return pairs
