"""Pictures of sequences: pure SVG from domain objects (no Flask), and PNG from that SVG."""

from .png import sheet_png, svg_to_png
from .svg import RENDERER_REVISION, beat_svg, layout, sheet_svg

__all__ = ["RENDERER_REVISION", "beat_svg", "layout", "sheet_png", "sheet_svg", "svg_to_png"]
