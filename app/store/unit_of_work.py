"""One transaction's view of the store: the repositories, all on the same connection.

``Store.read()``, ``Store.write()`` and ``Store.transact()`` hand one out; what is written through
it commits together or not at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from app.store.errors import is_infrastructure_fault
from app.store.event_log import EventLog
from app.store.fastpath import Runner
from app.store.group import Job
from app.store.history import HistoryRows
from app.store.idempotency import IdempotencyRecords
from app.store.sequences import SequenceRows
from app.store.settings import SettingRows


class UnitOfWork:
    def __init__(self, conn: Connection, kind: str) -> None:
        self.conn = conn  # for what no repository does: migrations, retention, tests
        run = Runner(conn, sqlite=kind == "sqlite")
        self._run = run
        self.sequences = SequenceRows(run)
        self.history = HistoryRows(run)
        self.events = EventLog(run, postgresql=kind == "postgresql")
        self.settings = SettingRows(run)
        self.idempotency = IdempotencyRecords(run)

    def run_in_savepoint(self, job: Job[Any]) -> None:
        """Run one job of a group commit (SQLite); if it raises, undo just its writes and keep its
        error. An infrastructure fault is raised instead: the transaction itself is then in doubt."""
        self._run.raw("SAVEPOINT tka_job")
        try:
            job.result = job.run(self)
        except Exception as exc:
            if is_infrastructure_fault(exc):
                raise
            self._run.raw("ROLLBACK TO tka_job")
            self._run.raw("RELEASE tka_job")
            job.error = exc
            return
        self._run.raw("RELEASE tka_job")
