"""Real servers in subprocesses on free loopback ports: the one launcher of the tests and of
``make bench`` (bench/ imports it, as it imports tests/pg.py for PostgreSQL)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Callable, TypeVar

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0
C = TypeVar("C")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # type: ignore[no-any-return]


class Server:
    """``argv(port)`` as a subprocess, up once ``GET /health/live`` answers 200. ``port_env``: also
    tell it the port in that environment variable; ``db_url``: the database it serves, if tka;
    ``port``: that one (a restart where a stopped server was) instead of a free one; ``cwd``: its working
    directory (default: the checkout)."""

    def __init__(self, argv: Callable[[int], list[str]], *, log: Path | None = None, env: dict[str, str] | None = None,
                 name: str = "server", preexec_fn: Callable[[], None] | None = None, port_env: str | None = None,
                 db_url: str | None = None, port: int | None = None, cwd: Path | None = None) -> None:
        self.name = name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_url = db_url
        self.log_path = log
        self._log: IO[str] | int = open(log, "w") if log is not None else subprocess.DEVNULL
        env = {**os.environ, **(env or {}), **({port_env: str(self.port)} if port_env else {})}
        self.proc = subprocess.Popen(argv(self.port), cwd=cwd or ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, preexec_fn=preexec_fn)
        try:
            wait_until(self._live, f"{name} answering /health/live", give_up_after=START_TIMEOUT_S, every=0.1)
        except AssertionError:
            self.stop()
            raise RuntimeError(f"{name} did not start within {START_TIMEOUT_S:.0f} s: {self.log_tail()}") from None

    def _live(self) -> bool:
        if self.proc.poll() is not None:
            self._close_log()
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}")
        try:
            with urllib.request.urlopen(f"{self.url}/health/live", timeout=1) as response:
                return response.status == 200
        except OSError:  # not listening yet, or a worker still booting
            return False

    def log_tail(self, lines: int = 15) -> str:
        if self.log_path is None:
            return ""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def worker_pids(self) -> list[int]:
        """The gunicorn workers (children of the arbiter)."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def cpu_seconds(self, workers_only: bool = False) -> float | None:
        """User + system CPU time used so far by the arbiter (unless ``workers_only``) and its
        live workers (Linux /proc); None when a process went away meanwhile."""
        total = 0
        for pid in [*([] if workers_only else [self.proc.pid]), *self.worker_pids()]:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return None
            fields = stat[stat.rfind(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 20) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()

    def _close_log(self) -> None:
        if not isinstance(self._log, int):
            self._log.close()


class LiveServer(Server):
    """``tka serve`` on ``db_url``; its log beside an SQLite database file."""

    def __init__(self, db_url: str, *, workers: int = 2, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None, preexec_fn: Callable[[], None] | None = None,
                 log: Path | None = None, port: int | None = None) -> None:
        if log is None and db_url.startswith("sqlite:///"):
            log = Path(db_url.removeprefix("sqlite:///")).with_suffix(".log")
        super().__init__(lambda port: [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers",
                                       str(workers), "--database", db_url, *(extra_args or [])],
                         log=log, env=env, name="tka", preexec_fn=preexec_fn, db_url=db_url, port=port)


def one_per_worker(connect: Callable[[], C], served_by: Callable[[C], int | None], close: Callable[[C], None],
                   n: int, at_once: int = 8, rounds: int = 25) -> list[C]:
    """A kept-alive connection to each of ``n`` workers (``served_by``: the pid that answered it,
    or None). The kernel gives a new connection to whichever worker accepts first, and one at a
    time the gevent worker that has just served one tends to take the next as well: connections
    are opened ``at_once`` in parallel, so that a busy worker leaves some to the others."""
    found: dict[int, C] = {}
    with ThreadPoolExecutor(at_once) as pool:
        for _ in range(rounds):
            conns = [connect() for _ in range(at_once)]
            for conn, pid in zip(conns, pool.map(served_by, conns)):
                if pid is None or pid in found or len(found) == n:
                    close(conn)
                else:
                    found[pid] = conn
            if len(found) == n:
                return list(found.values())
    raise RuntimeError(f"reached {len(found)} of {n} workers in {rounds * at_once} connections")


def status_of(pid: int, field: str) -> int:
    """A number from /proc/<pid>/status (``VmRSS``, ``Threads``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)
