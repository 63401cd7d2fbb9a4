"""Circular sequences and CAPs: beat transforms, detection and generation (tka-domain.md §6.8, §10.3).

The reference describes CAPs loosely; these are the exact definitions this module implements.

Beat transforms. Each gives a new valid beat whose letter, positions, timing and direction are
recomputed from its motions; orientations are re-established by `normalize_beats` once the beat
sits in a sequence (so transforms never decide continuity).

* R(k)  turn the whole picture k × 90° clockwise (`rotate_beat(beat, 2k)`).
* M     vertical mirror (x → −x): n and s stay, e↔w, ne↔nw, se↔sw; prop_rot_dir cw↔ccw (no_rot
        stays), a float's prefloat_prop_rot_dir too; motion types and turns stay; in/out stay,
        clock↔counter. (The §4 rule is mirror-symmetric, so end orientations mirror exactly.)
* S     colour swap: the blue and red motions trade places.
* C     complement: pro↔anti (a float's prefloat type too), prop_rot_dir cw↔ccw (statics and
        dashes with turns too), locations and turns unchanged.

M, S and C are involutions and R(4) is the identity; S and C commute with everything, and
M∘R(k) = R(−k)∘M. R, M and S keep every letter; C maps each letter to its complement (A↔B, C→C,
U↔V, W↔X, ...; the full table is in tests/domain/test_cap.py).

CAP types. A CAP of n beats is cut into k equal slices of n/k beats; slice i is gᵢ(slice 0),
beat by beat, where "equal" means the same motion type (and prefloat type), start and end
locations, prop_rot_dir and turns per hand. Orientations are not compared: they follow by
continuity. A CAP must also be circular (it returns to its start) and contain no blank beat.

* One-step types, gᵢ = Tⁱ, i.e. slice i+1 = T(slice i):

  ====================== ================== ====================
  cap_type               halved (2 slices)  quartered (4 slices)
  ====================== ================== ====================
  strict_rotated         T = R(2)           T = R(1)
  rotated_complementary  T = R(2)∘C         T = R(1)∘C
  rotated_swapped        T = R(2)∘S         T = R(1)∘S
  strict_mirrored        T = M              —
  strict_swapped         T = S              —
  strict_complementary   T = C              —
  swapped_complementary  T = S∘C            —
  mirrored_swapped       T = M∘S            —
  mirrored_complementary T = M∘C            —
  ====================== ================== ====================

* "Halving again" (§10.3): mirrored_rotated and mirrored_complementary_rotated. The first half
  H is a rotated CAP of its own (slice_size picks its rotation: halved = Q, R(2)Q; quartered =
  Q, R(1)Q, R(2)Q, R(3)Q) and the whole is H + X(H) with X = M or M∘C. So 4 slices (halved) or
  8 (quartered). H returns to the start, so X(H) continues it only when the vertical mirror
  keeps the start position: alpha1, alpha5, beta1 and beta5. Any other start is refused. The
  order "H = Q + M(Q), whole = H + R(2)(H)" is impossible from every start: Q + M(Q) returns
  to its start, and R(2) moves every position.

slice_size applies to the five rotated types (default halved). Asking quartered for another
type is an InvalidValue on ``slice_size``; those types are always halved, and their `CapKind`
says so.

Generation. The first slice is drawn like a freeform sequence (`random_beat`), its last beat
restricted to the options ending where the next slice must start (g₁ of the start position).
Each hand can stay, dash or shift either way whatever its turns, so every position of the grid
mode is one beat away: no look-ahead or backtracking is ever needed. The other slices are the
transformed first slice, and the whole is normalized.
"""

from __future__ import annotations

import enum
import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

from .enums import FLOAT_TURNS, VALID_TURNS, Location, MotionType, Orientation, RotationDirection
from .errors import InvalidValue
from .generator import check_generation_args, random_beat, rng_id, turn_choices
from .models import BeatData, SequenceData, beat_from_motions, normalize_beats, start_position_beat
from .motions import MotionData, candidate_motions, parse_enum, rotate_motion
from .positions import ALL_POSITIONS, family_of, is_position, locations_of, position_of, rotate_location


class CapType(enum.StrEnum):
    """The generation CAP types of §6.8."""

    STRICT_ROTATED = "strict_rotated"
    STRICT_MIRRORED = "strict_mirrored"
    STRICT_SWAPPED = "strict_swapped"
    STRICT_COMPLEMENTARY = "strict_complementary"
    SWAPPED_COMPLEMENTARY = "swapped_complementary"
    ROTATED_COMPLEMENTARY = "rotated_complementary"
    MIRRORED_SWAPPED = "mirrored_swapped"
    MIRRORED_COMPLEMENTARY = "mirrored_complementary"
    ROTATED_SWAPPED = "rotated_swapped"
    MIRRORED_ROTATED = "mirrored_rotated"
    MIRRORED_COMPLEMENTARY_ROTATED = "mirrored_complementary_rotated"


class SliceSize(enum.StrEnum):
    HALVED = "halved"
    QUARTERED = "quartered"


#: The types whose rotation slice_size chooses.
ROTATED_TYPES: frozenset[CapType] = frozenset((
    CapType.STRICT_ROTATED, CapType.ROTATED_COMPLEMENTARY, CapType.ROTATED_SWAPPED,
    CapType.MIRRORED_ROTATED, CapType.MIRRORED_COMPLEMENTARY_ROTATED,
))


# ---------------------------------------------------------------- motion and beat transforms

_CW, _CCW = RotationDirection.CW, RotationDirection.CCW
_PRO, _ANTI, _FLOAT = MotionType.PRO, MotionType.ANTI, MotionType.FLOAT
_FLIP_ROT: dict[Any, Any] = {_CW: _CCW, _CCW: _CW, RotationDirection.NO_ROT: RotationDirection.NO_ROT, None: None}
_COMPLEMENT_TYPE: dict[Any, Any] = {_PRO: _ANTI, _ANTI: _PRO}
_MIRROR_ORI: dict[Any, Orientation] = {
    Orientation.IN: Orientation.IN, Orientation.OUT: Orientation.OUT,
    Orientation.CLOCK: Orientation.COUNTER, Orientation.COUNTER: Orientation.CLOCK,
}
#: x → −x: the location k × 45° clockwise of north goes to k × 45° counter-clockwise of it.
_MIRROR_LOC: dict[Location, Location] = {loc: rotate_location(Location.N, -i) for i, loc in enumerate(Location)}


def mirror_location(loc: Location) -> Location:
    """``loc`` in the vertical mirror: n, s stay; e↔w, ne↔nw, se↔sw."""
    return _MIRROR_LOC[loc]


def mirror_motion(m: MotionData) -> MotionData:
    """M for one hand: mirrored locations, cw↔ccw, clock↔counter; end orientation recomputed."""
    start_ori = _MIRROR_ORI[m.start_ori]
    return replace(
        m, start_loc=_MIRROR_LOC[m.start_loc], end_loc=_MIRROR_LOC[m.end_loc],
        prop_rot_dir=_FLIP_ROT[m.prop_rot_dir], prefloat_prop_rot_dir=_FLIP_ROT[m.prefloat_prop_rot_dir],
    ).with_start_ori(start_ori)


def complement_motion(m: MotionData) -> MotionData:
    """C for one hand: pro↔anti (a float's prefloat type), cw↔ccw; end orientation recomputed."""
    if m.motion_type == _FLOAT:
        flipped = replace(m, prefloat_motion_type=_COMPLEMENT_TYPE.get(m.prefloat_motion_type, m.prefloat_motion_type),
                          prefloat_prop_rot_dir=_FLIP_ROT[m.prefloat_prop_rot_dir])
    else:
        flipped = replace(m, motion_type=_COMPLEMENT_TYPE.get(m.motion_type, m.motion_type),
                          prop_rot_dir=_FLIP_ROT[m.prop_rot_dir])
    return flipped.with_start_ori(m.start_ori)


@dataclass(frozen=True, slots=True)
class _Sym:
    """An element of the CAP transform group: R(quarters) first, then M, S and C as flagged."""

    quarters: int = 0
    mirror: bool = False
    swap: bool = False
    complement: bool = False

    def after(self, first: _Sym) -> _Sym:
        """self ∘ first (first applied first), using M∘R(k) = R(−k)∘M."""
        quarters = first.quarters + (-self.quarters if first.mirror else self.quarters)
        return _Sym(quarters % 4, self.mirror != first.mirror, self.swap != first.swap,
                    self.complement != first.complement)

    def power(self, n: int) -> _Sym:
        out = _IDENTITY
        for _ in range(n):
            out = self.after(out)
        return out

    def location(self, loc: Location) -> Location:
        loc = rotate_location(loc, 2 * self.quarters)
        return _MIRROR_LOC[loc] if self.mirror else loc

    def position(self, position: str) -> str:
        blue, red = locations_of(position)
        blue, red = self.location(blue), self.location(red)
        return position_of(red, blue) if self.swap else position_of(blue, red)

    def motion(self, m: MotionData) -> MotionData:
        """This element applied to one hand (the swap is a beat-level matter)."""
        if self.quarters:
            m = rotate_motion(m, 2 * self.quarters)
        if self.mirror:
            m = mirror_motion(m)
        if self.complement:
            m = complement_motion(m)
        return m

    def beat(self, beat: BeatData) -> BeatData:
        if beat.is_blank or beat.blue_motion is None or beat.red_motion is None:
            return beat
        blue, red = self.motion(beat.blue_motion), self.motion(beat.red_motion)
        if self.swap:
            blue, red = red, blue
        return beat_from_motions(blue, red, beat_number=beat.beat_number, duration=beat.duration,
                                 metadata=beat.metadata, id=beat.id)


_IDENTITY = _Sym()
_M, _S, _C = _Sym(mirror=True), _Sym(swap=True), _Sym(complement=True)


def _rotation(quarters: int) -> _Sym:
    return _Sym(quarters=quarters % 4)


def mirror_beat(beat: BeatData) -> BeatData:
    """M: the beat in a vertical mirror (module docstring)."""
    return _M.beat(beat)


def swap_beat(beat: BeatData) -> BeatData:
    """S: blue does what red did and red what blue did."""
    return _S.beat(beat)


def complement_beat(beat: BeatData) -> BeatData:
    """C: pro↔anti and cw↔ccw, same locations and turns; the complementary letter."""
    return _C.beat(beat)


# ---------------------------------------------------------------- CAP kinds

@dataclass(frozen=True, slots=True)
class CapKind:
    """A CAP type with its slice size (always halved for the types that do not rotate)."""

    cap_type: CapType
    slice_size: SliceSize

    @property
    def slices(self) -> int:
        """How many slices the sequence is cut into (its length is a multiple of this)."""
        return len(_PATTERNS[self])


_ONE_STEP: dict[CapType, _Sym] = {
    CapType.STRICT_MIRRORED: _M,
    CapType.STRICT_SWAPPED: _S,
    CapType.STRICT_COMPLEMENTARY: _C,
    CapType.SWAPPED_COMPLEMENTARY: _S.after(_C),
    CapType.MIRRORED_SWAPPED: _M.after(_S),
    CapType.MIRRORED_COMPLEMENTARY: _M.after(_C),
}
_ROTATED_WITH: dict[CapType, _Sym] = {
    CapType.STRICT_ROTATED: _IDENTITY, CapType.ROTATED_COMPLEMENTARY: _C, CapType.ROTATED_SWAPPED: _S,
}
_MIRRORED_ROTATED: dict[CapType, _Sym] = {
    CapType.MIRRORED_ROTATED: _M, CapType.MIRRORED_COMPLEMENTARY_ROTATED: _M.after(_C),
}
_QUARTERS = {SliceSize.HALVED: 2, SliceSize.QUARTERED: 1}


def _build_patterns() -> dict[CapKind, tuple[_Sym, ...]]:
    """gᵢ for every kind: slice i = gᵢ(slice 0), g₀ the identity."""
    out: dict[CapKind, tuple[_Sym, ...]] = {}
    for cap_type in CapType:
        for size in SliceSize:
            if cap_type in _ONE_STEP:
                if size is SliceSize.QUARTERED:
                    continue
                step, count = _ONE_STEP[cap_type], 2
            else:
                step, count = _rotation(_QUARTERS[size]), 4 // _QUARTERS[size]
                if cap_type in _ROTATED_WITH:
                    step = step.after(_ROTATED_WITH[cap_type])
            half = tuple(step.power(i) for i in range(count))
            if cap_type in _MIRRORED_ROTATED:
                outer = _MIRRORED_ROTATED[cap_type]
                half = half + tuple(outer.after(g) for g in half)
            out[CapKind(cap_type, size)] = half
    return out


_PATTERNS: dict[CapKind, tuple[_Sym, ...]] = _build_patterns()
ALL_KINDS: tuple[CapKind, ...] = tuple(_PATTERNS)


def cap_kind(cap_type: CapType | str, slice_size: SliceSize | str | None = None) -> CapKind:
    """Validate a (cap_type, slice_size) request; slice_size defaults to halved."""
    cap = parse_enum(CapType, cap_type, "cap_type")
    size = SliceSize.HALVED if slice_size is None else parse_enum(SliceSize, slice_size, "slice_size")
    if size is SliceSize.QUARTERED and cap not in ROTATED_TYPES:
        rotated = ", ".join(t.value for t in CapType if t in ROTATED_TYPES)
        raise InvalidValue("slice_size", "slice_size.not_rotated",
                           f"slice_size quartered applies to the rotated CAP types only ({rotated}); "
                           f"{cap} is always halved")
    return CapKind(cap, size)


def _slice_end(kind: CapKind, start: str) -> str | None:
    """Where the first slice must end for ``kind`` to be continuous from ``start``, or None."""
    pattern = _PATTERNS[kind]
    end = pattern[1].position(start)
    for g, g_next in pairwise(pattern):
        if g_next.position(start) != g.position(end):
            return None
    return end if pattern[-1].position(end) == start else None


@functools.cache
def start_positions_for(kind: CapKind) -> tuple[str, ...]:
    """The start positions a CAP of ``kind`` can be generated from."""
    return tuple(p for p in ALL_POSITIONS if _slice_end(kind, p) is not None)


# ---------------------------------------------------------------- detection

def _hand_key(m: MotionData) -> tuple[Any, ...]:
    return (m.motion_type, m.prefloat_motion_type, m.start_loc, m.end_loc, m.prop_rot_dir, m.turns)


def _all_hands() -> tuple[MotionData, ...]:
    seen: dict[tuple[Any, ...], MotionData] = {}
    for loc in Location:
        for turns in (*VALID_TURNS, FLOAT_TURNS):
            for m in candidate_motions(loc, turns):
                seen.setdefault(_hand_key(m), m)
    return tuple(seen.values())


#: Every legal hand move (464) by its compared fields, numbered, so detection compares ints.
_HANDS: tuple[MotionData, ...] = _all_hands()
_HAND_ID: dict[tuple[Any, ...], int] = {_hand_key(m): i for i, m in enumerate(_HANDS)}


@functools.cache
def _hand_table(sym: _Sym) -> tuple[int, ...]:
    """hand id → id of the same hand under ``sym`` (built by the transforms above, one rule)."""
    return tuple(_HAND_ID[_hand_key(sym.motion(m))] for m in _HANDS)


def _hand_ids(beats: Sequence[BeatData]) -> tuple[list[int], list[int]] | None:
    """(blue ids, red ids), or None when a beat is blank or not made of legal motions."""
    blues: list[int] = []
    reds: list[int] = []
    get = _HAND_ID.get
    for beat in beats:
        b, r = beat.blue_motion, beat.red_motion
        if beat.is_blank or b is None or r is None:
            return None
        bi = get((b.motion_type, b.prefloat_motion_type, b.start_loc, b.end_loc, b.prop_rot_dir, b.turns))
        ri = get((r.motion_type, r.prefloat_motion_type, r.start_loc, r.end_loc, r.prop_rot_dir, r.turns))
        if bi is None or ri is None:
            return None
        blues.append(bi)
        reds.append(ri)
    return blues, reds


@functools.cache
def _steps(kind: CapKind) -> tuple[tuple[bool, tuple[int, ...]], ...]:
    """(swap, hand table) for g₁..g_{k−1} of ``kind``."""
    return tuple((g.swap, _hand_table(replace(g, swap=False))) for g in _PATTERNS[kind][1:])


def _matches(kind: CapKind, blues: list[int], reds: list[int]) -> bool:
    """Slice i equals gᵢ(slice 0) for every i (the caller checked that the slices divide evenly)."""
    steps = _steps(kind)
    size = len(blues) // (len(steps) + 1)
    offset = 0
    for swap, table in steps:
        offset += size
        if swap:
            for j in range(size):
                if blues[offset + j] != table[reds[j]] or reds[offset + j] != table[blues[j]]:
                    return False
        else:
            for j in range(size):
                if blues[offset + j] != table[blues[j]] or reds[offset + j] != table[reds[j]]:
                    return False
    return True


@dataclass(frozen=True)
class CapInfo:
    """What a sequence is as a loop: circular, CAP-able, and which CAP kinds it satisfies."""

    is_circular: bool
    can_be_cap: bool
    kinds: tuple[CapKind, ...] = ()

    def _has(self, cap_type: CapType) -> bool:
        return any(kind.cap_type is cap_type for kind in self.kinds)

    # The five flags the desktop files carry (§6.1), named as there.
    @property
    def is_strict_rotated_CAP(self) -> bool:
        return self._has(CapType.STRICT_ROTATED)

    @property
    def is_strict_mirrored_CAP(self) -> bool:
        return self._has(CapType.STRICT_MIRRORED)

    @property
    def is_strict_swapped_CAP(self) -> bool:
        return self._has(CapType.STRICT_SWAPPED)

    @property
    def is_mirrored_swapped_CAP(self) -> bool:
        return self._has(CapType.MIRRORED_SWAPPED)

    @property
    def is_rotated_swapped_CAP(self) -> bool:
        return self._has(CapType.ROTATED_SWAPPED)


def cap_info(seq: SequenceData) -> CapInfo:
    """§6.8 for ``seq``: is_circular, can_be_cap (ends in its start's family) and every CAP kind it is."""
    filled = [b for b in seq.beats if not b.is_blank]
    if not filled:
        return CapInfo(False, False)
    start = seq.start_position_name or filled[0].start_position
    end = filled[-1].end_position
    if not (is_position(start) and is_position(end)):
        return CapInfo(False, False)
    is_circular = end == start
    can_be_cap = family_of(start) == family_of(end)  # type: ignore[arg-type]
    ids = _hand_ids(seq.beats) if is_circular else None
    if ids is None:
        return CapInfo(is_circular, can_be_cap)
    n = len(seq.beats)
    kinds = tuple(kind for kind, pattern in _PATTERNS.items() if n % len(pattern) == 0 and _matches(kind, *ids))
    return CapInfo(is_circular, can_be_cap, kinds)


# ---------------------------------------------------------------- generation

def generate_circular(
    start_position: str,
    length: int,
    *,
    cap_type: CapType | str,
    slice_size: SliceSize | str | None = None,
    level: int = 1,
    max_turns: float = 1,
    rng: random.Random,
    blue_start_ori: Orientation = Orientation.IN,
    red_start_ori: Orientation = Orientation.IN,
) -> tuple[BeatData, ...]:
    """A random CAP of ``length`` beats from ``start_position`` (beats 1..n, normalized).

    The first slice is random (as `generate_beats` draws beats) and ends where the CAP needs;
    the others are its transforms (module docstring). Raises InvalidValue on ``length`` when it
    is not a multiple of the slice count, on ``slice_size``/``cap_type`` for a bad kind, and on
    ``start_position`` when the kind cannot start there (only the mirrored-rotated types).
    """
    oris = check_generation_args(start_position, length, level, max_turns, rng, blue_start_ori, red_start_ori)
    kind = cap_kind(cap_type, slice_size)
    pattern = _PATTERNS[kind]
    if length % len(pattern):
        raise InvalidValue("length", "length.not_slice_multiple",
                           f"length {length} must be a multiple of {len(pattern)}: "
                           f"a {kind.slice_size} {kind.cap_type} CAP has {len(pattern)} slices")
    target = _slice_end(kind, start_position)
    if target is None:
        allowed = ", ".join(start_positions_for(kind)) or "none"
        raise InvalidValue("start_position", "start_position.not_for_cap_type",
                           f"start_position {start_position} cannot start a {kind.cap_type} CAP: its mirrored "
                           f"half would not continue from it (possible start positions: {allowed})")
    choices = turn_choices(level, max_turns)
    size = length // len(pattern)
    position = start_position
    first: list[BeatData] = []
    for number in range(1, size + 1):
        beat = random_beat(position, oris, choices, first, rng, number,
                           end_position=target if number == size else None)
        first.append(beat)
        position = beat.end_position  # type: ignore[assignment]
        oris = (beat.blue_motion.end_ori, beat.red_motion.end_ori)  # type: ignore[union-attr]
    beats = list(first)
    for g in pattern[1:]:
        beats.extend(replace(g.beat(b), id=rng_id(rng)) for b in first)
    return normalize_beats(start_position_beat(start_position, blue_start_ori, red_start_ori), beats)
