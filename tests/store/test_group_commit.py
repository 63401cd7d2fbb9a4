"""Group commit (app/store/group.py): writers that queue behind a running transaction share the
next one, and still succeed or fail one by one."""

from __future__ import annotations

import threading
from typing import Any, Callable

import pytest
import sqlalchemy as sa

from app.core import metrics
from app.core.commands import HISTORY_LIMIT, CommandState
from app.core.events import Event
from app.bootstrap import bootstrap, close
from app.services.sequences import SequenceManagementService
from app.settings import Settings
from app.store import Store, StoreUnavailable
from app.store import schema as t
from tests.waiting import wait_until


class Batch:
    """Holds the store's write transaction with a first command, queues more commands behind it
    (in the order given), then lets go: the queued ones run together in the next transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.results: dict[str, Any] = {}
        self.threads: dict[str, int] = {}  # which thread ran each command's work
        self._inside = threading.Event()
        self._release = threading.Event()
        self._callers: list[threading.Thread] = []

    def _call(self, name: str, work: Callable[[Any], Any]) -> None:
        def run(uow: Any) -> Any:
            self.threads[name] = threading.get_ident()
            return work(uow)

        try:
            self.results[name] = self.store.transact(run)
        except Exception as exc:  # noqa: BLE001 - the caller's answer, whatever it is
            self.results[name] = exc

    def _start(self, name: str, work: Callable[[Any], Any]) -> None:
        caller = threading.Thread(target=self._call, args=(name, work))
        caller.start()
        self._callers.append(caller)

    def run(self, queued: list[tuple[str, Callable[[Any], Any]]],
            while_held: Callable[[], None] = lambda: None) -> dict[str, Any]:
        def first(uow: Any) -> str:
            uow.settings.set("first", "1")
            self._inside.set()
            assert self._release.wait(10)
            return "first"

        self._start("first", first)
        assert self._inside.wait(10)
        while_held()
        group = self.store._group
        assert group is not None
        for count, (name, work) in enumerate(queued, start=1):
            self._start(name, work)  # queued behind "first", in this order
            wait_until(lambda n=count: len(group._waiting) >= n, f"{name} queuing behind the running commit")
        self._release.set()
        for caller in self._callers:
            caller.join(10)
        return self.results


@pytest.fixture
def store(tmp_path):
    """Group commit is SQLite's (PostgreSQL takes concurrent writers on their own connections)."""
    store = Store(f"sqlite:///{tmp_path / 'group.db'}")
    store.migrate()
    yield store
    store.dispose()


def _commits_of_3_or_4() -> float:
    """How many commits held 3 or 4 commands, by the tka_store_commit_commands histogram."""
    buckets = {s.labels["le"]: s.value for m in metrics.STORE_COMMIT_COMMANDS.collect() for s in m.samples
               if s.name.endswith("_bucket")}
    return buckets["4.0"] - buckets["2.0"]


def _setting(store: Store, key: str) -> str | None:
    with store.read() as uow:
        return uow.settings.get(key)


def _writes(key: str, result: Any = None, then: Callable[[Any], Any] | None = None) -> Callable[[Any], Any]:
    def work(uow: Any) -> Any:
        uow.settings.set(key, "1")
        if then is not None:
            then(uow)
        return result if result is not None else key
    return work


def test_a_command_that_fails_in_a_shared_commit_is_rolled_back_alone(store):
    def refuse(_uow: Any) -> None:
        raise ValueError("refused")

    before = _commits_of_3_or_4()
    batch = Batch(store)
    results = batch.run([("good", _writes("good")), ("bad", _writes("bad", then=refuse)),
                         ("after", _writes("after"))])
    assert results["first"] == "first" and results["good"] == "good" and results["after"] == "after"
    assert isinstance(results["bad"], ValueError)
    # the three queued commands ran in one transaction, led by one thread
    assert batch.threads["good"] == batch.threads["bad"] == batch.threads["after"]
    assert _commits_of_3_or_4() == before + 1  # tka_store_commit_commands saw it
    assert [_setting(store, k) for k in ("first", "good", "bad", "after")] == ["1", "1", None, "1"]


def test_an_infrastructure_fault_fails_every_command_of_the_shared_commit(store):
    def break_the_database(uow: Any) -> None:
        uow.conn.execute(sa.text("SELECT * FROM no_such_table"))  # OperationalError: an outage

    results = Batch(store).run([("good", _writes("good")), ("broken", _writes("broken", then=break_the_database))])
    assert results["first"] == "first"
    # "good" ran without error, but its commit never happened: it must not hear "done"
    assert isinstance(results["good"], StoreUnavailable)
    assert isinstance(results["broken"], StoreUnavailable)
    assert _setting(store, "good") is None and _setting(store, "broken") is None
    assert _setting(store, "first") == "1"


def test_a_shared_commit_wakes_event_listeners_once_and_keeps_event_ids_in_order(store):
    commits: list[int] = []
    store.on_events_committed(lambda: commits.append(1))

    def events(name: str) -> Callable[[Any], Any]:
        def work(uow: Any) -> Any:
            return uow.events.append([Event(event_type="sequence.updated", data={"n": f"{name}-{i}"})
                                      for i in range(3)])
        return work

    results = Batch(store).run([(f"c{i}", events(f"c{i}")) for i in range(4)])
    assert len(commits) == 1  # "first" added none; the four others shared one commit
    ids = [e.event_id for i in range(4) for e in results[f"c{i}"]]
    assert ids == list(range(ids[0], ids[0] + 12))
    with store.read() as uow:
        logged = uow.events.since(0)
    assert [(e.event_id, e.data["n"]) for e in logged] == \
        [(e.event_id, e.data["n"]) for i in range(4) for e in results[f"c{i}"]]


def test_a_command_queued_past_its_deadline_is_refused_not_run(store, monkeypatch):
    import app.store.store as module

    results = Batch(store).run([("late", _writes("late"))],
                               while_held=lambda: monkeypatch.setattr(module, "WRITE_QUEUE_TIMEOUT_S", 0.0))
    assert results["first"] == "first"
    assert isinstance(results["late"], StoreUnavailable) and results["late"].retry_after == 1
    assert _setting(store, "late") is None


def test_concurrent_commands_all_land_with_unique_orders_and_a_gapless_event_log(any_db_url):
    container = bootstrap(Settings(database_url=any_db_url))
    service = container.resolve(SequenceManagementService)
    store = container.resolve(Store)
    errors: list[BaseException] = []

    def client() -> None:
        try:
            for i in range(15):
                created = service.create_sequence(name=f"s{i}")
                service.update_sequence(created.sequence.id, name=f"s{i}-renamed")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    callers = [threading.Thread(target=client) for _ in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(60)
    assert not errors
    with store.read() as uow:
        conn = uow.conn
        orders = conn.execute(sa.select(t.sequences.c.created_order)).scalars().all()
        done = conn.execute(sa.select(t.command_history.c.done_order)
                            .where(t.command_history.c.state == CommandState.DONE.value)).scalars().all()
        logged = uow.events.since(0, limit=10_000)
    assert len(orders) == len(set(orders)) == 120
    assert len(done) == len(set(done)) == HISTORY_LIMIT  # the newest of the 240 commands
    assert [e.event_id for e in logged] == list(range(logged[0].event_id, logged[0].event_id + len(logged)))
    # every command's events are in the log, next to each other, in the order it made them
    by_command: dict[str, list[int]] = {}
    for e in logged:
        if e.command_id:
            by_command.setdefault(e.command_id, []).append(e.event_id)
    assert len(by_command) == 240
    assert all(ids == list(range(ids[0], ids[0] + len(ids))) for ids in by_command.values())
    close(container)
