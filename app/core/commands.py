"""Undo/redo over a durable, shared command history.

Every command is recorded as a snapshot change of one sequence: its state before and after, and
the versions it moved between. That makes undo and redo exact, lets them work after a restart and
from another process (the history lives in the store), and lets a stale undo be refused: a command
can only be undone while its sequence is still at the version the command produced.

The history is linear per sequence: executing a new command on a sequence discards the redo tail of
that sequence. Undo/redo without a scope act on the most recent command of the whole history,
whichever client or process did it (the brief's global undo); with a ``sequence_id`` they act on
that sequence alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol


class CommandState(StrEnum):
    DONE = "done"
    UNDONE = "undone"
    DISCARDED = "discarded"  # its redo was cut off by a newer command


Snapshot = dict[str, Any] | None  # a sequence's stored form; None = absent (not yet / no longer)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    command_id: str
    kind: str
    description: str
    sequence_id: str
    before: Snapshot
    after: Snapshot
    version_before: int | None
    version_after: int
    created_at: str
    state: CommandState = CommandState.DONE
    version_undone: int | None = None  # the version the undo wrote; a redo needs it unchanged


class NothingToUndo(LookupError):
    pass


class NothingToRedo(LookupError):
    pass


class StaleCommand(Exception):
    """The sequence changed since the command being undone/redone; nothing was changed."""

    def __init__(self, entry: HistoryEntry, current_version: int | None) -> None:
        self.entry = entry
        self.current_version = current_version
        super().__init__(
            f"cannot {'redo' if entry.state is CommandState.UNDONE else 'undo'} "
            f"'{entry.description}': sequence {entry.sequence_id} changed since "
            f"(now at version {current_version})"
        )


class History(Protocol):
    """The command history, as the processor needs it (app/store/history.py keeps it in SQL)."""

    def add(self, entry: HistoryEntry) -> None: ...
    def update(self, entry: HistoryEntry) -> None: ...
    def latest(self, state: CommandState, sequence_id: str | None) -> HistoryEntry | None: ...
    def describe_latest(self, state: CommandState, sequence_id: str | None) -> str | None:
        """The description of ``latest(state, sequence_id)`` (without loading its snapshots)."""
        ...
    def discard_redo(self, sequence_id: str) -> None: ...


class Snapshots(Protocol):
    """The sequences' current states, as undo and redo need them (app/store/sequences.py)."""

    def version(self, sequence_id: str) -> tuple[int | None, bool]:
        """(current version or None if never stored, whether it is present i.e. not deleted)."""
        ...
    def write_snapshot(self, sequence_id: str, snapshot: Snapshot, version: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Reverted:
    """The result of an undo or redo: the entry as it now stands and the state it restored."""

    entry: HistoryEntry
    snapshot: Snapshot
    version: int


class CommandProcessor:
    """execute/undo/redo and the stacks' descriptions, over any ``History`` and ``Snapshots``."""

    def execute(self, history: History, entry: HistoryEntry) -> None:
        if entry.version_before is not None:  # a sequence being created has no redo stack yet
            history.discard_redo(entry.sequence_id)
        history.add(entry)

    def undo(self, history: History, snapshots: Snapshots, sequence_id: str | None = None) -> Reverted:
        entry = history.latest(CommandState.DONE, sequence_id)
        if entry is None:
            raise NothingToUndo("nothing to undo" + (f" for sequence {sequence_id}" if sequence_id else ""))
        version, present = snapshots.version(entry.sequence_id)
        if version is None or version != entry.version_after or present != (entry.after is not None):
            raise StaleCommand(entry, version)
        new_version = version + 1
        snapshots.write_snapshot(entry.sequence_id, entry.before, new_version)
        done = replace(entry, state=CommandState.UNDONE, version_undone=new_version)
        history.update(done)
        self._retag(history, entry.sequence_id, new_version)
        return Reverted(done, entry.before, new_version)

    def redo(self, history: History, snapshots: Snapshots, sequence_id: str | None = None) -> Reverted:
        entry = history.latest(CommandState.UNDONE, sequence_id)
        if entry is None:
            raise NothingToRedo("nothing to redo" + (f" for sequence {sequence_id}" if sequence_id else ""))
        version, _ = snapshots.version(entry.sequence_id)
        if version != entry.version_undone:
            raise StaleCommand(entry, version)
        new_version = (version or 0) + 1
        snapshots.write_snapshot(entry.sequence_id, entry.after, new_version)
        redone = replace(entry, state=CommandState.DONE, version_after=new_version, version_undone=None)
        history.update(redone)
        self._retag(history, entry.sequence_id, new_version)
        return Reverted(redone, entry.after, new_version)

    @staticmethod
    def _retag(history: History, sequence_id: str, version: int) -> None:
        """Undo and redo write a new version of a state an older entry produced: hand that version
        to the entries now on top of the sequence's undo and redo stacks, so their own checks
        (``version_after`` / ``version_undone``) keep meaning "nothing changed since"."""
        top_done = history.latest(CommandState.DONE, sequence_id)
        if top_done is not None and top_done.version_after != version:
            history.update(replace(top_done, version_after=version))
        top_undone = history.latest(CommandState.UNDONE, sequence_id)
        if top_undone is not None and top_undone.version_undone != version:
            history.update(replace(top_undone, version_undone=version))

    @staticmethod
    def undo_description(history: History, sequence_id: str | None = None) -> str | None:
        return history.describe_latest(CommandState.DONE, sequence_id)

    @staticmethod
    def redo_description(history: History, sequence_id: str | None = None) -> str | None:
        return history.describe_latest(CommandState.UNDONE, sequence_id)
