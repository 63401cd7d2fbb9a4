"""Text as outlines, for the PNG: a string's glyphs from the fonts shipped beside this module, as
one SVG path (fontTools reads the font; no shaping beyond advance widths, which Latin and Greek
letters, digits and the dash need no more than).

Why: resvg lays out and fills every ``<text>`` anew, and that was two thirds of rasterising a
64-beat sheet (59 ms against 26 ms with the same letters as cached paths; ``make bench``). A sheet
repeats a few dozen strings (beat numbers, letters, turns), so the cache below holds nearly all.
The SVG the API serves keeps real ``<text>``, which browsers draw crisply and screen readers read.
"""

from __future__ import annotations

import functools
import threading

from app.resources import FONTS  # package data (app/pictures/fonts)

FONT_FILES = {False: FONTS / "DejaVuSans.ttf", True: FONTS / "DejaVuSans-Bold.ttf"}
_LOCK = threading.Lock()  # fontTools loads tables lazily: one reader at a time


@functools.lru_cache(maxsize=2)
def _font(bold: bool):
    from fontTools.ttLib import TTFont

    font = TTFont(str(FONT_FILES[bold]))
    return font, font.getGlyphSet(), font.getBestCmap(), font["hmtx"], font["head"].unitsPerEm


@functools.lru_cache(maxsize=4096)
def outline(text: str, size: float, bold: bool) -> tuple[str, float]:
    """(path data with its baseline's left end at 0,0, advance width) of ``text`` at ``size``."""
    from fontTools.pens.svgPathPen import SVGPathPen
    from fontTools.pens.transformPen import TransformPen

    with _LOCK:
        font, glyph_set, cmap, hmtx, units = _font(bold)
        scale = size / units
        pen = SVGPathPen(glyph_set, lambda v: f"{v:.1f}")
        x = 0.0
        for char in text:
            name = cmap.get(ord(char), ".notdef")
            glyph_set[name].draw(TransformPen(pen, (scale, 0, 0, -scale, x, 0)))
            x += hmtx[name][0] * scale
        return pen.getCommands(), x
