"""Group commit: writers that queue behind a running write transaction share the next one.

SQLite has one writer at a time. Under concurrent requests each command used to take the
process's write lock, the file lock between workers, BEGIN and COMMIT for itself, and the
lock's hand-offs (and the GIL's, between the request threads) cost more than the command.
Here the first writer to arrive leads: it runs its own command and every command that queued
meanwhile, in one transaction, and wakes each caller once that transaction has committed.
The next waiter then leads the next batch. With one writer at a time nothing waits and
nothing changes; under load a batch grows with the queue, so the fixed cost per commit is
shared by more commands.

This module only coordinates threads; ``Store`` runs a batch (savepoints, locks, commit).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable, Generic, TypeVar

from app.core.greenlets import cooperative

T = TypeVar("T")

MAX_BATCH = 64  # commands per transaction: bounds how long one commit keeps its callers waiting


class Job(Generic[T]):
    """One caller's work and, once its batch is over, its result or error."""

    __slots__ = ("work", "deadline", "result", "error", "done", "lead", "_wake")

    def __init__(self, work: Callable[[Any], T], deadline: float) -> None:
        self.work = work  # it may run on the thread of another caller (the batch's leader)
        self.deadline = deadline
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = False
        self.lead = False
        self._wake = threading.Event()

    def run(self, resource: Any) -> T:
        return self.work(resource)


class GroupCommit:
    """Leader/follower batching of jobs for ``run_batch``, which must settle every job it is
    given (set ``result`` or ``error``); a job it leaves unsettled fails with what it raised."""

    def __init__(self, run_batch: Callable[[list[Job[Any]]], None], max_batch: int = MAX_BATCH) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._mutex = threading.Lock()
        self._waiting: deque[Job[Any]] = deque()
        self._leading = False
        self._cooperative = cooperative()

    def run(self, work: Callable[[Any], T], deadline: float) -> T:
        job: Job[T] = Job(work, deadline)
        with self._mutex:
            if self._leading:
                self._waiting.append(job)
            else:
                self._leading = job.lead = True
        if not job.lead:
            job._wake.wait()  # until a leader settled it, or made it the next leader
        elif self._cooperative:
            # Let the writers that are ready to run reach the queue first, to share this commit:
            # under gevent nothing else runs until the leader waits, so without this each
            # request would commit alone (2.4 commands per commit in the HTTP bench, 4.2 with it).
            # Threads need no such turn (they are preempted), and giving one costs a thread switch.
            time.sleep(0)
        if not job.done:
            self._lead(job)
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def _lead(self, job: Job[Any]) -> None:
        batch = [job]
        try:
            with self._mutex:
                while self._waiting and len(batch) < self._max_batch:
                    batch.append(self._waiting.popleft())
            try:
                self._run_batch(batch)
            except BaseException as exc:
                for j in batch:
                    if not j.done and j.error is None:
                        j.error = exc
                if not isinstance(exc, Exception):
                    raise
        finally:
            for j in batch:
                j.done = True
                if j is not job:
                    j._wake.set()
            with self._mutex:
                if self._waiting:
                    successor = self._waiting.popleft()
                    successor.lead = True
                    successor._wake.set()
                else:
                    self._leading = False
