"""Drawings read back and checked against the rules: for every letter of the alphabet (the 47
examples of tests/domain/data/letter-examples.csv), in both grids, with and without turns and
floats, each prop sits at its hand's end location at its end orientation's angle, each arrow runs
from its start hand point to its end hand point and turns the way its prop spins, and the letter
shown is the beat's.

The expected numbers are typed in from shared/reference/tka-pictograph.md (§1.1 point table, §2
angle table), not computed by the renderer's own geometry module."""

from __future__ import annotations

import csv
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app.domain import (
    BeatData, Location, MotionData, MotionType, RotationDirection, SequenceData, beat_from_motions, make_motion,
    rotate_beat, start_position_beat,
)
from app.pictures import beat_svg, layout, sheet_svg

SVG_NS = "{http://www.w3.org/2000/svg}"
EXAMPLES = Path(__file__).resolve().parents[1] / "domain" / "data" / "letter-examples.csv"
ROWS = list(csv.DictReader(EXAMPLES.open(encoding="utf-8", newline="")))

# §1.1: hand points of both grids.
HAND_POINT = {
    "n": (475, 331.9), "e": (618.1, 475), "s": (475, 618.1), "w": (331.9, 475),
    "ne": (576.2, 373.8), "se": (576.2, 576.2), "sw": (373.8, 576.2), "nw": (373.8, 373.8),
}
# §2: the angle a staff points along, by orientation and location.
PROP_ANGLE = {
    "in": {"n": 90, "e": 180, "s": 270, "w": 0, "ne": 135, "se": 225, "sw": 315, "nw": 45},
    "out": {"n": 270, "e": 0, "s": 90, "w": 180, "ne": 315, "se": 45, "sw": 135, "nw": 225},
    "clock": {"n": 0, "e": 90, "s": 180, "w": 270, "ne": 45, "se": 135, "sw": 225, "nw": 315},
    "counter": {"n": 180, "e": 270, "s": 0, "w": 90, "ne": 225, "se": 315, "sw": 45, "nw": 135},
}
CLOCKWISE = ["n", "ne", "e", "se", "s", "sw", "w", "nw"]
BETA_OFFSET = 950 / 45
NEAR = 0.25  # coordinates are written with one decimal

_TRANSFORM = re.compile(r"translate\(([-\d.]+) ([-\d.]+)\) rotate\(([-\d.]+)\)")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _motion(row: dict[str, str], colour: str, turns, start_ori: str) -> MotionData:
    kind = MotionType(row[f"{colour}_motion_type"])
    rot = RotationDirection(row[f"{colour}_prop_rot_dir"])
    if kind in (MotionType.STATIC, MotionType.DASH):  # a turning static or dash needs a direction
        rot = RotationDirection.NO_ROT if turns in (0, "fl") else (
            RotationDirection.CCW if row["letter"] in "ΦΨΛαβΓ" else RotationDirection.CW)
        turns = 0 if turns == "fl" else turns
    return make_motion(kind, Location(row[f"{colour}_start_loc"]), Location(row[f"{colour}_end_loc"]),
                       turns, start_ori, prop_rot_dir=None if kind in (MotionType.PRO, MotionType.ANTI) else rot)


VARIANTS = {"plain": (0, "in"), "turns": (1.5, "out"), "half": (0.5, "clock"), "float": ("fl", "counter")}


def _beats():
    for row in ROWS:
        for variant, (turns, ori) in VARIANTS.items():
            beat = beat_from_motions(_motion(row, "blue", turns, ori), _motion(row, "red", turns, ori), beat_number=7)
            yield pytest.param(row["letter"], beat, id=f"{row['letter']}-{variant}-diamond")
            yield pytest.param(row["letter"], rotate_beat(beat, 1), id=f"{row['letter']}-{variant}-box")


def _tree(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _find(root: ET.Element, css: str) -> list[ET.Element]:
    """Elements whose class attribute holds every word of ``css``."""
    want = set(css.split())
    return [el for el in root.iter() if want <= set(el.get("class", "").split())]


def _only(root: ET.Element, css: str) -> ET.Element:
    found = _find(root, css)
    assert len(found) == 1, (css, len(found))
    return found[0]


def _points(d: str) -> list[float]:
    return [float(x) for x in _NUMBER.findall(d)]


def _near(a: tuple[float, float], b: tuple[float, float], tolerance: float = NEAR) -> bool:
    return math.dist(a, b) <= tolerance


def _turns_text(motion: MotionData) -> str | None:
    if motion.motion_type == MotionType.FLOAT:
        return "fl"
    return None if motion.turns == 0 else f"{motion.turns:g}"


def _check_prop(root: ET.Element, colour: str, motion: MotionData, other: MotionData) -> tuple[float, float]:
    group = _only(root, f"prop {colour}")
    x, y, angle = (float(v) for v in _TRANSFORM.fullmatch(group.get("transform")).groups())
    assert angle == pytest.approx(PROP_ANGLE[motion.end_ori][motion.end_loc]), (colour, motion)
    shares_point = motion.end_loc == other.end_loc
    assert _near((x, y), HAND_POINT[motion.end_loc], BETA_OFFSET + NEAR if shares_point else NEAR), (colour, x, y)
    return x, y


def _check_arrow(root: ET.Element, colour: str, motion: MotionData) -> None:
    group = _only(root, f"arrow {colour}")
    paths = _find(group, "arrow-path")
    heads = _find(group, "arrow-head")
    start, end = HAND_POINT[motion.start_loc], HAND_POINT[motion.end_loc]
    if motion.motion_type == MotionType.STATIC:
        assert not paths and not heads  # a static hand has no arrow
    else:
        (path,), (head,) = paths, heads
        d = path.get("d")
        numbers = _points(d)
        assert _near((numbers[0], numbers[1]), start), (d, start)
        tip = tuple(_points(head.get("d"))[:2])
        assert _near(tip, end), (head.get("d"), end)
        if motion.motion_type in (MotionType.PRO, MotionType.ANTI):
            assert " A" in d
            sweep = int(numbers[6])
            step = (CLOCKWISE.index(motion.end_loc) - CLOCKWISE.index(motion.start_loc)) % 8
            handpath_cw = step == 2
            spins_cw = handpath_cw if motion.motion_type == MotionType.PRO else not handpath_cw
            assert sweep == int(spins_cw), ("turns the wrong way", d)
            assert sweep == int(motion.prop_rot_dir == RotationDirection.CW)
        else:  # dash through the centre, float straight and marked
            assert " L" in d and " A" not in d
            if motion.motion_type == MotionType.DASH:
                cross = (tip[0] - start[0]) * (475 - start[1]) - (tip[1] - start[1]) * (475 - start[0])
                assert abs(cross) < 1 and min(start[0], tip[0]) - NEAR <= 475 <= max(start[0], tip[0]) + NEAR
            else:
                assert path.get("stroke-dasharray")
    spins = _find(group, "spin-path")
    if motion.motion_type in (MotionType.STATIC, MotionType.DASH) and motion.turns != 0:
        (spin,) = spins
        assert int(_points(spin.get("d"))[6]) == int(motion.prop_rot_dir == RotationDirection.CW)
    else:
        assert not spins
    labels = [el.text for el in _find(group, "turns")]
    expected = _turns_text(motion)
    assert labels == ([expected] if expected else []), (colour, motion)


@pytest.mark.parametrize("letter,beat", list(_beats()))
def test_a_beat_is_drawn_by_the_rules(letter: str, beat: BeatData):
    assert beat.letter == letter  # turns and floats never change a letter
    root = _tree(beat_svg(beat))
    tile = _only(root, "beat")
    assert tile.find(f"{SVG_NS}title").text == f"Beat 7: {letter}"
    assert _only(root, "letter").text == letter
    assert _only(root, "number").text == "7"
    blue, red = beat.blue_motion, beat.red_motion
    blue_at = _check_prop(root, "blue", blue, red)
    red_at = _check_prop(root, "red", red, blue)
    if blue.end_loc == red.end_loc and (blue.end_ori in ("in", "out")) == (red.end_ori in ("in", "out")):
        assert math.dist(blue_at, red_at) == pytest.approx(2 * BETA_OFFSET, abs=0.5)  # pushed apart
    _check_arrow(root, "blue", blue)
    _check_arrow(root, "red", red)
    grid = _only(root, "grid")
    points = {el.get("data-loc"): (float(el.get("cx")), float(el.get("cy"))) for el in _find(grid, "hand-point")}
    mode_points = ("n", "e", "s", "w") if blue.start_loc in ("n", "e", "s", "w") else ("ne", "se", "sw", "nw")
    assert set(points) == set(mode_points)
    assert all(_near(points[loc], HAND_POINT[loc]) for loc in mode_points)


def test_blue_and_red_are_the_hands_colours():
    beat = beat_from_motions(make_motion(MotionType.PRO, Location.W, Location.N),
                             make_motion(MotionType.PRO, Location.E, Location.S))
    root = _tree(beat_svg(beat))
    for colour, fill in (("blue", "#2E3192"), ("red", "#ED1C24")):
        fills = {el.get("fill") for el in _only(root, f"prop {colour}").iter() if el.get("fill")}
        assert fills == {fill}
        assert _only(root, f"arrow {colour}").find(f"{SVG_NS}path").get("stroke") == fill


def _sequence(n: int, name: str = "Demo", **metadata) -> SequenceData:
    import random

    from app.domain import generate_beats

    beats = generate_beats("alpha1", n, level=3, max_turns=2, rng=random.Random(n)) if n else ()
    return SequenceData(id="s", name=name, beats=beats, start_position=start_position_beat("alpha1"),
                        metadata=metadata, version=3)


@pytest.mark.parametrize("n,columns,rows", [(0, 0, 1), (1, 1, 1), (4, 4, 1), (5, 4, 2), (8, 4, 2), (9, 4, 3),
                                            (64, 4, 16)])
def test_a_sheet_lays_beats_out_as_the_beat_frame_does(n, columns, rows):
    assert layout(n) == (columns, rows)
    seq = _sequence(n)
    root = _tree(sheet_svg(seq, size=100))
    assert root.get("width") == str((columns + 1) * 100)
    start = _only(root, "start")
    assert start.get("data-beat") == "0" and start.find(f"{SVG_NS}title").text.startswith("Start position: α")
    x0, y0 = (float(v) for v in re.findall(r"[-\d.]+", start.get("transform")))
    tiles = _find(root, "beat")
    assert [t.get("data-beat") for t in tiles] == [str(i) for i in range(1, n + 1)]
    assert [t.get("data-letter") for t in tiles] == [b.letter for b in seq.beats]
    for i, tile in enumerate(tiles):
        x, y = (float(v) for v in re.findall(r"[-\d.]+", tile.get("transform")))
        row, column = divmod(i, columns)
        assert (x, y) == (x0 + (column + 1) * 950, y0 + row * 950)
        assert tile.find(f"{SVG_NS}title").text == f"Beat {i + 1}: {seq.beats[i].letter}"
    assert _only(root, "word").text == (seq.word or "Demo")


def test_the_title_and_info_line_escape_what_users_typed():
    seq = _sequence(2, name='<script>alert("x")</script> & co', author='Ana "<b>"')
    svg = sheet_svg(seq)
    root = _tree(svg)  # well-formed
    assert "<script>" not in svg and "<b>" not in svg
    assert _only(root, "info").text == f'by Ana "<b>" · level {seq.level} · 2 beats'
    assert "alert" in root.get("aria-label")
    long = _tree(sheet_svg(_sequence(1, author="x" * 5000), outlines=True))
    assert len(_only(long, "info").get("d")) < 60_000  # a line of at most 60 characters, not 5000


def test_a_box_sequence_draws_the_box_grid():
    seq = SequenceData(id="s", name="Box", beats=(), start_position=start_position_beat("alpha2"))
    root = _tree(sheet_svg(seq))
    assert _only(root, "grid").get("class") == "grid box"
    assert _only(root, "prop blue").get("data-loc") == "sw"


def test_for_the_png_text_becomes_outlines_of_the_shipped_font():
    """The PNG's SVG has no <text> (resvg would lay each out anew): each label is a path in the
    same place with the same class, the letters' glyphs from app/pictures/fonts."""
    seq = _sequence(5, author="Ana")
    root = _tree(sheet_svg(seq, outlines=True))
    assert not list(root.iter(f"{SVG_NS}text"))
    texts = _tree(sheet_svg(seq))
    for css in ("word", "info", "letter", "number", "turns"):
        paths, labels = _find(root, css), _find(texts, css)
        assert len(paths) == len(labels) > 0, css
        assert all(p.tag == f"{SVG_NS}path" and len(p.get("d")) > 20 for p in paths), css
    # glyphs differ by letter: A and Σ are not the same outline
    from app.pictures.glyphs import outline

    assert outline("A", 150, True)[0] != outline("Σ", 150, True)[0]
    assert outline("W-", 150, True)[1] > outline("W", 150, True)[1] > 0
