"""The Kinetic Alphabet's vocabulary as string enums.

Values are the lowercase strings of the reference (tka-domain.md §1–5), so an enum member
serialises to exactly what the legacy files and the API carry, and compares equal to it.
"""

from __future__ import annotations

import enum


class MotionType(enum.StrEnum):
    PRO = "pro"
    ANTI = "anti"
    FLOAT = "float"
    DASH = "dash"
    STATIC = "static"


class RotationDirection(enum.StrEnum):
    CW = "cw"
    CCW = "ccw"
    NO_ROT = "no_rot"


class Location(enum.StrEnum):
    """Hand locations, declared in clockwise 45° order starting at north."""

    N = "n"
    NE = "ne"
    E = "e"
    SE = "se"
    S = "s"
    SW = "sw"
    W = "w"
    NW = "nw"


class Orientation(enum.StrEnum):
    IN = "in"
    OUT = "out"
    CLOCK = "clock"
    COUNTER = "counter"


class GridMode(enum.StrEnum):
    DIAMOND = "diamond"
    BOX = "box"


class HandPath(enum.StrEnum):
    CW = "cw"
    CCW = "ccw"
    DASH = "dash"
    STATIC = "static"


class LetterType(enum.StrEnum):
    TYPE1 = "Type1"
    TYPE2 = "Type2"
    TYPE3 = "Type3"
    TYPE4 = "Type4"
    TYPE5 = "Type5"
    TYPE6 = "Type6"


class Timing(enum.StrEnum):
    SPLIT = "split"
    TOG = "tog"
    QUARTER = "quarter"
    NONE = "none"


class Direction(enum.StrEnum):
    SAME = "same"
    OPP = "opp"
    NONE = "none"


class Family(enum.StrEnum):
    ALPHA = "alpha"
    BETA = "beta"
    GAMMA = "gamma"


#: Turns are counted in half units (§3.2); "fl" is reserved for floats.
VALID_TURNS: tuple[float, ...] = (0, 0.5, 1, 1.5, 2, 2.5, 3)
FLOAT_TURNS = "fl"
