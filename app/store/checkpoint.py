"""WAL checkpoints on a background thread instead of inside a command's COMMIT.

Left to itself SQLite checkpoints in the COMMIT that takes the WAL past 1000 pages: that commit
copies the pages into the database file and syncs it, about 6 ms here, every 50 or so commands,
while every other writer queues behind it. SQLite's documentation suggests the alternative used
here: turn the automatic checkpoint off on the connections that write (``wal_autocheckpoint=0``)
and run PASSIVE checkpoints on another thread, which never block readers or writers.

A checkpoint has two passes. The first copies the WAL into the database while writers go on.
Under steady writes it never quite catches up (a writer appends while it copies), and SQLite
starts the WAL over only when a writer finds it wholly copied, so the second pass takes the
store's write locks, as a writer would, and copies the few frames appended meanwhile. The next
writer then starts the WAL from the beginning: it stays bounded under any write rate. Writers
wait for that pass (its sync of the database file, mostly), so it runs only once the WAL holds
``restart_frames`` pages: as often as SQLite's own checkpoints, each far shorter.

Each process that writes runs one checkpointer (started by its first commit, again after a fork).
It checkpoints every ``every_commits`` commits, and ``interval`` seconds after a commit at the
latest. Under gevent the checkpointer is a greenlet, and the checkpoints themselves (copying pages,
syncing the file) run on a real thread, so the worker's other greenlets go on meanwhile.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from contextlib import AbstractContextManager
from typing import Callable

from app.core.greenlets import offload

log = logging.getLogger(__name__)

EVERY_COMMITS = 64
INTERVAL_S = 0.5
RESTART_FRAMES = 1000  # SQLite's own default threshold (pages): about 4 MB of WAL
IDLE_EXIT_S = 30.0  # a checkpointer with no commits for this long ends; the next commit starts one


def _checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
    return conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()  # type: ignore[no-any-return]


class Checkpointer:
    def __init__(self, database: str, writer_locks: Callable[[], AbstractContextManager[None]],
                 every_commits: int = EVERY_COMMITS, interval: float = INTERVAL_S,
                 restart_frames: int = RESTART_FRAMES) -> None:
        self.database = database
        self.writer_locks = writer_locks
        self.every_commits = every_commits
        self.interval = interval
        self.restart_frames = restart_frames
        self.restarts = 0  # second passes, each letting the next writer start the WAL over
        self.checkpoints = 0  # completed, for tests and curiosity
        self._commits = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def committed(self) -> None:
        """A write transaction committed (called by the committing thread, after its locks)."""
        self._commits += 1  # a lost increment under a race only delays a checkpoint a little
        if self._pid != os.getpid():
            self._start()
        if self._commits >= self.every_commits:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid() or self._stop.is_set():
                return
            if self._thread is not None and self._thread.is_alive() and self._pid == 0:
                self._thread.join()  # an idle exit in progress: it holds nothing, it ends at once
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="tka-wal-checkpoint", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        idle = 0.0
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            if self._commits == 0:
                idle += self.interval
                if idle >= IDLE_EXIT_S and self._idle_exit():
                    break
                continue
            idle = 0.0
            self._commits = 0
            try:
                if conn is None:
                    conn = sqlite3.connect(self.database, isolation_level=None, check_same_thread=False)
                _, frames, _ = offload(_checkpoint, conn)
                if frames >= self.restart_frames:
                    with self.writer_locks():
                        offload(_checkpoint, conn)
                    self.restarts += 1
                self.checkpoints += 1
            except Exception as exc:  # busy, the disk, the locks: the next round tries again
                log.debug("WAL checkpoint skipped: %s", exc)
        if conn is not None:
            conn.close()

    def _idle_exit(self) -> bool:
        """End this thread (a store nobody writes to keeps no thread); False if a commit came."""
        with self._lock:
            if self._commits:
                return False
            self._pid = 0  # the next commit starts a new checkpointer
            return True

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and self._pid == os.getpid():
            thread.join(5)
