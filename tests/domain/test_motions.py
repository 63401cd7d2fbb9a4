"""Motions: the §4 orientation tables, the §3 consistency rules, construction and (de)serialisation."""

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import (
    FLOAT_TURNS, InvalidMotion, InvalidValue, Location, MotionData, MotionType, Orientation,
    RotationDirection, candidate_motions, end_orientation, make_motion, rotate_motion, validate_motion,
)

from .support import (
    FLOAT_TABLE, HALF_ANTI_DASH, HALF_PRO_STATIC, ORIENTATIONS, is_consistent, table_end_ori,
)

N, E, S, W = Location.N, Location.E, Location.S, Location.W
PRO, ANTI, FLOAT, DASH, STATIC = MotionType.PRO, MotionType.ANTI, MotionType.FLOAT, MotionType.DASH, MotionType.STATIC
CW, CCW, NO_ROT = RotationDirection.CW, RotationDirection.CCW, RotationDirection.NO_ROT


def motion_spinning(motion_type: str, rot: str, turns, start_ori: str) -> MotionData:
    """A legal motion of this type whose prop spins ``rot`` (the handpath is chosen to fit)."""
    if motion_type == "pro":
        end = E if rot == "cw" else W
    elif motion_type == "anti":
        end = W if rot == "cw" else E
    elif motion_type == "static":
        end = N
    else:
        end = S
    rot_dir = RotationDirection(rot)
    if motion_type in ("static", "dash") and turns == 0:
        rot_dir = NO_ROT
    return make_motion(MotionType(motion_type), N, end, turns, Orientation(start_ori), rot_dir)


# ---------------------------------------------------------------- §4.1 whole turns

WHOLE_CASES = [
    (mt, turns, rot, start)
    for mt in ("pro", "static", "anti", "dash")
    for turns in (0, 1, 2, 3)
    for rot in ("cw", "ccw")
    for start in ORIENTATIONS
]


@pytest.mark.parametrize(("motion_type", "turns", "rot", "start"), WHOLE_CASES)
def test_whole_turn_table(motion_type, turns, rot, start):
    m = motion_spinning(motion_type, rot, turns, start)
    assert m.end_ori == table_end_ori(motion_type, turns, rot, start)
    assert end_orientation(m) == m.end_ori


def test_whole_turn_table_spot_checks():
    assert motion_spinning("pro", "cw", 0, "in").end_ori == "in"
    assert motion_spinning("pro", "cw", 1, "in").end_ori == "out"
    assert motion_spinning("anti", "cw", 0, "in").end_ori == "out"
    assert motion_spinning("anti", "ccw", 1, "clock").end_ori == "clock"
    assert motion_spinning("dash", "cw", 0, "counter").end_ori == "clock"
    assert motion_spinning("static", "ccw", 3, "clock").end_ori == "counter"


# ---------------------------------------------------------------- §4.2 half turns

def _half_cases(table, motion_types):
    for mt in motion_types:
        for start, row in table.items():
            for column, (rot, turn_values) in enumerate(
                [("cw", (0.5, 2.5)), ("cw", (1.5,)), ("ccw", (0.5, 2.5)), ("ccw", (1.5,))]
            ):
                for turns in turn_values:
                    yield mt, turns, rot, start, row[column]


HALF_CASES = [*_half_cases(HALF_PRO_STATIC, ("pro", "static")), *_half_cases(HALF_ANTI_DASH, ("anti", "dash"))]


@pytest.mark.parametrize(("motion_type", "turns", "rot", "start", "expected"), HALF_CASES)
def test_half_turn_tables(motion_type, turns, rot, start, expected):
    assert motion_spinning(motion_type, rot, turns, start).end_ori == expected


# ---------------------------------------------------------------- §4.3 floats

FLOAT_CASES = [
    (prefloat, start, path, FLOAT_TABLE[start][0 if path == "cw" else 1])
    for prefloat in ("pro", "anti")
    for start in ORIENTATIONS
    for path in ("cw", "ccw")
]


@pytest.mark.parametrize(("prefloat", "start", "path", "expected"), FLOAT_CASES)
def test_float_table_uses_the_handpath(prefloat, start, path, expected):
    end = E if path == "cw" else W  # from N
    m = make_motion(MotionType(prefloat), N, end, FLOAT_TURNS, Orientation(start))
    assert m.motion_type == FLOAT and m.turns == "fl" and m.prop_rot_dir == NO_ROT
    assert m.prefloat_motion_type == prefloat
    assert m.end_ori == expected


def test_float_keeps_prefloat_type_and_direction():
    m = make_motion(ANTI, N, E, "fl")
    assert m.prefloat_motion_type == ANTI and m.prefloat_prop_rot_dir == CCW
    assert m.effective_motion_type == ANTI and m.is_shift and m.is_float
    assert make_motion(PRO, S, W).effective_motion_type == PRO
    assert not make_motion(DASH, S, N).is_shift


def test_with_start_ori_recomputes_end_ori():
    m = make_motion(PRO, N, E, 0.5, Orientation.IN)
    assert m.end_ori == Orientation.COUNTER
    moved = m.with_start_ori(Orientation.OUT)
    assert moved.start_ori == Orientation.OUT and moved.end_ori == Orientation.CLOCK
    validate_motion(moved)


def test_rotate_motion_moves_locations_only():
    m = make_motion(ANTI, N, E, 1.5, Orientation.CLOCK)
    turned = rotate_motion(m, 1)
    assert (turned.start_loc, turned.end_loc) == (Location.NE, Location.SE)
    assert (turned.turns, turned.start_ori, turned.end_ori, turned.prop_rot_dir) == (1.5, m.start_ori, m.end_ori, m.prop_rot_dir)
    validate_motion(turned)


# ---------------------------------------------------------------- §3 rules

@pytest.mark.parametrize(("motion", "field", "rule"), [
    (MotionData(PRO, CW, N, N), "end_loc", "pro.not_quarter"),
    (MotionData(ANTI, CW, N, E, end_ori=Orientation.OUT), "prop_rot_dir", "anti.prop_rot_dir"),
    (MotionData(PRO, CCW, N, E), "prop_rot_dir", "pro.prop_rot_dir"),
    (MotionData(PRO, CW, N, E, turns=0.7), "turns", "turns.not_allowed"),
    (MotionData(PRO, CW, N, E, turns=-1), "turns", "turns.not_allowed"),
    (MotionData(PRO, CW, N, E, turns=3.5), "turns", "turns.not_allowed"),
    (MotionData(PRO, CW, N, E, turns=True), "turns", "turns.not_allowed"),
    (MotionData(DASH, NO_ROT, N, S, turns="fl"), "turns", "turns.float_only"),
    (MotionData(STATIC, NO_ROT, N, E), "end_loc", "static.must_stay"),
    (MotionData(DASH, NO_ROT, N, E), "end_loc", "dash.must_cross"),
    (MotionData(STATIC, CW, N, N), "prop_rot_dir", "prop_rot_dir.must_be_no_rot"),
    (MotionData(DASH, NO_ROT, N, S, turns=1), "prop_rot_dir", "prop_rot_dir.required"),
    (MotionData(PRO, CW, N, Location.NE), "end_loc", "end_loc.grid_mode"),
    (MotionData(FLOAT, NO_ROT, N, E, turns=0, prefloat_motion_type=PRO), "turns", "turns.float_requires_fl"),
    (MotionData(FLOAT, CW, N, E, turns="fl", prefloat_motion_type=PRO), "prop_rot_dir", "float.prop_rot_dir"),
    (MotionData(FLOAT, NO_ROT, N, S, turns="fl", prefloat_motion_type=PRO), "end_loc", "float.not_quarter"),
    (MotionData(FLOAT, NO_ROT, N, E, turns="fl", prefloat_motion_type=DASH), "prefloat_motion_type", "prefloat.required"),
    (MotionData(FLOAT, NO_ROT, N, E, turns="fl", prefloat_motion_type=PRO, prefloat_prop_rot_dir=CCW),
     "prefloat_prop_rot_dir", "prefloat.prop_rot_dir"),
    (MotionData(PRO, CW, N, E, end_ori=Orientation.OUT), "end_ori", "end_ori.mismatch"),
    (MotionData(PRO, CW, N, E, prefloat_motion_type=PRO), "prefloat_motion_type", "prefloat.only_float"),
    (MotionData("spin", CW, N, E), "motion_type", "motion_type.unknown"),
    (MotionData(PRO, CW, "north", E), "start_loc", "start_loc.unknown"),
])
def test_validate_motion_names_field_and_rule(motion, field, rule):
    with pytest.raises(InvalidMotion) as info:
        validate_motion(motion)
    assert (info.value.field, info.value.rule) == (field, rule)
    assert field in info.value.message
    assert info.value.code == "invalid_motion"


def test_float_without_prefloat_direction_is_accepted():
    m = MotionData(FLOAT, NO_ROT, N, E, turns="fl", end_ori=Orientation.CLOCK, prefloat_motion_type=ANTI)
    validate_motion(m)


@pytest.mark.parametrize(("kwargs", "field"), [
    (dict(motion_type=PRO, start_loc=N, end_loc=N), "end_loc"),
    (dict(motion_type=PRO, start_loc=N, end_loc=E, turns=0.7), "turns"),
    (dict(motion_type=DASH, start_loc=N, end_loc=S, turns="fl"), "turns"),
    (dict(motion_type=STATIC, start_loc=N, end_loc=N, turns="fl"), "turns"),
    (dict(motion_type=DASH, start_loc=N, end_loc=S, turns=1), "prop_rot_dir"),
    (dict(motion_type=PRO, start_loc=N, end_loc=Location.NE), "end_loc"),
    (dict(motion_type=ANTI, start_loc=N, end_loc=E, prop_rot_dir=CW), "prop_rot_dir"),
])
def test_make_motion_rejects_bad_input(kwargs, field):
    with pytest.raises(InvalidMotion) as info:
        make_motion(**kwargs)
    assert info.value.field == field


def test_make_motion_derives_directions():
    assert make_motion(PRO, N, E).prop_rot_dir == CW
    assert make_motion(ANTI, N, E).prop_rot_dir == CCW
    assert make_motion(STATIC, N, N).prop_rot_dir == NO_ROT
    assert make_motion(DASH, N, S, 2, prop_rot_dir=CCW).end_ori == Orientation.OUT
    assert make_motion(FLOAT, N, W, prefloat_motion_type=PRO).prefloat_prop_rot_dir == CCW


def test_candidate_motions_cover_every_move_in_fixed_order():
    moves = candidate_motions(N, 0)
    assert [(m.motion_type, m.end_loc, m.prop_rot_dir) for m in moves] == [
        (STATIC, N, NO_ROT), (DASH, S, NO_ROT), (PRO, E, CW), (PRO, W, CCW), (ANTI, E, CCW), (ANTI, W, CW),
    ]
    spun = candidate_motions(Location.NE, 1, Orientation.OUT)
    assert [(m.motion_type, m.prop_rot_dir) for m in spun[:4]] == [(STATIC, CW), (STATIC, CCW), (DASH, CW), (DASH, CCW)]
    floated = candidate_motions(N, "fl")
    assert [m.turns for m in floated] == [0, 0, "fl", "fl", "fl", "fl"]  # static/dash given "fl" get 0
    for m in (*moves, *spun, *floated):
        validate_motion(m)


# ---------------------------------------------------------------- serialisation

def test_motion_dict_round_trip_and_shape():
    m = make_motion(ANTI, N, E, "fl", Orientation.CLOCK)
    d = m.to_dict()
    assert d == {
        "motion_type": "float", "prop_rot_dir": "no_rot", "start_loc": "n", "end_loc": "e", "turns": "fl",
        "start_ori": "clock", "end_ori": "out", "prefloat_motion_type": "anti", "prefloat_prop_rot_dir": "ccw",
    }
    assert MotionData.from_dict(json.loads(json.dumps(d))) == m
    assert make_motion(PRO, N, E, 1.0).to_dict()["turns"] == 1


@pytest.mark.parametrize(("patch", "field"), [
    ({"start_loc": "north"}, "start_loc"),
    ({"end_loc": 3}, "end_loc"),
    ({"motion_type": "spin"}, "motion_type"),
    ({"turns": "two"}, "turns"),
    ({"start_ori": "up"}, "start_ori"),
])
def test_motion_from_dict_rejects_unknown_values(patch, field):
    d = {**make_motion(PRO, N, E).to_dict(), **patch}
    with pytest.raises(InvalidValue) as info:
        MotionData.from_dict(d)
    assert info.value.field == field and field in info.value.message


def test_motion_from_dict_requires_core_fields():
    d = make_motion(PRO, N, E).to_dict()
    del d["end_loc"]
    with pytest.raises(InvalidValue) as info:
        MotionData.from_dict(d)
    assert info.value.field == "end_loc"


# ---------------------------------------------------------------- property: validator == independent predicate

def _valid_motions():
    return st.builds(
        lambda loc, turns, ori, i: candidate_motions(loc, turns, ori)[i % len(candidate_motions(loc, turns, ori))],
        st.sampled_from(list(Location)), st.sampled_from([0, 0.5, 1, 1.5, 2, 2.5, 3, "fl"]),
        st.sampled_from(list(Orientation)), st.integers(0, 20),
    )


_FIELD_VALUES = {
    "motion_type": st.sampled_from([*MotionType, "spin"]),
    "prop_rot_dir": st.sampled_from(list(RotationDirection)),
    "start_loc": st.sampled_from(list(Location)),
    "end_loc": st.sampled_from(list(Location)),
    "turns": st.sampled_from([0, 0.5, 1, 1.5, 2, 2.5, 3, "fl", 0.7, -1, 3.5, 4]),
    "start_ori": st.sampled_from(list(Orientation)),
    "end_ori": st.sampled_from(list(Orientation)),
    "prefloat_motion_type": st.sampled_from([None, *MotionType]),
    "prefloat_prop_rot_dir": st.sampled_from([None, *RotationDirection]),
}


@st.composite
def _mutated(draw):
    m = draw(_valid_motions())
    for name in draw(st.lists(st.sampled_from(sorted(_FIELD_VALUES)), max_size=2, unique=True)):
        m = replace(m, **{name: draw(_FIELD_VALUES[name])})
    return m


_random_motions = st.builds(MotionData, **_FIELD_VALUES)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_mutated(), _random_motions))
def test_validator_accepts_exactly_the_consistent_motions(m):
    expected = is_consistent(m)
    try:
        validate_motion(m)
        accepted = True
    except InvalidMotion as exc:
        accepted = False
        assert exc.field in _FIELD_VALUES
    assert accepted == expected, m
