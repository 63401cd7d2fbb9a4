"""A dictionary image's ``metadata`` chunk: read from the app's own PNGs, refused cleanly otherwise."""

from __future__ import annotations

import io
import json
import random
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from app.domain import SequenceData, generate_beats, start_position_beat
from app.formats import InvalidFile, dictionary_metadata, load_sequence_file, read_png
from app.pictures import sheet_png

from .support import beat_key, fixture

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sequence(length=8, position="alpha1"):
    beats = generate_beats(position, length, level=3, max_turns=2, rng=random.Random(16))
    return SequenceData(id="s1", name="Sheet", beats=beats, start_position=start_position_beat(position),
                        metadata={"author": "Austen", "prop_type": "staff"}, created_at="2024-08-26T10:00:00Z")


@pytest.fixture(scope="module")
def app_png():
    seq = sequence()
    return seq, sheet_png(seq, dictionary_metadata(seq))


def png_with(add=None, size=(4, 4)):
    """A small PNG; ``add(info)`` puts text chunks in."""
    info = PngImagePlugin.PngInfo()
    if add:
        add(info)
    out = io.BytesIO()
    Image.new("RGB", size, "white").save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def chunks(data):
    """The PNG's chunks as (type, body) pairs."""
    pos, out = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        out.append((data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return out


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def assemble(parts):
    return SIGNATURE + b"".join(chunk(kind, body) for kind, body in parts)


def rule_of(data):
    with pytest.raises(InvalidFile) as caught:
        read_png(data)
    assert caught.value.field == "file" and caught.value.code == "invalid_file"
    return caught.value.rule


# ---------------------------------------------------------------- the app's own images

def test_the_apps_own_png_gives_back_its_metadata(app_png):
    seq, png = app_png
    assert read_png(png) == json.loads(json.dumps(dictionary_metadata(seq)))


def test_loading_the_apps_own_png(app_png):
    seq, png = app_png
    loaded = load_sequence_file(png)
    assert loaded.shape == "png"
    assert loaded.metadata == {"author": "Austen", "prop_type": "staff", "date_added": "2024-08-26T10:00:00Z"}
    assert beat_key(loaded.start) == beat_key(seq.start_position)
    assert [beat_key(b) for b in loaded.beats] == [beat_key(b) for b in seq.beats]


@pytest.mark.parametrize("add", [
    lambda info, text: info.add_text("metadata", text),  # tEXt (ASCII JSON, as json.dumps writes it)
    lambda info, text: info.add_text("metadata", text, zip=True),  # zTXt
    lambda info, text: info.add_itxt("metadata", text),  # iTXt
    lambda info, text: info.add_itxt("metadata", text, zip=True),  # compressed iTXt
], ids=["tEXt", "zTXt", "iTXt", "iTXt-zip"])
def test_every_text_chunk_kind(add):
    text = json.dumps(fixture("dictionary"))
    png = png_with(lambda info: add(info, text))
    assert read_png(png) == fixture("dictionary")
    assert [b.letter for b in load_sequence_file(png).beats] == ["A", "B", "Σ", "Z"]


def test_utf8_written_into_a_latin1_text_chunk_is_repaired():
    text = json.dumps(fixture("current"), ensure_ascii=False).encode("utf-8")
    png = png_with(lambda info: info.add(b"tEXt", b"metadata\0" + text))
    assert read_png(png)[0]["word"] == "ABΣZ"


def test_a_chunk_after_the_pixels_is_found():
    png = png_with(lambda info: info.add_text("metadata", "[]"))
    parts = chunks(png)
    text = [p for p in parts if p[0] == b"tEXt"]
    rest = [p for p in parts if p[0] != b"tEXt"]
    assert read_png(assemble(rest[:-1] + text + rest[-1:])) == []


# ---------------------------------------------------------------- refused, always as InvalidFile

@pytest.mark.parametrize("data", [b"", b"GIF89a\x01\x00", b"[]", b'{"sequence": []}', "a string", None, SIGNATURE[:7]])
def test_not_a_png(data):
    assert rule_of(data) == "file.not_png"


def test_a_png_without_the_chunk():
    assert rule_of(png_with(lambda info: info.add_text("Software", "other"))) == "file.no_metadata"


@pytest.mark.parametrize("text", ["not json", "", "[1, 2", "[" * 100_000 + "]" * 100_000])
def test_a_chunk_that_is_not_json(text):
    assert rule_of(png_with(lambda info: info.add_text("metadata", text))) == "file.metadata_not_json"


def test_truncated_pngs(app_png):
    png = app_png[1]
    for end in list(range(8, 200)) + list(range(200, len(png) - 1, 97)):
        try:
            read_png(png[:end])
        except InvalidFile as exc:
            assert exc.rule in {"file.damaged", "file.no_metadata"}, end


def test_a_huge_declared_image_is_refused_before_decoding():
    parts = chunks(png_with(lambda info: info.add_text("metadata", "[]")))
    huge = [(b"IHDR", struct.pack(">II", 100_000, 100_000) + parts[0][1][8:])] + parts[1:]
    assert rule_of(assemble(huge)) == "file.too_large"


def test_a_huge_declared_chunk_length():
    png = png_with()
    bogus = struct.pack(">I", 0x7FFFFFF0) + b"tEXt" + b"metadata\0[]"
    assert rule_of(png[:33] + bogus + png[33:]) == "file.damaged"


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt"])
def test_a_compressed_text_bomb_is_refused(kind):
    bomb = zlib.compress(b" " * (64 * 1024 * 1024), 9)  # 64 MiB of text in ~64 KiB
    body = b"metadata\0\0" + bomb if kind == b"zTXt" else b"metadata\0\1\0\0\0" + bomb
    parts = chunks(png_with())
    assert rule_of(assemble(parts[:1] + [(kind, body)] + parts[1:])) == "file.damaged"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_hostile_bytes_only_ever_raise_invalid_file(data):
    png = png_with(lambda info: info.add_text("metadata", json.dumps(fixture("no_start"))), size=(8, 8))
    mutated = bytearray(png)
    for _ in range(data.draw(st.integers(1, 8))):
        mutated[data.draw(st.integers(0, len(png) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(8, len(mutated)))
    tail = data.draw(st.binary(max_size=64))
    try:
        load_sequence_file(bytes(mutated[:cut]) + tail)
    except InvalidFile:
        pass
