"""SequenceManagementService: every change to a sequence, as an undoable, evented command.

Each mutating call is one store transaction holding the sequence's new state and version, its
command-history entry and its events; the events are published on the bus only after the commit.
A call that fails validation raises before anything is written, so it stores nothing, records
no history and publishes no event.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from app.core import context
from app.core.commands import (
    CommandProcessor, HistoryEntry, NothingToRedo, NothingToUndo, Reverted, StaleCommand,
)
from app.core.events import Event, EventBus, utc_now
from app.domain.enums import Location, MotionType, Orientation, RotationDirection
from app.domain.errors import Discontinuity, DomainError, InvalidMotion, InvalidValue, NoLetterFits
from app.domain.generator import generate_beats
from app.domain.letters import letter_type_of, motion_pairs_for
from app.domain.models import (
    BeatData, SequenceData, beat_from_motions, blank_beat, new_id, normalize_beats, start_position_beat,
    validate_name,
)
from app.domain.motions import MotionData, make_motion
from app.services.errors import Conflict, NotFound, PreconditionFailed
from app.store import Store, UnitOfWork

CURRENT_SEQUENCE = "current_sequence_id"
MAX_BEATS = 64
RECENT_CACHE_SIZE = 256
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class BeatSpec:
    """A beat as a client asks for it: by letter, by explicit motions, or blank."""

    letter: str | None = None
    blue_motion: Mapping[str, Any] | None = None
    red_motion: Mapping[str, Any] | None = None
    blue_turns: Any = 0  # number, or None / "fl" for a float
    red_turns: Any = 0
    is_blank: bool = False
    duration: float = 1.0
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BeatSpec":
        return cls(
            letter=d.get("letter"), blue_motion=d.get("blue_motion"), red_motion=d.get("red_motion"),
            blue_turns=d.get("blue_turns", 0), red_turns=d.get("red_turns", 0),
            is_blank=bool(d.get("is_blank", False)), duration=d.get("duration", 1.0),
            metadata=d.get("metadata") or {},
        )


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    sequence: SequenceData | None
    command_id: str
    description: str
    can_undo: bool
    can_redo: bool
    undo_description: str | None
    redo_description: str | None
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class Page:
    items: list[SequenceData]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True, slots=True)
class _Change:
    kind: str
    description: str
    after: SequenceData | None
    events: list[tuple[str, dict[str, Any]]]


def _turns(value: Any) -> float | str:
    """API turns: a number, or None / "fl" meaning a float."""
    return "fl" if value is None or value == "fl" else value


class SequenceManagementService:
    def __init__(self, store: Store, bus: EventBus, processor: CommandProcessor | None = None) -> None:
        self.store = store
        self.bus = bus
        self.processor = processor or CommandProcessor()
        self._recent: dict[str, SequenceData] = {}  # insertion-ordered: oldest first
        self._recent_lock = threading.Lock()

    # -- reads --------------------------------------------------------------------------------
    def get_sequence(self, sequence_id: str) -> SequenceData:
        """A sequence by id. Immutable versions are cached: a read whose version is cached costs
        one indexed lookup of the version instead of decoding and rebuilding the whole sequence."""
        peek = self.store.peek_version(sequence_id)
        if peek is not None:
            if not peek[1]:
                raise NotFound(f"sequence {sequence_id} not found")
            cached = self._recent.get(sequence_id)
            if cached is not None and cached.version == peek[0]:
                return cached
        with self.store.read() as uow:
            version, present = uow.sequence_version(sequence_id)
            if not present:
                raise NotFound(f"sequence {sequence_id} not found")
            cached = self._recent.get(sequence_id)
            if cached is not None and cached.version == version:
                return cached
            seq = self._load(uow, sequence_id)
        self._remember(seq)
        return seq

    def _remember(self, seq: SequenceData) -> None:
        with self._recent_lock:
            known = self._recent.get(seq.id)
            if known is not None and known.version > seq.version:
                return  # commands answered out of commit order: keep the newer
            self._recent.pop(seq.id, None)
            self._recent[seq.id] = seq
            while len(self._recent) > RECENT_CACHE_SIZE:
                self._recent.pop(next(iter(self._recent)))

    def list_sequences(self, page: int = 1, page_size: int = 20) -> Page:
        if page < 1:
            raise InvalidValue("page", "page.min", "page must be 1 or more")
        if not 1 <= page_size <= 100:
            raise InvalidValue("page_size", "page_size.range", "page_size must be between 1 and 100")
        with self.store.read() as uow:
            rows, total = uow.list_sequences((page - 1) * page_size, page_size)
            return Page([_from_row(r) for r in rows], total, page, page_size)

    def get_current_sequence(self) -> SequenceData | None:
        with self.store.read() as uow:
            current = uow.get_setting(CURRENT_SEQUENCE)
            row = uow.load_sequence_row(current) if current else None
            return _from_row(row) if row is not None and not row.deleted else None

    def history(self, limit: int = 50, sequence_id: str | None = None) -> list[HistoryEntry]:
        with self.store.read() as uow:
            return uow.history(limit, sequence_id)

    def undo_state(self, sequence_id: str | None = None) -> dict[str, Any]:
        with self.store.read() as uow:
            return self._undo_state(uow, sequence_id)

    def can_undo(self, sequence_id: str | None = None) -> bool:
        return self.undo_state(sequence_id)["can_undo"]

    def can_redo(self, sequence_id: str | None = None) -> bool:
        return self.undo_state(sequence_id)["can_redo"]

    # -- commands -----------------------------------------------------------------------------
    def create_sequence(self, name: str, *, length: int = 0, start_position: str | None = None,
                        beats: Sequence[BeatSpec] | None = None,
                        metadata: Mapping[str, Any] | None = None) -> CommandOutcome:
        name = validate_name(name)
        if not isinstance(length, int) or not 0 <= length <= MAX_BEATS:
            raise InvalidValue("length", "length.range", f"length must be between 0 and {MAX_BEATS}")
        if length and beats:
            raise InvalidValue("length", "length.exclusive",
                               "give either length (that many blank beats) or beats, not both")
        seq = SequenceData(id=new_id(), name=name, metadata=dict(metadata or {}))
        if start_position is not None:
            seq = replace(seq, start_position=start_position_beat(start_position))
        if length:
            seq = replace(seq, beats=tuple(blank_beat(i + 1) for i in range(length)))
        for i, spec in enumerate(beats or ()):
            seq = self._with_beat_added(seq, spec, None, field_prefix=f"beats[{i}]")
        return self._create(seq, "create_sequence", f"Create sequence '{name}'", [])

    def generate_sequence(self, *, length: int, name: str = "Generated", level: int = 1,
                          max_turns: float = 1, seed: int | None = None,
                          start_position: str | None = None) -> CommandOutcome:
        name = validate_name(name)
        seed = random.SystemRandom().randrange(2**31) if seed is None else seed
        start = start_position_beat(start_position or "alpha1")
        beats = generate_beats(start.end_position, length, level=level, max_turns=max_turns,
                               rng=random.Random(seed))
        seq = SequenceData(id=new_id(), name=name, start_position=start,
                           beats=normalize_beats(start, beats),
                           metadata={"generated": {"seed": seed, "level": level, "max_turns": max_turns}})
        extra = [("motion.generated", {"generation_method": "random", "seed": seed, "level": level,
                                       "max_turns": max_turns, "beats": len(beats)})]
        return self._create(seq, "generate_sequence", f"Generate sequence '{name}' ({length} beats)", extra)

    def update_sequence(self, sequence_id: str, *, name: Any = _UNSET, metadata: Any = _UNSET,
                        beats: Any = _UNSET, start_position: Any = _UNSET,
                        expected_version: int | None = None) -> CommandOutcome:
        def change(seq: SequenceData) -> _Change:
            new, changed = seq, []
            if name is not _UNSET:
                new, changed = replace(new, name=validate_name(name)), changed + ["name"]
            if metadata is not _UNSET:
                new, changed = replace(new, metadata=dict(metadata or {})), changed + ["metadata"]
            if start_position is not _UNSET:
                start = start_position_beat(start_position) if start_position else None
                new, changed = replace(new, start_position=start), changed + ["start_position"]
            if beats is not _UNSET:
                new, changed = replace(new, beats=()), changed + ["beats"]
                for i, spec in enumerate(beats or ()):
                    new = self._with_beat_added(new, spec, None, field_prefix=f"beats[{i}]")
            new = replace(new, beats=normalize_beats(new.start_position, new.beats))
            what = ", ".join(changed) or "nothing"
            return _Change("update_sequence", f"Update {what} of '{new.name}'", new,
                           [("sequence.updated", {"change_type": "update", "fields": changed})])
        return self._command(sequence_id, expected_version, change)

    def delete_sequence(self, sequence_id: str, *, expected_version: int | None = None) -> CommandOutcome:
        def change(seq: SequenceData) -> _Change:
            return _Change("delete_sequence", f"Delete sequence '{seq.name}'", None,
                           [("sequence.deleted", {"sequence_name": seq.name})])
        return self._command(sequence_id, expected_version, change)

    def set_start_position(self, sequence_id: str, position: str, *, blue_ori: str = "in",
                           red_ori: str = "in", expected_version: int | None = None) -> CommandOutcome:
        def change(seq: SequenceData) -> _Change:
            start = start_position_beat(position, _ori(blue_ori, "blue_ori"), _ori(red_ori, "red_ori"))
            new = replace(seq, start_position=start, beats=normalize_beats(start, seq.beats))
            return _Change("set_start_position", f"Set start position {position}", new,
                           [("sequence.start_position_set", {"position": position})])
        return self._command(sequence_id, expected_version, change)

    def add_beat(self, sequence_id: str, spec: BeatSpec, *, position: int | None = None,
                 expected_version: int | None = None) -> CommandOutcome:
        def change(seq: SequenceData) -> _Change:
            new = self._with_beat_added(seq, spec, position, field_prefix="beat")
            index = (position or len(seq.beats) + 1) - 1
            beat = new.beats[index]
            label = beat.letter or "blank"
            return _Change("add_beat", f"Add beat '{label}' at position {index + 1}", new,
                           [("sequence.beat_added", {"beat": beat.to_dict(), "beat_position": index + 1,
                                                     "total_beats": len(new.beats)})])
        return self._command(sequence_id, expected_version, change)

    def remove_beat(self, sequence_id: str, beat_number: int, *,
                    expected_version: int | None = None) -> CommandOutcome:
        def change(seq: SequenceData) -> _Change:
            index = _beat_index(seq, beat_number)
            removed = seq.beats[index]
            beats = seq.beats[:index] + seq.beats[index + 1:]
            new = replace(seq, beats=normalize_beats(seq.start_position, beats))
            return _Change("remove_beat", f"Remove beat '{removed.letter or 'blank'}' at position {beat_number}",
                           new, [("sequence.beat_removed", {"removed_beat": removed.to_dict(),
                                                            "old_position": beat_number,
                                                            "remaining_beats": len(new.beats)})])
        return self._command(sequence_id, expected_version, change)

    def update_beat(self, sequence_id: str, beat_number: int, changes: Mapping[str, Any], *,
                    expected_version: int | None = None) -> CommandOutcome:
        """Change a beat's turns, rotation direction, duration or metadata.

        Turns change end orientations, so the orientations of every later beat are re-derived.
        """
        def change(seq: SequenceData) -> _Change:
            index = _beat_index(seq, beat_number)
            old = seq.beats[index]
            if not changes:
                raise InvalidValue("body", "body.empty", "give at least one field to change")
            motions: dict[str, MotionData | None] = {"blue": old.blue_motion, "red": old.red_motion}
            for color in ("blue", "red"):
                turns_key, rot_key = f"{color}_turns", f"{color}_prop_rot_dir"
                if turns_key in changes or rot_key in changes:
                    motion = motions[color]
                    if motion is None:
                        raise InvalidValue(turns_key, "beat.blank", f"beat {beat_number} is blank and has no motions")
                    motions[color] = _retuned(motion, changes.get(turns_key, _UNSET),
                                              changes.get(rot_key, _UNSET), color)
            if old.is_blank:
                beat = replace(old, duration=changes.get("duration", old.duration),
                               metadata=dict(changes.get("metadata", old.metadata)))
            else:
                beat = beat_from_motions(motions["blue"], motions["red"], beat_number=old.beat_number,
                                         duration=changes.get("duration", old.duration),
                                         metadata=changes.get("metadata", old.metadata), id=old.id)
            beats = seq.beats[:index] + (beat,) + seq.beats[index + 1:]
            new = replace(seq, beats=normalize_beats(seq.start_position, beats))
            diff = {k: {"old": _jsonable(_beat_field(old, k)), "new": _jsonable(_beat_field(new.beats[index], k))}
                    for k in changes}
            return _Change("update_beat", f"Update {', '.join(sorted(changes))} of beat {beat_number}", new,
                           [("sequence.beat_updated", {"beat_number": beat_number, "changes": diff})])
        return self._command(sequence_id, expected_version, change)

    def set_current_sequence(self, sequence_id: str) -> SequenceData:
        def work(uow: UnitOfWork) -> tuple[SequenceData, list[Event]]:
            seq = self._load(uow, sequence_id)
            uow.set_setting(CURRENT_SEQUENCE, sequence_id)
            return seq, uow.append_events([self._event("sequence.current_changed", seq.id, None,
                                                        {"sequence_id": seq.id, "sequence_name": seq.name})])

        seq, stored = self.store.transact(work)
        self.bus.publish_all(stored)
        return seq

    def undo(self, sequence_id: str | None = None) -> CommandOutcome:
        return self._revert(self.processor.undo, "command.undone", sequence_id)

    def redo(self, sequence_id: str | None = None) -> CommandOutcome:
        return self._revert(self.processor.redo, "command.redone", sequence_id)

    # -- internals ----------------------------------------------------------------------------
    def _load(self, uow: UnitOfWork, sequence_id: str) -> SequenceData:
        row = uow.load_sequence_row(sequence_id)
        if row is None or row.deleted:
            raise NotFound(f"sequence {sequence_id} not found")
        return _from_row(row)

    def _with_beat_added(self, seq: SequenceData, spec: BeatSpec, position: int | None,
                         field_prefix: str) -> SequenceData:
        if len(seq.beats) >= MAX_BEATS:
            raise InvalidValue(field_prefix, "beats.max", f"a sequence holds at most {MAX_BEATS} beats")
        if position is None:
            index = len(seq.beats)
        elif not 1 <= position <= len(seq.beats) + 1:
            raise InvalidValue("position", "position.range",
                               f"position must be between 1 and {len(seq.beats) + 1}")
        else:
            index = position - 1
        before = replace(seq, beats=seq.beats[:index])
        try:
            beat = self._build_beat(spec, before, index + 1)
        except DomainError as exc:
            raise exc.under(field_prefix) from None
        beats = seq.beats[:index] + (beat,) + seq.beats[index:]
        return replace(seq, beats=normalize_beats(seq.start_position, beats))

    def _build_beat(self, spec: BeatSpec, before: SequenceData, number: int) -> BeatData:
        if not isinstance(spec.duration, (int, float)) or isinstance(spec.duration, bool) \
                or not 0 < spec.duration <= 64:
            raise InvalidValue("duration", "duration.range", "duration must be more than 0 and at most 64")
        if spec.is_blank:
            if spec.letter or spec.blue_motion or spec.red_motion:
                raise InvalidValue("is_blank", "blank.exclusive", "a blank beat has no letter and no motions")
            return replace(blank_beat(number), duration=spec.duration, metadata=dict(spec.metadata))
        end_pos = before.end_position
        blue_ori, red_ori = before.end_orientations
        has_start = end_pos is not None
        if spec.blue_motion is not None or spec.red_motion is not None:
            if spec.blue_motion is None or spec.red_motion is None:
                missing = "blue_motion" if spec.blue_motion is None else "red_motion"
                raise InvalidValue(missing, "motions.pair", "give both blue_motion and red_motion, or a letter")
            blue = motion_from_input(spec.blue_motion, "blue_motion", blue_ori if has_start else None)
            red = motion_from_input(spec.red_motion, "red_motion", red_ori if has_start else None)
            beat = beat_from_motions(blue, red, beat_number=number, duration=spec.duration,
                                     metadata=spec.metadata)
            if spec.letter is not None and spec.letter != beat.letter:
                raise InvalidValue("letter", "letter.mismatch",
                                   f"letter '{spec.letter}' does not match the motions, which spell '{beat.letter}'")
            return beat
        if spec.letter is None:
            raise InvalidValue("letter", "beat.empty", "give a letter, both motions, or is_blank: true")
        letter_type_of(spec.letter)  # UnknownLetter for a letter TKA does not have
        if end_pos is None:
            raise NoLetterFits("letter", "start_position.missing",
                               "the sequence has no start position to continue from; set one "
                               "(PUT .../start-position) or give explicit motions")
        pairs = motion_pairs_for(spec.letter, end_pos, blue_ori, red_ori,
                                 _turns(spec.blue_turns), _turns(spec.red_turns))
        blue, red = pairs[0]
        return beat_from_motions(blue, red, beat_number=number, duration=spec.duration, metadata=spec.metadata)

    def _undo_state(self, uow: UnitOfWork, sequence_id: str | None) -> dict[str, Any]:
        undo = self.processor.undo_description(uow, sequence_id)
        redo = self.processor.redo_description(uow, sequence_id)
        return {"can_undo": undo is not None, "can_redo": redo is not None,
                "undo_description": undo, "redo_description": redo}

    def _event(self, event_type: str, sequence_id: str | None, command_id: str | None,
               data: dict[str, Any]) -> Event:
        return Event(event_type=event_type, data=data, sequence_id=sequence_id, command_id=command_id,
                     request_id=context.current().request_id)

    def _commit(self, uow: UnitOfWork, outcome: CommandOutcome, events: list[Event]) -> CommandOutcome:
        stored = tuple(uow.append_events(events))
        outcome = replace(outcome, events=stored)
        call = context.current().idempotent
        if call is not None:
            status, headers, body = call.render(outcome)
            if not uow.complete_idempotency(call.key, call.claim, status, headers, body):
                raise Conflict("idempotency_key_in_flight",
                               "a retry with this Idempotency-Key took over this request; nothing was changed")
        return outcome

    def _create(self, seq: SequenceData, kind: str, description: str,
                extra: list[tuple[str, dict[str, Any]]]) -> CommandOutcome:
        now = utc_now()
        seq = replace(seq, version=1, created_at=now, updated_at=now)
        command_id = new_id()
        # Everything that does not need the database is built before the write lock is taken:
        # writers queue on it, so time spent holding it is throughput lost.
        stored = seq.to_dict()
        entry = HistoryEntry(command_id=command_id, kind=kind, description=description, sequence_id=seq.id,
                             before=None, after=stored, version_before=None, version_after=1, created_at=now)
        events = [self._event("sequence.created", seq.id, command_id,
                              {"sequence_name": seq.name, "sequence_length": seq.length, "sequence": stored})]
        events += [self._event(t, seq.id, command_id, d) for t, d in extra]

        def work(uow: UnitOfWork) -> CommandOutcome:
            uow.insert_sequence(seq.id, seq.name, stored, 1, now)
            uow.set_setting(CURRENT_SEQUENCE, seq.id)
            self.processor.execute(uow, entry)
            outcome = self._outcome(uow, seq, command_id, description, None)
            return self._commit(uow, outcome, [*events, self._command_event("command.executed", outcome, kind,
                                                                             seq.id)])

        return self._done(self.store.transact(work))

    def _done(self, outcome: CommandOutcome) -> CommandOutcome:
        """After the commit: cache the sequence as it now is and tell this process's subscribers."""
        if outcome.sequence is not None:
            self._remember(outcome.sequence)
        self.bus.publish_all(list(outcome.events))
        return outcome

    def _command(self, sequence_id: str, expected_version: int | None,
                 change: Callable[[SequenceData], _Change]) -> CommandOutcome:
        command_id = new_id()

        def work(uow: UnitOfWork) -> CommandOutcome:
            seq = self._load(uow, sequence_id)
            if expected_version is not None and expected_version != seq.version:
                raise PreconditionFailed(
                    f"sequence {sequence_id} is at version {seq.version}, not {expected_version}",
                    seq.version)
            result = change(seq)
            now = utc_now()
            after = None if result.after is None else replace(result.after, version=seq.version + 1, updated_at=now)
            if after is None:
                uow.update_sequence(seq.id, name=seq.name, data=seq.to_dict(), version=seq.version + 1,
                                    deleted=True, updated_at=now)
            else:
                uow.update_sequence(seq.id, name=after.name, data=after.to_dict(), version=after.version,
                                    deleted=False, updated_at=now)
            self.processor.execute(uow, HistoryEntry(
                command_id=command_id, kind=result.kind, description=result.description,
                sequence_id=seq.id, before=seq.to_dict(), after=None if after is None else after.to_dict(),
                version_before=seq.version, version_after=seq.version + 1, created_at=now))
            shown = after if after is not None else replace(seq, version=seq.version + 1, updated_at=now)
            events = [self._event(t, seq.id, command_id, {**d, "sequence": shown.to_dict()})
                      for t, d in result.events]
            outcome = self._outcome(uow, shown, command_id, result.description, None)
            events.append(self._command_event("command.executed", outcome, result.kind, seq.id))
            return self._commit(uow, outcome, events)

        return self._done(self.store.transact(work))

    def _revert(self, operation: Callable[..., Reverted], event_type: str,
                sequence_id: str | None) -> CommandOutcome:
        verb = "undo" if event_type == "command.undone" else "redo"

        def work(uow: UnitOfWork) -> CommandOutcome:
            try:
                reverted = operation(uow, sequence_id)
            except (NothingToUndo, NothingToRedo) as exc:
                raise Conflict(f"nothing_to_{verb}", str(exc)) from None
            except StaleCommand as exc:
                raise Conflict(f"{verb}_conflict", str(exc)) from None
            entry = reverted.entry
            row = uow.load_sequence_row(entry.sequence_id)
            seq = _from_row(row)
            if reverted.snapshot is None:
                change_type = "sequence.deleted"
            elif (entry.before if verb == "undo" else entry.after) is not None and \
                    (entry.after if verb == "undo" else entry.before) is None:
                change_type = "sequence.restored"
            else:
                change_type = "sequence.updated"
            events = [self._event(change_type, seq.id, entry.command_id,
                                  {"change_type": verb, "command_description": entry.description,
                                   "sequence": seq.to_dict()})]
            shown = None if row.deleted else seq
            outcome = self._outcome(uow, shown, entry.command_id, f"{verb.capitalize()}: {entry.description}",
                                    sequence_id)
            events.append(self._command_event(event_type, outcome, entry.kind, seq.id))
            return self._commit(uow, outcome, events)

        return self._done(self.store.transact(work))

    def _outcome(self, uow: UnitOfWork, seq: SequenceData | None, command_id: str, description: str,
                 scope: str | None) -> CommandOutcome:
        state = self._undo_state(uow, scope)
        return CommandOutcome(sequence=seq, command_id=command_id, description=description, **state)

    def _command_event(self, event_type: str, outcome: CommandOutcome, kind: str, sequence_id: str) -> Event:
        return self._event(event_type, sequence_id, outcome.command_id, {
            "command_id": outcome.command_id, "command_type": kind,
            "command_description": outcome.description, "can_undo": outcome.can_undo,
            "can_redo": outcome.can_redo})


# -- helpers ----------------------------------------------------------------------------------
def _from_row(row: Any) -> SequenceData:
    seq = SequenceData.from_dict(row.data)
    return replace(seq, id=row.id, name=row.name, version=row.version, created_at=row.created_at,
                   updated_at=row.updated_at)


def _beat_index(seq: SequenceData, beat_number: int) -> int:
    if not isinstance(beat_number, int) or not 1 <= beat_number <= len(seq.beats):
        raise InvalidValue("beat_number", "beat_number.range",
                           f"beat_number must be between 1 and {len(seq.beats)} (the sequence has "
                           f"{len(seq.beats)} beats)" if seq.beats else "the sequence has no beats")
    return beat_number - 1


def _ori(value: str, field_name: str) -> Orientation:
    try:
        return Orientation(value)
    except ValueError:
        raise InvalidValue(field_name, "orientation.unknown",
                           f"{field_name} must be one of in, out, clock, counter") from None


def _enum(enum: Any, value: Any, field_name: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidValue(field_name, "enum", f"{field_name} must be one of {allowed}") from None


def motion_from_input(d: Mapping[str, Any], field_name: str,
                      continuity_ori: Orientation | None = None) -> MotionData:
    """Build a motion from API input. start_ori follows continuity when there is a previous beat
    (``continuity_ori``); end_ori is always computed and, if given, must agree."""
    try:
        motion_type = _enum(MotionType, d.get("motion_type"), "motion_type")
        turns = d.get("turns", None if motion_type is MotionType.FLOAT else 0)
        prop_rot_dir = d.get("prop_rot_dir")
        if motion_type is MotionType.FLOAT:
            if turns not in (None, "fl"):
                raise InvalidMotion("turns", "float.turns", "a float has no turns (send turns: null)")
            motion_type = _enum(MotionType, d.get("prefloat_motion_type"), "prefloat_motion_type")
            if motion_type not in (MotionType.PRO, MotionType.ANTI):
                raise InvalidMotion("prefloat_motion_type", "float.prefloat",
                                    "a float replaces a pro or anti shift: prefloat_motion_type must be pro or anti")
            prop_rot_dir = d.get("prefloat_prop_rot_dir")
            turns = "fl"
        start_ori = continuity_ori or Orientation.IN
        if d.get("start_ori") is not None:
            given = _enum(Orientation, d["start_ori"], "start_ori")
            if continuity_ori is not None and given != continuity_ori:
                raise Discontinuity("start_ori", "continuity.orientation",
                                    f"start_ori must be {continuity_ori.value}, the hand's end orientation "
                                    f"on the previous beat")
            start_ori = given
        motion = make_motion(
            motion_type, _enum(Location, d.get("start_loc"), "start_loc"),
            _enum(Location, d.get("end_loc"), "end_loc"), turns=_turns(turns),
            start_ori=start_ori,
            prop_rot_dir=None if prop_rot_dir is None else _enum(RotationDirection, prop_rot_dir, "prop_rot_dir"))
        if d.get("end_ori") is not None and _enum(Orientation, d["end_ori"], "end_ori") != motion.end_ori:
            raise InvalidMotion("end_ori", "end_ori.mismatch",
                                f"end_ori must be {motion.end_ori.value} for this motion (§4 orientation rules)")
        return motion
    except DomainError as exc:
        raise exc.under(field_name) from None


def _retuned(motion: MotionData, turns: Any, rot: Any, color: str) -> MotionData:
    """The motion with new turns and/or prop rotation, re-derived and re-validated."""
    base = motion.effective_motion_type
    new_turns = motion.turns if turns is _UNSET else _turns(turns)
    if rot is _UNSET:
        rot_dir = motion.prefloat_prop_rot_dir if motion.motion_type is MotionType.FLOAT else motion.prop_rot_dir
        if base in (MotionType.STATIC, MotionType.DASH):
            rot_dir = None if new_turns == 0 else (rot_dir if rot_dir is not RotationDirection.NO_ROT else None)
    else:
        rot_dir = _enum(RotationDirection, rot, f"{color}_prop_rot_dir")
    if base in (MotionType.PRO, MotionType.ANTI) and rot is _UNSET:
        rot_dir = None  # derived from the handpath
    try:
        return make_motion(base, motion.start_loc, motion.end_loc, turns=new_turns,
                           start_ori=motion.start_ori, prop_rot_dir=rot_dir)
    except DomainError as exc:
        raise exc.under(f"{color}_motion") from None


def _beat_field(beat: BeatData, key: str) -> Any:
    color, _, rest = key.partition("_")
    if color in ("blue", "red") and rest in ("turns", "prop_rot_dir"):
        motion = getattr(beat, f"{color}_motion")
        return None if motion is None else getattr(motion, rest)
    return getattr(beat, key, None)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    return getattr(value, "value", value)
