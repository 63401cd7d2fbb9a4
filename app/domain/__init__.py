"""The Kinetic Alphabet as pure Python: positions, motions, letters, beats and sequences.

No I/O and no framework imports: services and the API build on these values and rules.
"""

from .cap import (
    CapInfo, CapKind, CapType, SliceSize, cap_info, cap_kind, complement_beat, complement_motion,
    generate_circular, mirror_beat, mirror_location, mirror_motion, start_positions_for, swap_beat,
)
from .enums import (
    FLOAT_TURNS, VALID_TURNS, Direction, Family, GridMode, HandPath, Location, LetterType, MotionType,
    Orientation, RotationDirection, Timing,
)
from .errors import (
    Discontinuity, DomainError, InvalidMotion, InvalidPosition, InvalidValue, NoLetterFits, UnknownLetter,
)
from .generator import generate_beats, turn_choices
from .input import BeatSpec, beat_index, motion_from_input, turns_from_input, with_beat_added, with_beat_changed
from .letters import (
    LETTERS, LetterInfo, LetterSpec, identify, letter_type_of, motion_pairs_for, motion_pairs_from,
)
from .limits import MAX_BEATS, MAX_DURATION, check_duration, check_length, validate_name
from .models import (
    BeatData, SequenceData, beat_from_motions, blank_beat, collapse_word, normalize_beats, rotate_beat,
    start_position_beat,
)
from .motions import (
    MotionData, candidate_motions, end_orientation, make_motion, rotate_motion, validate_motion,
)
from .positions import (
    ALL_POSITIONS, family_of, grid_mode_of, grid_mode_of_location, handpath, locations_of, position_of,
    rotate_location, rotate_position,
)

__all__ = [
    "ALL_POSITIONS", "FLOAT_TURNS", "LETTERS", "MAX_BEATS", "MAX_DURATION", "VALID_TURNS",
    "BeatData", "BeatSpec", "CapInfo", "CapKind", "CapType", "Direction", "Discontinuity", "DomainError", "Family",
    "GridMode", "HandPath",
    "InvalidMotion", "InvalidPosition", "InvalidValue", "LetterInfo", "LetterSpec", "LetterType",
    "Location", "MotionData", "MotionType", "NoLetterFits", "Orientation", "RotationDirection",
    "SequenceData", "SliceSize", "Timing", "UnknownLetter",
    "beat_from_motions", "beat_index", "blank_beat", "candidate_motions", "cap_info", "cap_kind",
    "check_duration", "check_length", "collapse_word", "complement_beat", "complement_motion",
    "end_orientation",
    "family_of", "generate_beats", "generate_circular", "grid_mode_of", "grid_mode_of_location", "handpath",
    "identify",
    "letter_type_of", "locations_of", "make_motion", "mirror_beat", "mirror_location", "mirror_motion",
    "motion_from_input", "motion_pairs_for", "motion_pairs_from",
    "normalize_beats", "position_of", "rotate_beat", "rotate_location", "rotate_motion",
    "rotate_position", "start_position_beat", "start_positions_for", "swap_beat",
    "turn_choices", "turns_from_input", "validate_motion", "validate_name",
    "with_beat_added", "with_beat_changed",
]
