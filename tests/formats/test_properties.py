"""Properties: whatever the app writes it reads back; whatever a file holds, only InvalidFile escapes."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import ALL_POSITIONS, Orientation, SequenceData, generate_beats, start_position_beat
from app.formats import InvalidFile, dictionary_metadata, dump_sequence, load_sequence_file

from .support import beat_key, fixture

ORIS = st.sampled_from(list(Orientation))


@st.composite
def sequences(draw):
    position = draw(st.sampled_from(ALL_POSITIONS))  # odd indices diamond, even box
    blue_ori, red_ori = draw(ORIS), draw(ORIS)
    beats = generate_beats(position, draw(st.integers(1, 24)), level=draw(st.integers(1, 3)),
                           max_turns=draw(st.sampled_from([1, 2, 3])), rng=random.Random(draw(st.integers(0, 2**32))),
                           blue_start_ori=blue_ori, red_start_ori=red_ori)
    return SequenceData(id="s", name="n", beats=beats, start_position=start_position_beat(position, blue_ori, red_ori),
                        metadata={"author": "Austen", "prop_type": "fan"})


@settings(max_examples=60, deadline=None)
@given(sequences(), st.booleans())
def test_a_dumped_sequence_loads_back(seq, wrapped):
    written = dictionary_metadata(seq) if wrapped else dump_sequence(seq)
    loaded = load_sequence_file(json.loads(json.dumps(written, ensure_ascii=False)))
    assert beat_key(loaded.start) == beat_key(seq.start_position)
    assert [beat_key(b) for b in loaded.beats] == [beat_key(b) for b in seq.beats]
    assert [b.duration for b in loaded.beats] == [b.duration for b in seq.beats]
    assert (loaded.word, loaded.metadata["prop_type"], loaded.warnings) == (seq.word or None, "fan", ())
    assert loaded.shape == ("dictionary" if wrapped else "current")


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                    max_leaves=12)
KEYS = ["beat", "letter", "duration", "blue_attributes", "red_attributes", "motion_type", "start_loc", "end_loc",
        "turns", "start_ori", "end_ori", "prop_rot_dir", "prefloat_motion_type", "sequence_start_position",
        "is_placeholder", "blue_turns", "red_start_loc", "BEAT", "BLUE_ATTRIBUTES", "word", "author"]


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, path + (i,))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["current", "flat", "upper_case", "messy", "dictionary"]), st.data())
def test_a_damaged_file_only_ever_raises_invalid_file(name, data):
    doc = fixture(name)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from([p for p in _paths(doc) if p]))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and data.draw(st.booleans()):
            parent[data.draw(st.sampled_from(KEYS))] = data.draw(JSON)
        else:
            parent[path[-1]] = data.draw(JSON)
    try:
        load_sequence_file(doc)
    except InvalidFile as exc:
        assert exc.errors and all(set(e) == {"field", "message", "rule"} for e in exc.errors)


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_any_json_only_ever_raises_invalid_file(doc):
    try:
        load_sequence_file(doc)
    except InvalidFile:
        pass
