"""Property tests across modules: rotation invariance, option lists, broken chains, round trips."""

import json
import random

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.domain import (
    ALL_POSITIONS, LETTERS, BeatData, Discontinuity, MotionData, NoLetterFits, Orientation, SequenceData,
    beat_from_motions, blank_beat, collapse_word, generate_beats, identify, motion_pairs_for,
    motion_pairs_from, normalize_beats, rotate_beat, rotate_position, start_position_beat, validate_motion,
)

TURNS = st.sampled_from([0, 0.5, 1, 1.5, 2, 2.5, 3, "fl"])
ORIS = st.sampled_from(list(Orientation))
FAST = settings(max_examples=60, deadline=None)


@st.composite
def beats(draw):
    position = draw(st.sampled_from(ALL_POSITIONS))
    options = motion_pairs_from(position, draw(ORIS), draw(ORIS), draw(TURNS), draw(TURNS))
    blue, red, _ = draw(st.sampled_from(options))
    return beat_from_motions(blue, red)


@FAST
@given(beats(), st.sampled_from([1, 2, -1, -2, 3, 4]))
def test_turning_a_beat_keeps_its_letter(beat, steps):
    turned = rotate_beat(beat, steps)
    assert turned.letter == beat.letter
    assert turned.start_position == rotate_position(beat.start_position, steps)
    assert turned.end_position == rotate_position(beat.end_position, steps)
    rebuilt = beat_from_motions(turned.blue_motion, turned.red_motion)  # still valid motions
    assert rebuilt.letter == beat.letter
    if steps % 4 == 0:  # a half turn keeps VTG labels (a quarter turn swaps split and tog)
        assert (turned.timing, turned.direction) == (beat.timing, beat.direction)
    assert rotate_beat(turned, -steps) == beat


@FAST
@given(st.sampled_from([s.letter for s in LETTERS]), st.sampled_from(ALL_POSITIONS), ORIS, ORIS, TURNS, TURNS)
def test_motion_pairs_for_gives_only_that_letter(letter, position, bo, ro, bt, rt):
    try:
        pairs = motion_pairs_for(letter, position, bo, ro, bt, rt)
    except NoLetterFits as exc:
        assert exc.field == "letter"
        assert letter not in {info.letter for *_, info in motion_pairs_from(position, bo, ro, bt, rt)}
        return
    assert pairs and len(set(pairs)) == len(pairs)
    for blue, red in pairs:
        validate_motion(blue)
        validate_motion(red)
        info = identify(blue, red)
        assert info.letter == letter and info.start_position == position
        assert (blue.start_ori, red.start_ori) == (bo, ro)
    assert pairs == motion_pairs_for(letter, position, bo, ro, bt, rt)  # deterministic order


@FAST
@given(st.sampled_from(ALL_POSITIONS), st.integers(2, 12), st.integers(0, 2**32), st.data())
def test_a_broken_chain_raises_discontinuity(position, length, seed, data):
    chain = list(generate_beats(position, length, rng=random.Random(seed)))
    i = data.draw(st.integers(1, length - 1))
    previous_end = chain[i - 1].end_position
    elsewhere = [p for p in ALL_POSITIONS if p != previous_end]
    other_start = data.draw(st.sampled_from(elsewhere))
    chain[i] = generate_beats(other_start, 1, rng=random.Random(seed))[0]
    if data.draw(st.booleans()):
        chain.insert(i, blank_beat(0))  # blanks are skipped, the break is still found
        i += 1
    try:
        normalize_beats(start_position_beat(position), chain)
    except Discontinuity as exc:
        assert exc.field == f"beats[{i}].start_position"
        assert other_start in exc.message and previous_end in exc.message
    else:
        raise AssertionError("discontinuity not detected")


@FAST
@given(st.lists(st.sampled_from([s.letter for s in LETTERS]), max_size=6), st.integers(1, 4))
def test_collapsing_a_repeated_word_gives_the_collapsed_unit(unit, times):
    assert collapse_word(unit * times) == collapse_word(unit)
    collapsed = collapse_word(unit)
    if unit:
        assert "".join(unit) == collapsed * ("".join(unit).count(collapsed) if collapsed else 0)


@FAST
@given(st.sampled_from(ALL_POSITIONS), st.integers(1, 10), st.integers(1, 3), st.integers(0, 2**32), ORIS, ORIS,
       st.lists(st.integers(0, 10), max_size=3))
def test_sequences_round_trip_through_json(position, length, level, seed, bo, ro, blank_at):
    beats = list(generate_beats(position, length, level=level, max_turns=2, rng=random.Random(seed),
                                blue_start_ori=bo, red_start_ori=ro))
    for k in blank_at:
        beats.insert(min(k, len(beats)), blank_beat(0))
    start = start_position_beat(position, bo, ro)
    seq = SequenceData(id="s", name="name", beats=normalize_beats(start, beats), start_position=start,
                       metadata={"tags": ["x"]}, version=3, created_at="2024-05-01T10:00:00+00:00")
    back = SequenceData.from_dict(json.loads(json.dumps(seq.to_dict())))
    assert back == seq
    assert (back.word, back.level, back.is_circular, back.end_orientations) == (seq.word, seq.level, seq.is_circular, seq.end_orientations)
    for beat in seq.beats:
        if beat.blue_motion is not None:
            assert MotionData.from_dict(beat.blue_motion.to_dict()) == beat.blue_motion
        assert BeatData.from_dict(beat.to_dict()) == beat


@FAST
@given(beats())
def test_identify_agrees_with_beat_fields(beat):
    assume(beat.blue_motion is not None)
    info = identify(beat.blue_motion, beat.red_motion)
    assert (info.letter, info.start_position, info.end_position, info.timing, info.direction) == (
        beat.letter, beat.start_position, beat.end_position, beat.timing, beat.direction,
    )
