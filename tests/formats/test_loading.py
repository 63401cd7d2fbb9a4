"""Loading the desktop apps' sequence files in every shape they wrote (issue 16 items 1 and 3)."""

from __future__ import annotations

import pytest

from app.domain import MAX_BEATS, DomainError, MotionType, Orientation
from app.formats import InvalidFile, load_sequence_file

from .support import beat_key, fixture

SAME_SEQUENCE = ["current", "dictionary", "flat", "upper_case", "messy"]


def expected():
    return load_sequence_file(fixture("current"))


# ---------------------------------------------------------------- every shape, one result

@pytest.mark.parametrize("name", SAME_SEQUENCE)
def test_every_shape_loads_into_the_same_sequence(name):
    want, got = expected(), load_sequence_file(fixture(name))
    assert beat_key(got.start) == beat_key(want.start)
    assert [beat_key(b) for b in got.beats] == [beat_key(b) for b in want.beats]
    assert [b.letter for b in got.beats] == ["A", "B", "Σ", "Z"]
    assert [b.beat_number for b in got.beats] == [1, 2, 3, 4]


@pytest.mark.parametrize("name, shape", [("current", "current"), ("dictionary", "dictionary"), ("flat", "flat"),
                                         ("upper_case", "upper_case"), ("messy", "current")])
def test_the_shape_is_reported(name, shape):
    assert load_sequence_file(fixture(name)).shape == shape


def test_current_file_keeps_word_author_and_prop_type_not_the_derived_flags():
    loaded = expected()
    assert loaded.word == "ABΣZ"
    assert loaded.metadata == {"author": "Austen", "prop_type": "staff"}
    assert loaded.start.end_position == "alpha1" and loaded.start.letter == "α"
    assert loaded.warnings == ()


def test_dictionary_wrapper_adds_its_date():
    assert load_sequence_file(fixture("dictionary")).metadata == {
        "author": "Austen", "prop_type": "staff", "date_added": "2024-08-26T10:00:00"}


def test_upper_case_file_with_permutation_flags():
    loaded = load_sequence_file(fixture("upper_case"))
    assert (loaded.word, loaded.metadata) == ("ABΣZ", {"author": "Austen", "prop_type": "staff"})


# ---------------------------------------------------------------- leniency

def test_flat_file_positions_come_from_locations_not_its_obsolete_names():
    loaded = load_sequence_file(fixture("flat"))  # it names alpha2, alpha3, gamma2, beta2 (obsolete scheme)
    assert [(b.start_position, b.end_position) for b in loaded.beats] == [
        ("alpha1", "alpha7"), ("alpha7", "alpha5"), ("alpha5", "gamma3"), ("gamma3", "beta3")]
    assert loaded.word is None and loaded.metadata == {}  # the flat era wrote no metadata entry


def test_flat_floats_without_their_former_shift_take_the_one_that_spells_the_letter():
    beat_b, beat_sigma = load_sequence_file(fixture("flat")).beats[1:3]
    assert (beat_b.blue_motion.prefloat_motion_type, beat_b.red_motion.prefloat_motion_type) == ("anti", "anti")
    assert beat_sigma.red_motion.prefloat_motion_type == "pro"


def test_messy_file():
    loaded = load_sequence_file(fixture("messy"))
    # beat numbers 1, 2, 1, 9 in the file: file order wins; the placeholders at the end are skipped
    assert [b.beat_number for b in loaded.beats] == [1, 2, 3, 4]
    assert [b.duration for b in loaded.beats] == [1.0, 1.0, 2.0, 1.0]
    # written without start_ori: continuity from the previous beat; without end_ori: computed
    sigma = loaded.beats[2]
    assert (sigma.blue_motion.start_ori, sigma.red_motion.start_ori) == ("counter", "clock")
    assert loaded.beats[1].blue_motion.end_ori == "counter"
    assert loaded.beats[0].red_motion.prop_rot_dir == "ccw"  # derived from the handpath
    # the file says Q where the motions spell Z: Z is kept, with a warning
    assert loaded.warnings == ({"beat": 4, "field": "sequence[5].letter",
                                "message": "sequence[5].letter is 'Q', but the motions spell 'Z': kept 'Z'"},)


def test_wrong_start_letter_is_a_warning_on_beat_0():
    data = fixture("current")
    data[1]["letter"] = "β"
    loaded = load_sequence_file(data)
    assert loaded.start.letter == "α"
    assert [(w["beat"], w["field"]) for w in loaded.warnings] == [(0, "sequence[1].letter")]


def test_file_without_metadata_starts_with_the_start_position():
    loaded = load_sequence_file(fixture("no_metadata"))
    assert (loaded.word, loaded.metadata, loaded.start.end_position) == (None, {}, "alpha1")
    assert [b.letter for b in loaded.beats] == ["A", "B"]


def test_file_without_start_derives_it_from_beat_1():
    loaded = load_sequence_file(fixture("no_start"))
    assert loaded.start.end_position == "alpha1"
    assert (loaded.start.blue_motion.end_ori, loaded.start.red_motion.end_ori) == ("in", "in")
    assert loaded.start.beat_number == 0 and loaded.start.letter == "α"


def test_derived_start_takes_beat_1s_orientations():
    data = fixture("no_start")
    for hand in ("blue_attributes", "red_attributes"):
        del data[1][hand]["end_ori"]
    data[1]["blue_attributes"]["start_ori"] = "clock"
    del data[2]["blue_attributes"]["start_ori"], data[2]["blue_attributes"]["end_ori"]
    loaded = load_sequence_file(data)
    assert (loaded.start.blue_motion.end_ori, loaded.start.red_motion.end_ori) == ("clock", "in")


def test_box_file_uses_diagonal_locations():
    loaded = load_sequence_file(fixture("box"))  # its position names are diamond ones
    assert loaded.start.end_position == "alpha2"
    assert [(b.letter, b.start_position, b.end_position) for b in loaded.beats] == [
        ("C", "alpha2", "alpha8"), ("K", "alpha8", "beta2"), ("Δ-", "beta2", "gamma6")]
    assert loaded.metadata["prop_type"] == "club"


def _one_static_beat(turns, rot):
    data = fixture("no_start")[:2]
    data[1] = {"beat": 1, "blue_attributes": {"motion_type": "static", "start_loc": "s", "end_loc": "s", "turns": turns},
               "red_attributes": {"motion_type": "static", "start_loc": "n", "end_loc": "n", "turns": 0}}
    if rot:
        data[1]["blue_attributes"]["prop_rot_dir"] = rot
    return data


@pytest.mark.parametrize("turns, rot, want", [
    (0, None, 0), (0.0, None, 0), ("0", "no_rot", 0), (1.0, "cw", 1), ("1.5", "ccw", 1.5), (" 2 ", "clockwise", 2),
    ("fl", None, 0),  # a static hand given "fl" gets 0 turns (§3.1)
])
def test_turns_as_the_apps_wrote_them(turns, rot, want):
    beat = load_sequence_file(_one_static_beat(turns, rot)).beats[0]
    assert beat.blue_motion.turns == want and beat.letter == "α"


def test_values_in_any_case_and_a_pro_given_fl_floats():
    data = fixture("current")
    data[2]["blue_attributes"].update(motion_type="PRO", start_loc="S", turns="fl")
    data[2]["blue_attributes"].pop("end_ori")
    for later in data[3:]:  # blue now ends elsewhere: later beats follow by continuity
        del later["blue_attributes"]["start_ori"], later["blue_attributes"]["end_ori"]
    beat = load_sequence_file(data).beats[0]
    assert beat.blue_motion.motion_type is MotionType.FLOAT and beat.blue_motion.prefloat_motion_type == "pro"
    assert beat.letter == "A"


def test_an_empty_list_is_an_empty_sequence():
    loaded = load_sequence_file([])
    assert (loaded.start, loaded.beats, loaded.word) == (None, (), None)


# ---------------------------------------------------------------- strict where it matters

def errors_of(data):
    with pytest.raises(InvalidFile) as caught:
        load_sequence_file(data)
    exc = caught.value
    assert isinstance(exc, DomainError) and exc.code == "invalid_file"
    assert (exc.field, exc.rule, exc.message) == tuple(exc.errors[0][k] for k in ("field", "rule", "message"))
    return [(e["field"], e["rule"]) for e in exc.errors]


def test_a_beat_that_starts_elsewhere():
    data = fixture("current")
    del data[3]  # B gone: Σ would start at alpha5 where A ended at alpha7
    for entry in data[3:]:  # orientations follow continuity, so only the position breaks
        for hand in ("blue_attributes", "red_attributes"):
            del entry[hand]["start_ori"], entry[hand]["end_ori"]
    assert errors_of(data) == [("sequence[3].blue_attributes.start_loc", "position.discontinuous")]


def test_a_beat_that_starts_with_another_orientation():
    data = fixture("current")
    data[3]["red_attributes"]["start_ori"] = "in"  # A's red hand ended out
    assert errors_of(data) == [("sequence[3].red_attributes.start_ori", "continuity.orientation")]


@pytest.mark.parametrize("field, value, rule", [
    ("end_loc", "x", "end_loc.unknown"), ("start_loc", 7, "start_loc.unknown"),
    ("motion_type", "spin", "motion_type.unknown"), ("end_ori", "up", "end_ori.unknown"),
    ("prop_rot_dir", "left", "prop_rot_dir.unknown"), ("turns", "lots", "turns.not_a_number"),
    ("turns", 4, "turns.not_allowed"), ("turns", True, "turns.not_a_number"),
    ("prop_rot_dir", "cw", "pro.prop_rot_dir"), ("end_ori", "clock", "end_ori.mismatch"),
    ("end_loc", "s", "pro.not_quarter"), ("motion_type", None, "motion_type.null"),
])
def test_a_bad_motion_field(field, value, rule):
    data = fixture("current")
    data[2]["red_attributes"][field] = value
    assert errors_of(data) == [(f"sequence[2].red_attributes.{field}", rule)]


def test_a_missing_motion_field_or_hand():
    data = fixture("current")
    del data[2]["red_attributes"]["end_loc"]
    del data[4]["blue_attributes"]
    assert errors_of(data) == [("sequence[2].red_attributes.end_loc", "required"),
                               ("sequence[4].blue_attributes", "required")]


def test_every_field_error_at_once():
    data = fixture("current")
    data[2]["blue_attributes"]["start_ori"] = "up"
    data[3]["red_attributes"]["motion_type"] = "spin"
    data[5]["duration"] = 0
    data[5]["red_attributes"] = "static"
    assert errors_of(data) == [
        ("sequence[2].blue_attributes.start_ori", "start_ori.unknown"),
        ("sequence[3].red_attributes.motion_type", "motion_type.unknown"),
        ("sequence[5].duration", "duration.out_of_range"),
        ("sequence[5].red_attributes", "red_attributes.not_an_object"),
    ]


def test_every_motion_rule_error_at_once():
    data = fixture("current")
    data[2]["blue_attributes"]["prop_rot_dir"] = "cw"
    data[5]["red_attributes"]["end_ori"] = "in"
    assert errors_of(data) == [("sequence[2].blue_attributes.prop_rot_dir", "pro.prop_rot_dir"),
                               ("sequence[5].red_attributes.end_ori", "end_ori.mismatch")]


def test_flat_paths_use_the_flat_keys():
    data = fixture("flat")
    data[2]["blue_start_ori"] = "sideways"
    data[3]["red_turns"] = "many"
    assert errors_of(data) == [("sequence[2].blue_start_ori", "start_ori.unknown"),
                               ("sequence[3].red_turns", "turns.not_a_number")]
    data = fixture("flat")
    data[1]["red_start_ori"] = "out"
    assert errors_of(data) == [("sequence[1].red_start_ori", "continuity.orientation")]


def test_upper_case_paths_spell_keys_as_the_file_does():
    data = fixture("upper_case")
    data[2]["BLUE_ATTRIBUTES"]["START_ORI"] = "up"
    del data[3]["RED_ATTRIBUTES"]["END_LOC"]
    assert errors_of(data) == [("sequence[2].BLUE_ATTRIBUTES.START_ORI", "start_ori.unknown"),
                               ("sequence[3].RED_ATTRIBUTES.END_LOC", "required")]


def test_a_float_without_its_former_shift_and_no_letter():
    data = fixture("current")
    del data[3]["blue_attributes"]["prefloat_motion_type"], data[3]["letter"]
    assert errors_of(data) == [("sequence[3].blue_attributes.prefloat_motion_type", "prefloat.required")]


def test_hands_in_two_grid_modes_have_no_letter():
    data = fixture("no_start")[:2]
    data[1] = {"blue_attributes": {"motion_type": "static", "start_loc": "s", "end_loc": "s"},
               "red_attributes": {"motion_type": "static", "start_loc": "ne", "end_loc": "ne"}}
    assert errors_of(data) == [("sequence[1].red_attributes.start_loc", "position.mixed_grid_modes")]


def test_more_beats_than_a_sequence_holds():
    data = fixture("current")
    beat = data[2]
    data[2:] = [dict(beat, beat=n) for n in range(1, MAX_BEATS + 2)]
    assert errors_of(data) == [(f"sequence[{MAX_BEATS + 2}]", "beats.max")]


@pytest.mark.parametrize("body, field, rule", [
    ("ABC", "file", "file.not_a_sequence"), (None, "file", "file.not_a_sequence"), (3, "file", "file.not_a_sequence"),
    ({"beats": []}, "sequence", "sequence.required"), ({"sequence": {"0": {}}}, "sequence", "sequence.not_a_list"),
    ([None], "sequence[0]", "entry.not_an_object"), ([{}, {}, "beat"], "sequence[2]", "entry.not_an_object"),
])
def test_a_body_that_is_no_sequence(body, field, rule):
    assert errors_of(body) == [(field, rule)]


def test_the_error_lists_all_problems_for_the_api():
    data = fixture("current")
    data[2]["blue_attributes"]["start_ori"] = "up"
    data[4]["red_attributes"]["end_loc"] = "x"
    with pytest.raises(InvalidFile) as caught:
        load_sequence_file(data)
    body = caught.value.to_dict()
    assert body["code"] == "invalid_file" and body["field"] == "sequence[2].blue_attributes.start_ori"
    assert [e["field"] for e in body["errors"]] == ["sequence[2].blue_attributes.start_ori",
                                                    "sequence[4].red_attributes.end_loc"]
    assert body["errors"][0]["message"] == ("sequence[2].blue_attributes.start_ori 'up' is not one of: "
                                            "in, out, clock, counter")
    assert Orientation.IN.value in body["message"]
