"""A real PostgreSQL server for tests: installed if missing (Debian's package), started on loopback.

Mandatory under CI=true; elsewhere tests that need it are skipped with the reason. PostgreSQL
refuses to run as root, so as root the server runs as the ``postgres`` user on directories it owns.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

CI = os.environ.get("CI") == "true"


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def _install() -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError("PostgreSQL is not installed and this user cannot install it (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True, env=env, capture_output=True,
                   timeout=900)


class PostgresServer:
    def __init__(self, port: int) -> None:
        bindir = _bin_dir()
        if bindir is None:
            _install()
            bindir = _bin_dir()
        if bindir is None:
            raise RuntimeError("PostgreSQL binaries not found after installing")
        self.bindir = bindir
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="tka-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.sockets.mkdir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                  f"-c max_connections=200", "start")

    def proc_running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def create_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


_server: PostgresServer | None = None
_failure: str | None = None


def server() -> PostgresServer:
    """The session's server, started on first use; skips (or fails under CI) when impossible."""
    global _server, _failure
    if _server is None and _failure is None:
        from tests.servers import free_port

        try:
            _server = PostgresServer(free_port())
        except Exception as exc:  # report why, once
            _failure = f"PostgreSQL unavailable: {exc}"
    if _server is None:
        if CI:
            pytest.fail(_failure or "PostgreSQL unavailable")
        pytest.skip(_failure or "PostgreSQL unavailable")
    return _server


def shutdown() -> None:
    global _server
    if _server is not None:
        _server.destroy()
        _server = None
