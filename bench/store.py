"""The store's write path, in process: what group commit and background WAL checkpoints buy.

Both workloads run ``SequenceManagementService.create_sequence`` (a real ``bootstrap``, SQLite,
one committed command per call) against a baseline built from the same code in the same run:

- ``latency``: one thread. Baseline: SQLite's own automatic checkpoint inside the COMMIT that
  takes the WAL past 1000 pages (``wal_autocheckpoint=1000``, what the store did before).
  Read ``p99_ratio`` and ``mean_ratio`` (current / baseline).
- ``concurrent``: 16 threads. Baseline: one transaction per command (no group commit). Read
  ``ratio_per_s`` and ``ratio_cpu`` (current / baseline) and ``commands_per_commit``.
- ``wal``: 8 threads, checkpoints off, on a store that already holds some sequences: write-ahead
  log written per create. Baseline: random (version 4) UUIDs for the new ids instead of tka's
  time-ordered ones (``app.domain.models.new_id``). Read ``ratio_kib`` and ``ratio_cpu``.
- ``growth``: bytes the database grows by per beat edit (a turns change) on a 64-beat sequence,
  from SQLite's dbstat after a WAL checkpoint, per table; fewer edits than the history keeps, so
  its bound does not flatter the figure. Baseline: the stored size of the sequence itself (what
  one whole copy costs). Read ``bytes_per_edit`` (goal: 8 KB at most) and ``ratio_to_sequence``.

Blocks alternate between the two so that machine noise falls on both.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event

from bench.stats import latency_summary_ms


def _service(path: Path, *, grouped: bool = True, background_checkpoints: bool = True) -> tuple[Any, Any]:
    from app.bootstrap import bootstrap
    from app.services.sequences import SequenceManagementService
    from app.settings import Settings
    from app.store import Store

    container = bootstrap(Settings(database_url=f"sqlite:///{path}"))
    store = container.resolve(Store)
    if not grouped:
        store._group = None  # transact() then runs each command in a write() of its own
    if not background_checkpoints:
        store._checkpointer.stop()
        store._checkpointer = None

        @sa_event.listens_for(store.engine, "connect")
        def _inline_checkpoints(dbapi_conn: Any, _record: Any) -> None:  # after the store's own hook
            dbapi_conn.execute("PRAGMA wal_autocheckpoint=1000")

        store.engine.dispose()
    return container, container.resolve(SequenceManagementService)


def _commit_counts() -> tuple[float, float]:
    from app.core import metrics

    values = {s.name: s.value for m in metrics.STORE_COMMIT_COMMANDS.collect() for s in m.samples}
    return values.get("tka_store_commit_commands_sum", 0.0), values.get("tka_store_commit_commands_count", 0.0)


def _latency(tmp: Path, quick: bool) -> dict[str, Any]:
    blocks, per_block = (2, 100) if quick else (10, 300)
    current, baseline = _service(tmp / "latency.db"), _service(tmp / "latency-base.db", background_checkpoints=False)
    samples: dict[str, list[float]] = {"current": [], "baseline": []}
    try:
        for _ in range(blocks):
            for name, (_, service) in (("current", current), ("baseline", baseline)):
                for _ in range(per_block):
                    start = time.perf_counter()
                    service.create_sequence("bench")
                    samples[name].append(time.perf_counter() - start)
    finally:
        for container, service in (current, baseline):
            service.store.dispose()
    cur, base = latency_summary_ms(samples["current"]), latency_summary_ms(samples["baseline"])
    return {"threads": 1, "creates": len(samples["current"]), "current": cur, "inline_autocheckpoint": base,
            "p50_ratio": round(cur["p50_ms"] / base["p50_ms"], 3), "p99_ratio": round(cur["p99_ms"] / base["p99_ms"], 3),
            "mean_ratio": round(cur["mean_ms"] / base["mean_ms"], 3)}


def _concurrent(tmp: Path, quick: bool, threads: int = 16) -> dict[str, Any]:
    rounds, per_thread = (1, 20) if quick else (3, 100)
    current, baseline = _service(tmp / "group.db"), _service(tmp / "group-base.db", grouped=False)
    runs: dict[str, list[tuple[float, float]]] = {"current": [], "baseline": []}
    batch_sum = batch_count = 0.0
    try:
        for r in range(rounds):
            order = (("current", current), ("baseline", baseline))
            for name, (_, service) in (order if r % 2 == 0 else order[::-1]):
                def client(service: Any = service) -> None:
                    for _ in range(per_thread):
                        service.create_sequence("bench")

                callers = [threading.Thread(target=client) for _ in range(threads)]
                sums = _commit_counts()
                cpu, wall = time.process_time(), time.perf_counter()
                for caller in callers:
                    caller.start()
                for caller in callers:
                    caller.join()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                n = threads * per_thread
                runs[name].append((n / wall, cpu * 1000 / n))
                if name == "current":
                    after = _commit_counts()
                    batch_sum, batch_count = batch_sum + after[0] - sums[0], batch_count + after[1] - sums[1]
    finally:
        for container, service in (current, baseline):
            service.store.dispose()

    def median(name: str, i: int) -> float:
        return statistics.median(run[i] for run in runs[name])

    return {"threads": threads, "creates_per_round": threads * per_thread, "rounds": rounds,
            "current": {"per_s": round(median("current", 0)), "cpu_ms_per_create": round(median("current", 1), 3)},
            "one_transaction_per_command": {"per_s": round(median("baseline", 0)),
                                            "cpu_ms_per_create": round(median("baseline", 1), 3)},
            "ratio_per_s": round(median("current", 0) / median("baseline", 0), 3),
            "ratio_cpu": round(median("current", 1) / median("baseline", 1), 3),
            "commands_per_commit": round(batch_sum / batch_count, 2) if batch_count else None}


def _wal(tmp: Path, quick: bool, threads: int = 8) -> dict[str, Any]:
    import uuid

    import app.services.sequences as services

    existing, measured = (200, 400) if quick else (3000, 2000)
    own_ids = services.new_id
    result: dict[str, dict[str, float]] = {}
    for name, ids in (("baseline", lambda: str(uuid.uuid4())), ("current", own_ids)):
        path = tmp / f"wal-{name}.db"
        container, service = _service(path)
        store = service.store
        store._checkpointer.stop()
        store._checkpointer = None
        services.new_id = ids
        try:
            for _ in range(existing):
                service.create_sequence("bench")
            checkpoint = sqlite3.connect(path, isolation_level=None)
            checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the log starts empty
            checkpoint.close()
            callers = [threading.Thread(target=lambda: [service.create_sequence("bench")
                                                        for _ in range(measured // threads)])
                       for _ in range(threads)]
            cpu = time.process_time()
            for caller in callers:
                caller.start()
            for caller in callers:
                caller.join()
            cpu = time.process_time() - cpu
            wal = Path(f"{path}-wal").stat().st_size
        finally:
            services.new_id = own_ids
            store.dispose()
        n = threads * (measured // threads)
        result[name] = {"wal_kib_per_create": round(wal / 1024 / n, 2), "cpu_ms_per_create": round(cpu * 1000 / n, 3)}
    return {"threads": threads, "existing_sequences": existing, "creates": threads * (measured // threads),
            "current": result["current"], "random_uuid_ids": result["baseline"],
            "ratio_kib": round(result["current"]["wal_kib_per_create"] / result["baseline"]["wal_kib_per_create"], 3),
            "ratio_cpu": round(result["current"]["cpu_ms_per_create"] / result["baseline"]["cpu_ms_per_create"], 3)}


def _table_bytes(path: Path) -> dict[str, int]:
    """Bytes of pages each table holds, its indexes included (after moving the WAL into the file)."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = dict(db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
        sizes: dict[str, int] = {}
        for name, size in db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            owner = tables.get(name, name)
            sizes[owner] = sizes.get(owner, 0) + size
        return sizes
    finally:
        db.close()


def _growth(tmp: Path, quick: bool, beats: int = 64) -> dict[str, Any]:
    from app.core.commands import HISTORY_LIMIT
    from app.domain.errors import DomainError

    edits = 20 if quick else HISTORY_LIMIT
    path = tmp / "growth.db"
    container, service = _service(path)
    try:
        seq = service.generate_sequence(length=beats, seed=1).sequence
        start = _table_bytes(path)
        done = attempt = 0
        while done < edits:  # turns changes, spread over the sequence; some break a rule (a dash's turns)
            attempt += 1
            try:
                service.update_beat(seq.id, attempt * 7 % beats + 1, {"red_turns": 1 + attempt % 2})
                done += 1
            except DomainError:
                pass
        end = _table_bytes(path)
    finally:
        service.store.dispose()
    grown = {name: end.get(name, 0) - start.get(name, 0) for name in sorted(set(start) | set(end))}
    per_edit = sum(grown.values()) / edits
    sequence = len(json.dumps(seq.to_dict(), separators=(",", ":")))
    return {"beats": beats, "edits": edits, "bytes_per_edit": round(per_edit),
            "by_table": {name: round(size / edits) for name, size in grown.items() if size},
            "sequence_bytes": sequence, "ratio_to_sequence": round(per_edit / sequence, 3)}


def main(quick: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tka-bench-store-") as tmp:
        return {"latency": _latency(Path(tmp), quick), "concurrent": _concurrent(Path(tmp), quick),
                "wal": _wal(Path(tmp), quick), "growth": _growth(Path(tmp), quick)}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
