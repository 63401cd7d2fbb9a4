"""The sheet as PNG: the SVG, its text drawn as outlines of the fonts shipped beside this module
(glyphs.py), rasterised by resvg (the svg2png-py wheel, no system library), then written by
Pillow as a palette PNG with the sequence in a ``metadata`` text chunk, as the desktop apps'
dictionary images carry it.

Chosen by measurement (issue 15's closing note; ``make bench`` reports the figures): of the
rasterisers that install from PyPI alone, resvg drew everything right and fastest (cairosvg needs
the system's cairo, skia-python drew no text, thorvg dropped bold and anchored text). Rendering
to raw pixels and letting Pillow map them to a fixed palette beats resvg's own PNG writer in time
and gives under half its bytes.
"""

from __future__ import annotations

import io
import json
from typing import Any

import svg2png_py
from PIL import Image, PngImagePlugin

from app.domain import SequenceData

from .svg import BLUE, RED, sheet_svg

# Empty: the SVG rasterised here has its text as outlines (glyphs.py), and system fonts are never
# read, so every machine draws the same picture.
_FONT_DB = svg2png_py.FontDatabase()
_OPTIONS = svg2png_py.RenderOptions()
COMPRESS_LEVEL = 1
EDGE_STEPS = 21  # shades between white and each ink, for anti-aliased edges


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)


def _palette() -> Image.Image:
    """What a sheet is drawn with: white, black and the two hands' colours exactly, the shades of
    their anti-aliased edges on white, and a few mixes where two inks meet (73 colours). Mapping
    to a fixed palette keeps TKA's blue and red exact; the palette PNG is under half the bytes of
    24-bit RGB and, mapping included, faster to write (make bench, pictures)."""
    inks = [(0, 0, 0), _rgb(BLUE), _rgb(RED)]
    colours = [(255, 255, 255)]
    for ink in inks:
        colours += [tuple(round(255 + (c - 255) * step / EDGE_STEPS) for c in ink) for step in range(1, EDGE_STEPS + 1)]
    for i, a in enumerate(inks):
        for b in inks[i + 1:]:
            colours += [tuple(round(x * (1 - t) + y * t) for x, y in zip(a, b, strict=True)) for t in (0.25, 0.5, 0.75)]
    image = Image.new("P", (1, 1))
    image.putpalette([channel for colour in colours for channel in colour])
    return image


PALETTE = _palette()


def svg_to_png(svg: str, text: dict[str, str] | None = None) -> bytes:
    """``svg`` as an opaque PNG, with ``text`` as (compressed) iTXt chunks."""
    pixels, width, height = svg2png_py.svg_to_rgba(svg, _FONT_DB, options=_OPTIONS)
    image = Image.frombuffer("RGBa", (width, height), bytes(pixels), "raw", "RGBa", 0, 1).convert("RGB")
    image = image.quantize(palette=PALETTE, dither=Image.Dither.NONE)
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_itxt(key, value, zip=True)
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info, compress_level=COMPRESS_LEVEL)
    return out.getvalue()


def sheet_png(seq: SequenceData, metadata: dict[str, Any], size: int = 160) -> bytes:
    """The sequence sheet as PNG carrying ``metadata`` (JSON) in its ``metadata`` chunk."""
    return svg_to_png(sheet_svg(seq, size, outlines=True), {"metadata": json.dumps(metadata, ensure_ascii=False)})
