"""Retention: the log keeps the newest N events and the last T hours, and records what it pruned."""

from __future__ import annotations

import time

from app.events import retention


def make_events(service, n_sequences: int) -> int:
    for i in range(n_sequences):
        service.create_sequence(f"s{i}", start_position="alpha1")  # two events each
    with service.store.read() as uow:
        return uow.events.last_id()


def ids(service) -> list[int]:
    with service.store.read() as uow:
        return [e.event_id for e in uow.events.since(0)]


def test_keep_the_newest_n_and_remember_the_watermark(service):
    last = make_events(service, 10)
    assert retention.prune_if_due(service.store, keep_events=5, keep_hours=0, interval=60) == last - 5
    assert ids(service) == list(range(last - 4, last + 1))
    with service.store.read() as uow:
        b = retention.bounds(uow)
    assert (b.pruned_through, b.last_event_id, b.oldest_event_id) == (last - 5, last, last - 4)


def test_one_prune_per_interval_across_processes(service):
    make_events(service, 5)
    assert retention.prune_if_due(service.store, keep_events=2, keep_hours=0, interval=60) is not None
    make_events(service, 5)
    assert retention.prune_if_due(service.store, keep_events=2, keep_hours=0, interval=60) is None
    assert retention.prune_if_due(service.store, keep_events=2, keep_hours=0, interval=60,
                                  now=time.time() + 61) is not None
    assert len(ids(service)) == 2


def test_age_limit_never_removes_the_newest_event(service):
    last = make_events(service, 3)
    far_future = time.time() + 48 * 3600
    assert retention.prune_if_due(service.store, keep_events=0, keep_hours=1, interval=0, now=far_future) == last - 1
    assert ids(service) == [last]  # so SQLite never hands out an id twice
    service.create_sequence("after", start_position="alpha1")
    assert ids(service)[1] == last + 1


def test_big_logs_are_pruned_in_batches(service, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 3)
    last = make_events(service, 6)
    assert retention.prune_if_due(service.store, keep_events=2, keep_hours=0, interval=0) == last - 2
    assert ids(service) == [last - 1, last]


def test_nothing_to_prune_or_no_limits(service):
    make_events(service, 2)
    assert retention.prune_if_due(service.store, keep_events=0, keep_hours=0, interval=0) is None
    assert retention.prune_if_due(service.store, keep_events=100, keep_hours=24, interval=0) == 0
    assert len(ids(service)) == 4


def test_expired_idempotency_records_go_with_the_prune(service, store):
    from app.services.calls import Call, IdempotencyKey

    service.create_sequence("kept", call=Call(idempotency=IdempotencyKey("POST /api/sequences k", "f")))
    with store.write() as uow:
        uow.idempotency.claim("POST /api/sequences old", "f", -1, "c")  # expired a second ago
    retention.prune_if_due(store, keep_events=100, keep_hours=0, interval=0)
    with store.read() as uow:
        assert uow.idempotency.get("POST /api/sequences old") is None
        assert uow.idempotency.get("POST /api/sequences k").state == "complete"
