"""Undo/redo against a model, as a hypothesis state machine: any mix of commands and scoped or
global undo/redo on several sequences behaves like linear stacks (one global order, each sequence
its own redo tail), and never reports a false conflict."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from app.bootstrap import bootstrap, close
from app.domain.input import BeatSpec
from app.domain.models import SequenceData
from app.services.calls import CommandOutcome
from app.services.errors import Conflict, NotFound
from app.services.sequences import SequenceManagementService
from app.services.views import SequenceViews
from app.settings import Settings

SEQUENCES = 2


@dataclass(frozen=True)
class Done:
    """A command in the model: on which sequence, and its state before and after (None: absent)."""

    sequence_id: str
    before: SequenceData | None
    after: SequenceData | None


def shape(seq: SequenceData | None) -> tuple | None:
    return None if seq is None else (seq.name, [b.letter for b in seq.beats])


class History(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._tmp = tempfile.TemporaryDirectory()
        self.container = bootstrap(Settings(database_url=f"sqlite:///{Path(self._tmp.name) / 'h.db'}"))
        self.service = self.container.resolve(SequenceManagementService)
        self.views = self.container.resolve(SequenceViews)
        created = [self.service.create_sequence(f"S{i}", start_position="alpha1").sequence for i in range(SEQUENCES)]
        self.ids = [seq.id for seq in created]
        self.state: dict[str, SequenceData | None] = {seq.id: seq for seq in created}
        self.done = [Done(seq.id, None, seq) for seq in created]  # the undo stack, oldest first
        self.undone: list[Done] = []  # the redo stack, oldest first

    def teardown(self) -> None:
        try:
            while self.done:  # everything undoes to nothing, with no false conflict
                self.service.undo()
                self.done.pop()
            assert self.views.list_sequences().total == 0
        finally:
            close(self.container)
            self._tmp.cleanup()

    def _command(self, which: int, run: Callable[[str, SequenceData], CommandOutcome]) -> None:
        sid = self.ids[which]
        before = self.state[sid]
        if before is None:  # its creation was undone: it is gone
            with pytest.raises(NotFound):
                run(sid, SequenceData(id=sid, name="gone"))
            return
        after = run(sid, before).sequence
        self.state[sid] = after
        self.done.append(Done(sid, before, after))
        self.undone = [u for u in self.undone if u.sequence_id != sid]  # a new command cuts its redo tail

    @rule(which=st.integers(0, SEQUENCES - 1))
    def add_beat(self, which: int) -> None:
        self._command(which, lambda sid, seq: self.service.add_beat(
            sid, BeatSpec(letter="A" if len(seq.beats) % 2 == 0 else "B")))

    @rule(which=st.integers(0, SEQUENCES - 1))
    def rename(self, which: int) -> None:
        self._command(which, lambda sid, seq: self.service.update_sequence(sid, name=f"{seq.name}'"))

    @rule(which=st.integers(0, SEQUENCES - 1), scoped=st.booleans())
    def undo(self, which: int, scoped: bool) -> None:
        self._revert(self.service.undo, self.done, self.undone, "nothing_to_undo", which, scoped)

    @rule(which=st.integers(0, SEQUENCES - 1), scoped=st.booleans())
    def redo(self, which: int, scoped: bool) -> None:
        self._revert(self.service.redo, self.undone, self.done, "nothing_to_redo", which, scoped)

    def _revert(self, call: Callable[[str | None], CommandOutcome], source: list[Done], target: list[Done],
                nothing: str, which: int, scoped: bool) -> None:
        """Undo (or redo): the newest entry of ``source`` in scope moves to ``target``, and its
        sequence is as before (after) it."""
        scope = self.ids[which] if scoped else None
        candidates = [d for d in source if scope in (None, d.sequence_id)]
        if not candidates:
            with pytest.raises(Conflict) as err:
                call(scope)
            assert err.value.code == nothing
            return
        entry = candidates[-1]
        out = call(scope)
        source.remove(entry)
        target.append(entry)
        assert shape(out.sequence) == shape(entry.before if source is self.done else entry.after)
        self.state[entry.sequence_id] = out.sequence

    @invariant()
    def the_store_agrees_with_the_model(self) -> None:
        for sid in self.ids:
            try:
                stored = self.views.get_sequence(sid)
            except NotFound:
                stored = None
            assert shape(stored) == shape(self.state[sid])
        stacks = self.views.undo_state()
        assert (stacks.can_undo, stacks.can_redo) == (bool(self.done), bool(self.undone))


History.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_history_matches_a_stack_model = History.TestCase
