"""SequenceManagementService on a real SQLite file: commands, events, undo/redo, bad input."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa
import yaml

from dataclasses import replace

from app.bootstrap import bootstrap, close
from app.core.commands import HISTORY_LIMIT
from app.domain.errors import Discontinuity, DomainError, InvalidMotion, UnknownLetter
from app.domain.input import BeatSpec
from app.services.errors import Conflict, NotFound, PreconditionFailed
from app.services.sequences import SequenceManagementService
from app.services.views import SequenceViews
from app.store import Store
from tests.servers import ROOT

PRO_S_W = {"motion_type": "pro", "start_loc": "s", "end_loc": "w"}  # blue of A from alpha1
PRO_N_E = {"motion_type": "pro", "start_loc": "n", "end_loc": "e"}  # red of A from alpha1


def snapshot(service: SequenceManagementService) -> tuple:
    """Everything a failed call must leave untouched."""
    with service.store.read() as uow:
        seqs = uow.conn.execute(sa.text("SELECT id, version, data FROM sequences ORDER BY id")).all()
        hist = uow.conn.execute(sa.text("SELECT command_id, state FROM command_history ORDER BY seq")).all()
        keys = uow.conn.execute(sa.text("SELECT key, state FROM idempotency_keys ORDER BY key")).all()
        return seqs, hist, keys, uow.events.last_id()


def test_create_publishes_events_and_becomes_current(service, views, events):
    out = service.create_sequence("My Sequence", start_position="alpha1")
    seq = out.sequence
    assert seq.version == 1 and seq.start_position_name == "alpha1" and seq.length == 0
    assert [e.event_type for e in events] == ["sequence.created", "command.executed"]
    assert all(e.event_id is not None for e in events)
    assert events[0].event_id < events[1].event_id
    assert views.get_current_sequence().id == seq.id
    assert out.can_undo and not out.can_redo
    assert out.undo_description == "Create sequence 'My Sequence'"


def test_length_makes_blank_beats_and_later_beats_continue_from_the_start(service):
    seq = service.create_sequence("Blanks", length=4, start_position="alpha1").sequence
    assert seq.length == 4 and all(b.is_blank for b in seq.beats)
    seq = service.add_beat(seq.id, BeatSpec(letter="A")).sequence
    assert seq.length == 5
    assert seq.beats[4].letter == "A" and seq.beats[4].start_position == "alpha1"
    assert seq.word == "A"


def test_add_beats_by_letter_and_by_motions(service, events):
    seq = service.create_sequence("Beats", start_position="alpha1").sequence
    seq = service.add_beat(seq.id, BeatSpec(blue_motion=PRO_S_W, red_motion=PRO_N_E)).sequence
    assert seq.beats[0].letter == "A" and seq.beats[0].end_position == "alpha3"
    seq = service.add_beat(seq.id, BeatSpec(letter="B")).sequence
    assert seq.word == "AB"
    assert seq.beats[1].start_position == "alpha3"
    # orientation continuity: beat 2 starts with beat 1's end orientations
    assert seq.beats[1].blue_motion.start_ori == seq.beats[0].blue_motion.end_ori
    added = [e for e in events if e.event_type == "sequence.beat_added"]
    assert [e.data["beat_position"] for e in added] == [1, 2]
    assert added[-1].data["sequence"]["version"] == 3


def test_undo_redo_restore_exact_states(service):
    seq = service.create_sequence("Undo", start_position="alpha1").sequence
    service.add_beat(seq.id, BeatSpec(letter="A"))
    after_b = service.add_beat(seq.id, BeatSpec(letter="B")).sequence
    undone = service.undo()
    assert undone.sequence.word == "A" and undone.can_redo
    assert undone.redo_description == "Add beat 'B' at position 2"
    redone = service.redo()
    assert redone.sequence.word == "AB"
    assert [b.to_dict() for b in redone.sequence.beats] == [b.to_dict() for b in after_b.beats]
    assert redone.sequence.version > after_b.version  # versions only move forward


def test_a_new_command_discards_the_redo_tail(service, views):
    seq = service.create_sequence("Tail", start_position="alpha1").sequence
    service.add_beat(seq.id, BeatSpec(letter="A"))
    service.undo()
    service.add_beat(seq.id, BeatSpec(letter="C"))
    assert not views.undo_state().can_redo
    with pytest.raises(Conflict) as err:
        service.redo()
    assert err.value.code == "nothing_to_redo"


def test_undo_of_create_hides_the_sequence_and_redo_brings_it_back(service, views):
    seq = service.create_sequence("Gone", start_position="beta5").sequence
    out = service.undo()
    assert out.sequence is None
    with pytest.raises(NotFound):
        views.get_sequence(seq.id)
    assert views.get_current_sequence() is None
    assert service.redo().sequence.name == "Gone"
    assert views.get_sequence(seq.id).name == "Gone"


def test_scoped_undo_touches_only_that_sequence(service, views):
    a = service.create_sequence("A", start_position="alpha1").sequence
    b = service.create_sequence("B", start_position="alpha1").sequence
    service.add_beat(a.id, BeatSpec(letter="A"))
    service.add_beat(b.id, BeatSpec(letter="B"))
    out = service.undo(a.id)
    assert out.sequence.id == a.id and out.sequence.word == ""
    assert views.get_sequence(b.id).word == "B"


def test_undo_of_a_command_whose_sequence_changed_since_is_refused(service, events):
    seq = service.create_sequence("Stale", start_position="alpha1").sequence
    service.add_beat(seq.id, BeatSpec(letter="A"))
    # A change that bypassed the history (e.g. an older release writing the same database):
    with service.store.write() as uow:
        now = uow.sequences.get(seq.id)
        renamed = replace(now, name="Renamed elsewhere", version=now.version + 1, updated_at="t")
        uow.sequences.save(renamed, renamed.to_dict())
    before, published = snapshot(service), len(events)
    with pytest.raises(Conflict) as err:
        service.undo()
    assert err.value.code == "undo_conflict" and "changed since" in err.value.message
    assert snapshot(service) == before and len(events) == published


def test_if_match_precondition(service):
    seq = service.create_sequence("V", start_position="alpha1").sequence
    service.add_beat(seq.id, BeatSpec(letter="A"), expected_versions=frozenset({1}))
    before = snapshot(service)
    with pytest.raises(PreconditionFailed) as err:
        service.add_beat(seq.id, BeatSpec(letter="B"), expected_versions=frozenset({1}))
    assert err.value.current_version == 2
    assert snapshot(service) == before


@pytest.mark.parametrize("spec, error, field", [
    (BeatSpec(blue_motion={**PRO_S_W, "end_loc": "s"}, red_motion=PRO_N_E), InvalidMotion, "beat.blue_motion"),
    (BeatSpec(blue_motion={**PRO_S_W, "turns": 0.7}, red_motion=PRO_N_E), InvalidMotion, "beat.blue_motion.turns"),
    (BeatSpec(blue_motion={"motion_type": "dash", "start_loc": "s", "end_loc": "n", "turns": "fl"},
              red_motion=PRO_N_E), InvalidMotion, "beat.blue_motion"),
    (BeatSpec(blue_motion={**PRO_S_W, "start_loc": "x"}, red_motion=PRO_N_E), DomainError, "beat.blue_motion.start_loc"),
    (BeatSpec(letter="Q7"), UnknownLetter, "beat.letter"),
    (BeatSpec(blue_motion={"motion_type": "pro", "start_loc": "n", "end_loc": "e"},
              red_motion={"motion_type": "pro", "start_loc": "s", "end_loc": "w"}), Discontinuity, "beat"),
    (BeatSpec(letter="B", blue_motion=PRO_S_W, red_motion=PRO_N_E), DomainError, "beat.letter"),
    (BeatSpec(blue_motion={**PRO_S_W, "start_ori": "out"}, red_motion=PRO_N_E), Discontinuity,
     "beat.blue_motion.start_ori"),
])
def test_bad_beats_change_nothing_and_publish_nothing(service, events, spec, error, field):
    seq = service.create_sequence("Bad", start_position="alpha1").sequence
    before, published = snapshot(service), len(events)
    with pytest.raises(error) as err:
        service.add_beat(seq.id, spec)
    assert err.value.field.startswith(field), err.value.field
    assert err.value.message
    assert snapshot(service) == before
    assert len(events) == published


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_bad_names_are_rejected(service, views, events, name):
    with pytest.raises(DomainError) as err:
        service.create_sequence(name)
    assert err.value.field == "name"
    assert events == []
    assert views.list_sequences().total == 0


def test_beat_numbers_out_of_range(service):
    seq = service.create_sequence("R", start_position="alpha1").sequence
    service.add_beat(seq.id, BeatSpec(letter="A"))
    for n in (0, 2, 65):
        with pytest.raises(DomainError) as err:
            service.remove_beat(seq.id, n)
        assert err.value.field == "beat_number"


def test_removing_a_middle_beat_that_breaks_the_chain_is_refused(service):
    seq = service.create_sequence("Chain", start_position="alpha1").sequence
    service.add_beat(seq.id, BeatSpec(letter="A"))  # alpha1 -> alpha3
    service.add_beat(seq.id, BeatSpec(letter="A"))  # alpha3 -> alpha5
    with pytest.raises(Discontinuity):
        service.remove_beat(seq.id, 1)
    assert service.remove_beat(seq.id, 2).sequence.word == "A"


def test_turns_change_reorients_every_later_beat(service):
    seq = service.create_sequence("Turns", start_position="alpha1").sequence
    service.add_beat(seq.id, BeatSpec(letter="A"))
    service.add_beat(seq.id, BeatSpec(letter="A"))
    seq = service.update_beat(seq.id, 1, {"blue_turns": 1}).sequence
    first, second = seq.beats
    assert first.blue_motion.turns == 1 and first.blue_motion.end_ori.value == "out"
    assert second.blue_motion.start_ori == first.blue_motion.end_ori
    assert seq.level == 2
    seq = service.update_beat(seq.id, 1, {"blue_turns": None}).sequence  # None = float
    assert seq.beats[0].blue_motion.motion_type.value == "float"
    assert seq.beats[0].letter == "A"  # a float keeps the letter of the shift it replaced
    assert seq.level == 3


def test_generate_is_reproducible_and_valid(service):
    a = service.generate_sequence(length=12, level=3, max_turns=2, seed=42).sequence
    b = service.generate_sequence(length=12, level=3, max_turns=2, seed=42).sequence
    assert a.id != b.id
    assert [x.letter for x in a.beats] == [x.letter for x in b.beats]
    assert a.length == 12 and a.metadata["generated"]["seed"] == 42
    for prev, beat in zip([a.start_position, *a.beats], a.beats):
        assert beat.start_position == prev.end_position
        assert beat.blue_motion.start_ori == prev.blue_motion.end_ori


def test_paging(service, views):
    for i in range(5):
        service.create_sequence(f"S{i}")
    page = views.list_sequences(page=2, page_size=2)
    assert page.total == 5 and [s.name for s in page.items] == ["S2", "S3"]


def test_history_survives_a_restart(settings):
    first = bootstrap(settings)
    seq = first.resolve(SequenceManagementService).create_sequence("Durable", start_position="alpha1").sequence
    first.resolve(SequenceManagementService).add_beat(seq.id, BeatSpec(letter="A"))
    close(first)
    second = bootstrap(settings)
    try:
        assert second.resolve(SequenceViews).undo_state().undo_description == "Add beat 'A' at position 1"
        assert second.resolve(SequenceManagementService).undo().sequence.word == ""
        assert second.resolve(SequenceManagementService).redo().sequence.word == "A"
    finally:
        close(second)


def test_two_processes_share_one_history(service, views, db_url):
    seq = service.create_sequence("Shared", start_position="alpha1").sequence
    script = textwrap.dedent(f"""
        from app.bootstrap import bootstrap
        from app.domain.input import BeatSpec
        from app.services.sequences import SequenceManagementService
        from app.settings import Settings
        s = bootstrap(Settings(database_url={db_url!r})).resolve(SequenceManagementService)
        print(s.add_beat({seq.id!r}, BeatSpec(letter="A")).command_id)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    other_command = done.stdout.strip()
    out = service.undo()  # undoes what the other process did
    assert out.command_id == other_command
    assert out.sequence.word == ""
    # and a stale undo from a process that missed a change is refused, changing nothing
    service.redo()
    script2 = script.replace('letter="A"', 'letter="B"')
    subprocess.run([sys.executable, "-c", script2], cwd=ROOT, check=True, capture_output=True)
    assert views.get_sequence(seq.id).word == "AB"


def test_an_older_database_opens_with_a_newer_release(db_url, settings):
    old = Store(db_url)
    assert old.migrate(target=1) == 1
    with old.write() as uow:
        uow.conn.execute(sa.text(
            "INSERT INTO sequences (id, name, data, version, deleted, created_at, updated_at, created_order) "
            "VALUES ('00000000-0000-4000-8000-000000000001', 'Old', :data, 3, :deleted, 't', 't', 1)"),
            {"data": '{"id": "00000000-0000-4000-8000-000000000001", "name": "Old", "beats": []}', "deleted": False})
    old.dispose()
    container = bootstrap(settings)
    try:
        assert container.resolve(Store).schema_version() >= 2
        views = container.resolve(SequenceViews)
        assert views.get_sequence("00000000-0000-4000-8000-000000000001").version == 3
        out = container.resolve(SequenceManagementService).create_sequence("New")
        assert views.list_sequences().total == 2 and out.sequence.version == 1
    finally:
        close(container)


def test_the_history_keeps_the_newest_100_commands_and_undoes_each_exactly(service, views):
    """HISTORY_LIMIT, as openapi.yaml states it. Every kind of state change goes through patches:
    beats added mid-sequence (the ones after renumbered), turns changed (orientations after it
    follow), a delete; each undo gives back exactly the state before its command."""
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    assert spec["components"]["parameters"]["HistoryLimit"]["schema"]["maximum"] == HISTORY_LIMIT
    assert f"newest {HISTORY_LIMIT} commands" in spec["components"]["parameters"]["HistoryLimit"]["description"]

    seq = service.generate_sequence(length=8, seed=3).sequence
    states = [seq]  # the state after each command still in the history, oldest first
    for i in range(HISTORY_LIMIT + 4):
        if i % 4 == 0:
            out = service.add_beat(seq.id, BeatSpec(is_blank=True), position=2)
        elif i % 4 == 1:
            out = service.update_sequence(seq.id, name=f"Renamed {i}", metadata={"i": i, "flag": i % 2 == 0})
        elif i % 4 == 2:
            try:
                out = service.update_beat(seq.id, 1, {"blue_turns": 1 + i % 2})
            except DomainError:  # a turn count this motion cannot take
                out = service.update_beat(seq.id, 1, {"duration": 1 + i % 3})
        else:
            out = service.remove_beat(seq.id, 2)
        states.append(out.sequence)
    service.delete_sequence(seq.id)
    states.append(None)
    kept = states[-HISTORY_LIMIT - 1:]  # 100 commands: the state after each, and the one before the oldest
    assert len(views.history(limit=HISTORY_LIMIT + 1)) == HISTORY_LIMIT

    def shape(s):
        return None if s is None else {**s.to_dict(), "version": None, "updated_at": None}

    for before in reversed(kept[:-1]):
        restored = service.undo().sequence
        assert shape(restored) == shape(before)
    with pytest.raises(Conflict) as nothing:
        service.undo()
    assert nothing.value.code == "nothing_to_undo"
    for after in kept[1:]:
        assert shape(service.redo().sequence) == shape(after)
