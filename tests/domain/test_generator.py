"""The freeform generator: legal, continuous, level-respecting and reproducible."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import (
    ALL_POSITIONS, InvalidPosition, InvalidValue, Orientation, SequenceData, beat_from_motions,
    generate_beats, motion_pairs_from, normalize_beats, start_position_beat,
)


def check_sequence(start_position, beats, blue_ori=Orientation.IN, red_ori=Orientation.IN):
    """Every beat is legal and continues the previous one in position and orientation."""
    position, oris = start_position, (blue_ori, red_ori)
    for i, beat in enumerate(beats, start=1):
        assert beat.beat_number == i and not beat.is_blank
        again = beat_from_motions(beat.blue_motion, beat.red_motion)  # validates both motions
        assert (again.letter, again.start_position, again.end_position) == (beat.letter, beat.start_position, beat.end_position)
        assert beat.start_position == position
        assert (beat.blue_motion.start_ori, beat.red_motion.start_ori) == oris
        position, oris = beat.end_position, (beat.blue_motion.end_ori, beat.red_motion.end_ori)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(ALL_POSITIONS), st.integers(1, 24), st.integers(1, 3),
    st.sampled_from([0, 0.5, 1, 1.5, 2, 2.5, 3]), st.integers(0, 2**32),
    st.sampled_from(list(Orientation)), st.sampled_from(list(Orientation)),
)
def test_generated_sequences_are_valid_continuous_and_reproducible(position, length, level, max_turns, seed, bo, ro):
    beats = generate_beats(position, length, level=level, max_turns=max_turns, rng=random.Random(seed),
                           blue_start_ori=bo, red_start_ori=ro)
    assert len(beats) == length
    check_sequence(position, beats, bo, ro)
    start = start_position_beat(position, bo, ro)
    assert normalize_beats(start, beats) == beats  # reversals already computed, nothing to fix
    again = generate_beats(position, length, level=level, max_turns=max_turns, rng=random.Random(seed),
                           blue_start_ori=bo, red_start_ori=ro)
    assert again == beats  # ids included
    for beat in beats:
        for m in (beat.blue_motion, beat.red_motion):
            if level == 1:
                assert m.turns == 0
            elif level == 2:
                assert m.turns in (0, 1, 2, 3) and m.turns <= max_turns
            else:
                assert m.turns == "fl" or m.turns <= max_turns
    if level == 1 and {bo, ro} <= {Orientation.IN, Orientation.OUT}:  # radial start, no turns: §6.7 level 1
        assert SequenceData(id="s", name="n", beats=beats, start_position=start).level == 1


def test_avoids_letters_of_the_last_three_beats_when_possible():
    beats = generate_beats("alpha1", 64, rng=random.Random(7))
    position = "alpha1"
    for i, beat in enumerate(beats):
        recent = {b.letter for b in beats[max(0, i - 3):i]}
        available = {info.letter for *_, info in motion_pairs_from(position)}
        if available - recent:
            assert beat.letter not in recent
        position = beat.end_position


def test_different_seeds_differ():
    words = {"".join(b.letter for b in generate_beats("gamma11", 16, rng=random.Random(seed))) for seed in range(5)}
    assert len(words) > 1


def test_level_three_uses_floats_and_half_turns():
    beats = generate_beats("beta5", 64, level=3, max_turns=3, rng=random.Random(3))
    turns = {m.turns for b in beats for m in (b.blue_motion, b.red_motion)}
    assert "fl" in turns and turns & {0.5, 1.5, 2.5}
    assert any(b.blue_motion.motion_type == "float" for b in beats)


@pytest.mark.parametrize(("kwargs", "field", "error"), [
    (dict(length=0), "length", InvalidValue),
    (dict(length=65), "length", InvalidValue),
    (dict(length=True), "length", InvalidValue),
    (dict(level=4), "level", InvalidValue),
    (dict(level=0), "level", InvalidValue),
    (dict(max_turns=0.7), "max_turns", InvalidValue),
    (dict(max_turns=3.5), "max_turns", InvalidValue),
    (dict(max_turns=-1), "max_turns", InvalidValue),
    (dict(start_position="alpha9"), "start_position", InvalidPosition),
])
def test_generate_rejects_bad_arguments(kwargs, field, error):
    args = dict(start_position="alpha1", length=4, level=1, max_turns=1) | kwargs
    with pytest.raises(error) as info:
        generate_beats(args.pop("start_position"), args.pop("length"), rng=random.Random(0), **args)
    assert info.value.field == field
