"""Two-way patches (app/core/patch.py): exact both ways for any JSON, small for small changes."""

from __future__ import annotations

import json
import random

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core import patch
from app.domain.generator import generate_beats
from app.domain.input import with_beat_changed
from app.domain.models import SequenceData, normalize_beats, start_position_beat

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-3, 3, allow_nan=False) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=2), inner, max_size=4),
    max_leaves=25)


def exact(value: object) -> bytes:
    """The value as JSON, telling 1 from 1.0 and true (an object's key order is no part of it)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@settings(max_examples=400, deadline=None)
@given(json_values, json_values)
def test_a_patch_leads_exactly_either_way_and_is_json(a, b):
    p = patch.diff(a, b)
    stored = json.loads(json.dumps(p))  # what a database gives back
    assert exact(patch.forward(a, stored)) == exact(b)
    assert exact(patch.backward(b, stored)) == exact(a)
    assert (p is None) == (exact(a) == exact(b))


@given(st.lists(json_values, max_size=6), st.integers(0, 6), st.lists(json_values, max_size=3))
def test_an_inserted_or_removed_run_is_recorded_once(items, at, run):
    at = min(at, len(items))
    grown = items[:at] + run + items[at:]
    for a, b in ((items, grown), (grown, items)):
        p = patch.diff(a, b)
        assert exact(patch.forward(a, p)) == exact(b) and exact(patch.backward(b, p)) == exact(a)


def test_one_beat_edited_on_a_64_beat_sequence_is_a_small_patch():
    start = start_position_beat("alpha1")
    beats = generate_beats(start.end_position, 64, level=1, max_turns=1, rng=random.Random(1))
    seq = SequenceData(id="s" * 36, name="Long", start_position=start, beats=normalize_beats(start, beats))
    edited, _ = with_beat_changed(seq, 32, {"red_turns": 1})
    before, after = seq.to_dict(), edited.to_dict()
    p = patch.diff(before, after)
    assert len(json.dumps(p)) < len(json.dumps(before)) // 10  # the beats after it change orientation too
    assert patch.backward(after, p) == before and patch.forward(before, p) == after
