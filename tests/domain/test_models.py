"""Beats and sequences: construction, word, level, circularity, continuity, reversals, JSON."""

import json
from dataclasses import replace

import pytest

from app.domain import (
    BeatData, Discontinuity, DomainError, GridMode, InvalidMotion, InvalidValue, LetterType, Location,
    MotionData, MotionType, NoLetterFits, Orientation, RotationDirection, SequenceData, Timing,
    UnknownLetter, beat_from_motions, blank_beat, collapse_word, make_motion, motion_pairs_from,
    normalize_beats, rotate_beat, start_position_beat, validate_name,
)

N, E, S, W = Location.N, Location.E, Location.S, Location.W
PRO, ANTI, STATIC, DASH = MotionType.PRO, MotionType.ANTI, MotionType.STATIC, MotionType.DASH
IN, OUT, CLOCK = Orientation.IN, Orientation.OUT, Orientation.CLOCK


def chain(start: BeatData, *picks, turns=(0, 0)) -> tuple[BeatData, ...]:
    """Beats from ``start``, each the first option the predicate accepts, orientations continued."""
    beats = []
    position = start.end_position
    oris = (start.blue_motion.end_ori, start.red_motion.end_ori)
    for i, pick in enumerate(picks, start=1):
        t = turns[i - 1] if isinstance(turns, list) else turns
        b, r, _ = next(o for o in motion_pairs_from(position, *oris, *t) if pick(*o))
        beat = beat_from_motions(b, r, beat_number=i)
        beats.append(beat)
        position, oris = beat.end_position, (b.end_ori, r.end_ori)
    return tuple(beats)


def letter(x):
    return lambda b, r, info: info.letter == x


# ---------------------------------------------------------------- beats

def test_beat_from_motions_derives_everything():
    beat = beat_from_motions(make_motion(PRO, W, N), make_motion(PRO, E, S), beat_number=3, duration=2, metadata={"k": 1})
    assert (beat.letter, beat.letter_type, beat.start_position, beat.end_position) == ("A", LetterType.TYPE1, "alpha3", "alpha5")
    assert (beat.timing, beat.direction, beat.beat_number, beat.duration) == ("split", "same", 3, 2)
    assert beat.metadata == {"k": 1} and not beat.is_blank and len(beat.id) == 36


def test_beat_from_motions_reroots_motion_errors():
    bad = MotionData(PRO, RotationDirection.CW, E, S, turns=0.7)
    with pytest.raises(InvalidMotion) as info:
        beat_from_motions(make_motion(PRO, W, N), bad)
    assert info.value.field == "red_motion.turns" and info.value.message.startswith("red_motion.turns")
    with pytest.raises(InvalidMotion) as info:
        beat_from_motions(MotionData(DASH, RotationDirection.NO_ROT, N, S, turns="fl"), make_motion(PRO, E, S))
    assert info.value.field == "blue_motion.turns"


@pytest.mark.parametrize("duration", [0, -1, 65, "1", None])
def test_beat_duration_range(duration):
    with pytest.raises(InvalidValue) as info:
        beat_from_motions(make_motion(PRO, W, N), make_motion(PRO, E, S), duration=duration)
    assert info.value.field == "duration"


def test_beat_from_motions_with_no_letter():
    with pytest.raises(NoLetterFits) as info:
        beat_from_motions(make_motion(PRO, N, E), make_motion(PRO, Location.NE, Location.SE))
    assert info.value.field == "beat"


def test_blank_and_start_position_beats():
    blank = blank_beat(4, id="b")
    assert (blank.is_blank, blank.blue_motion, blank.letter, blank.beat_number, blank.id) == (True, None, None, 4, "b")
    start = start_position_beat("gamma11", OUT, CLOCK)
    assert (start.beat_number, start.letter, start.start_position, start.end_position) == (0, "\u0393", "gamma11", "gamma11")
    assert (start.blue_motion.start_loc, start.red_motion.start_loc) == (S, E)
    assert (start.blue_motion.end_ori, start.red_motion.end_ori) == (OUT, CLOCK)
    assert start.blue_motion.prop_rot_dir == "no_rot" and start.blue_motion.turns == 0
    assert start_position_beat("beta4").letter == "\u03b2"


def test_rotate_beat_keeps_letter_and_turns_positions():
    beat = beat_from_motions(make_motion(ANTI, S, W), make_motion(PRO, E, S))
    assert beat.letter == "V"
    quarter = rotate_beat(beat, 2)
    assert (quarter.letter, quarter.start_position, quarter.end_position) == ("V", "gamma13", "gamma15")
    eighth = rotate_beat(beat, 1)
    assert (eighth.letter, eighth.start_position) == ("V", "gamma12")
    assert rotate_beat(blank_beat(1), 2).is_blank


# ---------------------------------------------------------------- names and words

def test_validate_name():
    assert validate_name("  My flow  ") == "My flow"
    assert validate_name("x" * 100) == "x" * 100
    for bad in ("", "   ", "x" * 101, None, 5):
        with pytest.raises(InvalidValue) as info:
            validate_name(bad)
        assert info.value.field == "name"


@pytest.mark.parametrize(("letters", "word"), [
    (list("AABBAABB"), "AABB"), (["W-", "W-"], "W-"), ([], ""), (list("ABC"), "ABC"), (list("ABAB"), "AB"),
    (list("AAAA"), "A"), (["\u03a3-", "A", "\u03a3-", "A"], "\u03a3-A"), (list("ABA"), "ABA"),
    (["W", "-", "W", "-"], "W-"),
])
def test_collapse_word(letters, word):
    assert collapse_word(letters) == word


# ---------------------------------------------------------------- sequence properties

def test_sequence_properties():
    start = start_position_beat("alpha3")
    beats = chain(start, letter("A"), letter("A"), letter("A"), letter("A"))  # A twice around = back home
    seq = SequenceData(id="s", name="n", beats=beats, start_position=start)
    assert (seq.length, seq.word, seq.level) == (4, "A", 1)
    assert seq.start_position_name == "alpha3"
    assert seq.end_position == beats[-1].end_position
    assert seq.is_circular == (beats[-1].end_position == "alpha3")
    assert seq.grid_mode == GridMode.DIAMOND
    assert seq.end_orientations == (beats[-1].blue_motion.end_ori, beats[-1].red_motion.end_ori)


def test_empty_sequence_properties():
    seq = SequenceData(id="s", name="n")
    assert (seq.length, seq.word, seq.level, seq.is_circular, seq.grid_mode) == (0, "", 1, False, GridMode.DIAMOND)
    assert (seq.start_position_name, seq.end_position, seq.end_orientations) == (None, None, (IN, IN))
    with_start = SequenceData(id="s", name="n", start_position=start_position_beat("beta4", OUT, CLOCK))
    assert (with_start.end_position, with_start.grid_mode, with_start.end_orientations) == ("beta4", GridMode.BOX, (OUT, CLOCK))
    assert not with_start.is_circular


def test_circular_without_start_position_compares_with_first_beat():
    start = start_position_beat("alpha1")
    beats = chain(start, letter("\u03a6-"), letter("\u03a6-"))  # dash twice: there and back
    assert SequenceData(id="s", name="n", beats=beats).is_circular
    assert not SequenceData(id="s", name="n", beats=beats[:1]).is_circular
    blanks = (blank_beat(1),) + beats + (blank_beat(4),)
    assert SequenceData(id="s", name="n", beats=blanks, start_position=start).is_circular


def test_level():
    start = start_position_beat("alpha1")
    flat = chain(start, letter("A"), letter("B"))
    assert SequenceData(id="s", name="n", beats=flat).level == 1
    whole = chain(start, letter("A"), letter("B"), turns=(1, 0))
    assert SequenceData(id="s", name="n", beats=whole).level == 2
    half = chain(start, letter("A"), turns=(0.5, 0))
    assert SequenceData(id="s", name="n", beats=half).level == 3
    floated = chain(start, letter("A"), turns=("fl", 0))
    assert SequenceData(id="s", name="n", beats=floated).level == 3


def test_word_skips_blanks_and_start_position():
    start = start_position_beat("alpha1")
    beats = chain(start, letter("A"), letter("B"), letter("A"), letter("B"))
    seq = SequenceData(id="s", name="n", beats=(beats[0], blank_beat(2), *beats[1:]), start_position=start)
    assert seq.word == "AB"


# ---------------------------------------------------------------- normalize_beats

def test_normalize_propagates_orientations_and_renumbers():
    start = start_position_beat("alpha1")
    beats = chain(start, letter("A"), letter("C"), turns=(0.5, 1))
    moved_start = start_position_beat("alpha1", CLOCK, OUT)
    out = normalize_beats(moved_start, (beats[0], blank_beat(9), replace(beats[1], beat_number=7)))
    assert [b.beat_number for b in out] == [1, 2, 3]
    assert out[1].is_blank
    assert (out[0].blue_motion.start_ori, out[0].red_motion.start_ori) == (CLOCK, OUT)
    assert (out[2].blue_motion.start_ori, out[2].red_motion.start_ori) == (out[0].blue_motion.end_ori, out[0].red_motion.end_ori)
    for beat in (out[0], out[2]):
        assert beat_from_motions(beat.blue_motion, beat.red_motion).letter == beat.letter  # still valid


def test_normalize_detects_discontinuity():
    start = start_position_beat("alpha1")
    beats = chain(start, letter("A"), letter("B"))
    stranger = chain(start_position_beat("gamma1"), letter("M"))[0]
    with pytest.raises(Discontinuity) as info:
        normalize_beats(start, (beats[0], blank_beat(2), stranger))
    err = info.value
    assert err.field == "beats[2].start_position" and err.code == "discontinuity"
    assert "gamma1" in err.message and beats[0].end_position in err.message
    with pytest.raises(Discontinuity) as info:
        normalize_beats(start_position_beat("beta1"), beats)
    assert info.value.field == "beats[0].start_position" and "beta1" in info.value.message
    once = normalize_beats(start, beats)
    assert normalize_beats(None, beats) == once == normalize_beats(start, once)
    assert [(b.blue_motion, b.red_motion) for b in once] == [(b.blue_motion, b.red_motion) for b in beats]


def _dirs(beats, colour):
    return [getattr(b, f"{colour}_motion").prop_rot_dir for b in beats]


def test_reversals_follow_last_real_direction():
    start = start_position_beat("alpha3")  # blue w, red e
    pro_cw = lambda m: m.motion_type == PRO and m.prop_rot_dir == "cw"  # noqa: E731
    pro_ccw = lambda m: m.motion_type == PRO and m.prop_rot_dir == "ccw"  # noqa: E731
    still = lambda m: m.motion_type == STATIC  # noqa: E731
    beats = chain(
        start,
        lambda b, r, i: pro_cw(b) and pro_cw(r),
        lambda b, r, i: still(b) and pro_cw(r),
        lambda b, r, i: pro_ccw(b) and pro_cw(r),
        lambda b, r, i: pro_ccw(b) and pro_ccw(r),
    )
    out = normalize_beats(start, beats)
    assert _dirs(out, "blue") == ["cw", "no_rot", "ccw", "ccw"]
    assert [b.blue_reversal for b in out] == [False, False, True, False]
    assert [b.red_reversal for b in out] == [False, False, False, True]


def test_floats_do_not_count_as_a_direction():
    start = start_position_beat("alpha3")
    cw = lambda b, r, i: b.effective_motion_type == PRO and r.motion_type == STATIC and (b.prefloat_prop_rot_dir or b.prop_rot_dir) == "cw"  # noqa: E731
    ccw = lambda b, r, i: b.motion_type == PRO and r.motion_type == STATIC and b.prop_rot_dir == "ccw"  # noqa: E731
    beats = chain(start, cw, cw, ccw, turns=[(0, 0), ("fl", 0), (0, 0)])
    assert beats[1].blue_motion.motion_type == "float"
    out = normalize_beats(start, beats)
    assert [b.blue_reversal for b in out] == [False, False, True]
    beats = chain(start, cw, cw, cw, turns=[(0, 0), ("fl", 0), (0, 0)])
    assert not any(b.blue_reversal for b in normalize_beats(start, beats))


# ---------------------------------------------------------------- JSON round trips

def test_beat_and_sequence_round_trip_through_json():
    start = start_position_beat("alpha1", OUT, IN)
    beats = chain(start, letter("A"), letter("C"), turns=[("fl", 1), (0.5, 2)])
    seq = SequenceData(
        id="seq-1", name="Round", beats=(beats[0], blank_beat(2), beats[1]), start_position=start,
        metadata={"author": "me"}, version=7, created_at="2024-01-01T00:00:00Z", updated_at="2024-01-02T00:00:00Z",
    )
    d = json.loads(json.dumps(seq.to_dict()))
    assert d["word"] == seq.word and d["level"] == 3 and d["length"] == 3
    back = SequenceData.from_dict(d)
    assert back == seq
    d.update(word="nonsense", level=99, is_circular=True, length=0)  # derived fields are ignored
    assert SequenceData.from_dict(d) == seq
    for beat in seq.beats:
        assert BeatData.from_dict(json.loads(json.dumps(beat.to_dict()))) == beat


def test_from_dict_reports_nested_fields():
    beat = chain(start_position_beat("alpha1"), letter("A"))[0]
    d = beat.to_dict()
    d["blue_motion"]["start_loc"] = "north"
    with pytest.raises(InvalidValue) as info:
        BeatData.from_dict(d)
    assert info.value.field == "blue_motion.start_loc"
    seq = {"id": "s", "name": "n", "beats": [beat.to_dict(), d]}
    with pytest.raises(InvalidValue) as info:
        SequenceData.from_dict(seq)
    assert info.value.field == "beats[1].blue_motion.start_loc"
    with pytest.raises(UnknownLetter):
        BeatData.from_dict({**beat.to_dict(), "letter": "\u0398"})
    with pytest.raises(InvalidValue) as info:
        BeatData.from_dict({**beat.to_dict(), "end_position": "alpha9"})
    assert info.value.field == "end_position"
    with pytest.raises(InvalidValue) as info:
        SequenceData.from_dict({"name": "n"})
    assert info.value.field == "id"


# ---------------------------------------------------------------- errors

def test_domain_error_under_and_codes():
    err = InvalidMotion("turns", "turns.not_allowed", "turns 0.7 must be one of ...")
    moved = err.under("beat.blue_motion")
    assert type(moved) is InvalidMotion and moved.code == "invalid_motion"
    assert (moved.field, moved.rule, moved.message) == ("beat.blue_motion.turns", "turns.not_allowed", "beat.blue_motion.turns 0.7 must be one of ...")
    assert isinstance(moved, DomainError) and str(moved) == moved.message
    assert DomainError.code == "domain_rule_violation"
    assert [c.code for c in (Discontinuity, NoLetterFits, UnknownLetter, InvalidValue)] == [
        "discontinuity", "no_letter_fits", "unknown_letter", "invalid_value",
    ]
    import pickle
    again = pickle.loads(pickle.dumps(moved))
    assert (type(again), again.field, again.rule) == (InvalidMotion, moved.field, moved.rule)


def test_beat_defaults():
    beat = BeatData(beat_number=1, blue_motion=None, red_motion=None)
    assert (beat.timing, beat.duration, beat.is_blank, beat.metadata) == (Timing.NONE, 1.0, False, {})
    assert beat.id != BeatData(beat_number=1, blue_motion=None, red_motion=None).id


