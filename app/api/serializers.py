"""Domain -> API shapes, as openapi.yaml's Sequence, Beat and Motion schemas define them.

The one difference from the domain's own form: a float's turns ("fl") is ``null`` in the API, so
typed SDKs get a plain nullable number.
"""

from __future__ import annotations

from typing import Any, Mapping

from app.core.commands import HistoryEntry
from app.domain.cap import cap_info
from app.domain.letters import LetterInfo
from app.domain.models import BeatData, SequenceData
from app.domain.motions import MotionData


def _v(value: Any) -> Any:
    return None if value is None else getattr(value, "value", value)


def motion_out(m: MotionData | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {
        "motion_type": m.motion_type.value, "prop_rot_dir": m.prop_rot_dir.value,
        "start_loc": m.start_loc.value, "end_loc": m.end_loc.value,
        "turns": None if m.turns == "fl" else m.turns,
        "start_ori": m.start_ori.value, "end_ori": m.end_ori.value,
        "prefloat_motion_type": _v(m.prefloat_motion_type), "prefloat_prop_rot_dir": _v(m.prefloat_prop_rot_dir),
    }


def beat_out(b: BeatData | None) -> dict[str, Any] | None:
    if b is None:
        return None
    return {
        "id": b.id, "beat_number": b.beat_number, "letter": b.letter, "letter_type": _v(b.letter_type),
        "start_position": b.start_position, "end_position": b.end_position,
        "timing": _v(b.timing) or "none", "direction": _v(b.direction) or "none", "duration": b.duration,
        "blue_motion": motion_out(b.blue_motion), "red_motion": motion_out(b.red_motion),
        "blue_reversal": b.blue_reversal, "red_reversal": b.red_reversal, "is_blank": b.is_blank,
        "metadata": dict(b.metadata),
    }


def sequence_out(s: SequenceData | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "id": s.id, "name": s.name, "word": s.word, "beats": [beat_out(b) for b in s.beats],
        "start_position": s.start_position_name, "start_position_beat": beat_out(s.start_position),
        "end_position": s.end_position, "grid_mode": _v(s.grid_mode), "length": s.length, "level": s.level,
        "is_circular": s.is_circular, **_cap(s), "version": s.version, "created_at": s.created_at,
        "updated_at": s.updated_at, "metadata": dict(s.metadata),
    }


def letter_info_out(info: LetterInfo) -> dict[str, Any]:
    return {"letter": info.letter, "letter_type": _v(info.letter_type), "start_position": info.start_position,
            "end_position": info.end_position, "timing": _v(info.timing), "direction": _v(info.direction)}


def history_entry_out(e: HistoryEntry) -> dict[str, Any]:
    return {"command_id": e.command_id, "sequence_id": e.sequence_id, "description": e.description,
            "kind": e.kind, "state": e.state.value, "created_at": e.created_at,
            "version_before": e.version_before, "version_after": e.version_after}


def event_data_out(data: Mapping[str, Any]) -> dict[str, Any]:
    """Stored event data with its sequence and beats in openapi.yaml's shapes (asyncapi.yaml)."""
    out = dict(data)
    if isinstance(out.get("sequence"), Mapping):
        out["sequence"] = sequence_out(SequenceData.from_dict(out["sequence"]))
    for key in ("beat", "removed_beat"):
        if isinstance(out.get(key), Mapping):
            out[key] = beat_out(BeatData.from_dict(out[key]))
    return out


def _cap(s: SequenceData) -> dict[str, Any]:
    info = cap_info(s)
    return {"can_be_cap": info.can_be_cap,
            "cap_kinds": [{"cap_type": str(k.cap_type), "slice_size": str(k.slice_size)} for k in info.kinds]}
