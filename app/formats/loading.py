"""Loading every sequence file the TKA desktop apps wrote (tka-domain.md §6.1), with marshmallow.

The apps wrote the same list in several shapes over the years:

* ``current``: ``[metadata, start position (beat 0), beat 1, ...]``, each hand's motion under
  ``blue_attributes`` / ``red_attributes``;
* ``dictionary``: that list wrapped as ``{"sequence": [...], "date_added": ...}``, as a dictionary
  image's ``metadata`` text chunk holds it (``png``: the image itself, read by `read_png`);
* ``flat``: older beats with ``blue_motion_type``, ``blue_start_loc``... at the beat's top level,
  the start entry holding only ``sequence_start_position``, ``end_pos`` and the end orientations;
* ``upper_case``: the keys spelled ``BEAT``, ``LETTER``, ``BLUE_ATTRIBUTES``..., with the older
  ``is_permutable`` / ``is_strictly_*_permutation`` flags in the metadata.

Each entry is loaded by the marshmallow schema of its shape into one model (`_Entry`: a letter, a
duration and each hand's motion fields), every field error of the file at once, with its path in
the file (``sequence[5].blue_attributes.start_ori``, ``sequence[3].blue_start_ori``,
``sequence[2].BLUE_ATTRIBUTES.START_ORI``). Only then does the domain see the beats: positions
come from the hands' locations (a file's position names are hints: old files number positions in
an obsolete scheme, box files use diagonal locations), letters are recomputed (a file letter that
disagrees becomes a warning), missing orientations follow continuity, and a beat that does not
start where the previous one ended is an error. What the apps tolerated is tolerated here:
restarting or skipped beat numbers (file order wins), placeholder entries, missing optional
fields, turns written as ``0``, ``0.0``, ``"1.5"`` or ``"fl"``, a missing metadata or start entry.
"""

from __future__ import annotations

import io
import itertools
import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load
from PIL import Image

from app.core import jsontext
from app.domain import (
    FLOAT_TURNS, MAX_BEATS, MAX_DURATION, BeatData, DomainError, InvalidMotion, Location, MotionData, MotionType,
    Orientation, RotationDirection, beat_from_motions, make_motion, normalize_beats, position_of,
    start_position_beat,
)

COLORS = ("blue", "red")
MOTION_FIELDS = (
    "motion_type", "prop_rot_dir", "start_loc", "end_loc", "turns", "start_ori", "end_ori",
    "prefloat_motion_type", "prefloat_prop_rot_dir",
)
_FLAT_KEYS = frozenset(f"{color}_{name}" for color in COLORS for name in MOTION_FIELDS)
_NESTED_KEYS = frozenset(f"{color}_attributes" for color in COLORS)
_METADATA_KEYS = ("author", "prop_type")  # kept; word, level, grid mode and the flags follow from the beats
_STILL = (MotionType.STATIC, MotionType.DASH)


# ---------------------------------------------------------------- results and errors

@dataclass(frozen=True)
class LoadedFile:
    """A file's sequence, ready for the domain: ``beats`` have been through normalize_beats."""

    word: str | None  # the file's own word, for a default name
    metadata: dict[str, Any]  # author, prop_type (and a dictionary image's date_added)
    start: BeatData | None
    beats: tuple[BeatData, ...]
    warnings: tuple[dict[str, Any], ...]  # {beat, field, message}: what was loaded differently than written
    shape: str  # current | dictionary | png | flat | upper_case, joined with "+" (e.g. "png+flat")


class InvalidFile(DomainError):
    """A file that is not a TKA sequence. ``errors`` holds every problem found ({field, message,
    rule}); the first is also the error's own field, rule and message."""

    code = "invalid_file"

    def __init__(self, field: str, rule: str, message: str, errors: Iterable[Mapping[str, str]] = ()) -> None:
        super().__init__(field, rule, message)
        self.errors: tuple[dict[str, str], ...] = tuple(dict(e) for e in errors) or (
            {"field": field, "message": message, "rule": rule},)

    @classmethod
    def of(cls, errors: Sequence[Mapping[str, str]]) -> InvalidFile:
        first = errors[0]
        return cls(first["field"], first["rule"], first["message"], errors)

    def under(self, prefix: str) -> InvalidFile:
        moved = [DomainError(e["field"], e["rule"], e["message"]).under(prefix) for e in self.errors]
        return InvalidFile.of([{"field": e.field, "message": e.message, "rule": e.rule} for e in moved])

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "errors": [dict(e) for e in self.errors]}

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.field, self.rule, self.message, self.errors))


def _error(field: str, rule: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message, "rule": rule}


# ---------------------------------------------------------------- the PNG's metadata chunk

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Text chunks after the pixel data are reached only by decoding the pixels (Pillow's ``.text``);
#: TKA's writers put the chunk before them, so only a small image is decoded to look further.
DECODE_PIXELS = 2048 * 2048


def read_png(data: bytes) -> Any:
    """The JSON in a dictionary image's ``metadata`` text chunk (tEXt, zTXt or iTXt).

    Pillow reads the chunks before the pixel data without decoding any pixel (``.info``), bounds
    compressed text (MAX_TEXT_CHUNK, MAX_TEXT_MEMORY) and image size (MAX_IMAGE_PIXELS, checked
    here first so an oversized header is refused, not warned about). Anything else that goes wrong
    is an InvalidFile on ``file``.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)) or bytes(data[:8]) != PNG_SIGNATURE:
        raise InvalidFile("file", "file.not_png", "file is not a PNG image")
    data = bytes(data)
    if data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        limit = Image.MAX_IMAGE_PIXELS
        if limit is not None and width * height > limit:
            raise InvalidFile("file", "file.too_large",
                              f"file declares a {width}×{height} image, more than {limit} pixels")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            text = image.info.get("metadata")
            if text is None and image.width * image.height <= DECODE_PIXELS:
                text = image.text.get("metadata")
    except Exception:  # noqa: BLE001 -- Pillow reports damage as OSError, SyntaxError, ValueError, EOFError, struct.error...
        raise InvalidFile("file", "file.damaged", "file is a damaged or truncated PNG") from None
    if not isinstance(text, str):
        raise InvalidFile("file", "file.no_metadata", "file is a PNG without a 'metadata' text chunk: not a TKA image")
    if type(text) is str:  # tEXt / zTXt are Latin-1 by the standard; some writers put UTF-8 there anyway
        try:
            text = text.encode("latin-1").decode("utf-8")
        except UnicodeError:
            pass
    try:
        return jsontext.loads(text)  # the one strict reader of every client's JSON
    except jsontext.JSONRefused:
        raise InvalidFile("file", "file.metadata_not_json", "file's 'metadata' text chunk is not JSON") from None


# ---------------------------------------------------------------- marshmallow: one schema per shape

class _Problem(str):
    """A field error message that carries its rule code through marshmallow's error dicts."""

    rule: str

    def __new__(cls, rule: str, message: str) -> _Problem:
        problem = super().__new__(cls, message)
        problem.rule = rule
        return problem


#: marshmallow's own messages, and the rule each becomes.
_MARSHMALLOW_RULES = {
    "Missing data for required field.": ("required", "is required"),
    "Field may not be null.": ("null", "may not be null"),
    "Invalid input type.": ("not_an_object", "must be an object"),
    "Not a valid string.": ("not_a_string", "must be a string"),
}

_ALIASES = {"clockwise": "cw", "counter_clockwise": "ccw", "no_rotation": "no_rot"}


class _Choice(fields.Field):
    """One of an enum's values, read as the apps wrote it (any case, a few older spellings)."""

    def __init__(self, enum_cls: type, name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.enum_cls, self.rule_name = enum_cls, name
        self.allowed = ", ".join(member.value for member in enum_cls)  # type: ignore[attr-defined]

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            key = value.strip().lower()
            try:
                return self.enum_cls(_ALIASES.get(key, key))
            except ValueError:
                pass
        raise ValidationError(_Problem(f"{self.rule_name}.unknown", f"{value!r} is not one of: {self.allowed}"))


def _number(value: Any) -> float | None:
    """A finite number written as a number or as text; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


class _Turns(fields.Field):
    """0, 0.0, "0", 1.0, "1.5" or "fl"; whether the value is allowed is the domain's rule."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == FLOAT_TURNS:
            return FLOAT_TURNS
        number = _number(value)
        if number is None:
            raise ValidationError(_Problem("turns.not_a_number", f'{value!r} must be a number or "fl"'))
        return int(number) if number.is_integer() else number


class _Duration(fields.Field):
    """A beat's length in counts, as a number or text."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        number = _number(value)
        if number is None or not 0 < number <= MAX_DURATION:
            raise ValidationError(_Problem("duration.out_of_range", f"{value!r} must be > 0 and ≤ {MAX_DURATION}"))
        return number


def _motion_fields(prefix: str = "") -> dict[str, fields.Field]:
    """One hand's motion: the location and type are required, the rest can be derived."""
    optional = {"allow_none": True}
    return {
        f"{prefix}motion_type": _Choice(MotionType, "motion_type", required=True),
        f"{prefix}prop_rot_dir": _Choice(RotationDirection, "prop_rot_dir", **optional),
        f"{prefix}start_loc": _Choice(Location, "start_loc", required=True),
        f"{prefix}end_loc": _Choice(Location, "end_loc", required=True),
        f"{prefix}turns": _Turns(**optional),
        f"{prefix}start_ori": _Choice(Orientation, "start_ori", **optional),
        f"{prefix}end_ori": _Choice(Orientation, "end_ori", **optional),
        f"{prefix}prefloat_motion_type": _Choice(MotionType, "prefloat_motion_type", **optional),
        f"{prefix}prefloat_prop_rot_dir": _Choice(RotationDirection, "prefloat_prop_rot_dir", **optional),
    }


class _FileSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # the apps wrote many derived keys (start_pos, timing, reversals...): not needed


class MetadataSchema(_FileSchema):
    """The first entry. Only what the beats cannot tell is read: word (a name), author, prop type.
    level, grid_mode, is_circular and the CAP / permutation flags follow from the beats."""

    word = fields.Raw(allow_none=True)
    author = fields.String(allow_none=True)
    prop_type = fields.String(allow_none=True)


AttributesSchema = type("AttributesSchema", (_FileSchema,), {
    "__doc__": "One hand's motion under ``blue_attributes`` / ``red_attributes``.", **_motion_fields()})


class BeatSchema(_FileSchema):
    """A beat (or, loaded partially, the start entry) of the current shape."""

    beat = fields.Raw()  # file order wins over the number
    letter = fields.Raw(allow_none=True)
    duration = _Duration(allow_none=True)
    blue_attributes = fields.Nested(AttributesSchema, required=True)
    red_attributes = fields.Nested(AttributesSchema, required=True)

    @post_load
    def _entry(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {"letter": data.get("letter"), "duration": data.get("duration"),
                "blue": data.get("blue_attributes"), "red": data.get("red_attributes")}


def _flat_entry(self: Schema, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    hands = {}
    for color in COLORS:
        prefix = f"{color}_"
        hand = {key[len(prefix):]: value for key, value in data.items() if key.startswith(prefix)}
        hands[color] = hand or None
    return {"letter": data.get("letter"), "duration": data.get("duration"), **hands}


FlatBeatSchema = type("FlatBeatSchema", (_FileSchema,), {
    "__doc__": "A beat (or, loaded partially, the start entry) of the older flat shape.",
    "beat": fields.Raw(), "letter": fields.Raw(allow_none=True), "duration": _Duration(allow_none=True),
    **_motion_fields("blue_"), **_motion_fields("red_"), "_entry": post_load(_flat_entry),
})

_METADATA, _BEAT, _FLAT_BEAT = MetadataSchema(), BeatSchema(), FlatBeatSchema()


# ---------------------------------------------------------------- entries and their paths in the file

class _Spelling:
    """How one entry spells its keys, so a path names a key as the file does."""

    __slots__ = ("index", "keys", "nested", "upper")

    def __init__(self, index: int, keys: dict[str, str], nested: dict[str, dict[str, str]], upper: bool) -> None:
        self.index, self.keys, self.nested, self.upper = index, keys, nested, upper

    def path(self, *keys: str) -> str:
        out, spelled = f"sequence[{self.index}]", self.keys
        for key in keys:
            out += "." + (spelled.get(key) or (key.upper() if self.upper else key))
            spelled = self.nested.get(key, {})
        return out


def _fold(entry: dict[str, Any], upper: bool) -> tuple[dict[str, Any], dict[str, str], dict[str, dict[str, str]]]:
    """The entry with lower-case keys (nested attributes too), and how the file spelled them (an
    upper-case file's every entry, so a path never guesses a key's spelling when it is there)."""
    if not upper and not any(_needs_fold(value if key in _NESTED_KEYS else None, key) for key, value in entry.items()):
        return entry, {}, {}
    folded: dict[str, Any] = {}
    keys: dict[str, str] = {}
    nested: dict[str, dict[str, str]] = {}
    for key, value in entry.items():
        low = key.lower() if isinstance(key, str) else key
        if isinstance(value, dict) and low in _NESTED_KEYS:
            nested[low] = {k.lower(): k for k in value if isinstance(k, str)}
            value = {(k.lower() if isinstance(k, str) else k): v for k, v in value.items()}
        folded[low] = value
        if isinstance(key, str):
            keys[low] = key
    return folded, keys, nested


def _needs_fold(nested: Any, key: Any) -> bool:
    if isinstance(key, str) and key != key.lower():
        return True
    return isinstance(nested, dict) and any(isinstance(k, str) and k != k.lower() for k in nested)


def _is_upper(key: Any) -> bool:
    return isinstance(key, str) and key == key.upper() and key != key.lower()


@dataclass(slots=True)
class _Entry:
    """One entry of the file in the one model every shape loads into."""

    spelling: _Spelling
    nested: bool
    raw: dict[str, Any]
    letter: Any = None
    duration: float | None = None
    blue: dict[str, Any] | None = None
    red: dict[str, Any] | None = None

    def hand(self, color: str) -> dict[str, Any]:
        return (self.blue if color == "blue" else self.red) or {}

    def path(self, color: str, name: str) -> str:
        if self.nested:
            return self.spelling.path(f"{color}_attributes", name)
        return self.spelling.path(f"{color}_{name}")


def _flatten(messages: Any, spelling: _Spelling, keys: tuple[str, ...], out: list[dict[str, str]]) -> None:
    """marshmallow's nested error dict as {field, message, rule} entries with paths in the file."""
    if isinstance(messages, dict):
        for key, sub in messages.items():
            _flatten(sub, spelling, keys if key == "_schema" else keys + (str(key),), out)
        return
    path = spelling.path(*keys)
    name = keys[-1] if keys else "entry"
    if name in _FLAT_KEYS:
        name = name.split("_", 1)[1]  # blue_start_ori -> start_ori: the rule is the same in every shape
    for message in messages if isinstance(messages, list) else [messages]:
        if isinstance(message, _Problem):
            out.append(_error(path, message.rule, f"{path} {message}"))
        else:
            suffix, text = _MARSHMALLOW_RULES.get(str(message), ("invalid", str(message)))
            out.append(_error(path, suffix if suffix == "required" else f"{name}.{suffix}", f"{path} {text}"))


def _load_entry(schema: Schema, entry: _Entry, partial: bool, errors: list[dict[str, str]]) -> None:
    try:
        loaded = schema.load(entry.raw, partial=partial)
    except ValidationError as exc:
        _flatten(exc.messages, entry.spelling, (), errors)
        return
    entry.letter, entry.duration, entry.blue, entry.red = (
        loaded["letter"], loaded["duration"], loaded["blue"], loaded["red"])


# ---------------------------------------------------------------- the file's list, entry by entry

@dataclass(slots=True)
class _Parsed:
    metadata: dict[str, Any]
    start: _Entry | None
    beats: list[_Entry]
    styles: list[str]


def _container(data: Any) -> tuple[list[Any], str | None, dict[str, Any]]:
    """The file's list, the container's shape (None: a bare list), and what the wrapper adds."""
    if isinstance(data, list):
        return data, None, {}
    if isinstance(data, Mapping):
        key = next((k for k in data if isinstance(k, str) and k.lower() == "sequence"), None)
        if key is None:
            raise InvalidFile("sequence", "sequence.required",
                              "sequence is required: a TKA file is a list, or an object with the list under 'sequence'")
        if not isinstance(data[key], list):
            raise InvalidFile("sequence", "sequence.not_a_list", "sequence must be a list of entries")
        extra = {"date_added": data["date_added"]} if isinstance(data.get("date_added"), str) else {}
        return data[key], "dictionary", extra
    raise InvalidFile("file", "file.not_a_sequence",
                      "file must be a TKA sequence: a list, or an object with the list under 'sequence'")


def _parse(items: list[Any]) -> _Parsed:
    """Sort the entries (metadata, start, beats; placeholders skipped) and load each with its schema."""
    errors: list[dict[str, str]] = []
    upper = any(_is_upper(k) for item in items if isinstance(item, dict) for k in item)
    metadata: dict[str, Any] = {}
    start: _Entry | None = None
    beats: list[_Entry] = []
    styles: list[str] = ["upper_case"] if upper else []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(_error(f"sequence[{index}]", "entry.not_an_object",
                                 f"sequence[{index}] must be an object, not {type(item).__name__}"))
            continue
        raw, keys, nested_keys = _fold(item, upper)
        spelling = _Spelling(index, keys, nested_keys, upper)
        nested = not _NESTED_KEYS.isdisjoint(raw)
        has_motion = nested or not _FLAT_KEYS.isdisjoint(raw)
        is_start = "sequence_start_position" in raw or _number(raw.get("beat")) == 0
        if index == 0 and not has_motion and not is_start and "beat" not in raw:
            try:
                metadata = _METADATA.load(raw)
            except ValidationError as exc:
                _flatten(exc.messages, spelling, (), errors)
            continue
        entry = _Entry(spelling, nested, raw)
        if is_start and start is None and not beats:
            _load_entry(_BEAT if nested else _FLAT_BEAT, entry, True, errors)
            start = entry
            continue
        if not has_motion or raw.get("is_placeholder"):
            continue  # a placeholder (the apps leave one at the end): no motion to load
        if len(beats) == MAX_BEATS:
            raise InvalidFile(f"sequence[{index}]", "beats.max", f"sequence[{index}] would be beat {MAX_BEATS + 1}: "
                              f"a sequence holds at most {MAX_BEATS} beats")
        if not nested and "flat" not in styles:
            styles.append("flat")
        _load_entry(_BEAT if nested else _FLAT_BEAT, entry, False, errors)
        beats.append(entry)
    if errors:
        raise InvalidFile.of(errors)
    return _Parsed(metadata, start, beats, styles)


# ---------------------------------------------------------------- the domain sees the beats

def _motion(hand: dict[str, Any], start_ori: Orientation, prefloat: MotionType | None = None) -> MotionData:
    """One hand's motion from the file's fields, everything missing derived, everything given checked."""
    motion_type = hand["motion_type"]
    is_float = motion_type is MotionType.FLOAT
    turns = hand.get("turns")
    if turns is None:
        turns = FLOAT_TURNS if is_float else 0
    elif turns == FLOAT_TURNS and motion_type in _STILL:
        turns = 0  # §3.1: a static or dash given "fl" gets 0 turns
    motion = make_motion(motion_type, hand["start_loc"], hand["end_loc"], turns, start_ori, hand.get("prop_rot_dir"),
                         (hand.get("prefloat_motion_type") or prefloat) if is_float else None)
    end_ori = hand.get("end_ori")
    if end_ori is not None and end_ori != motion.end_ori:
        raise InvalidMotion("end_ori", "end_ori.mismatch",
                          f"end_ori {end_ori} should be {motion.end_ori} for a {motion.motion_type} from "
                          f"{motion.start_ori} with {motion.turns} turns ({motion.prop_rot_dir})")
    pre_dir = hand.get("prefloat_prop_rot_dir") if is_float else None
    if pre_dir is not None and pre_dir != motion.prefloat_prop_rot_dir:
        raise InvalidMotion("prefloat_prop_rot_dir", "prefloat.prop_rot_dir",
                          f"prefloat_prop_rot_dir {pre_dir} should be {motion.prefloat_prop_rot_dir} for a "
                          f"{motion.prefloat_motion_type} from {motion.start_loc} to {motion.end_loc}")
    return motion


def _at(entry: _Entry, color: str | None, exc: DomainError) -> dict[str, str]:
    """A domain error on one hand's motion field, as an error on that field of the file."""
    if color is not None and exc.field in MOTION_FIELDS:
        path = entry.path(color, exc.field)
    else:
        path = entry.spelling.path()
    message = exc.message
    message = path + message[len(exc.field):] if exc.field and message.startswith(exc.field) else f"{path}: {message}"
    return _error(path, exc.rule, message)


def _pair(entry: _Entry, oris: dict[str, Orientation]) -> tuple[MotionData, MotionData]:
    """Both motions of a beat. A float written without its former shift (older files) takes the
    one (pro or anti) that spells the file's letter."""
    choices: dict[str, tuple[MotionType | None, ...]] = {}
    for color in COLORS:
        hand = entry.hand(color)
        bare_float = hand["motion_type"] is MotionType.FLOAT and hand.get("prefloat_motion_type") is None
        choices[color] = (MotionType.PRO, MotionType.ANTI) if bare_float and entry.letter else (None,)
    failure: list[dict[str, str]] = []
    for blue_pre, red_pre in itertools.product(choices["blue"], choices["red"]):
        motions: list[MotionData] = []
        failure = []
        for color, pre in (("blue", blue_pre), ("red", red_pre)):
            try:
                motions.append(_motion(entry.hand(color), oris[color], pre))
            except DomainError as exc:
                failure.append(_at(entry, color, exc))
        if failure:
            continue
        blue, red = motions
        if blue_pre is None and red_pre is None:
            return blue, red
        try:
            if beat_from_motions(blue, red).letter == entry.letter:
                return blue, red
        except DomainError:
            continue
    if not failure:
        color = "blue" if choices["blue"] != (None,) else "red"
        path = entry.path(color, "prefloat_motion_type")
        failure = [_error(path, "prefloat.required",
                          f"{path} is required: this float replaces no pro or anti shift that spells "
                          f"the letter {entry.letter!r}")]
    raise InvalidFile.of(failure)


def _start_beat(parsed: _Parsed) -> BeatData | None:
    """Beat 0: where the start entry's hands stand, else where beat 1 starts; its orientations
    from the start entry, else beat 1's start orientations, else in."""
    entry, first = parsed.start, (parsed.beats[0] if parsed.beats else None)
    hands = {color: entry.hand(color) if entry else {} for color in COLORS}
    locs = {c: hands[c].get("end_loc") or hands[c].get("start_loc") for c in COLORS}
    if None in locs.values():
        if first is None:
            return None
        entry_for_locs, locs = first, {c: first.hand(c).get("start_loc") for c in COLORS}
    else:
        entry_for_locs = entry  # type: ignore[assignment]
    oris = {}
    for color in COLORS:
        ori = hands[color].get("end_ori") or hands[color].get("start_ori")
        if ori is None and first is not None:
            ori = first.hand(color).get("start_ori")
        oris[color] = ori or Orientation.IN
    try:
        position = position_of(locs["blue"], locs["red"])
    except DomainError as exc:
        which = "end_loc" if entry_for_locs is entry else "start_loc"
        path = entry_for_locs.path("red", which)
        raise InvalidFile(path, exc.rule, f"{path}: {exc.message}") from None
    return start_position_beat(position, oris["blue"], oris["red"])


def _letter_warning(entry: _Entry, beat: BeatData, number: int) -> dict[str, Any] | None:
    written = entry.letter
    if written is None or written == "" or written == beat.letter:
        return None
    path = entry.spelling.path("letter")
    return {"beat": number, "field": path,
            "message": f"{path} is {written!r}, but the motions spell {beat.letter!r}: kept {beat.letter!r}"}


def _build(parsed: _Parsed) -> tuple[BeatData | None, tuple[BeatData, ...], tuple[dict[str, Any], ...]]:
    errors: list[dict[str, str]] = []
    warnings: list[dict[str, Any]] = []
    start = _start_beat(parsed)
    if start is not None and parsed.start is not None:
        warning = _letter_warning(parsed.start, start, 0)
        if warning:
            warnings.append(warning)
    prev: BeatData | None = start
    beats: list[BeatData] = []
    for number, entry in enumerate(parsed.beats, start=1):
        oris: dict[str, Orientation] = {}
        broken = []
        for color in COLORS:
            written = entry.hand(color).get("start_ori")
            if prev is None:
                oris[color] = written or Orientation.IN
                continue
            ended = getattr(prev, f"{color}_motion").end_ori
            if written is not None and written != ended:
                path = entry.path(color, "start_ori")
                broken.append(_error(path, "continuity.orientation",
                                     f"{path} is {written}, but the {color} hand ended the previous beat {ended}"))
            oris[color] = ended
        if broken:
            errors += broken
            prev = None
            continue
        try:
            blue, red = _pair(entry, oris)
            beat = beat_from_motions(blue, red, beat_number=number, duration=entry.duration or 1.0)
        except InvalidFile as exc:
            errors += exc.errors
            prev = None
            continue
        except DomainError as exc:  # no letter fits the pair (hands in two grid modes...)
            errors.append(_at(entry, None, exc))
            prev = None
            continue
        if prev is not None and beat.start_position != prev.end_position:
            color = "blue" if blue.start_loc != prev.blue_motion.end_loc else "red"  # type: ignore[union-attr]
            path = entry.path(color, "start_loc")
            errors.append(_error(path, "position.discontinuous",
                                 f"{path}: the beat starts at {beat.start_position}, but the previous one ends at "
                                 f"{prev.end_position}"))
        warning = _letter_warning(entry, beat, number)
        if warning:
            warnings.append(warning)
        beats.append(beat)
        prev = beat
    if errors:
        raise InvalidFile.of(errors)
    return start, normalize_beats(start, beats), tuple(warnings)


def load_sequence_file(data: Any) -> LoadedFile:
    """A TKA file in any shape the desktop apps wrote (parsed JSON, or a dictionary PNG's bytes),
    as the start position and beats the domain uses; InvalidFile lists everything wrong with it."""
    shape: list[str] = []
    if isinstance(data, (bytes, bytearray, memoryview)):
        data, shape = read_png(data), ["png"]
    items, container, extra = _container(data)
    if container and not shape:
        shape = [container]
    parsed = _parse(items)
    start, beats, warnings = _build(parsed)
    word = parsed.metadata.get("word")
    metadata = {key: parsed.metadata[key] for key in _METADATA_KEYS if isinstance(parsed.metadata.get(key), str)}
    return LoadedFile(
        word=(word.strip() or None) if isinstance(word, str) else None,
        metadata={**metadata, **extra}, start=start, beats=beats, warnings=warnings,
        shape="+".join(shape + parsed.styles) or "current",
    )
