"""Undo/redo over a durable, shared command history.

Every command is recorded as a change of one sequence: the two-way patch between its states
before and after (app/core/patch.py), whether it existed on either side, and the versions it moved
between. Undo applies the patch backward to the sequence as it stands, redo forward; that is exact
because a command can only be undone while its sequence is still at the version the command
produced (and redone while at the version its undo wrote), which also refuses a stale undo. The
history lives in the store, so undo and redo work after a restart and from another process. It
keeps the newest ``HISTORY_LIMIT`` commands; older ones cannot be undone.

The history is linear per sequence: executing a new command on a sequence discards the redo tail of
that sequence. Undo/redo without a scope act on the most recent command of the whole history,
whichever client or process did it (the brief's global undo); with a ``sequence_id`` they act on
that sequence alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from app.core import patch


HISTORY_LIMIT = 100  # commands the history keeps (openapi.yaml says so, under HistoryLimit)


class CommandState(StrEnum):
    DONE = "done"
    UNDONE = "undone"


Snapshot = dict[str, Any]  # a sequence's stored form (a deleted one keeps its last, as a tombstone)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    command_id: str
    kind: str
    description: str
    sequence_id: str
    patch: dict[str, Any] | None  # patch.diff(state before, state after); None: the same state
    existed_before: bool  # False: the command created the sequence
    exists_after: bool  # False: the command deleted it
    version_before: int | None
    version_after: int
    created_at: str
    state: CommandState = CommandState.DONE
    version_undone: int | None = None  # the version the undo wrote; a redo needs it unchanged

    @classmethod
    def of_change(cls, *, before: Snapshot | None, after: Snapshot, exists_after: bool = True,
                  **fields: Any) -> "HistoryEntry":
        """The entry of a command that took its sequence from ``before`` (None: it created it) to
        ``after`` (a deleting command: the tombstone it left, ``exists_after`` False)."""
        return cls(patch=None if before is None else patch.diff(before, after), existed_before=before is not None,
                   exists_after=exists_after, **fields)


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

    def add(self, entry: HistoryEntry) -> None:
        """Record a new command, and forget the oldest beyond HISTORY_LIMIT."""
        ...
    def update(self, entry: HistoryEntry) -> None: ...
    def latest(self, state: CommandState, sequence_id: str | None) -> HistoryEntry | None: ...
    def describe_latest(self, state: CommandState, sequence_id: str | None) -> str | None:
        """The description of ``latest(state, sequence_id)`` (without loading its snapshots)."""
        ...
    def discard_redo(self, sequence_id: str) -> None:
        """Forget the sequence's redo stack (a new command cut it off)."""
        ...


class Snapshots(Protocol):
    """The sequences' current states, as undo and redo need them (app/store/sequences.py)."""

    def version(self, sequence_id: str) -> tuple[int | None, bool]:
        """(current version or None if never stored, whether it is present i.e. not deleted)."""
        ...
    def snapshot(self, sequence_id: str) -> Snapshot:
        """The stored state (a tombstone's too)."""
        ...
    def write_snapshot(self, sequence_id: str, snapshot: Snapshot, present: bool, version: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Reverted:
    """The result of an undo or redo: the entry as it now stands and the state it restored."""

    entry: HistoryEntry
    snapshot: Snapshot
    present: bool  # False: the sequence is now deleted (``snapshot`` is its tombstone)
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
        if version is None or version != entry.version_after or present != entry.exists_after:
            raise StaleCommand(entry, version)
        new_version = version + 1
        before = patch.backward(snapshots.snapshot(entry.sequence_id), entry.patch)
        snapshots.write_snapshot(entry.sequence_id, before, entry.existed_before, new_version)
        done = replace(entry, state=CommandState.UNDONE, version_undone=new_version)
        history.update(done)
        self._retag(history, entry.sequence_id, new_version)
        return Reverted(done, before, entry.existed_before, new_version)

    def redo(self, history: History, snapshots: Snapshots, sequence_id: str | None = None) -> Reverted:
        entry = history.latest(CommandState.UNDONE, sequence_id)
        if entry is None:
            raise NothingToRedo("nothing to redo" + (f" for sequence {sequence_id}" if sequence_id else ""))
        version, _ = snapshots.version(entry.sequence_id)
        if version != entry.version_undone:
            raise StaleCommand(entry, version)
        new_version = (version or 0) + 1
        after = patch.forward(snapshots.snapshot(entry.sequence_id), entry.patch)
        snapshots.write_snapshot(entry.sequence_id, after, entry.exists_after, new_version)
        redone = replace(entry, state=CommandState.DONE, version_after=new_version, version_undone=None)
        history.update(redone)
        self._retag(history, entry.sequence_id, new_version)
        return Reverted(redone, after, entry.exists_after, new_version)

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
