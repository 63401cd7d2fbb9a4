"""SVG text for a beat's pictograph, the start tile and a whole sequence sheet.

Every pictograph is drawn on TKA's 950 × 950 canvas (tka-pictograph.md): the grid's dots, each
hand's arrow (above its prop, as TKA's web app stacks them), the two staffs, the letter, the
beat number. A sheet lays the start tile and the beats out as the desktop's beat frame does
(§5): the start tile in column 0, then four beats a row from five beats on.

What a reader needs to check a drawing against the rules is in the geometry, not in labels:
a prop's group is ``translate(hand point) rotate(angle)``, an arrow's path starts at its start
hand point and its head's tip is its end hand point, an arc's sweep flag is its turning sense.
"""

from __future__ import annotations

import math
from typing import Iterable
from xml.sax.saxutils import escape

from app.domain import BeatData, GridMode, MotionData, MotionType, SequenceData, grid_mode_of_location

from . import geometry as g
from .glyphs import outline

#: Goes into every picture's ETag: raise it when a change to the drawing changes the output.
RENDERER_REVISION = 1
BLUE, RED = "#2E3192", "#ED1C24"
FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"
TITLE_BAND = 250.0  # canvas units above the first row: the word and the author/level line
BEAT_COLUMNS = 4  # beat columns from five beats on (§5)
AUTHOR_CHARS = 60  # of metadata.author on the sheet's info line

_STROKE = 14
_HEAD_LENGTH, _HEAD_HALF_WIDTH = 54.0, 30.0
# The staff (§2): a shaft with a rounded low end and a T cap at +x, drawn about its centre.
_STAFF = ("M-112.6,-10 H106.8 V-35 a2.5,2.5 0 0 1 2.5,-2.5 h13.3 a2.5,2.5 0 0 1 2.5,2.5 V35 "
          "a2.5,2.5 0 0 1 -2.5,2.5 h-13.3 a2.5,2.5 0 0 1 -2.5,-2.5 V10 H-112.6 a10,10 0 0 1 0,-20 Z")


def _n(value: float) -> str:
    """A coordinate with one decimal, without a trailing ``.0``."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else ("0" if text == "-0.0" else text)


def _attribute(text: str) -> str:
    """``text`` escaped for a double-quoted attribute."""
    return escape(text, {'"': "&quot;"})


def _grid(mode: GridMode) -> str:
    centre_r = "12" if mode is GridMode.DIAMOND else "11.2"
    parts = [f'<g class="grid {mode}"><circle cx="475" cy="475" r="{centre_r}"/>']
    for loc in g.HAND_LOCATIONS[mode]:
        x, y = g.hand_point(loc)
        parts.append(f'<circle class="hand-point" data-loc="{loc}" cx="{_n(x)}" cy="{_n(y)}" r="8"/>')
    for loc in g.HAND_LOCATIONS[mode]:
        x, y = g.point_at(loc, g.OUTER_RADIUS)
        if mode is GridMode.DIAMOND:
            parts.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="25"/>')
        else:
            parts.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="20" fill="none" stroke="#000" stroke-width="10"/>')
    parts.append("</g>")
    return "".join(parts)


_GRIDS = {mode: _grid(mode) for mode in GridMode}


def _prop(colour: str, fill: str, motion: MotionData, place: g.PropPlacement) -> str:
    x, y = place.centre
    return (f'<g class="prop {colour}" data-loc="{motion.end_loc}" data-ori="{motion.end_ori}" '
            f'transform="translate({_n(x)} {_n(y)}) rotate({_n(place.angle)})">'
            f'<path d="{_STAFF}" fill="{fill}" stroke="#fff" stroke-width="2.75"/></g>')


def _stroke_and_head(path: g.Arc | g.Line, fill: str, css: str, dashed: bool = False) -> str:
    """The path's stroke, stopped short of its end, and a filled head whose tip is the end."""
    (ex, ey), (dx, dy) = path.end, g.end_direction(path)
    back = _HEAD_LENGTH * 0.6
    if isinstance(path, g.Line):
        d = f"M{_n(path.start[0])},{_n(path.start[1])} L{_n(ex - dx * back)},{_n(ey - dy * back)}"
    else:
        cx, cy = path.centre
        end_angle = math.atan2(ey - cy, ex - cx) + (-1 if path.clockwise else 1) * back / path.radius
        sx, sy = cx + path.radius * math.cos(end_angle), cy + path.radius * math.sin(end_angle)
        start_angle = math.atan2(path.start[1] - cy, path.start[0] - cx)
        swept = (end_angle - start_angle) * (1 if path.clockwise else -1) % (2 * math.pi)
        large = 1 if swept > math.pi else 0
        d = (f"M{_n(path.start[0])},{_n(path.start[1])} A{_n(path.radius)},{_n(path.radius)} 0 {large} "
             f"{1 if path.clockwise else 0} {_n(sx)},{_n(sy)}")
    bx, by = ex - dx * _HEAD_LENGTH, ey - dy * _HEAD_LENGTH
    nx, ny = -dy * _HEAD_HALF_WIDTH, dx * _HEAD_HALF_WIDTH
    head = (f"M{_n(ex)},{_n(ey)} L{_n(bx + nx)},{_n(by + ny)} L{_n(bx - nx)},{_n(by - ny)} Z")
    dash = ' stroke-dasharray="26 14"' if dashed else ""
    return (f'<path class="{css}-path" d="{d}" fill="none" stroke="{fill}" stroke-width="{_STROKE}"{dash}/>'
            f'<path class="{css}-head" d="{head}" fill="{fill}"/>')


def _turns_text(motion: MotionData) -> str:
    turns = motion.turns
    if turns == "fl" or motion.motion_type == MotionType.FLOAT:
        return "fl"
    return "" if turns == 0 else f"{turns:g}"


def _text(content: str, x: float, y: float, size: float, css: str, *, outlines: bool, fill: str = "#000",
          bold: bool = True, anchor: str = "start", halo: bool = False) -> str:
    """A line of text whose baseline starts (or, anchored "middle", is centred) at (x, y): a
    ``<text>``, or with ``outlines`` its glyphs as one path (what the PNG rasterises, glyphs.py)."""
    paint = f' fill="{fill}"' + (' stroke="#fff" stroke-width="6" paint-order="stroke"' if halo else "")
    if outlines:
        d, width = outline(content, size, bold)
        left = x - width / 2 if anchor == "middle" else x
        return f'<path class="{css}" transform="translate({_n(left)} {_n(y)})" d="{d}"{paint}/>'
    weight = ' font-weight="bold"' if bold else ""
    return (f'<text class="{css}" x="{_n(x)}" y="{_n(y)}" font-size="{_n(size)}"{weight} '
            f'text-anchor="{anchor}"{paint}>{escape(content)}</text>')


def _arrow(colour: str, fill: str, motion: MotionData, outlines: bool) -> str:
    parts = [f'<g class="arrow {colour} {motion.motion_type}" data-rot="{motion.prop_rot_dir}">']
    path = g.arrow_path(motion)
    if path is not None:
        parts.append(_stroke_and_head(path, fill, "arrow", dashed=motion.motion_type == MotionType.FLOAT))
    spin = g.spin_arc(motion)
    if spin is not None:
        parts.append(_stroke_and_head(spin, fill, "spin"))
    label = _turns_text(motion)
    if label:
        x, y = g.label_point(motion)
        parts.append(_text(label, x, y + 22, 64, "turns", outlines=outlines, fill=fill, anchor="middle"))
    parts.append("</g>")
    return "".join(parts)


def _pictograph_body(beat: BeatData | None, mode: GridMode, number: str, outlines: bool) -> str:
    parts = [_GRIDS[mode]]
    if beat is not None and not beat.is_blank and beat.blue_motion is not None and beat.red_motion is not None:
        blue, red = beat.blue_motion, beat.red_motion
        blue_place, red_place = g.place_props(blue, red)
        parts += [_prop("red", RED, red, red_place), _arrow("red", RED, red, outlines),
                  _prop("blue", BLUE, blue, blue_place), _arrow("blue", BLUE, blue, outlines)]
        if beat.letter:
            parts.append(_text(beat.letter, 60, 885, 150, "letter", outlines=outlines, halo=True))
        reversals = (("red", RED, beat.red_reversal, 430), ("blue", BLUE, beat.blue_reversal, 530))
        for colour, fill, reversed_, y in reversals:  # the reversal glyph, red above blue
            if reversed_:
                parts.append(_text("R", 40, y, 60, f"reversal {colour}", outlines=outlines, fill=fill))
    start = number == "Start"
    parts.append(_text(number, 40, 105 if start else 115, 80 if start else 100, "number", outlines=outlines, halo=True))
    return "".join(parts)


def _beat_mode(beat: BeatData | None, fallback: GridMode) -> GridMode:
    if beat is not None and beat.blue_motion is not None:
        return grid_mode_of_location(beat.blue_motion.start_loc)
    return fallback


def _tile(beat: BeatData | None, mode: GridMode, *, start: bool, x: float, y: float, outlines: bool) -> str:
    """One pictograph as a group placed at (x, y) on a sheet, with its title."""
    if start:
        title, css, number, attrs = "Start position", "start", "Start", ' data-beat="0"'
        if beat is not None and beat.letter:
            title += f": {beat.letter} ({beat.end_position})"
    else:
        assert beat is not None
        css, number = "beat", str(beat.beat_number)
        title = f"Beat {beat.beat_number}: " + (beat.letter if beat.letter and not beat.is_blank else "blank")
        attrs = f' data-beat="{beat.beat_number}" data-letter="{_attribute(beat.letter or "")}"'
    return (f'<g class="{css}"{attrs} transform="translate({_n(x)} {_n(y)})"><title>{escape(title)}</title>'
            f"{_pictograph_body(beat, _beat_mode(beat, mode), number, outlines)}</g>")


def _document(width_units: float, height_units: float, scale: float, label: str, body: Iterable[str]) -> str:
    width, height = round(width_units * scale), round(height_units * scale)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {_n(width_units)} {_n(height_units)}" role="img" aria-label="{_attribute(label)}" '
            f'font-family="{FONT}">' + "".join(body) + "</svg>")


def _background(width: float, height: float) -> str:
    """White, as TKA draws; a page can make it transparent with CSS (``.background {fill: none}``)."""
    return f'<rect class="background" width="{_n(width)}" height="{_n(height)}" fill="#fff"/>'


def beat_svg(beat: BeatData, mode: GridMode = GridMode.DIAMOND, size: int = 300, *, outlines: bool = False) -> str:
    """One beat's pictograph as a standalone SVG ``size`` pixels square (``outlines``: text as paths)."""
    tile = _tile(beat, mode, start=beat.beat_number == 0, x=0, y=0, outlines=outlines)
    return _document(g.CANVAS, g.CANVAS, size / g.CANVAS, f"Beat {beat.beat_number}",
                     [_background(g.CANVAS, g.CANVAS), tile])


def layout(beats: int) -> tuple[int, int]:
    """(beat columns, rows) of a sheet of ``beats`` beats: one row up to four, then four a row."""
    columns = min(beats, BEAT_COLUMNS)
    rows = max(1, -(-beats // columns)) if columns else 1
    return columns, rows


def sheet_svg(seq: SequenceData, size: int = 160, *, outlines: bool = False) -> str:
    """The sequence as TKA's beat frame draws it: the word and an author/level line on top, the
    start tile in column 0, the beats from column 1, ``size`` pixels per pictograph (``outlines``:
    text as paths)."""
    columns, rows = layout(len(seq.beats))
    width, height = (columns + 1) * g.CANVAS, TITLE_BAND + rows * g.CANVAS
    mode = seq.grid_mode
    word = seq.word
    author = seq.metadata.get("author") if isinstance(seq.metadata.get("author"), str) else None
    if author and len(author) > AUTHOR_CHARS:  # metadata is free-form: a line, not a page
        author = author[:AUTHOR_CHARS - 1] + "…"
    info = " · ".join(x for x in (f"by {author}" if author else "", f"level {seq.level}",
                                  f"{len(seq.beats)} beat{'s' if len(seq.beats) != 1 else ''}") if x)
    title = word or seq.name
    # About 0.7 em a character in bold: a long word gets smaller rather than run off the sheet.
    title_size = max(24, min(120, int(0.92 * width / (0.7 * max(1, len(title))))))
    parts = [_background(width, height), f"<title>{escape(title)}</title>",
             _text(title, width / 2, 135, title_size, "word", outlines=outlines, anchor="middle", halo=True),
             _text(info, width / 2, 215, 56, "info", outlines=outlines, bold=False, anchor="middle"),
             _tile(seq.start_position, mode, start=True, x=0, y=TITLE_BAND, outlines=outlines)]
    for i, beat in enumerate(seq.beats):
        row, column = divmod(i, columns)
        parts.append(_tile(beat, mode, start=False, x=(column + 1) * g.CANVAS, y=TITLE_BAND + row * g.CANVAS,
                           outlines=outlines))
    return _document(width, height, size / g.CANVAS, f"{seq.name}: {word or 'no beats'}", parts)
