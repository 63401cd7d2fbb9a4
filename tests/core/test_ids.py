"""app.core.ids: UUID text made without uuid.UUID objects, exactly as uuid.UUID would write it."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from app.core import ids
from app.core.ids import new_id, random_uuid, uuid7_text, uuid_text


@given(st.integers(0, 2**128 - 1))
def test_uuid_text_is_what_uuid_writes(value):
    assert uuid_text(value) == str(uuid.UUID(int=value))


@given(st.integers(0, 2**48 - 1), st.integers(0, 2**48 - 1), st.integers(0, 2**80 - 1), st.integers(0, 2**80 - 1))
def test_ids_are_uuid7_and_sort_by_creation_time(ms_a, ms_b, rand_a, rand_b):
    a, b = uuid7_text(ms_a, rand_a), uuid7_text(ms_b, rand_b)
    for text, ms in ((a, ms_a), (b, ms_b)):
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert parsed.int >> 80 == ms
    if ms_a < ms_b:
        assert a < b  # as text too: the store's indexes compare the strings


def test_new_ids_are_fresh_uuid7_of_the_clocks_millisecond(monkeypatch):
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_764_158_400_123_456_789)  # a fixed clock
    made = [new_id() for _ in range(2000)]
    assert len(set(made)) == len(made)  # the random bits tell ids of one millisecond apart
    assert all(uuid.UUID(i).int >> 80 == 1_764_158_400_123 and uuid.UUID(i).version == 7 for i in made)


def test_random_uuids_are_version_4_and_fresh():
    ids = [random_uuid() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert len({text[i] for text in ids for i in (0, 9, 24, 35)}) == 16  # the other digits do vary
