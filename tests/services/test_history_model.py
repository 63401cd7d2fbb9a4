"""Undo/redo against a model: any mix of commands and scoped/global undo/redo on several
sequences behaves like per-sequence linear stacks, and never reports a false conflict."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings, strategies as st

from app.bootstrap import bootstrap
from app.services.errors import Conflict, NotFound
from app.services.sequences import BeatSpec, SequenceManagementService
from app.store import Store

ops = st.lists(st.tuples(st.sampled_from(["add", "rename", "undo", "redo", "undo_scoped", "redo_scoped"]),
                         st.integers(0, 1)), min_size=1, max_size=25)


@settings(max_examples=40, deadline=None)
@given(ops)
def test_history_matches_a_stack_model(operations):
    with tempfile.TemporaryDirectory() as tmp:
        container = bootstrap(f"sqlite:///{Path(tmp) / 'h.db'}")
        service = container.resolve(SequenceManagementService)
        try:
            ids = [service.create_sequence(f"S{i}", start_position="alpha1").sequence.id for i in range(2)]
            # model: per sequence, a list of states (done stack) and a redo stack; plus global order
            state = {sid: service.get_sequence(sid) for sid in ids}
            done: list[tuple[str, object, object]] = [(sid, None, state[sid]) for sid in ids]  # (sid, before, after)
            undone: list[tuple[str, object, object]] = []
            for op, which in operations:
                sid = ids[which]
                if op in ("add", "rename"):
                    before = state[sid]
                    if before is None:  # its creation was undone
                        try:
                            service.update_sequence(sid, name="x")
                            raise AssertionError("a sequence whose creation was undone is gone")
                        except NotFound:
                            continue
                    if op == "add":
                        out = service.add_beat(sid, BeatSpec(letter="A" if len(before.beats) % 2 == 0 else "B"))
                    else:
                        out = service.update_sequence(sid, name=f"{before.name}'")
                    state[sid] = out.sequence
                    done.append((sid, before, out.sequence))
                    undone = [u for u in undone if u[0] != sid]
                    continue
                scoped = op.endswith("scoped")
                if op.startswith("undo"):
                    candidates = [d for d in done if d[0] == sid] if scoped else done
                    if not candidates:
                        try:
                            service.undo(sid if scoped else None)
                            raise AssertionError("undo should have had nothing to do")
                        except Conflict as exc:
                            assert exc.code == "nothing_to_undo"
                        continue
                    entry = candidates[-1]
                    out = service.undo(sid if scoped else None)
                    done.remove(entry)
                    undone.append(entry)
                    target = entry[1]
                else:
                    candidates = [u for u in undone if u[0] == sid] if scoped else undone
                    if not candidates:
                        try:
                            service.redo(sid if scoped else None)
                            raise AssertionError("redo should have had nothing to do")
                        except Conflict as exc:
                            assert exc.code == "nothing_to_redo"
                        continue
                    entry = candidates[-1]
                    out = service.redo(sid if scoped else None)
                    undone.remove(entry)
                    done.append(entry)
                    target = entry[2]
                affected = entry[0]
                if target is None:
                    assert out.sequence is None
                    state[affected] = None
                else:
                    assert out.sequence.name == target.name
                    assert [b.letter for b in out.sequence.beats] == [b.letter for b in target.beats]
                    state[affected] = out.sequence
            # everything can be undone to nothing and redone to the end, with no false conflict
            while done:
                service.undo()
                done.pop()
            assert service.list_sequences().total == 0
        finally:
            container.resolve(Store).dispose()
