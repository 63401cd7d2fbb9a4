"""Expected data copied from the reference (tka-domain.md) and small helpers shared by the tests.

The code derives all of this from rules; the tests hold the reference's own tables so a wrong
rule shows up as a mismatch against the text, not against itself.
"""

from __future__ import annotations

from itertools import product

from app.domain import MotionData

# §4.1: whole turns. (motion family, parity) -> "unchanged" / "switched".
SWITCH = {"in": "out", "out": "in", "clock": "counter", "counter": "clock"}
WHOLE_TURNS = {
    ("pro", "even"): "unchanged", ("pro", "odd"): "switched",
    ("static", "even"): "unchanged", ("static", "odd"): "switched",
    ("anti", "even"): "switched", ("anti", "odd"): "unchanged",
    ("dash", "even"): "switched", ("dash", "odd"): "unchanged",
}

# §4.2: half turns. start -> (cw 0.5/2.5, cw 1.5, ccw 0.5/2.5, ccw 1.5)
HALF_PRO_STATIC = {
    "in": ("counter", "clock", "clock", "counter"),
    "out": ("clock", "counter", "counter", "clock"),
    "clock": ("in", "out", "out", "in"),
    "counter": ("out", "in", "in", "out"),
}
HALF_ANTI_DASH = {
    "in": ("clock", "counter", "counter", "clock"),
    "out": ("counter", "clock", "clock", "counter"),
    "clock": ("out", "in", "in", "out"),
    "counter": ("in", "out", "out", "in"),
}

# §4.3: float, by handpath. start -> (cw handpath, ccw handpath)
FLOAT_TABLE = {
    "in": ("clock", "counter"),
    "out": ("counter", "clock"),
    "clock": ("out", "in"),
    "counter": ("in", "out"),
}

ORIENTATIONS = ("in", "out", "clock", "counter")
LOCATION_INDEX = {"n": 0, "ne": 1, "e": 2, "se": 3, "s": 4, "sw": 5, "w": 6, "nw": 7}


def table_end_ori(motion_type: str, turns: float, rot: str, start: str) -> str:
    """The end orientation read off the §4.1/§4.2 tables (not the §4.4 formula)."""
    if float(turns).is_integer():
        parity = "even" if int(turns) % 2 == 0 else "odd"
        effect = WHOLE_TURNS[(motion_type, parity)]
        return start if effect == "unchanged" else SWITCH[start]
    table = HALF_PRO_STATIC if motion_type in ("pro", "static") else HALF_ANTI_DASH
    column = (0 if turns in (0.5, 2.5) else 1) + (0 if rot == "cw" else 2)
    return table[start][column]


def table_float_end_ori(start: str, path: str) -> str:
    return FLOAT_TABLE[start][0 if path == "cw" else 1]


def path_of(start: str, end: str) -> str | None:
    """Independent handpath: None for a 45° (odd) step."""
    step = (LOCATION_INDEX[end] - LOCATION_INDEX[start]) % 8
    return {0: "static", 2: "cw", 4: "dash", 6: "ccw"}.get(step)


def is_consistent(m: MotionData) -> bool:
    """An independent statement of the §3 motion rules plus the §4 tables."""
    if m.start_loc not in LOCATION_INDEX or m.end_loc not in LOCATION_INDEX:
        return False
    if m.motion_type not in ("pro", "anti", "float", "dash", "static"):
        return False
    path = path_of(m.start_loc, m.end_loc)
    if path is None:
        return False
    turns = m.turns
    if m.motion_type == "float":
        if turns != "fl" or path not in ("cw", "ccw") or m.prop_rot_dir != "no_rot":
            return False
        if m.prefloat_motion_type not in ("pro", "anti"):
            return False
        if m.prefloat_prop_rot_dir is not None:
            want = path if m.prefloat_motion_type == "pro" else ("ccw" if path == "cw" else "cw")
            if m.prefloat_prop_rot_dir != want:
                return False
        return m.end_ori == table_float_end_ori(m.start_ori, path)
    if isinstance(turns, bool) or not isinstance(turns, (int, float)) or turns not in (0, 0.5, 1, 1.5, 2, 2.5, 3):
        return False
    if m.prefloat_motion_type is not None or m.prefloat_prop_rot_dir is not None:
        return False
    if m.motion_type in ("pro", "anti"):
        if path not in ("cw", "ccw"):
            return False
        want = path if m.motion_type == "pro" else ("ccw" if path == "cw" else "cw")
        if m.prop_rot_dir != want:
            return False
    else:
        if (m.motion_type == "static") != (path == "static") or (m.motion_type == "dash") != (path == "dash"):
            return False
        if (turns == 0) != (m.prop_rot_dir == "no_rot"):
            return False
    return m.end_ori == table_end_ori(m.motion_type, turns, m.prop_rot_dir, m.start_ori)


ALL_TURNS = (0, 0.5, 1, 1.5, 2, 2.5, 3, "fl")
TURN_PAIRS = tuple(product(ALL_TURNS, ALL_TURNS))
