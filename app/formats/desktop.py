"""The desktop apps' sequence file (tka-domain.md §6.1), dumped with marshmallow.

A file is a list: a metadata entry, the start position (beat 0, a static α/β/Γ pictograph), then
beats 1..n, each hand's motion under ``blue_attributes`` / ``red_attributes``. The desktop apps
keep the same list, wrapped as ``{"sequence": [...], "date_added": ...}``, in the ``metadata``
text chunk of their dictionary images.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from marshmallow import Schema, fields

from app.domain import BeatData, MotionData, SequenceData, family_of
from app.domain.cap import CapInfo, cap_info


def _turns(motion: MotionData) -> float | int | str:
    turns = motion.turns
    return int(turns) if isinstance(turns, float) and turns.is_integer() else turns


class AttributesSchema(Schema):
    """One hand's motion, as the apps write it."""

    motion_type = fields.String()
    start_ori = fields.String()
    prop_rot_dir = fields.String()
    start_loc = fields.String()
    end_loc = fields.String()
    turns = fields.Function(_turns)
    end_ori = fields.String()
    prefloat_motion_type = fields.String()
    prefloat_prop_rot_dir = fields.String()

    class Meta:
        ordered = True


def _attributes(motion: MotionData) -> dict[str, Any]:
    data = AttributesSchema().dump(motion)
    if motion.prefloat_motion_type is None:  # only floats carry their former shift
        data.pop("prefloat_motion_type", None)
        data.pop("prefloat_prop_rot_dir", None)
    return data


class BeatSchema(Schema):
    """Beats 1..n."""

    beat = fields.Integer(attribute="beat_number")
    letter = fields.String()
    letter_type = fields.String()
    start_pos = fields.String(attribute="start_position")
    end_pos = fields.String(attribute="end_position")
    timing = fields.String()
    direction = fields.String()
    duration = fields.Float()
    blue_attributes = fields.Function(lambda beat: _attributes(beat.blue_motion))
    red_attributes = fields.Function(lambda beat: _attributes(beat.red_motion))

    class Meta:
        ordered = True


class StartSchema(Schema):
    """Beat 0: the start position, a static pictograph whose end seeds beat 1."""

    beat = fields.Constant(0)
    sequence_start_position = fields.Function(lambda beat: str(family_of(beat.end_position)))
    letter = fields.String()
    end_pos = fields.String(attribute="end_position")
    timing = fields.Constant("none")
    direction = fields.Constant("none")
    blue_attributes = fields.Function(lambda beat: _attributes(beat.blue_motion))
    red_attributes = fields.Function(lambda beat: _attributes(beat.red_motion))

    class Meta:
        ordered = True


def _metadata_text(seq: SequenceData, key: str, default: str) -> str:
    value = seq.metadata.get(key)
    return value if isinstance(value, str) else default


class _Header(NamedTuple):
    seq: SequenceData
    cap: CapInfo


class MetadataSchema(Schema):
    """The first entry: what the file's beats spell and how they are meant to be shown; the
    circular and CAP flags computed from the beats (app/domain/cap.py), never stored guesses."""

    word = fields.String(attribute="seq.word")
    author = fields.Function(lambda head: _metadata_text(head.seq, "author", ""))
    level = fields.Integer(attribute="seq.level")
    prop_type = fields.Function(lambda head: _metadata_text(head.seq, "prop_type", "staff"))
    grid_mode = fields.String(attribute="seq.grid_mode")
    is_circular = fields.Boolean(attribute="cap.is_circular")
    can_be_CAP = fields.Boolean(attribute="cap.can_be_cap")
    is_strict_rotated_CAP = fields.Boolean(attribute="cap.is_strict_rotated_CAP")
    is_strict_mirrored_CAP = fields.Boolean(attribute="cap.is_strict_mirrored_CAP")
    is_strict_swapped_CAP = fields.Boolean(attribute="cap.is_strict_swapped_CAP")
    is_mirrored_swapped_CAP = fields.Boolean(attribute="cap.is_mirrored_swapped_CAP")
    is_rotated_swapped_CAP = fields.Boolean(attribute="cap.is_rotated_swapped_CAP")

    class Meta:
        ordered = True


def _filled(beat: BeatData) -> bool:
    return not beat.is_blank and beat.blue_motion is not None and beat.red_motion is not None


def dump_sequence(seq: SequenceData) -> list[dict[str, Any]]:
    """``seq`` as the list a desktop app saves (blank beats are left out, as the apps do)."""
    entries: list[dict[str, Any]] = [MetadataSchema().dump(_Header(seq, cap_info(seq)))]
    if seq.start_position is not None and _filled(seq.start_position):
        entries.append(StartSchema().dump(seq.start_position))
    entries += BeatSchema(many=True).dump([beat for beat in seq.beats if _filled(beat)])
    return entries


def dictionary_metadata(seq: SequenceData) -> dict[str, Any]:
    """What a dictionary image's ``metadata`` chunk holds: the file, and when it was drawn (the
    sequence's last change, so one version always gives the same image)."""
    return {"sequence": dump_sequence(seq), "date_added": seq.updated_at or seq.created_at}
