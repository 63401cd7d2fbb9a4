"""What a serving process does first, before the rest of the app is imported.

Two things must happen before their modules are imported anywhere: gevent's monkey-patching (a
lock created earlier would be a real lock that one greenlet can hold across a switch and stall the
whole worker with) and ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client picks its multi-process
value class at import). ``tka serve`` and ``gunicorn.conf.py`` call ``prepare`` at the top.

This module imports nothing of the app but app.core.greenlets, which imports nothing of it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from app.core.greenlets import patch_for

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

_made: list[tuple[int, str]] = []  # (pid of the process that made it, path): temporary dirs to remove


def prepare(worker_class: str) -> None:
    patch_for(worker_class)
    metrics_dir()


def metrics_dir() -> str:
    """A fresh, empty PROMETHEUS_MULTIPROC_DIR (made here unless one is given): every worker
    writes its samples there and ``/metrics`` on any worker reports their sum."""
    if not os.environ.get(METRICS_DIR_ENV):
        os.environ[METRICS_DIR_ENV] = temporary_dir("tka-metrics-")
    path = os.environ[METRICS_DIR_ENV]
    os.makedirs(path, exist_ok=True)
    for stale in os.listdir(path):  # samples of an earlier run must not leak into this one
        os.remove(os.path.join(path, stale))
    return path


def temporary_dir(prefix: str) -> str:
    """A directory deleted when the process that made it exits."""
    path = tempfile.mkdtemp(prefix=prefix)
    if not _made:
        atexit.register(_remove_temporary_dirs)
    _made.append((os.getpid(), path))
    return path


def _remove_temporary_dirs() -> None:
    """Delete the directories this process made. A forked worker inherits the exit handler but
    made none of them: were it to delete them, the other workers would lose their metrics and
    peers (a worker that exits while the others go on)."""
    for pid, path in _made:
        if pid == os.getpid():
            shutil.rmtree(path, ignore_errors=True)
