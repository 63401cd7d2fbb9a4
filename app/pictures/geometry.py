"""Where things go on a pictograph: the numbers of shared/reference/tka-pictograph.md §1–3.

Canvas units, origin top-left, y down; angles in degrees clockwise on screen (0 east, 90 south),
as SVG's ``rotate`` reads them. Pure arithmetic over the domain's enums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.domain import GridMode, HandPath, Location, MotionData, MotionType, Orientation, RotationDirection, handpath

CANVAS = 950.0
CENTRE = (475.0, 475.0)
HAND_RADIUS = 143.1  # hand points, both grids (§1.1)
OUTER_RADIUS = 300.0  # outer points (diamond discs, box rings), in line with the hand points

#: The direction from the centre to a location ("out"), §2's angle rule.
OUT_ANGLE: dict[Location, float] = {
    Location.E: 0, Location.SE: 45, Location.S: 90, Location.SW: 135,
    Location.W: 180, Location.NW: 225, Location.N: 270, Location.NE: 315,
}
#: A prop's angle is its hand's "out" direction plus this (§2: in = out + 180, clock = out + 90...).
ORIENTATION_TURN: dict[Orientation, float] = {
    Orientation.OUT: 0, Orientation.CLOCK: 90, Orientation.IN: 180, Orientation.COUNTER: 270,
}
HAND_LOCATIONS: dict[GridMode, tuple[Location, ...]] = {
    GridMode.DIAMOND: (Location.N, Location.E, Location.S, Location.W),
    GridMode.BOX: (Location.NE, Location.SE, Location.SW, Location.NW),
}

#: Beta separation (§2): two props ending on one hand point move apart across their own line, by
#: 950/45 units. Unit directions for red (blue goes the other way), by grid, radial or not, location.
BETA_OFFSET = CANVAS / 45
_D = math.sqrt(0.5)
_RIGHT, _DOWN, _UP = (1.0, 0.0), (0.0, 1.0), (0.0, -1.0)
_BETA_RED: dict[tuple[bool, Location], tuple[float, float]] = {
    (True, Location.N): _RIGHT, (True, Location.S): _RIGHT, (True, Location.E): _DOWN, (True, Location.W): _DOWN,
    (False, Location.N): _UP, (False, Location.E): _RIGHT, (False, Location.S): _DOWN, (False, Location.W): _RIGHT,
    (True, Location.NE): (_D, _D), (True, Location.SW): (_D, _D),
    (True, Location.SE): (_D, -_D), (True, Location.NW): (_D, -_D),
    (False, Location.NE): (_D, -_D), (False, Location.SW): (_D, -_D),
    (False, Location.SE): (_D, _D), (False, Location.NW): (_D, _D),
}
_RADIAL = frozenset((Orientation.IN, Orientation.OUT))

Point = tuple[float, float]


def point_at(loc: Location, radius: float = HAND_RADIUS, centre: Point = CENTRE) -> Point:
    angle = math.radians(OUT_ANGLE[loc])
    return centre[0] + radius * math.cos(angle), centre[1] + radius * math.sin(angle)


def hand_point(loc: Location) -> Point:
    return point_at(loc)


def prop_angle(loc: Location, ori: Orientation) -> float:
    """The angle a staff's cap end points along, for a prop at ``loc`` in orientation ``ori``."""
    return (OUT_ANGLE[loc] + ORIENTATION_TURN[ori]) % 360


@dataclass(frozen=True)
class PropPlacement:
    centre: Point
    angle: float


def place_props(blue: MotionData, red: MotionData) -> tuple[PropPlacement, PropPlacement]:
    """Both props at their hands' end locations and end orientations, pushed apart when they share
    a hand point with parallel staffs (a beta ending)."""
    placements = []
    for motion in (blue, red):
        placements.append(PropPlacement(hand_point(motion.end_loc), prop_angle(motion.end_loc, motion.end_ori)))
    blue_radial, red_radial = blue.end_ori in _RADIAL, red.end_ori in _RADIAL
    if blue.end_loc == red.end_loc and blue_radial == red_radial:
        dx, dy = _BETA_RED[(blue_radial, blue.end_loc)]
        (bx, by), (rx, ry) = placements[0].centre, placements[1].centre
        placements = [PropPlacement((bx - dx * BETA_OFFSET, by - dy * BETA_OFFSET), placements[0].angle),
                      PropPlacement((rx + dx * BETA_OFFSET, ry + dy * BETA_OFFSET), placements[1].angle)]
    return placements[0], placements[1]


@dataclass(frozen=True)
class Arc:
    """A circular arc from ``start`` to ``end`` around ``centre``; ``clockwise`` on screen."""

    start: Point
    end: Point
    centre: Point
    radius: float
    clockwise: bool


@dataclass(frozen=True)
class Line:
    start: Point
    end: Point


def arrow_path(motion: MotionData) -> Arc | Line | None:
    """The path of a hand's arrow, from its start hand point to its end hand point.

    pro and anti: a quarter arc turning in the prop's rotation direction, so pro (spinning with
    the hand) bulges around the centre and anti (against it) bends in towards it; float: a
    straight line (no spin); dash: straight through the centre; static: none (a spin mark, if
    it turns, is ``spin_arc``)."""
    start, end = hand_point(motion.start_loc), hand_point(motion.end_loc)
    kind = motion.motion_type
    if kind in (MotionType.PRO, MotionType.ANTI):
        clockwise = motion.prop_rot_dir == RotationDirection.CW
        handpath_cw = handpath(motion.start_loc, motion.end_loc) == HandPath.CW
        if clockwise == handpath_cw:
            centre = CENTRE
        else:  # the square's fourth corner: the circle through both points that bends inwards
            centre = (start[0] + end[0] - CENTRE[0], start[1] + end[1] - CENTRE[1])
        return Arc(start, end, centre, HAND_RADIUS, clockwise)
    if kind in (MotionType.FLOAT, MotionType.DASH):
        return Line(start, end)
    return None


SPIN_RADIUS = 58.0
SPIN_SWEEP = 270.0


def spin_arc(motion: MotionData) -> Arc | None:
    """A dash or static that turns: a three-quarter circle in the prop's rotation direction,
    around the centre for a dash, around the hand point for a static."""
    turning = motion.prop_rot_dir != RotationDirection.NO_ROT
    if motion.motion_type not in (MotionType.DASH, MotionType.STATIC) or not turning:
        return None
    clockwise = motion.prop_rot_dir == RotationDirection.CW
    centre = CENTRE if motion.motion_type == MotionType.DASH else point_at(motion.start_loc, HAND_RADIUS + 95)
    begin = OUT_ANGLE[motion.start_loc] + 180
    end = begin + (SPIN_SWEEP if clockwise else -SPIN_SWEEP)
    return Arc(_polar(centre, SPIN_RADIUS, begin), _polar(centre, SPIN_RADIUS, end), centre, SPIN_RADIUS, clockwise)


def _polar(centre: Point, radius: float, degrees: float) -> Point:
    a = math.radians(degrees)
    return centre[0] + radius * math.cos(a), centre[1] + radius * math.sin(a)


def end_direction(path: Arc | Line) -> Point:
    """The unit direction of travel where ``path`` ends."""
    if isinstance(path, Line):
        dx, dy = path.end[0] - path.start[0], path.end[1] - path.start[1]
    else:
        rx, ry = path.end[0] - path.centre[0], path.end[1] - path.centre[1]
        dx, dy = (-ry, rx) if path.clockwise else (ry, -rx)
    length = math.hypot(dx, dy)
    return dx / length, dy / length


def label_point(motion: MotionData) -> Point:
    """Where a hand's turns number goes: outside its arrow, away from the centre."""
    if motion.motion_type == MotionType.DASH:
        side = 1 if motion.start_loc in (Location.N, Location.E, Location.NE, Location.SE) else -1
        angle = OUT_ANGLE[motion.start_loc] + 90 * side
        return _polar(CENTRE, 95, angle)
    if motion.motion_type == MotionType.STATIC:
        return point_at(motion.start_loc, HAND_RADIUS + 200)
    quarter = 90 if handpath(motion.start_loc, motion.end_loc) == HandPath.CW else -90
    return _polar(CENTRE, HAND_RADIUS + 120, OUT_ANGLE[motion.start_loc] + quarter / 2)
