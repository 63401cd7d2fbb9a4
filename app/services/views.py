"""Reads: what clients look at, answered with plain queries (Cosmic Python's ``views.py``).

Nothing here writes. Commands (app/services/sequences.py) hand each sequence they commit to
``RecentSequences``, so that reading it back costs one indexed lookup of its version.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from app.core.commands import CommandProcessor, HistoryEntry
from app.domain.errors import InvalidValue
from app.domain.models import SequenceData
from app.services.errors import NotFound
from app.store import Store, UnitOfWork

CURRENT_SEQUENCE = "current_sequence_id"  # the settings key of the current sequence
RECENT_CACHE_SIZE = 256
MAX_PAGE_SIZE = 100


class RecentSequences:
    """The sequences used most recently, each at the newest version seen. A version never changes
    once written, so one whose version is still current can be served as it is."""

    def __init__(self, size: int = RECENT_CACHE_SIZE) -> None:
        self._size = size
        self._items: dict[str, SequenceData] = {}  # insertion-ordered: oldest first
        self._lock = threading.Lock()

    def get(self, sequence_id: str, version: int | None) -> SequenceData | None:
        """The sequence if it is here at ``version``."""
        found = self._items.get(sequence_id)
        return found if found is not None and found.version == version else None

    def remember(self, seq: SequenceData) -> None:
        with self._lock:
            known = self._items.get(seq.id)
            if known is not None and known.version > seq.version:
                return  # commands answered out of commit order: keep the newer
            self._items.pop(seq.id, None)
            self._items[seq.id] = seq
            while len(self._items) > self._size:
                self._items.pop(next(iter(self._items)))


@dataclass(frozen=True, slots=True)
class UndoState:
    can_undo: bool
    can_redo: bool
    undo_description: str | None
    redo_description: str | None


def undo_state(uow: UnitOfWork, sequence_id: str | None) -> UndoState:
    """The tops of the undo and redo stacks: of one sequence, or (None) of the whole history."""
    undo = CommandProcessor.undo_description(uow.history, sequence_id)
    redo = CommandProcessor.redo_description(uow.history, sequence_id)
    return UndoState(undo is not None, redo is not None, undo, redo)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[SequenceData]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return (self.total + self.page_size - 1) // self.page_size


class SequenceViews:
    def __init__(self, store: Store, recent: RecentSequences) -> None:
        self.store = store
        self.recent = recent

    def get_sequence(self, sequence_id: str) -> SequenceData:
        """A sequence by id: a cached version costs one indexed lookup of the version instead of
        decoding and rebuilding the whole sequence."""
        peek = self.store.peek_version(sequence_id)
        if peek is not None:
            if not peek[1]:
                raise NotFound(f"sequence {sequence_id} not found")
            cached = self.recent.get(sequence_id, peek[0])
            if cached is not None:
                return cached
        with self.store.read() as uow:
            version, present = uow.sequences.version(sequence_id)
            if not present:
                raise NotFound(f"sequence {sequence_id} not found")
            seq = self.recent.get(sequence_id, version) or uow.sequences.get(sequence_id)
        assert seq is not None
        self.recent.remember(seq)
        return seq

    def list_sequences(self, page: int = 1, page_size: int = 20) -> Page:
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise InvalidValue("page", "page.min", "page must be 1 or more")
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidValue("page_size", "page_size.range", f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        with self.store.read() as uow:
            items, total = uow.sequences.page((page - 1) * page_size, page_size)
        return Page(items, total, page, page_size)

    def get_current_sequence(self) -> SequenceData | None:
        with self.store.read() as uow:
            current = uow.settings.get(CURRENT_SEQUENCE)
            return uow.sequences.get(current) if current else None

    def history(self, limit: int = 50, sequence_id: str | None = None) -> list[HistoryEntry]:
        with self.store.read() as uow:
            return uow.history.recent(limit, sequence_id)

    def undo_state(self, sequence_id: str | None = None) -> UndoState:
        with self.store.read() as uow:
            return undo_state(uow, sequence_id)
