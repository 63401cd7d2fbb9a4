"""Operations of the ``pictures`` tag: a sequence or one beat drawn as SVG, the sheet as PNG."""

from __future__ import annotations

import flask

from app.api.http import none_match, views
from app.api.problems import ApiProblem
from app.core.greenlets import offload
from app.domain import SequenceData
from app.formats import dictionary_metadata
from app.pictures import RENDERER_REVISION, beat_svg, sheet_png, sheet_svg

SVG = "image/svg+xml"


def _picture(seq: SequenceData, mimetype: str, draw) -> flask.Response:
    """``draw()``'s bytes with an ETag from the sequence's version, or 304 when the client's copy
    is that one. Either way the client is asked to check again before reusing it."""
    tag = f'"{seq.version}-p{RENDERER_REVISION}"'
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if none_match(tag):
        return flask.Response(status=304, headers=headers)
    return flask.Response(draw(), mimetype=mimetype, headers=headers)


def get_sequence_image_svg(sequence_id: str, size: int = 160) -> flask.Response:
    seq = views().get_sequence(sequence_id)
    return _picture(seq, SVG, lambda: sheet_svg(seq, size))


def get_sequence_image_png(sequence_id: str, size: int = 160) -> flask.Response:
    seq = views().get_sequence(sequence_id)
    # ~0.1 s of CPU for 64 beats, mostly in resvg, which lets go of the GIL: on a thread of its own
    # under gevent, the worker's other requests and sockets carry on meanwhile.
    return _picture(seq, "image/png", lambda: offload(sheet_png, seq, dictionary_metadata(seq), size))


def get_beat_image_svg(sequence_id: str, beat_number: int, size: int = 300) -> flask.Response:
    seq = views().get_sequence(sequence_id)
    if beat_number == 0:
        beat = seq.start_position
        if beat is None:
            raise ApiProblem(404, "not_found", f"sequence {sequence_id} has no start position")
    elif beat_number <= len(seq.beats):
        beat = seq.beats[beat_number - 1]
    else:
        raise ApiProblem(404, "not_found", f"sequence {sequence_id} has {len(seq.beats)} beats, not {beat_number}")
    return _picture(seq, SVG, lambda: beat_svg(beat, seq.grid_mode, size))
