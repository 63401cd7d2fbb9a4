"""app.core.jsontext: what orjson writes reads back as what was written, and what it refuses
(integers beyond 64 bits) the standard library writes instead; the strict reader refuses what a
client must not send, naming the rule."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.jsontext import INT64_MAX, INT64_MIN, MAX_DEPTH, JSONRefused, dumps, loads

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


# -- the strict reader -------------------------------------------------------------------------
_CLIENT_TEXT = st.text(st.characters(exclude_categories=("Cs",)))  # no surrogates
_CLIENT_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(INT64_MIN, INT64_MAX) | st.floats(allow_nan=False, allow_infinity=False)
    | _CLIENT_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_CLIENT_TEXT, inner, max_size=4), max_leaves=20)


@given(_CLIENT_VALUES)
def test_the_strict_reader_reads_what_tka_writes(value):
    assert loads(dumps(value)) == value


@pytest.mark.parametrize("text, rule", [
    ("NaN", "number"), ('{"a": -Infinity}', "number"), ("[1e309]", "number"), ("-1e400", "number"),
    ('"\\ud800"', "surrogate"), ('{"\\udc00": 1}', "surrogate"), ('["ok", "\\ud83d"]', "surrogate"),
    ("18446744073709551616", "integer"), ("-9223372036854775809", "integer"), ("9" * 5000, "integer"),
    ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "depth"), ('{"a":' * 40 + "1" + "}" * 40, "depth"),
    ("[" * 100_000 + "]" * 100_000, "depth"), ("{not json", "syntax"), (b"\xff\xfe\x00", "syntax"), ("", "syntax"),
    # bytes are UTF-8 or refused: not UTF-16 or UTF-32 (which Python's reader guesses), no byte order
    # mark, no surrogate encoded as three bytes
    ('{"a": 1}'.encode("utf-16"), "syntax"), ('{"a": 1}'.encode("utf-16-le"), "syntax"),
    ('{"a": 1}'.encode("utf-32"), "syntax"), (b'\xef\xbb\xbf{"a": 1}', "syntax"), (b'"\xed\xa0\x80"', "syntax"),
])
def test_the_strict_reader_refuses_and_names_the_rule(text, rule):
    with pytest.raises(JSONRefused) as refused:
        loads(text)
    assert refused.value.rule == rule and len(refused.value.message) < 120


def test_the_strict_reader_keeps_what_is_allowed():
    assert loads('"\\ud83d\\ude00"') == "😀"  # a surrogate pair is a character
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert loads(str(INT64_MAX)) == INT64_MAX and loads(str(INT64_MIN)) == INT64_MIN
    assert loads("1.7976931348623157e308") == 1.7976931348623157e308
    assert loads('{"name": "\u03a9mega \u2713"}'.encode()) == {"name": "\u03a9mega \u2713"}  # UTF-8 bytes
