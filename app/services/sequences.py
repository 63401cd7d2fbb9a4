"""SequenceManagementService: every change to a sequence, as an undoable, evented command.

Each command is one store transaction holding the sequence's new state and version, its
command-history entry, its events and, for a keyed call, its idempotency record; the events are
published on the bus only after the commit. A command that breaks a rule raises before anything
is written, so it stores nothing, records no history and publishes no event. Reads are
app/services/views.py.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

from app.core.commands import CommandProcessor, HistoryEntry, NothingToRedo, NothingToUndo, Reverted, StaleCommand
from app.core.events import Event, EventBus, utc_now
from app.core.ids import new_id
from app.domain.cap import CapType, cap_kind, generate_circular
from app.domain.errors import InvalidValue
from app.domain.generator import generate_beats
from app.domain.input import BeatSpec, beat_index, with_beat_added, with_beat_changed
from app.domain.limits import MAX_NAME_LENGTH, check_length, validate_name
from app.domain.models import SequenceData, blank_beat, normalize_beats, start_position_beat
from app.formats import LoadedFile
from app.services.calls import NO_CALL, Call, CommandOutcome
from app.services.errors import Conflict, NotFound, PreconditionFailed
from app.services.idempotency import Claim, Idempotency
from app.services.views import CURRENT_SEQUENCE, RecentSequences, undo_state
from app.store import Store, UnitOfWork

_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class _Change:
    """What a command does to the sequence it loaded: ``after`` None deletes it."""

    kind: str
    description: str
    after: SequenceData | None
    events: list[tuple[str, dict[str, Any]]]
    created: bool = False


class SequenceManagementService:
    def __init__(self, store: Store, bus: EventBus, recent: RecentSequences | None = None,
                 processor: CommandProcessor | None = None) -> None:
        self.store = store
        self.bus = bus
        self.recent = recent or RecentSequences()
        self.processor = processor or CommandProcessor()
        self.idempotency = Idempotency(store)

    # -- commands -----------------------------------------------------------------------------
    def create_sequence(self, name: str, *, length: int = 0, start_position: str | None = None,
                        beats: Sequence[BeatSpec] | None = None, metadata: Mapping[str, Any] | None = None,
                        call: Call = NO_CALL) -> CommandOutcome:
        name = validate_name(name)
        length = check_length(length)
        if length and beats:
            raise InvalidValue("length", "length.exclusive",
                               "give either length (that many blank beats) or beats, not both")
        seq = SequenceData(id=new_id(), name=name, metadata=dict(metadata or {}))
        if start_position is not None:
            seq = replace(seq, start_position=start_position_beat(start_position))
        if length:
            seq = replace(seq, beats=tuple(blank_beat(i + 1) for i in range(length)))
        for i, spec in enumerate(beats or ()):
            seq = with_beat_added(seq, spec, None, f"beats[{i}]")
        return self._create(seq, "create_sequence", f"Create sequence '{name}'", [], call)

    def generate_sequence(self, *, length: int, name: str = "Generated", level: int = 1, max_turns: float = 1,
                          seed: int | None = None, start_position: str | None = None, mode: str = "freeform",
                          cap_type: str | None = None, slice_size: str | None = None,
                          call: Call = NO_CALL) -> CommandOutcome:
        """Freeform (random beats) or, with ``mode="circular"``, a CAP of ``cap_type`` (§10.3)."""
        name = validate_name(name)
        seed = random.SystemRandom().randrange(2**31) if seed is None else seed
        start = start_position_beat(start_position or "alpha1")
        rng = random.Random(seed)
        generated: dict[str, Any] = {"seed": seed, "level": level, "max_turns": max_turns}
        if mode == "circular":
            kind = cap_kind(cap_type or CapType.STRICT_ROTATED, slice_size)
            beats = generate_circular(start.end_position, length, cap_type=kind.cap_type,  # type: ignore[arg-type]
                                      slice_size=kind.slice_size, level=level, max_turns=max_turns, rng=rng)
            generated.update(mode="circular", cap_type=str(kind.cap_type), slice_size=str(kind.slice_size))
        elif cap_type is not None or slice_size is not None:
            field = "cap_type" if cap_type is not None else "slice_size"
            raise InvalidValue(field, f"{field}.needs_circular", f"{field} applies to mode 'circular' only")
        else:
            beats = generate_beats(start.end_position, length, level=level, max_turns=max_turns,  # type: ignore[arg-type]
                                   rng=rng)
        seq = SequenceData(id=new_id(), name=name, start_position=start, beats=normalize_beats(start, beats),
                           metadata={"generated": generated})
        extra = [("motion.generated", {"generation_method": "circular" if mode == "circular" else "random",
                                       "seed": seed, "level": level, "max_turns": max_turns, "beats": len(beats)})]
        return self._create(seq, "generate_sequence", f"Generate sequence '{name}' ({length} beats)", extra, call)

    def import_sequence(self, loaded: LoadedFile, *, name: str | None = None, call: Call = NO_CALL) -> CommandOutcome:
        """A sequence from a TKA file (app/formats read it): created as ``create_sequence`` would,
        named ``name``, else after the file's word (its first 100 characters), else "Imported"."""
        name = validate_name(name if name is not None else (loaded.word or "Imported")[:MAX_NAME_LENGTH])
        seq = SequenceData(id=new_id(), name=name, start_position=loaded.start,
                           beats=normalize_beats(loaded.start, loaded.beats), metadata=dict(loaded.metadata))
        return self._create(seq, "import_sequence", f"Import sequence '{name}'", [], call,
                            warnings=tuple(loaded.warnings))

    def update_sequence(self, sequence_id: str, *, name: Any = _UNSET, metadata: Any = _UNSET, beats: Any = _UNSET,
                        start_position: Any = _UNSET, expected_versions: frozenset[int] | None = None,
                        call: Call = NO_CALL) -> CommandOutcome:
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
                    new = with_beat_added(new, spec, None, f"beats[{i}]")
            new = replace(new, beats=normalize_beats(new.start_position, new.beats))
            what = ", ".join(changed) or "nothing"
            return _Change("update_sequence", f"Update {what} of '{new.name}'", new,
                           [("sequence.updated", {"change_type": "update", "fields": changed})])
        return self._command(sequence_id, expected_versions, change, call)

    def delete_sequence(self, sequence_id: str, *, expected_versions: frozenset[int] | None = None,
                        call: Call = NO_CALL) -> CommandOutcome:
        def change(seq: SequenceData) -> _Change:
            return _Change("delete_sequence", f"Delete sequence '{seq.name}'", None,
                           [("sequence.deleted", {"sequence_name": seq.name})])
        return self._command(sequence_id, expected_versions, change, call)

    def set_start_position(self, sequence_id: str, position: str, *, blue_ori: str = "in", red_ori: str = "in",
                           expected_versions: frozenset[int] | None = None, call: Call = NO_CALL) -> CommandOutcome:
        def change(seq: SequenceData) -> _Change:
            start = start_position_beat(position, blue_ori, red_ori)  # type: ignore[arg-type]
            new = replace(seq, start_position=start, beats=normalize_beats(start, seq.beats))
            return _Change("set_start_position", f"Set start position {position}", new,
                           [("sequence.start_position_set", {"position": position})])
        return self._command(sequence_id, expected_versions, change, call)

    def add_beat(self, sequence_id: str, spec: BeatSpec, *, position: int | None = None,
                 expected_versions: frozenset[int] | None = None, call: Call = NO_CALL) -> CommandOutcome:
        def change(seq: SequenceData) -> _Change:
            new = with_beat_added(seq, spec, position, "beat")
            index = (position or len(seq.beats) + 1) - 1
            beat = new.beats[index]
            return _Change("add_beat", f"Add beat '{beat.letter or 'blank'}' at position {index + 1}", new,
                           [("sequence.beat_added", {"beat": beat.to_dict(), "beat_position": index + 1,
                                                     "total_beats": len(new.beats)})], created=True)
        return self._command(sequence_id, expected_versions, change, call)

    def remove_beat(self, sequence_id: str, beat_number: int, *, expected_versions: frozenset[int] | None = None,
                    call: Call = NO_CALL) -> CommandOutcome:
        def change(seq: SequenceData) -> _Change:
            index = beat_index(seq, beat_number)
            removed = seq.beats[index]
            new = replace(seq, beats=normalize_beats(seq.start_position, seq.beats[:index] + seq.beats[index + 1:]))
            return _Change("remove_beat", f"Remove beat '{removed.letter or 'blank'}' at position {beat_number}",
                           new, [("sequence.beat_removed", {"removed_beat": removed.to_dict(),
                                                            "old_position": beat_number,
                                                            "remaining_beats": len(new.beats)})])
        return self._command(sequence_id, expected_versions, change, call)

    def update_beat(self, sequence_id: str, beat_number: int, changes: Mapping[str, Any], *,
                    expected_versions: frozenset[int] | None = None, call: Call = NO_CALL) -> CommandOutcome:
        """Change a beat's turns, rotation direction, duration or metadata (app.domain.input)."""
        def change(seq: SequenceData) -> _Change:
            new, diff = with_beat_changed(seq, beat_number, changes)
            return _Change("update_beat", f"Update {', '.join(sorted(changes))} of beat {beat_number}", new,
                           [("sequence.beat_updated", {"beat_number": beat_number, "changes": diff})])
        return self._command(sequence_id, expected_versions, change, call)

    def set_current_sequence(self, sequence_id: str, *, call: Call = NO_CALL) -> SequenceData:
        """Not a command (nothing to undo): every client's current sequence is now this one."""
        def work(uow: UnitOfWork) -> tuple[SequenceData, list[Event]]:
            seq = _load(uow, sequence_id)
            uow.settings.set(CURRENT_SEQUENCE, sequence_id)
            return seq, uow.events.append([_event("sequence.current_changed", seq.id, None, call,
                                                  {"sequence_id": seq.id, "sequence_name": seq.name})])

        seq, stored = self.store.transact(work)
        self.bus.publish_all(stored)
        return seq

    def undo(self, sequence_id: str | None = None, *, call: Call = NO_CALL) -> CommandOutcome:
        return self._revert(self.processor.undo, "command.undone", sequence_id, call)

    def redo(self, sequence_id: str | None = None, *, call: Call = NO_CALL) -> CommandOutcome:
        return self._revert(self.processor.redo, "command.redone", sequence_id, call)

    # -- how every command runs ---------------------------------------------------------------
    def _create(self, seq: SequenceData, kind: str, description: str,
                extra: list[tuple[str, dict[str, Any]]], call: Call,
                warnings: tuple[dict[str, Any], ...] | None = None) -> CommandOutcome:
        now = utc_now()
        seq = replace(seq, version=1, created_at=now, updated_at=now)
        command_id = new_id()
        # Everything that does not need the database is built before the write lock is taken:
        # writers queue on it, so time spent holding it is throughput lost.
        stored = seq.to_dict()
        entry = HistoryEntry.of_change(before=None, after=stored, command_id=command_id, kind=kind,
                                       description=description, sequence_id=seq.id, version_before=None,
                                       version_after=1, created_at=now)
        events = [_event("sequence.created", seq.id, command_id, call,
                         {"sequence_name": seq.name, "sequence_length": seq.length, "sequence": stored}),
                  *(_event(t, seq.id, command_id, call, d) for t, d in extra)]

        def work(uow: UnitOfWork, claim: Claim | None) -> CommandOutcome:
            uow.sequences.add(seq, stored)
            uow.settings.set(CURRENT_SEQUENCE, seq.id)
            self.processor.execute(uow.history, entry)
            return self._commit(uow, claim, call, shown=seq, sequence_id=seq.id, command_id=command_id, kind=kind,
                                description=description, scope=None, events=events, created=True,
                                warnings=warnings)

        return self._run(work, call)

    def _command(self, sequence_id: str, expected_versions: frozenset[int] | None,
                 change: Callable[[SequenceData], _Change], call: Call) -> CommandOutcome:
        command_id = new_id()

        def work(uow: UnitOfWork, claim: Claim | None) -> CommandOutcome:
            seq = _load(uow, sequence_id)
            if expected_versions is not None and seq.version not in expected_versions:
                raise PreconditionFailed(f"sequence {sequence_id} is at version {seq.version}, which the If-Match "
                                         "does not name", seq.version)
            result = change(seq)
            now = utc_now()
            # A deleted sequence keeps its last state, at the new version, as a tombstone.
            after = replace(result.after or seq, version=seq.version + 1, updated_at=now)
            stored = after.to_dict()
            uow.sequences.save(after, stored, deleted=result.after is None)
            self.processor.execute(uow.history, HistoryEntry.of_change(
                before=seq.to_dict(), after=stored, exists_after=result.after is not None, command_id=command_id,
                kind=result.kind, description=result.description, sequence_id=seq.id, version_before=seq.version,
                version_after=after.version, created_at=now))
            events = [_event(t, seq.id, command_id, call, {**d, "sequence": stored}) for t, d in result.events]
            return self._commit(uow, claim, call, shown=after, sequence_id=seq.id, command_id=command_id,
                                kind=result.kind, description=result.description, scope=None, events=events,
                                created=result.created)

        return self._run(work, call)

    def _revert(self, operation: Callable[..., Reverted], event_type: str, scope: str | None,
                call: Call) -> CommandOutcome:
        verb = "undo" if event_type == "command.undone" else "redo"

        def work(uow: UnitOfWork, claim: Claim | None) -> CommandOutcome:
            try:
                reverted = operation(uow.history, uow.sequences, scope)
            except (NothingToUndo, NothingToRedo) as exc:
                raise Conflict(f"nothing_to_{verb}", str(exc)) from None
            except StaleCommand as exc:
                raise Conflict(f"{verb}_conflict", str(exc)) from None
            entry = reverted.entry
            seq = uow.sequences.get(entry.sequence_id, deleted_too=True)
            assert seq is not None
            was_present = entry.exists_after if verb == "undo" else entry.existed_before
            if not reverted.present:
                change_type = "sequence.deleted"
            elif not was_present:
                change_type = "sequence.restored"
            else:
                change_type = "sequence.updated"
            events = [_event(change_type, seq.id, entry.command_id, call,
                             {"change_type": verb, "command_description": entry.description,
                              "sequence": seq.to_dict()})]
            return self._commit(uow, claim, call, shown=seq if reverted.present else None,
                                sequence_id=seq.id, command_id=entry.command_id, kind=entry.kind,
                                description=f"{verb.capitalize()}: {entry.description}", scope=scope, events=events,
                                event_type=event_type)

        return self._run(work, call)

    def _commit(self, uow: UnitOfWork, claim: Claim | None, call: Call, *, shown: SequenceData | None,
                sequence_id: str, command_id: str, kind: str, description: str, scope: str | None,
                events: list[Event], created: bool = False, event_type: str = "command.executed",
                warnings: tuple[dict[str, Any], ...] | None = None) -> CommandOutcome:
        """The last step of every command, in its transaction: its outcome (``shown`` is the
        sequence it answers with; ``scope`` the undo stack it reports), its events (the command's
        own last) and, for a keyed call, its idempotency record."""
        state = undo_state(uow, scope)
        events.append(_event(event_type, sequence_id, command_id, call, {
            "command_id": command_id, "command_type": kind, "command_description": description,
            "can_undo": state.can_undo, "can_redo": state.can_redo}))
        outcome = CommandOutcome(shown, command_id, description, state.can_undo, state.can_redo,
                                 state.undo_description, state.redo_description, utc_now(), created,
                                 tuple(uow.events.append(events)), warnings=warnings)
        if claim is not None:
            self.idempotency.complete(uow, claim, outcome)
        return outcome

    def _run(self, work: Callable[[UnitOfWork, Claim | None], CommandOutcome], call: Call) -> CommandOutcome:
        """Run a command's transaction, once per Idempotency-Key; then, committed: remember the
        sequence as it now is and tell this process's subscribers."""
        claim: Claim | None = None
        if call.idempotency is not None:
            begun = self.idempotency.begin(call.idempotency)
            if isinstance(begun, CommandOutcome):
                return begun  # the first call's outcome: nothing runs, nothing is published
            claim = begun
        try:
            outcome = self.store.transact(lambda uow: work(uow, claim))
        except BaseException:
            if claim is not None:
                self.idempotency.release(claim)
            raise
        if outcome.sequence is not None:
            self.recent.remember(outcome.sequence)
        self.bus.publish_all(list(outcome.events))
        return outcome


def _load(uow: UnitOfWork, sequence_id: str) -> SequenceData:
    seq = uow.sequences.get(sequence_id)
    if seq is None:
        raise NotFound(f"sequence {sequence_id} not found")
    return seq


def _event(event_type: str, sequence_id: str | None, command_id: str | None, call: Call,
           data: dict[str, Any]) -> Event:
    return Event(event_type=event_type, data=data, sequence_id=sequence_id, command_id=command_id,
                 request_id=call.request_id)
