"""app.core.jsontext: what orjson writes reads back as what was written, and what it refuses
(integers beyond 64 bits) the standard library writes instead."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from app.core.jsontext import dumps

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                       max_leaves=20)


@given(_VALUES)
def test_what_is_written_reads_back_the_same(value):
    text = dumps(value)
    assert isinstance(text, str)
    assert json.loads(text) == value


def test_compact_with_characters_as_they_are():
    assert dumps({"name": "Ωmega ✓", "beats": [1, 2.5, None, True]}) == '{"name":"Ωmega ✓","beats":[1,2.5,null,true]}'


def test_an_integer_beyond_64_bits_is_written_exactly():
    assert dumps({"big": 2**70, "small": -(2**65)}) == '{"big":1180591620717411303424,"small":-36893488147419103232}'
