"""CAPs (§6.8, §10.3): the four beat transforms, detection, and circular generation."""

import csv
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import (
    ALL_POSITIONS, LETTERS, CapInfo, CapKind, CapType, InvalidPosition, InvalidValue, Location, MotionType,
    Orientation, RotationDirection, SequenceData, SliceSize, beat_from_motions, blank_beat, cap_info, cap_kind,
    complement_beat, generate_beats, generate_circular, locations_of, make_motion, mirror_beat, motion_pairs_from,
    normalize_beats, position_of, rotate_beat, rotate_position, start_position_beat, start_positions_for,
    swap_beat, validate_motion,
)
from app.domain.cap import ALL_KINDS

DATA = Path(__file__).resolve().parent / "data" / "letter-examples.csv"
with DATA.open(encoding="utf-8", newline="") as _fh:
    ROWS = list(csv.DictReader(_fh))

# What C does to every letter, as identify() says (checked over every legal beat below): the
# pro/anti pairs trade places, U↔V (leading pro ↔ leading anti), and the hybrids C F I L O R,
# the dash/static letters and the statics stay.
COMPLEMENT = {
    "A": "B", "B": "A", "C": "C", "D": "E", "E": "D", "F": "F", "G": "H", "H": "G", "I": "I",
    "J": "K", "K": "J", "L": "L", "M": "N", "N": "M", "O": "O", "P": "Q", "Q": "P", "R": "R",
    "S": "T", "T": "S", "U": "V", "V": "U",
    "W": "X", "X": "W", "Y": "Z", "Z": "Y", "Σ": "Δ", "Δ": "Σ", "θ": "Ω", "Ω": "θ",
    "W-": "X-", "X-": "W-", "Y-": "Z-", "Z-": "Y-", "Σ-": "Δ-", "Δ-": "Σ-", "θ-": "Ω-", "Ω-": "θ-",
    "Φ": "Φ", "Ψ": "Ψ", "Λ": "Λ", "Φ-": "Φ-", "Ψ-": "Ψ-", "Λ-": "Λ-", "α": "α", "β": "β", "Γ": "Γ",
}
# x → −x, written out independently of app.domain.
MIRROR_LOC = {"n": "n", "ne": "nw", "e": "w", "se": "sw", "s": "s", "sw": "se", "w": "e", "nw": "ne"}
MIRROR_ORI = {"in": "in", "out": "out", "clock": "counter", "counter": "clock"}
FLIP = {"cw": "ccw", "ccw": "cw", "no_rot": "no_rot", None: None}


def mirrored_position(position):
    blue, red = locations_of(position)
    return position_of(MIRROR_LOC[blue], MIRROR_LOC[red])


def swapped_position(position):
    blue, red = locations_of(position)
    return position_of(red, blue)


def row_beat(row):
    def motion(colour):
        return make_motion(MotionType(row[f"{colour}_motion_type"]), Location(row[f"{colour}_start_loc"]),
                           Location(row[f"{colour}_end_loc"]),
                           prop_rot_dir=RotationDirection(row[f"{colour}_prop_rot_dir"]))
    return beat_from_motions(motion("blue"), motion("red"))


def hand_fields(m):
    return (m.motion_type, m.prefloat_motion_type, m.start_loc, m.end_loc, m.prop_rot_dir, m.turns)


def sequence(start_position, beats):
    start = start_position_beat(start_position)
    return SequenceData(id="s", name="n", beats=normalize_beats(start, beats), start_position=start)


def kinds_of(start_position, beats):
    return set(cap_info(sequence(start_position, beats)).kinds)


def kind(cap_type, slice_size="halved"):
    return CapKind(CapType(cap_type), SliceSize(slice_size))


# ---------------------------------------------------------------- the transforms

def test_complement_table_covers_every_letter_and_is_an_involution():
    assert sorted(COMPLEMENT) == sorted(spec.letter for spec in LETTERS)
    assert all(COMPLEMENT[COMPLEMENT[letter]] == letter for letter in COMPLEMENT)


@pytest.mark.parametrize("row", ROWS, ids=[row["letter"] for row in ROWS])
def test_transforms_of_the_verified_examples(row):
    beat = row_beat(row)
    start, end = row["start_pos"], row["end_pos"]
    for k in (1, 2, 3):
        turned = rotate_beat(beat, 2 * k)
        assert (turned.letter, turned.start_position, turned.end_position) == (
            row["letter"], rotate_position(start, 2 * k), rotate_position(end, 2 * k))
    mirrored = mirror_beat(beat)
    assert (mirrored.letter, mirrored.start_position, mirrored.end_position) == (
        row["letter"], mirrored_position(start), mirrored_position(end))
    swapped = swap_beat(beat)
    assert (swapped.letter, swapped.start_position, swapped.end_position) == (
        row["letter"], swapped_position(start), swapped_position(end))
    assert swapped.blue_motion == beat.red_motion and swapped.red_motion == beat.blue_motion
    complemented = complement_beat(beat)
    assert (complemented.letter, complemented.start_position, complemented.end_position) == (
        COMPLEMENT[row["letter"]], start, end)
    for result in (mirrored, swapped, complemented):
        validate_motion(result.blue_motion)
        validate_motion(result.red_motion)


@pytest.mark.parametrize(("position", "mirror", "swap"), [
    ("alpha1", "alpha1", "alpha5"), ("alpha3", "alpha7", "alpha7"), ("alpha5", "alpha5", "alpha1"),
    ("alpha7", "alpha3", "alpha3"), ("beta1", "beta1", "beta1"), ("beta3", "beta7", "beta3"),
    ("gamma1", "gamma9", "gamma15"), ("gamma3", "gamma15", "gamma9"), ("gamma5", "gamma13", "gamma11"),
    ("gamma7", "gamma11", "gamma13"), ("alpha2", "alpha8", "alpha6"), ("beta2", "beta8", "beta2"),
    ("gamma2", "gamma16", "gamma16"), ("gamma12", "gamma6", "gamma6"),
])
def test_mirror_and_swap_of_positions(position, mirror, swap):
    still = start_position_beat(position)
    assert mirror_beat(still).end_position == mirror == mirrored_position(position)
    assert swap_beat(still).end_position == swap == swapped_position(position)


def _sample_beats():
    """Every legal beat from a spread of positions, with turns, floats and non-radial orientations."""
    for position in ("alpha1", "alpha4", "beta3", "beta6", "gamma1", "gamma12", "gamma15"):
        for bt, rt, bo, ro in ((0, 0, "in", "out"), (1.5, "fl", "clock", "in"), ("fl", 2, "counter", "clock"),
                               (0.5, 3, "out", "counter")):
            for blue, red, _info in motion_pairs_from(position, bo, ro, bt, rt):
                yield beat_from_motions(blue, red)


def test_transforms_are_valid_involutions_and_map_letters_over_many_beats():
    count = 0
    for beat in _sample_beats():
        count += 1
        assert rotate_beat(beat, 8) == beat
        for transform in (mirror_beat, swap_beat, complement_beat):
            once = transform(beat)  # beat_from_motions inside validates both motions
            assert transform(once) == beat
        mirrored, complemented = mirror_beat(beat), complement_beat(beat)
        assert mirrored.letter == swap_beat(beat).letter == beat.letter
        assert complemented.letter == COMPLEMENT[beat.letter]
        for before, after in ((beat.blue_motion, mirrored.blue_motion), (beat.red_motion, mirrored.red_motion)):
            assert (after.motion_type, after.prefloat_motion_type, after.turns) == (
                before.motion_type, before.prefloat_motion_type, before.turns)
            assert (after.start_loc, after.end_loc) == (MIRROR_LOC[before.start_loc], MIRROR_LOC[before.end_loc])
            assert (after.prop_rot_dir, after.prefloat_prop_rot_dir) == (
                FLIP[before.prop_rot_dir], FLIP[before.prefloat_prop_rot_dir])
            # The §4 rule is mirror-symmetric: the end orientation mirrors exactly.
            assert (after.start_ori, after.end_ori) == (MIRROR_ORI[before.start_ori], MIRROR_ORI[before.end_ori])
        for before, after in ((beat.blue_motion, complemented.blue_motion),
                              (beat.red_motion, complemented.red_motion)):
            assert (after.start_loc, after.end_loc, after.turns, after.start_ori) == (
                before.start_loc, before.end_loc, before.turns, before.start_ori)
            assert after.prop_rot_dir == FLIP[before.prop_rot_dir]
            if before.motion_type == MotionType.FLOAT:
                assert after.motion_type == MotionType.FLOAT
                assert after.prefloat_prop_rot_dir == FLIP[before.prefloat_prop_rot_dir]
                assert {before.prefloat_motion_type, after.prefloat_motion_type} == {MotionType.PRO, MotionType.ANTI}
            elif before.motion_type in (MotionType.PRO, MotionType.ANTI):
                assert {before.motion_type, after.motion_type} == {MotionType.PRO, MotionType.ANTI}
            else:
                assert after.motion_type == before.motion_type
    assert count > 1000


def test_transforms_leave_blank_beats_alone():
    blank = blank_beat(3)
    assert mirror_beat(blank) is blank and swap_beat(blank) is blank and complement_beat(blank) is blank


# ---------------------------------------------------------------- kinds

def test_cap_types_and_slice_sizes_are_the_reference_ones():
    assert [t.value for t in CapType] == [
        "strict_rotated", "strict_mirrored", "strict_swapped", "strict_complementary", "swapped_complementary",
        "rotated_complementary", "mirrored_swapped", "mirrored_complementary", "rotated_swapped",
        "mirrored_rotated", "mirrored_complementary_rotated",
    ]
    assert [s.value for s in SliceSize] == ["halved", "quartered"]


def test_slice_counts_and_defaults():
    slices = {(k.cap_type.value, k.slice_size.value): k.slices for k in ALL_KINDS}
    assert slices == {
        ("strict_rotated", "halved"): 2, ("strict_rotated", "quartered"): 4,
        ("strict_mirrored", "halved"): 2, ("strict_swapped", "halved"): 2,
        ("strict_complementary", "halved"): 2, ("swapped_complementary", "halved"): 2,
        ("rotated_complementary", "halved"): 2, ("rotated_complementary", "quartered"): 4,
        ("mirrored_swapped", "halved"): 2, ("mirrored_complementary", "halved"): 2,
        ("rotated_swapped", "halved"): 2, ("rotated_swapped", "quartered"): 4,
        ("mirrored_rotated", "halved"): 4, ("mirrored_rotated", "quartered"): 8,
        ("mirrored_complementary_rotated", "halved"): 4, ("mirrored_complementary_rotated", "quartered"): 8,
    }
    assert cap_kind("strict_mirrored") == kind("strict_mirrored")
    assert cap_kind(CapType.STRICT_ROTATED, "quartered") == kind("strict_rotated", "quartered")


def test_only_the_mirrored_rotated_types_restrict_the_start_position():
    """Their first half returns to the start, so the mirror must keep the start (module docstring)."""
    for k in ALL_KINDS:
        expected = (("alpha1", "alpha5", "beta1", "beta5") if "mirrored" in k.cap_type and "rotated" in k.cap_type
                    else ALL_POSITIONS)
        assert start_positions_for(k) == expected, k


# ---------------------------------------------------------------- detection on hand-built sequences

def pro_cw(start, end):
    return make_motion(MotionType.PRO, Location(start), Location(end))


def shift(motion_type, start, end, turns=0):
    return make_motion(MotionType(motion_type), Location(start), Location(end), turns)


def beat(blue, red):
    return beat_from_motions(blue, red)


def four_as():
    """A A A A, both hands pro clockwise, alpha1 → alpha3 → alpha5 → alpha7 → alpha1."""
    path = ("s", "w", "n", "e", "s")
    return [beat(pro_cw(path[i], path[i + 1]), pro_cw(path[(i + 2) % 4], path[(i + 3) % 4])) for i in range(4)]


def test_four_as_are_rotated_both_ways_and_swapped():
    beats = four_as()
    assert [b.end_position for b in beats] == ["alpha3", "alpha5", "alpha7", "alpha1"]
    info = cap_info(sequence("alpha1", beats))
    assert info.is_circular and info.can_be_cap
    assert set(info.kinds) == {kind("strict_rotated"), kind("strict_rotated", "quartered"), kind("strict_swapped")}
    assert (info.is_strict_rotated_CAP, info.is_strict_swapped_CAP) == (True, True)
    assert (info.is_strict_mirrored_CAP, info.is_mirrored_swapped_CAP, info.is_rotated_swapped_CAP) == (
        False, False, False)


def test_one_changed_beat_breaks_the_cap_but_not_the_loop():
    beats = four_as()
    last = beats[3]
    beats[3] = beat(shift("pro", "e", "s", turns=1), last.red_motion)  # same positions, one more turn
    info = cap_info(sequence("alpha1", beats))
    assert info.is_circular and info.can_be_cap and info.kinds == ()


def test_a_mirrored_and_a_complementary_sequence():
    # Slice: A out (alpha1 → alpha3) and A back (alpha3 → alpha1); then its mirror.
    out = beat(shift("pro", "s", "w"), shift("pro", "n", "e"))
    back = beat(shift("pro", "w", "s"), shift("pro", "e", "n"))
    mirror_out = beat(shift("pro", "s", "e"), shift("pro", "n", "w"))
    mirror_back = beat(shift("pro", "e", "s"), shift("pro", "w", "n"))
    assert kind("strict_mirrored") in kinds_of("alpha1", [out, back, mirror_out, mirror_back])
    assert kind("strict_rotated") not in kinds_of("alpha1", [out, back, mirror_out, mirror_back])
    # Its complement: the same hand paths as anti, word AABB.
    anti_out = beat(shift("anti", "s", "w"), shift("anti", "n", "e"))
    anti_back = beat(shift("anti", "w", "s"), shift("anti", "e", "n"))
    seq = sequence("alpha1", [out, back, anti_out, anti_back])
    assert seq.word == "AABB"
    info = cap_info(seq)
    assert kind("strict_complementary") in info.kinds and kind("strict_mirrored") not in info.kinds


def test_not_circular_wrong_family_blank_and_empty():
    beats = four_as()
    three = cap_info(sequence("alpha1", beats[:3]))
    assert three == CapInfo(is_circular=False, can_be_cap=True, kinds=())
    to_beta = beat(shift("pro", "s", "w"), shift("anti", "n", "w"))  # alpha1 → beta7 (J/K/L)
    assert cap_info(sequence("alpha1", [to_beta])) == CapInfo(False, False, ())
    with_blank = cap_info(sequence("alpha1", [*beats[:2], blank_beat(3), *beats[2:]]))
    assert with_blank.is_circular and with_blank.kinds == ()
    assert cap_info(SequenceData(id="s", name="n")) == CapInfo(False, False, ())
    assert cap_info(SequenceData(id="s", name="n", start_position=start_position_beat("alpha1"))) == CapInfo(
        False, False, ())


def test_freeform_sequences_are_not_caps():
    rng = random.Random(2024)
    found = 0
    for _ in range(150):
        position = rng.choice(ALL_POSITIONS)
        beats = generate_beats(position, rng.choice((4, 8, 12, 16)), level=rng.choice((1, 2, 3)), rng=rng)
        found += bool(cap_info(sequence(position, beats)).kinds)
    assert found == 0  # measured: none in 2,700 freeform sequences of 4–16 beats


# ---------------------------------------------------------------- generation

def _changed_beat(beats, index, rng):
    """beats with beats[index] replaced by another legal beat between the same two positions."""
    old = beats[index]
    oris = (old.blue_motion.start_ori, old.red_motion.start_ori)
    options = [
        (b, r) for turns in ((0, 0), (1, 0), (0, 1))
        for b, r, info in motion_pairs_from(old.start_position, *oris, *turns)
        if info.end_position == old.end_position
        and (hand_fields(b), hand_fields(r)) != (hand_fields(old.blue_motion), hand_fields(old.red_motion))
    ]
    blue, red = rng.choice(options)
    return [*beats[:index], beat_from_motions(blue, red), *beats[index + 1:]]


@pytest.mark.parametrize("cap", ALL_KINDS, ids=[f"{k.cap_type}-{k.slice_size}" for k in ALL_KINDS])
@settings(max_examples=25, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32), level=st.integers(1, 3),
       max_turns=st.sampled_from([0, 1, 2.5, 3]), bo=st.sampled_from(list(Orientation)),
       ro=st.sampled_from(list(Orientation)))
def test_generated_caps_are_continuous_circular_and_detected(cap, data, seed, level, max_turns, bo, ro):
    position = data.draw(st.sampled_from(start_positions_for(cap)), label="start")
    size = data.draw(st.integers(1, min(4, 64 // cap.slices)), label="slice beats")
    length = size * cap.slices
    beats = generate_circular(position, length, cap_type=cap.cap_type, slice_size=cap.slice_size, level=level,
                              max_turns=max_turns, rng=random.Random(seed), blue_start_ori=bo, red_start_ori=ro)
    assert len(beats) == length and [b.beat_number for b in beats] == list(range(1, length + 1))
    start = start_position_beat(position, bo, ro)
    assert normalize_beats(start, beats) == beats  # continuous, orientations and reversals settled
    for b in beats:
        assert beat_from_motions(b.blue_motion, b.red_motion).letter == b.letter  # legal motions
    info = cap_info(SequenceData(id="s", name="n", beats=beats, start_position=start))
    assert info.is_circular and info.can_be_cap and cap in info.kinds
    again = generate_circular(position, length, cap_type=cap.cap_type, slice_size=cap.slice_size, level=level,
                              max_turns=max_turns, rng=random.Random(seed), blue_start_ori=bo, red_start_ori=ro)
    assert again == beats  # a seed reproduces the sequence, ids included
    # Detection is not vacuous: one different beat in the last slice and it is no longer this kind.
    changed = _changed_beat(list(beats), data.draw(st.integers(length - size, length - 1), label="changed"),
                            random.Random(seed))
    assert cap not in cap_info(SequenceData(id="s", name="n", beats=normalize_beats(start, changed),
                                            start_position=start)).kinds


def test_mirrored_rotated_halves_are_a_rotated_cap_and_its_mirror():
    beats = generate_circular("beta5", 16, cap_type="mirrored_rotated", slice_size="quartered", level=2,
                              rng=random.Random(5))
    kinds = kinds_of("beta5", beats)
    assert {kind("strict_mirrored"), kind("mirrored_rotated"), kind("mirrored_rotated", "quartered")} <= kinds
    # Quarters turn clockwise through the first half; the mirror turns them back the other way.
    assert [b.end_position for b in beats[1::2]] == ["beta7", "beta1", "beta3", "beta5", "beta3", "beta1", "beta7",
                                                     "beta5"]
    first_half = normalize_beats(start_position_beat("beta5"), beats[:8])
    assert kind("strict_rotated", "quartered") in kinds_of("beta5", first_half)
    mct = generate_circular("alpha1", 8, cap_type="mirrored_complementary_rotated", rng=random.Random(1))
    assert {kind("mirrored_complementary"), kind("mirrored_complementary_rotated")} <= kinds_of("alpha1", mct)


def test_quartered_rotated_swapped_turns_and_swaps_each_quarter():
    order = list(MIRROR_LOC)  # n, ne, e, ... clockwise

    def quarter_turn_and_swap(position):  # R(1)∘S, independently of app.domain
        blue, red = locations_of(position)
        return position_of(order[(order.index(red) + 2) % 8], order[(order.index(blue) + 2) % 8])

    beats = generate_circular("gamma12", 8, cap_type="rotated_swapped", slice_size="quartered", rng=random.Random(3))
    expected, position = [], "gamma12"
    for _ in range(4):
        position = quarter_turn_and_swap(position)
        expected.append(position)
    assert [b.end_position for b in beats[1::2]] == expected
    assert expected[-1] == "gamma12"


@pytest.mark.parametrize(("kwargs", "field", "words"), [
    ({"length": 6, "cap_type": "strict_rotated", "slice_size": "quartered"}, "length", "multiple of 4"),
    ({"length": 9, "cap_type": "strict_swapped"}, "length", "multiple of 2"),
    ({"length": 12, "cap_type": "mirrored_rotated", "slice_size": "quartered"}, "length", "multiple of 8"),
    ({"length": 8, "cap_type": "strict_mirrored", "slice_size": "quartered"}, "slice_size", "rotated"),
    ({"length": 8, "cap_type": "strict_rotated", "slice_size": "thirds"}, "slice_size", "halved"),
    ({"length": 8, "cap_type": "spiral"}, "cap_type", "strict_rotated"),
    ({"length": 8, "cap_type": "mirrored_rotated", "start": "alpha3"}, "start_position", "alpha1, alpha5"),
    ({"length": 8, "cap_type": "mirrored_complementary_rotated", "start": "gamma11"}, "start_position", "beta5"),
    ({"length": 0, "cap_type": "strict_rotated"}, "length", "from 1"),
    ({"length": 66, "cap_type": "strict_rotated"}, "length", "64"),
])
def test_bad_requests_name_their_field(kwargs, field, words):
    kwargs = dict(kwargs)
    start = kwargs.pop("start", "alpha1")
    with pytest.raises(InvalidValue) as caught:
        generate_circular(start, rng=random.Random(0), **kwargs)
    assert caught.value.field == field and words in caught.value.message


def test_bad_start_position_and_rng():
    with pytest.raises(InvalidPosition):
        generate_circular("alpha9", 4, cap_type="strict_rotated", rng=random.Random(0))
    with pytest.raises(InvalidValue) as caught:
        generate_circular("alpha1", 4, cap_type="strict_rotated", rng=None)
    assert caught.value.field == "rng"


def test_one_beat_slices_and_the_full_length():
    for k in ALL_KINDS:
        position = start_positions_for(k)[-1]
        for length in (k.slices, 64):
            beats = generate_circular(position, length, cap_type=k.cap_type, slice_size=k.slice_size, level=3,
                                      max_turns=3, rng=random.Random(length))
            assert k in kinds_of(position, beats)
