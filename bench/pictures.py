"""Issue 15: the cost of a picture, CPU per image, each next to a same-run baseline.

* ``beat_svg``: one beat's pictograph as SVG (goal ≤ 1 ms), against serialising the same beat to
  the API's JSON (``json_beat``);
* ``sheet_svg``: a 64-beat sheet as SVG, against the same sequence's JSON;
* ``sheet_png``: the 64-beat sheet as PNG with its ``metadata`` chunk (goal ≤ 150 ms), split into
  rasterising and writing, against the alternatives measured when the path was chosen: resvg
  writing its own PNG, Pillow writing 24-bit RGB instead of mapping to the fixed palette, and resvg laying
  out real ``<text>`` instead of the cached glyph outlines.

CPU time (``time.process_time``), the median of repeated runs, sequences generated with a fixed
seed (level 3: turns, floats and every letter type occur).
"""

from __future__ import annotations

import io
import json
import random
import statistics
import time
from typing import Any, Callable

from bench.stats import ratio

BEAT_GOAL_MS = 1.0
PNG_GOAL_MS = 150.0


def _median_ms(fn: Callable[[], Any], runs: int, inner: int = 1) -> float:
    samples = []
    for _ in range(runs):
        start = time.process_time()
        for _ in range(inner):
            fn()
        samples.append((time.process_time() - start) * 1000 / inner)
    return round(statistics.median(samples), 4)


def _sequence(length: int):
    from app.domain import SequenceData, generate_beats, start_position_beat

    beats = generate_beats("alpha1", length, level=3, max_turns=3, rng=random.Random(15))
    return SequenceData(id="bench", name="Bench", beats=beats, start_position=start_position_beat("alpha1"),
                        metadata={"author": "bench"}, version=1)


def _png_figures(seq, metadata: dict[str, Any], size: int, runs: int) -> dict[str, Any]:
    """The sheet as PNG at ``size`` px a pictograph: all of it, its two steps, the alternatives."""
    import svg2png_py
    from PIL import Image

    from app.pictures import png as png_module
    from app.pictures import sheet_png, sheet_svg
    from app.pictures.glyphs import FONT_FILES

    font_db, options = png_module._FONT_DB, png_module._OPTIONS
    svg = sheet_svg(seq, size, outlines=True)
    # The alternative: real <text>, laid out by resvg from the same fonts.
    text_db = svg2png_py.FontDatabase()
    for font in FONT_FILES.values():
        text_db.load_font_file(str(font))
    text_svg = sheet_svg(seq, size)
    rasterise_text = _median_ms(lambda: svg2png_py.svg_to_rgba(text_svg, text_db, options=options), runs)
    total = _median_ms(lambda: sheet_png(seq, metadata, size), runs)
    pixels, width, height = svg2png_py.svg_to_rgba(svg, font_db, options=options)
    rasterise = _median_ms(lambda: svg2png_py.svg_to_rgba(svg, font_db, options=options), runs)
    rgb = Image.frombuffer("RGBa", (width, height), bytes(pixels), "raw", "RGBa", 0, 1).convert("RGB")

    def write_palette() -> bytes:
        out = io.BytesIO()
        rgb.quantize(palette=png_module.PALETTE, dither=Image.Dither.NONE).save(
            out, format="PNG", compress_level=png_module.COMPRESS_LEVEL)
        return out.getvalue()

    def write_rgb() -> bytes:
        out = io.BytesIO()
        rgb.save(out, format="PNG", compress_level=png_module.COMPRESS_LEVEL)
        return out.getvalue()

    resvg_png = _median_ms(lambda: svg2png_py.svg_to_png(svg, font_db, options=options), runs)
    return {
        "pixels": f"{width}x{height}", "ms": total, "bytes": len(sheet_png(seq, metadata, size)),
        "rasterise_ms": rasterise, "write_palette_ms": _median_ms(write_palette, runs),
        "baseline_rasterise_text_ms": rasterise_text, "ratio_rasterise_vs_text": ratio(rasterise, rasterise_text),
        "baseline_resvg_png_ms": resvg_png, "ratio_vs_resvg_png": ratio(total, resvg_png),
        "baseline_rgb_write_ms": _median_ms(write_rgb, runs), "rgb_bytes": len(write_rgb()),
        "metadata_json_bytes": len(json.dumps(metadata, ensure_ascii=False).encode()),
        "goal_ms": PNG_GOAL_MS, "meets_goal": total <= PNG_GOAL_MS,
    }


def main(quick: bool = False) -> dict[str, Any]:
    from app.api.serializers import beat_out, sequence_out
    from app.core import jsontext
    from app.formats import dictionary_metadata
    from app.pictures import beat_svg, sheet_svg

    runs = 5 if quick else 15
    seq = _sequence(64)
    beats = seq.beats

    def every_beat_svg() -> None:
        for beat in beats:
            beat_svg(beat)

    def every_beat_json() -> None:
        for beat in beats:
            jsontext.dumps(beat_out(beat))

    beat_ms = _median_ms(every_beat_svg, runs) / len(beats)
    beat_json_ms = _median_ms(every_beat_json, runs) / len(beats)
    sheet_ms = _median_ms(lambda: sheet_svg(seq), runs)
    sheet_json_ms = _median_ms(lambda: jsontext.dumps(sequence_out(seq)), runs)

    result: dict[str, Any] = {
        "beats": len(beats),
        "beat_svg": {"ms": round(beat_ms, 4), "baseline_json_ms": round(beat_json_ms, 4),
                     "ratio_vs_json": ratio(beat_ms, beat_json_ms), "goal_ms": BEAT_GOAL_MS,
                     "meets_goal": beat_ms <= BEAT_GOAL_MS},
        "sheet_svg": {"ms": sheet_ms, "bytes": len(sheet_svg(seq)), "baseline_json_ms": sheet_json_ms,
                      "ratio_vs_json": ratio(sheet_ms, sheet_json_ms)},
        "sheet_png": {},
    }
    png_runs = 3 if quick else 9
    metadata = dictionary_metadata(seq)
    result["sheet_png"] = {str(size): _png_figures(seq, metadata, size, png_runs) for size in (160, 200)}
    return result


def _verdict(figures: dict[str, Any]) -> str:
    return "meets" if figures["meets_goal"] else "BELOW"


def table(result: dict[str, Any]) -> str:
    b, s = result["beat_svg"], result["sheet_svg"]
    lines = [
        f"  one beat SVG          {b['ms']:8.4f} ms  (goal <= {b['goal_ms']} ms: {_verdict(b)})"
        f"  baseline: the beat's JSON {b['baseline_json_ms']:.4f} ms  ratio {b['ratio_vs_json']}",
        f"  {result['beats']}-beat sheet SVG     {s['ms']:8.3f} ms  {s['bytes']:,} B"
        f"  baseline: the sequence's JSON {s['baseline_json_ms']:.3f} ms  ratio {s['ratio_vs_json']}",
    ]
    for size, p in result["sheet_png"].items():
        lines.append(
            f"  {result['beats']}-beat sheet PNG @{size} {p['ms']:8.1f} ms  {p['pixels']} {p['bytes']:,} B"
            f"  (rasterise {p['rasterise_ms']:.1f} + palette write {p['write_palette_ms']:.1f};"
            f" goal <= {p['goal_ms']:g} ms: {_verdict(p)})"
            f"  baselines: resvg's own PNG {p['baseline_resvg_png_ms']:.1f} ms (ratio {p['ratio_vs_resvg_png']}),"
            f" RGB write {p['baseline_rgb_write_ms']:.1f} ms {p['rgb_bytes']:,} B,"
            f" rasterising <text> {p['baseline_rasterise_text_ms']:.1f} ms (ratio {p['ratio_rasterise_vs_text']})")
    return "\n".join(lines)
