"""Letters: the 47 characters, the verified examples, the §5.2 counts and the §5.3–5.6 rules."""

import csv
from collections import Counter
from pathlib import Path

import pytest

from app.domain import (
    ALL_POSITIONS, LETTERS, Direction, GridMode, LetterType, Location, MotionData, MotionType,
    NoLetterFits, Orientation, RotationDirection, Timing, UnknownLetter, grid_mode_of, identify,
    letter_type_of, make_motion, motion_pairs_for, motion_pairs_from,
)

from .support import LOCATION_INDEX, path_of

DATA = Path(__file__).resolve().parent / "data" / "letter-examples.csv"
SHARED = Path(__file__).resolve().parents[3] / "shared/reference/letter-examples.csv"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


ROWS = _rows(DATA)
DIAMOND = [p for p in ALL_POSITIONS if grid_mode_of(p) is GridMode.DIAMOND]
BOX = [p for p in ALL_POSITIONS if grid_mode_of(p) is GridMode.BOX]


def test_copy_of_examples_matches_shared_reference():
    if not SHARED.exists():
        pytest.skip("shared/reference is not laid out next to the repository here")
    assert _rows(SHARED) == ROWS


def _motion(row: dict[str, str], colour: str) -> MotionData:
    return make_motion(
        MotionType(row[f"{colour}_motion_type"]), Location(row[f"{colour}_start_loc"]),
        Location(row[f"{colour}_end_loc"]), prop_rot_dir=RotationDirection(row[f"{colour}_prop_rot_dir"]),
    )


def test_examples_cover_every_letter_once():
    assert [row["letter"] for row in ROWS] == [spec.letter for spec in LETTERS]


@pytest.mark.parametrize("row", ROWS, ids=[row["letter"] for row in ROWS])
def test_verified_example_rows(row):
    info = identify(_motion(row, "blue"), _motion(row, "red"))
    assert (info.letter, info.start_position, info.end_position, info.timing, info.direction) == (
        row["letter"], row["start_pos"], row["end_pos"], row["timing"], row["direction"],
    )
    assert info.letter_type == letter_type_of(row["letter"])


# ---------------------------------------------------------------- the 47 letters

EXPECTED_LETTERS = {
    LetterType.TYPE1: list("ABCDEFGHIJKLMNOPQRSTUV"),
    LetterType.TYPE2: ["W", "X", "Y", "Z", "\u03a3", "\u0394", "\u03b8", "\u03a9"],
    LetterType.TYPE3: ["W-", "X-", "Y-", "Z-", "\u03a3-", "\u0394-", "\u03b8-", "\u03a9-"],
    LetterType.TYPE4: ["\u03a6", "\u03a8", "\u039b"],
    LetterType.TYPE5: ["\u03a6-", "\u03a8-", "\u039b-"],
    LetterType.TYPE6: ["\u03b1", "\u03b2", "\u0393"],
}


def test_all_47_letters_with_exact_characters_and_types():
    assert len(LETTERS) == 47
    assert [(s.letter, s.letter_type) for s in LETTERS] == [
        (letter, letter_type) for letter_type, letters in EXPECTED_LETTERS.items() for letter in letters
    ]
    assert "Σ Δ θ Ω Φ Ψ Λ α β Γ".split() == [
        "\u03a3", "\u0394", "\u03b8", "\u03a9", "\u03a6", "\u03a8", "\u039b", "\u03b1", "\u03b2", "\u0393",
    ]
    assert all(s.letter.isascii() or s.letter[0] > "\u0370" for s in LETTERS)
    assert all(s.letter[-1] != "\u2212" for s in LETTERS)  # hyphen-minus, never the minus sign


def test_letter_type_of_and_unknown_letters():
    assert letter_type_of("\u039b") == LetterType.TYPE4
    assert letter_type_of("\u0393") == LetterType.TYPE6
    for bad in ("\u0398", "Q-", "a", "", None):
        with pytest.raises(UnknownLetter) as info:
            letter_type_of(bad)
        assert info.value.field == "letter" and info.value.code == "unknown_letter"


# ---------------------------------------------------------------- §5.2 dataset counts

ROWS_PER_LETTER = {  # the "Rows" column of §5.2
    "A": 8, "B": 8, "C": 16, "D": 8, "E": 8, "F": 16, "G": 8, "H": 8, "I": 16, "J": 8, "K": 8, "L": 16,
    "M": 8, "N": 8, "O": 16, "P": 8, "Q": 8, "R": 16, "S": 16, "T": 16, "U": 16, "V": 16,
    "W": 16, "X": 16, "Y": 16, "Z": 16, "Σ": 16, "Δ": 16, "θ": 16, "Ω": 16,
    "W-": 16, "X-": 16, "Y-": 16, "Z-": 16, "Σ-": 16, "Δ-": 16, "θ-": 16, "Ω-": 16,
    "Φ": 8, "Ψ": 8, "Λ": 16, "Φ-": 4, "Ψ-": 4, "Λ-": 8, "α": 4, "β": 4, "Γ": 8,
}
ROWS_PER_TYPE = {"Type1": 256, "Type2": 128, "Type3": 128, "Type4": 32, "Type5": 16, "Type6": 16}
FAMILIES = {  # start→end families of §5.2
    "A": "alpha→alpha", "B": "alpha→alpha", "C": "alpha→alpha", "D": "beta→alpha", "E": "beta→alpha",
    "F": "beta→alpha", "G": "beta→beta", "H": "beta→beta", "I": "beta→beta", "J": "alpha→beta",
    "K": "alpha→beta", "L": "alpha→beta", **{x: "gamma→gamma" for x in "MNOPQRSTUV"},
    "W": "gamma→alpha", "X": "gamma→alpha", "Y": "gamma→beta", "Z": "gamma→beta",
    "Σ": "alpha→gamma", "Δ": "alpha→gamma", "θ": "beta→gamma", "Ω": "beta→gamma",
    "W-": "gamma→alpha", "X-": "gamma→alpha", "Y-": "gamma→beta", "Z-": "gamma→beta",
    "Σ-": "beta→gamma", "Δ-": "beta→gamma", "θ-": "alpha→gamma", "Ω-": "alpha→gamma",
    "Φ": "beta→alpha", "Ψ": "alpha→beta", "Λ": "gamma→gamma",
    "Φ-": "alpha→alpha", "Ψ-": "beta→beta", "Λ-": "gamma→gamma",
    "α": "alpha→alpha", "β": "beta→beta", "Γ": "gamma→gamma",
}
MOTION_PAIRS = {  # the "motion pair" column (as a multiset of effective types)
    **{x: "pro+pro" for x in "ADGJMPS"}, **{x: "anti+anti" for x in "BEHKNQT"},
    **{x: "pro+anti" for x in "CFILORUV"},
    **{x: "pro+static" for x in ("W", "Y", "Σ", "θ")}, **{x: "anti+static" for x in ("X", "Z", "Δ", "Ω")},
    **{x: "pro+dash" for x in ("W-", "Y-", "Σ-", "θ-")}, **{x: "anti+dash" for x in ("X-", "Z-", "Δ-", "Ω-")},
    "Φ": "dash+static", "Ψ": "dash+static", "Λ": "dash+static",
    "Φ-": "dash+dash", "Ψ-": "dash+dash", "Λ-": "dash+dash", "α": "static+static", "β": "static+static", "Γ": "static+static",
}
PAIR_ORDER = ("pro", "anti", "dash", "static")


def _diamond_table():
    return [(b, r, info) for p in DIAMOND for b, r, info in motion_pairs_from(p)]


def test_diamond_pairs_at_zero_turns_reproduce_the_dataset_counts():
    table = _diamond_table()
    assert len(table) == 576
    assert Counter(info.letter for _, _, info in table) == ROWS_PER_LETTER
    assert Counter(str(info.letter_type) for _, _, info in table) == ROWS_PER_TYPE


def test_diamond_pairs_match_families_and_motion_pairs():
    for b, r, info in _diamond_table():
        families = f"{info.start_position.rstrip('0123456789')}→{info.end_position.rstrip('0123456789')}"
        assert families == FAMILIES[info.letter], info
        kinds = sorted((b.motion_type, r.motion_type), key=PAIR_ORDER.index)
        assert "+".join(kinds) == MOTION_PAIRS[info.letter], info


def test_start_end_and_motion_types_identify_the_letter_uniquely():
    keys = {}
    for b, r, info in _diamond_table():
        key = (info.start_position, info.end_position, b.motion_type, r.motion_type)
        assert keys.setdefault(key, info.letter) == info.letter
    assert len(keys) == 576


def test_type1_vtg_columns_and_none_for_other_types():
    allowed = {
        **{x: {("split", "same")} for x in "ABC"}, **{x: {("tog", "same")} for x in "GHI"},
        **{x: {("split", "opp"), ("tog", "opp")} for x in "DEFJKL"},
        **{x: {("quarter", "opp")} for x in "MNOPQR"}, **{x: {("quarter", "same")} for x in "STUV"},
    }
    for _, _, info in _diamond_table():
        got = (info.timing, info.direction)
        assert got in allowed.get(info.letter, {("none", "none")}), info


# ---------------------------------------------------------------- timing and direction rules (§5.5, §5.6)

def _pairs(letters: str, positions) -> list:
    return [(b, r, info) for p in positions for b, r, info in motion_pairs_from(p) if info.letter in letters]


def test_d_to_f_split_at_beta3_and_beta7_else_tog():
    found = _pairs("DEF", DIAMOND)
    assert {info.start_position for *_, info in found} == {"beta1", "beta3", "beta5", "beta7"}
    for *_, info in found:
        expected = Timing.SPLIT if info.start_position in ("beta3", "beta7") else Timing.TOG
        assert (info.timing, info.direction) == (expected, Direction.OPP)


def test_j_to_l_split_from_alpha1_and_alpha5_else_tog():
    found = _pairs("JKL", DIAMOND)
    for *_, info in found:
        expected = Timing.SPLIT if info.start_position in ("alpha1", "alpha5") else Timing.TOG
        assert (info.timing, info.direction) == (expected, Direction.OPP)
        # the one-rule form of §5.6: the beta end decides
        assert (info.end_position in ("beta3", "beta7")) == (info.timing == Timing.SPLIT)


def test_box_mode_timing_differences():
    for *_, info in _pairs("DEFJKL", BOX):
        assert (info.timing, info.direction) == (Timing.QUARTER, Direction.OPP)
    for *_, info in _pairs("MNOPQR", BOX):
        expected = Timing.SPLIT if info.start_position in ("gamma4", "gamma8", "gamma10", "gamma14") else Timing.TOG
        assert (info.timing, info.direction) == (expected, Direction.OPP)
    for *_, info in _pairs("ABC", BOX):
        assert (info.timing, info.direction) == (Timing.SPLIT, Direction.SAME)
    for *_, info in _pairs("GHI", BOX):
        assert (info.timing, info.direction) == (Timing.TOG, Direction.SAME)
    for *_, info in _pairs("STUV", BOX):
        assert (info.timing, info.direction) == (Timing.QUARTER, Direction.SAME)


def _vtg_by_geometry(b: MotionData, r: MotionData) -> tuple[str, str]:
    """An independent reading of VTG: same way -> hands' separation; opposite ways -> mirror axis."""
    bs, rs = LOCATION_INDEX[b.start_loc], LOCATION_INDEX[r.start_loc]
    same = path_of(b.start_loc, b.end_loc) == path_of(r.start_loc, r.end_loc)
    if same:
        gap = (bs - rs) % 8
        return ({0: "tog", 4: "split"}.get(gap, "quarter"), "same")
    axis = ((bs + rs) // 2) % 4  # 0: n–s line (hands meet at n/s), 2: e–w line, odd: diagonal
    return ({0: "tog", 2: "split"}.get(axis, "quarter"), "opp")


def test_timing_agrees_with_an_independent_geometric_reading_in_both_modes():
    for p in ALL_POSITIONS:
        for b, r, info in motion_pairs_from(p):
            if info.letter_type == LetterType.TYPE1:
                assert (info.timing, info.direction) == _vtg_by_geometry(b, r), info


def test_direction_compares_handpaths_not_prop_rotation():
    # O: blue anti n->w (prop cw), red pro e->s (prop cw): props agree, hands travel opposite ways
    info = identify(make_motion(MotionType.ANTI, Location.N, Location.W), make_motion(MotionType.PRO, Location.E, Location.S))
    assert info.letter == "O" and info.direction == Direction.OPP


def test_u_and_v_by_leading_hand():
    for b, r, info in _pairs("UV", ALL_POSITIONS):
        leader, trailer = (r, b) if b.end_loc == r.start_loc else (b, r)
        assert trailer.end_loc == leader.start_loc
        assert leader.end_loc not in (b.start_loc, r.start_loc)
        expected = "U" if leader.motion_type == MotionType.PRO else "V"
        assert info.letter == expected
    # gamma11: blue s, red e. Both cw: red trails into s, blue leads onto w.
    lead_pro = identify(make_motion(MotionType.PRO, Location.S, Location.W), make_motion(MotionType.ANTI, Location.E, Location.S))
    lead_anti = identify(make_motion(MotionType.ANTI, Location.S, Location.W), make_motion(MotionType.PRO, Location.E, Location.S))
    assert (lead_pro.letter, lead_anti.letter) == ("U", "V")


def test_m_n_o_do_not_swap_and_p_q_r_do():
    for b, r, info in _pairs("MNOPQR", ALL_POSITIONS):
        swapped = b.end_loc == r.start_loc and r.end_loc == b.start_loc
        partial = b.end_loc == r.start_loc or r.end_loc == b.start_loc
        if info.letter in "PQR":
            assert swapped
        else:
            assert not partial
    triple = {}
    for b, r, info in _pairs("MNOPQR", DIAMOND):
        kinds = frozenset((b.motion_type, r.motion_type))
        triple.setdefault(info.letter, set()).add(kinds)
    assert triple["M"] == triple["P"] == {frozenset({"pro"})}
    assert triple["N"] == triple["Q"] == {frozenset({"anti"})}
    assert triple["O"] == triple["R"] == {frozenset({"pro", "anti"})}


def test_hybrids_do_not_depend_on_colour():
    hybrids = [(b, r, info) for b, r, info in _diamond_table()
               if b.motion_type != r.motion_type and info.letter_type == LetterType.TYPE1]
    assert len(hybrids) == 16 * 6 + 32  # C F I L O R, plus U and V
    for b, r, info in hybrids:
        swapped = identify(
            make_motion(r.motion_type, b.start_loc, b.end_loc), make_motion(b.motion_type, r.start_loc, r.end_loc),
        )
        if info.letter in "CFILOR":
            assert swapped.letter == info.letter
        else:  # U/V: swapping pro and anti swaps which role leads
            assert {swapped.letter, info.letter} == {"U", "V"}


# ---------------------------------------------------------------- identify edge cases

def test_floats_identify_by_prefloat_type():
    blue, red = make_motion(MotionType.PRO, Location.W, Location.N, "fl"), make_motion(MotionType.ANTI, Location.E, Location.S, "fl")
    assert identify(blue, red).letter == "C"
    both_anti = identify(make_motion(MotionType.ANTI, Location.W, Location.N, "fl"), red)
    assert both_anti.letter == "B"


def test_statics_identify_as_alpha_beta_gamma_in_both_modes():
    def still(loc):
        return make_motion(MotionType.STATIC, loc, loc)
    assert identify(still(Location.S), still(Location.N)).letter == "\u03b1"
    assert identify(still(Location.NE), still(Location.NE)).letter == "\u03b2"
    info = identify(still(Location.SW), still(Location.SE))
    assert (info.letter, info.start_position, info.end_position) == ("\u0393", "gamma12", "gamma12")


def test_identify_rejects_hands_in_different_grid_modes():
    with pytest.raises(NoLetterFits) as info:
        identify(make_motion(MotionType.PRO, Location.N, Location.E), make_motion(MotionType.PRO, Location.NE, Location.SE))
    assert info.value.field == "beat" and "grid mode" in info.value.message


def test_identify_does_not_crash_on_junk():
    with pytest.raises(NoLetterFits):
        identify(MotionData(MotionType.PRO, RotationDirection.CW, Location.N, Location.N), make_motion(MotionType.STATIC, Location.E, Location.E))
    with pytest.raises(NoLetterFits):
        identify(None, None)  # type: ignore[arg-type]


# ---------------------------------------------------------------- motion_pairs_for

def test_motion_pairs_for_examples():
    pairs = motion_pairs_for("A", "alpha3")
    assert len(pairs) == 2 and all(identify(b, r).letter == "A" for b, r in pairs)
    assert len(motion_pairs_for("C", "alpha1")) == 4
    spun = motion_pairs_for("\u03a6", "beta3", Orientation.OUT, Orientation.IN, 1, 1)
    assert len(spun) == 8  # 2 ways round for the dash hand × 2 for the static hand, either colour dashing
    assert all(b.start_ori == Orientation.OUT and r.start_ori == Orientation.IN for b, r in spun)
    assert [b.prop_rot_dir for b, r in spun[:2]] == ["cw", "cw"] and spun[0][1].prop_rot_dir == "cw"


def test_motion_pairs_for_errors():
    with pytest.raises(NoLetterFits) as info:
        motion_pairs_for("A", "gamma1")
    assert info.value.field == "letter"
    with pytest.raises(UnknownLetter):
        motion_pairs_for("A-", "alpha1")
    with pytest.raises(Exception) as info:
        motion_pairs_for("A", "alpha9")
    assert info.value.field == "start_position"
